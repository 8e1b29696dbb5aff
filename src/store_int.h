/* SPDX-License-Identifier: MIT */
/*
 * Backend side of store.h: the operations table each backend exports and the common header of
 * struct store. Included only by store*.c (SQLite's btreeInt.h split).
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "store.h"

struct store_ops {
    const char *name;
    enum err (*open)(const struct store_options *o, struct store **out, struct err_info *ei);
    void (*free)(struct store *st);
    enum err (*incident_list)(struct store *st, const char *tenant, const struct odata_query *q,
                              store_row_fn *fn, void *ctx, bool *more, struct err_info *ei);
    enum err (*incident_get)(struct store *st, const char *tenant, int64_t id, store_row_fn *fn,
                             void *ctx, struct err_info *ei);
    enum err (*incident_update)(struct store *st, const char *tenant, int64_t id,
                                const struct incident_patch *p, store_row_fn *fn, void *ctx,
                                struct err_info *ei);
    enum err (*incident_import)(struct store *st, const char *tenant,
                                struct incident *const *incs, size_t n, struct err_info *ei);
    enum err (*incident_count)(struct store *st, const char *tenant, int64_t *out,
                               struct err_info *ei);
};

/* Every backend's store struct begins with this. */
struct store {
    const struct store_ops *ops;
};

extern const struct store_ops store_sqlite_ops;

#endif
