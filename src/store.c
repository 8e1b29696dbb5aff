/* SPDX-License-Identifier: MIT */
/* Backend dispatch for store.h. The backend is chosen by the path: only SQLite exists yet; a
 * `postgresql://` URI will select the PostgreSQL backend. */
#include "common.h"
#include "store_int.h"

void store_options_init(struct store_options *o, const char *path)
{
    o->path = path;
    o->sync = STORE_SYNC_FULL;
    o->readers = 8;
    o->busy_timeout_ms = 5000;
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

enum err store_incident_list(struct store *st, const char *tenant, const struct odata_query *q,
                             store_row_fn *fn, void *ctx, bool *more, struct err_info *ei)
{
    return st->ops->incident_list(st, tenant, q, fn, ctx, more, ei);
}

enum err store_incident_get(struct store *st, const char *tenant, int64_t id, store_row_fn *fn,
                            void *ctx, struct err_info *ei)
{
    return st->ops->incident_get(st, tenant, id, fn, ctx, ei);
}

enum err store_incident_update(struct store *st, const char *tenant, int64_t id,
                               const struct incident_patch *p, store_row_fn *fn, void *ctx,
                               struct err_info *ei)
{
    return st->ops->incident_update(st, tenant, id, p, fn, ctx, ei);
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
