/* SPDX-License-Identifier: MIT */
/*
 * Translates a parsed OData query into SQL fragments with bound parameters only: no client text
 * ever becomes SQL text (CONTRACT §3, brief: "bound parameters only"). Dialect-aware so that the
 * SQLite and PostgreSQL backends share one translator. The column names are those of the
 * `incidents` table in schema/sqlite and schema/postgres (see docs/internals/storage.md):
 *   last_update_time INTEGER (ticks), created_time INTEGER (ticks), status INTEGER,
 *   assigned_to TEXT NULL, severity INTEGER, classification INTEGER, determination INTEGER,
 *   incident_id INTEGER; enum columns hold model.h enum values.
 */
#ifndef ODATA_SQL_H
#define ODATA_SQL_H

#include "buf.h"
#include "odata.h"

enum odata_dialect {
    ODATA_DIALECT_SQLITE, /* placeholders `?` */
    ODATA_DIALECT_PG,     /* placeholders `$n` */
};

enum odata_sql_param_kind {
    ODATA_SQL_INT,
    ODATA_SQL_TEXT,
};

struct odata_sql_param {
    enum odata_sql_param_kind kind;
    int64_t i;
    const char *s; /* borrowed from the AST node; valid while the tree lives */
    size_t s_len;
};

#define ODATA_SQL_MAX_PARAMS 256

struct odata_sql_params {
    struct odata_sql_param v[ODATA_SQL_MAX_PARAMS];
    size_t n;
};

/*
 * Appends a boolean SQL expression equivalent to the filter, with OData null semantics (a
 * comparison with a NULL assignedTo is false, never SQL NULL, so `not` and `ne` behave as OData
 * says). Placeholders are numbered from first_placeholder (PG `$n`; ignored for SQLite) and the
 * values appended to params in order. ERR_TOO_LARGE when params overflow (cannot happen within
 * the 4 KiB filter limit) or the buffer's cap is hit; on error sql and params are left as they
 * were. A NULL filter appends `1 = 1`.
 */
enum err odata_sql_where(const struct odata_node *filter, enum odata_dialect d,
                         int first_placeholder, struct buf *sql, struct odata_sql_params *params);

/* Appends the ORDER BY list (without the keywords), always ending in incident_id so the order is
 * total (CONTRACT §3). */
enum err odata_sql_order(const struct odata_query *q, struct buf *sql);

#endif
