/* SPDX-License-Identifier: MIT */
/*
 * The storage interface every handler and subcommand uses. Backends (SQLite today, PostgreSQL
 * next) implement struct store_ops in store_int.h; nobody else sees them. All incident data is
 * scoped by tenant. Times are 100 ns ticks (ts.h). Design: docs/internals/storage.md.
 *
 * Thread safety: one struct store is shared by every worker thread; all functions may be called
 * concurrently.
 */
#ifndef STORE_H
#define STORE_H

#include "common.h"
#include "err.h"
#include "incident.h"
#include "odata.h"

struct store;

enum store_sync {
    STORE_SYNC_OFF,
    STORE_SYNC_NORMAL,
    STORE_SYNC_FULL, /* default: an acknowledged write survives power loss */
};

struct store_options {
    const char *path;      /* database file; created with its directory's permissions */
    enum store_sync sync;  /* durability of commits */
    int readers;           /* read connections kept open (>= 1) */
    int busy_timeout_ms;   /* how long a writer waits for another process's lock */
};

/* Fills o with the defaults (FULL, 8 readers, 5000 ms) and the given path (borrowed). */
void store_options_init(struct store_options *o, const char *path);

/*
 * Opens (creating if needed) a store and applies pending schema migrations. On success *out is
 * owned by the caller (store_free). ERR_STORAGE/ERR_IO with a message in ei on failure.
 */
enum err store_open(const struct store_options *o, struct store **out, struct err_info *ei);

/* Closes every connection and frees the store; accepts NULL. No call may be running. */
void store_free(struct store *st);

/* Called once per incident row, in order: id and the stored document (incident.h), borrowed for
 * the duration of the call. A non-OK return stops the iteration and is passed through. */
typedef enum err store_row_fn(void *ctx, int64_t incident_id, const char *doc, size_t doc_len);

/*
 * Lists a tenant's incidents matching q->filter, in q's order, skipping q->skip and returning at
 * most q->top rows (CONTRACT §3). *more is set when at least one further row matches.
 */
enum err store_incident_list(struct store *st, const char *tenant, const struct odata_query *q,
                             store_row_fn *fn, void *ctx, bool *more, struct err_info *ei);

/* Calls fn once with incident `id` of `tenant`; ERR_NOT_FOUND when there is none. */
enum err store_incident_get(struct store *st, const char *tenant, int64_t id, store_row_fn *fn,
                            void *ctx, struct err_info *ei);

/*
 * Applies a validated patch in one transaction (CONTRACT §5): rules of incident_patch_apply,
 * cascades to alerts, `lastUpdateTime` set to server time, strictly greater than the incident's
 * previous value and than every lastUpdateTime this store issued before. A patch that changes
 * nothing writes nothing. Then calls fn with the resulting document. Errors: ERR_NOT_FOUND,
 * ERR_INPUT / ERR_BODY from the rules (nothing written), ERR_STORAGE.
 */
enum err store_incident_update(struct store *st, const char *tenant, int64_t id,
                               const struct incident_patch *p, store_row_fn *fn, void *ctx,
                               struct err_info *ei);

/*
 * Inserts or replaces incidents by (tenant, incidentId) in one transaction, keeping their times
 * and comments as given (issue 2 import). An alert id already held by another incident of the
 * tenant moves to the imported one. All or nothing. `incs[i]->alerts` must be set.
 */
enum err store_incident_import(struct store *st, const char *tenant, struct incident *const *incs,
                               size_t n, struct err_info *ei);

/* Number of incidents of a tenant (for `make run`'s first-run check and tests). */
enum err store_incident_count(struct store *st, const char *tenant, int64_t *out,
                              struct err_info *ei);

#endif
