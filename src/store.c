/* SPDX-License-Identifier: MIT */
/* Backend dispatch for store.h. The backend is chosen by the path: only SQLite exists yet; a
 * `postgresql://` URI will select the PostgreSQL backend. */
#include "common.h"
#include "store_int.h"
#include <stdlib.h>

void store_options_init(struct store_options *o, const char *path)
{
    o->path = path;
    o->sync = STORE_SYNC_FULL;
    o->readers = 8;
    o->busy_timeout_ms = 5000;
    o->lock_report = false;
}

enum err store_open(const struct store_options *o, struct store **out, struct err_info *ei)
{
    if (strncmp(o->path, "postgres://", 11) == 0 || strncmp(o->path, "postgresql://", 13) == 0)
        return err_set(ei, ERR_INVALID, -1, "the PostgreSQL backend is not available yet");
    return store_sqlite_ops.open(o, out, ei);
}

void store_free(struct store *st)
{
    if (st)
        st->ops->free(st);
}

enum err store_incident_list(struct store *st, const struct store_scope *scope,
                             const struct odata_query *q, store_row_fn *fn, void *ctx, bool *more,
                             struct err_info *ei)
{
    return st->ops->incident_list(st, scope, q, fn, ctx, more, ei);
}

enum err store_incident_get(struct store *st, const struct store_scope *scope, int64_t id,
                            store_row_fn *fn, void *ctx, struct err_info *ei)
{
    return st->ops->incident_get(st, scope, id, fn, ctx, ei);
}

enum err store_incident_update(struct store *st, const struct store_scope *scope, int64_t id,
                               const struct incident_patch *p, store_row_fn *fn, void *ctx,
                               struct err_info *ei)
{
    return st->ops->incident_update(st, scope, id, p, fn, ctx, ei);
}

enum err store_incident_import(struct store *st, const char *tenant, struct incident *const *incs,
                               size_t n, struct err_info *ei)
{
    return st->ops->incident_import(st, tenant, incs, n, ei);
}

enum err store_incident_count(struct store *st, const char *tenant, int64_t *out,
                              struct err_info *ei)
{
    return st->ops->incident_count(st, tenant, out, ei);
}

enum err store_tenant_ensure(struct store *st, const char *tenant, struct err_info *ei)
{
    return st->ops->tenant_ensure(st, tenant, ei);
}

enum err store_tenant_exists(struct store *st, const char *tenant, bool *exists,
                             struct err_info *ei)
{
    return st->ops->tenant_exists(st, tenant, exists, ei);
}

void store_app_release(struct store_app *a)
{
    free(a->client_id);
    free(a->tenant);
    free(a->name);
    free(a->roles);
    free(a->quota);
    memset(a, 0, sizeof(*a));
}

enum err store_app_create(struct store *st, const struct store_app *a, struct err_info *ei)
{
    return st->ops->app_create(st, a, ei);
}

enum err store_app_get(struct store *st, const char *client_id, struct store_app *out,
                       struct err_info *ei)
{
    return st->ops->app_get(st, client_id, out, ei);
}

enum err store_app_list(struct store *st, const char *tenant, store_app_fn *fn, void *ctx,
                        struct err_info *ei)
{
    return st->ops->app_list(st, tenant, fn, ctx, ei);
}

enum err store_app_delete(struct store *st, const char *client_id, struct err_info *ei)
{
    return st->ops->app_delete(st, client_id, ei);
}

enum err store_app_set_secret(struct store *st, const char *client_id,
                              const unsigned char salt[STORE_SECRET_SALT_BYTES],
                              const unsigned char hash[STORE_SECRET_HASH_BYTES],
                              struct err_info *ei)
{
    return st->ops->app_set_secret(st, client_id, salt, hash, ei);
}

void store_user_release(struct store_user *u)
{
    free(u->tenant);
    free(u->upn);
    free(u->groups_json);
    memset(u, 0, sizeof(*u));
}

enum err store_user_create(struct store *st, const struct store_user *u, struct err_info *ei)
{
    return st->ops->user_create(st, u, ei);
}

enum err store_user_get(struct store *st, const char *tenant, const char *upn,
                        struct store_user *out, struct err_info *ei)
{
    return st->ops->user_get(st, tenant, upn, out, ei);
}

enum err store_user_list(struct store *st, const char *tenant, store_user_fn *fn, void *ctx,
                         struct err_info *ei)
{
    return st->ops->user_list(st, tenant, fn, ctx, ei);
}

enum err store_user_delete(struct store *st, const char *tenant, const char *upn,
                           struct err_info *ei)
{
    return st->ops->user_delete(st, tenant, upn, ei);
}

void store_key_release(struct store_key *k)
{
    free(k->kid);
    free(k->tenant);
    free(k->private_pem);
    free(k->public_pem);
    memset(k, 0, sizeof(*k));
}

enum err store_key_add(struct store *st, const struct store_key *k, int64_t now,
                       struct err_info *ei)
{
    return st->ops->key_add(st, k, now, ei);
}

enum err store_key_list(struct store *st, const char *tenant, store_key_fn *fn, void *ctx,
                        struct err_info *ei)
{
    return st->ops->key_list(st, tenant, fn, ctx, ei);
}

const char *store_ingest_result_name(enum store_ingest_result r)
{
    switch (r) {
    case STORE_ALERT_CREATED:
        return "created";
    case STORE_ALERT_UPDATED:
        return "updated";
    case STORE_ALERT_UNCHANGED:
        return "unchanged";
    }
    return "unchanged";
}

enum err store_alert_ingest(struct store *st, const char *tenant, const struct corr_options *o,
                            const struct alert_in *alerts, size_t n, struct store_ingested *results,
                            struct err_info *ei)
{
    return st->ops->alert_ingest(st, tenant, o, alerts, n, results, ei);
}

enum err store_alert_get(struct store *st, const struct store_scope *scope, const char *alert_id,
                         json_t **alert_out, json_t **correlation_out, struct err_info *ei)
{
    return st->ops->alert_get(st, scope, alert_id, alert_out, correlation_out, ei);
}
