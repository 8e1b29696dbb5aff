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
#include "alert.h"
#include "correlate.h"
#include "incident.h"
#include "odata.h"

struct store;

enum store_sync {
    STORE_SYNC_OFF,
    STORE_SYNC_NORMAL,
    STORE_SYNC_FULL, /* default: an acknowledged write survives power loss */
};

struct store_options {
    const char *path;     /* database file; created with its directory's permissions */
    enum store_sync sync; /* durability of commits */
    int readers;          /* read connections kept open (>= 1) */
    int busy_timeout_ms;  /* how long a writer waits for another process's lock */
    bool lock_report;     /* log where the write lock's time went when the store closes (the
                           * server does, for operators and benchmarks; one-shot commands not) */
};

/* Fills o with the defaults (FULL, 8 readers, 5000 ms, no lock report) and the given path
 * (borrowed). */
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
 * Who is asking, as far as storage cares: the tenant, and for a delegated caller limited to
 * device groups, those groups (CONTRACT §8, issue 3). An incident is visible to a restricted
 * scope only when one of its alerts has a device in one of the groups; an invisible incident
 * behaves exactly like a missing one. Borrowed for the duration of a call.
 */
struct store_scope {
    const char *tenant;
    bool restricted;           /* false: every incident of the tenant */
    const char *const *groups; /* rbacGroupName values when restricted (none: sees nothing) */
    size_t ngroups;
};

/* A scope covering a whole tenant. */
#define STORE_TENANT(t) (&(const struct store_scope){.tenant = (t)})

/*
 * Lists the incidents in scope matching q->filter, in q's order, skipping q->skip and returning
 * at most q->top rows (CONTRACT §3). *more is set when at least one further row matches.
 */
enum err store_incident_list(struct store *st, const struct store_scope *scope,
                             const struct odata_query *q, store_row_fn *fn, void *ctx, bool *more,
                             struct err_info *ei);

/* Calls fn once with incident `id`; ERR_NOT_FOUND when there is none in scope. */
enum err store_incident_get(struct store *st, const struct store_scope *scope, int64_t id,
                            store_row_fn *fn, void *ctx, struct err_info *ei);

/*
 * Applies a validated patch in one transaction (CONTRACT §5): rules of incident_patch_apply,
 * cascades to alerts, `lastUpdateTime` set to server time, strictly greater than the incident's
 * previous value and than every lastUpdateTime this store issued before. A patch that changes
 * nothing writes nothing. Then calls fn with the resulting document. Errors: ERR_NOT_FOUND (also
 * when out of scope), ERR_INPUT / ERR_BODY from the rules (nothing written), ERR_STORAGE.
 */
