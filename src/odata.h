/* SPDX-License-Identifier: MIT */
/*
 * The OData query subset of CONTRACT §3: `$filter`, `$top`, `$skip` and the `$orderby`
 * extension, parsed from already percent-decoded query parameters into a `struct odata_query`.
 * The AST knows nothing about SQL; odata_sql.h translates it. Usable without sockets or a
 * database. Design notes: docs/internals/odata.md.
 */
#ifndef ODATA_H
#define ODATA_H

#include "common.h"
#include "err.h"

#define ODATA_MAX_FILTER_BYTES 4096 /* CONTRACT §3: filter length <= 4 KiB */
#define ODATA_MAX_DEPTH        32   /* CONTRACT §3: nesting depth <= 32 */
#define ODATA_MAX_TOP          100
#define ODATA_DEFAULT_TOP      100
#define ODATA_MAX_ORDER        4 /* orderby keys, not counting the implicit incidentId */

/* Filterable/orderable incident properties (CONTRACT §3). */
enum odata_field {
    ODATA_FIELD_LAST_UPDATE_TIME, /* date-time */
    ODATA_FIELD_CREATED_TIME,     /* date-time */
    ODATA_FIELD_STATUS,           /* enum status (model.h) */
    ODATA_FIELD_ASSIGNED_TO,      /* nullable string, ASCII case-insensitive */
    ODATA_FIELD_SEVERITY,         /* enum severity (extension) */
    ODATA_FIELD_CLASSIFICATION,   /* enum classification (extension) */
    ODATA_FIELD_DETERMINATION,    /* enum determination (extension) */
    ODATA_FIELD_INCIDENT_ID,      /* int64 (extension) */
};

enum odata_op {
    ODATA_OP_EQ,
    ODATA_OP_NE,
    ODATA_OP_GT,
    ODATA_OP_GE,
    ODATA_OP_LT,
    ODATA_OP_LE,
};

enum odata_node_kind {
    ODATA_NODE_AND, /* left, right */
    ODATA_NODE_OR,  /* left, right */
    ODATA_NODE_NOT, /* left */
    ODATA_NODE_CMP, /* field op value; a literal on the left is normalised to the right */
};

enum odata_value_kind {
    ODATA_VALUE_NULL,  /* only with ODATA_FIELD_ASSIGNED_TO */
    ODATA_VALUE_INT,   /* incidentId; enum fields hold their model.h enum value here */
    ODATA_VALUE_TIME,  /* 100 ns ticks (ts.h) */
    ODATA_VALUE_STRING /* assignedTo: decoded text ('' unescaped), not NUL-free-guaranteed */
};

struct odata_node {
    enum odata_node_kind kind;
    struct odata_node *left, *right; /* AND/OR/NOT */
    enum odata_field field;          /* CMP */
    enum odata_op op;                /* CMP */
    enum odata_value_kind value_kind;
    int64_t i; /* INT, TIME */
    char *s;   /* STRING: malloc'd, NUL-terminated */
    size_t s_len;
    int offset; /* byte offset of the node's first token in the $filter text */
};

struct odata_order {
    enum odata_field field; /* LAST_UPDATE_TIME, CREATED_TIME or INCIDENT_ID only */
    bool desc;
};

/*
 * A parsed request. Defaults: top 100, skip 0, order `lastUpdateTime desc` (CONTRACT §3).
 * `order` never contains incidentId in the middle: when the client names it, the list ends there;
 * otherwise the SQL layer appends `incidentId asc` as the final tiebreaker.
 * The *_text fields keep the decoded option values (NULL when absent) so the nextLink can repeat
 * them verbatim.
 */
struct odata_query {
    struct odata_node *filter; /* NULL: no $filter */
    int64_t top;
    int64_t skip;
    struct odata_order order[ODATA_MAX_ORDER + 1];
    size_t norder;
    char *filter_text;
    char *orderby_text;
    bool top_given;
};

/* One decoded query parameter: key and value as the client sent them after percent-decoding. */
struct odata_param {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
};

/* Sets q to the defaults; allocates nothing. */
void odata_query_init(struct odata_query *q);

/* Frees everything q owns and re-initialises it. */
void odata_query_release(struct odata_query *q);

/*
 * Builds q from the request's decoded parameters (CONTRACT §3): keys starting with '$' must be
 * one of $filter, $top, $skip, $orderby, each at most once; other keys are ignored. `$top` is an
 * integer 0..100 (rejected above, never clamped), `$skip` an integer >= 0. On failure returns
 * ERR_ODATA, fills `ei` with a message for a person that names the option, the offending token
 * and its position (`ei->offset` = byte offset inside that option's value; -1 for an unknown or
 * duplicate option), and leaves q released. q need not be initialised; whatever it held is not
 * freed. Borrowed: params; q owns copies of what it keeps.
 */
enum err odata_query_parse(struct odata_query *q, const struct odata_param *params, size_t nparams,
                           struct err_info *ei);

/*
 * Parses a `$filter` expression (CONTRACT §3 grammar, see docs/internals/odata.md) into a tree;
 * an empty or blank filter is an error. On success the caller frees *out with odata_node_free.
 * Errors as for odata_query_parse, with offsets into `s`.
 */
enum err odata_filter_parse(const char *s, size_t len, struct odata_node **out,
                            struct err_info *ei);

/* Frees a tree; accepts NULL. */
void odata_node_free(struct odata_node *n);

/* The API name of a field ("lastUpdateTime"); static storage. */
const char *odata_field_name(enum odata_field f);

#endif