enum err store_incident_update(struct store *st, const struct store_scope *scope, int64_t id,
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

/* ---------------------------------------------------------------------------------------------
 * Access control (issue 3): tenants, applications, users, signing keys. Records returned by
 * get/list own their strings; release them with the matching _release.
 */

#define STORE_SECRET_SALT_BYTES 16
#define STORE_SECRET_HASH_BYTES 32

/* Records that a tenant exists (idempotent). */
enum err store_tenant_ensure(struct store *st, const char *tenant, struct err_info *ei);

/* Sets *exists for a tenant id. */
enum err store_tenant_exists(struct store *st, const char *tenant, bool *exists,
                             struct err_info *ei);

struct store_app {
    char *client_id;
    char *tenant;
    char *name;
    char *roles; /* space-separated */
    char *quota; /* NULL: defaults (issue 4) */
    unsigned char salt[STORE_SECRET_SALT_BYTES];
    unsigned char hash[STORE_SECRET_HASH_BYTES]; /* SHA-256(salt || secret) */
    int64_t created_time;                        /* ticks */
};

void store_app_release(struct store_app *a);

/* Creates an application (and its tenant). ERR_CONFLICT when the client id exists. */
enum err store_app_create(struct store *st, const struct store_app *a, struct err_info *ei);

/* Reads an application by client id (unique across tenants); ERR_NOT_FOUND when absent. */
enum err store_app_get(struct store *st, const char *client_id, struct store_app *out,
                       struct err_info *ei);

typedef enum err store_app_fn(void *ctx, const struct store_app *a);

/* Calls fn for each application of `tenant` (NULL: every tenant), by tenant then name. */
enum err store_app_list(struct store *st, const char *tenant, store_app_fn *fn, void *ctx,
                        struct err_info *ei);

/* Deletes an application; ERR_NOT_FOUND when absent. */
enum err store_app_delete(struct store *st, const char *client_id, struct err_info *ei);

/* Replaces an application's secret digest; ERR_NOT_FOUND when absent. */
enum err store_app_set_secret(struct store *st, const char *client_id,
                              const unsigned char salt[STORE_SECRET_SALT_BYTES],
                              const unsigned char hash[STORE_SECRET_HASH_BYTES],
                              struct err_info *ei);

struct store_user {
    char *tenant;
    char *upn;
    char *groups_json; /* JSON array of device group names; [] = unrestricted */
    int64_t created_time;
};

void store_user_release(struct store_user *u);

/* Creates a user (and its tenant); ERR_CONFLICT when the UPN exists in the tenant. */
enum err store_user_create(struct store *st, const struct store_user *u, struct err_info *ei);

/* Reads a user (UPN compared case-insensitively); ERR_NOT_FOUND when absent. */
enum err store_user_get(struct store *st, const char *tenant, const char *upn,
                        struct store_user *out, struct err_info *ei);

typedef enum err store_user_fn(void *ctx, const struct store_user *u);

enum err store_user_list(struct store *st, const char *tenant, store_user_fn *fn, void *ctx,
                         struct err_info *ei);

enum err store_user_delete(struct store *st, const char *tenant, const char *upn,
                           struct err_info *ei);

struct store_key {
    char *kid;
    char *tenant;
    char *private_pem; /* sealed (encrypted PKCS#8), never clear text */
    char *public_pem;
    int64_t created_time; /* ticks */
    int64_t retired_time; /* 0: the tenant's active signing key */
};

void store_key_release(struct store_key *k);

/* Adds a key as the tenant's active one and retires the previous active key at `now`, in one
 * transaction (keys rotate). */
enum err store_key_add(struct store *st, const struct store_key *k, int64_t now,
                       struct err_info *ei);

typedef enum err store_key_fn(void *ctx, const struct store_key *k);

/* Calls fn for each key of `tenant` (NULL: all), newest first. */
enum err store_key_list(struct store *st, const char *tenant, store_key_fn *fn, void *ctx,
                        struct err_info *ei);

/* ---------------------------------------------------------------------------------------------
 * Alert ingestion and correlation (issue 5, CONTRACT §9; docs/internals/correlation.md).
 */

enum store_ingest_result {
    STORE_ALERT_CREATED,   /* a new alertId for the tenant */
    STORE_ALERT_UPDATED,   /* a known alertId whose content changed */
    STORE_ALERT_UNCHANGED, /* a known alertId sent again identically: nothing was written */
};

/* Wire name of a result: "created", "updated", "unchanged"; static storage. */
const char *store_ingest_result_name(enum store_ingest_result r);

struct store_ingested {
    int64_t incident_id; /* the incident holding the alert after the commit */
    enum store_ingest_result result;
};

/*
 * Ingests a batch of validated alerts (alert.h) for `tenant` in ONE transaction, in input order:
 * an alert seen before is compared by hash (unchanged: nothing written) or replaced in its
 * incident (updated); a new one is correlated under `o` and joins, reopens, merges or creates an
 * incident (CONTRACT §9, correlation.md). Every touched incident gets its alerts sorted, its
 * severity and name recomputed and a new lastUpdateTime from the store clock (storage.md).
 * results[i] is filled for alerts[i] (n entries, caller-allocated) only when ERR_OK is returned,
 * which is after the commit. All or nothing: on any error nothing is stored. An alertId repeated
 * inside the batch is processed in order (the later copy updates or equals the earlier).
 * The tenant is created if needed. Errors: ERR_STORAGE, ERR_UNAVAILABLE.
 */
enum err store_alert_ingest(struct store *st, const char *tenant, const struct corr_options *o,
                            const struct alert_in *alerts, size_t n, struct store_ingested *results,
                            struct err_info *ei);

/*
 * Reads one alert by id for GET /api/alerts/{alertId} (issue 5 point 6). *alert_out receives the
 * alert as it appears in its incident (incidentId set), *correlation_out the explanation object:
 *   {"incidentId": the incident holding it now (a later merge may have moved it),
 *    "action": "created"|"joined"|"reopened", or "imported" (then the rest is null / []),
 *    "correlatedIncidentId": the incident it started, joined or reopened,
 *    "key": {"type","value"} that matched, or null, "matchedAlertId": string or null,
 *    "merged": [incident ids this alert merged into that incident],
 *    "mergeSkipped": null or {"incidentIds":[...],"reason":"..."} when a guard failed,
 *    "time": when it was correlated}
 * Both owned by the caller (json_decref). ERR_NOT_FOUND when the tenant has no such alert or
 * the scope may not see its incident.
 */
enum err store_alert_get(struct store *st, const struct store_scope *scope, const char *alert_id,
                         json_t **alert_out, json_t **correlation_out, struct err_info *ei);

#endif
