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
    enum err (*incident_list)(struct store *st, const struct store_scope *scope,
                              const struct odata_query *q, store_row_fn *fn, void *ctx, bool *more,
                              struct err_info *ei);
    enum err (*incident_get)(struct store *st, const struct store_scope *scope, int64_t id,
                             store_row_fn *fn, void *ctx, struct err_info *ei);
    enum err (*incident_update)(struct store *st, const struct store_scope *scope, int64_t id,
                                const struct incident_patch *p, store_row_fn *fn, void *ctx,
                                struct err_info *ei);
    enum err (*incident_import)(struct store *st, const char *tenant, struct incident *const *incs,
                                size_t n, struct err_info *ei);
    enum err (*incident_count)(struct store *st, const char *tenant, int64_t *out,
                               struct err_info *ei);
    enum err (*tenant_ensure)(struct store *st, const char *tenant, struct err_info *ei);
    enum err (*tenant_exists)(struct store *st, const char *tenant, bool *exists,
                              struct err_info *ei);
    enum err (*app_create)(struct store *st, const struct store_app *a, struct err_info *ei);
    enum err (*app_get)(struct store *st, const char *client_id, struct store_app *out,
                        struct err_info *ei);
    enum err (*app_list)(struct store *st, const char *tenant, store_app_fn *fn, void *ctx,
                         struct err_info *ei);
    enum err (*app_delete)(struct store *st, const char *client_id, struct err_info *ei);
    enum err (*app_set_secret)(struct store *st, const char *client_id, const unsigned char *salt,
                               const unsigned char *hash, struct err_info *ei);
    enum err (*user_create)(struct store *st, const struct store_user *u, struct err_info *ei);
    enum err (*user_get)(struct store *st, const char *tenant, const char *upn,
                         struct store_user *out, struct err_info *ei);
    enum err (*user_list)(struct store *st, const char *tenant, store_user_fn *fn, void *ctx,
                          struct err_info *ei);
    enum err (*user_delete)(struct store *st, const char *tenant, const char *upn,
                            struct err_info *ei);
    enum err (*key_add)(struct store *st, const struct store_key *k, int64_t now,
                        struct err_info *ei);
    enum err (*key_list)(struct store *st, const char *tenant, store_key_fn *fn, void *ctx,
                         struct err_info *ei);
    enum err (*alert_ingest)(struct store *st, const char *tenant, const struct corr_options *o,
                             const struct alert_in *alerts, size_t n,
                             struct store_ingested *results, struct err_info *ei);
    enum err (*alert_get)(struct store *st, const struct store_scope *scope, const char *alert_id,
                          json_t **alert_out, json_t **correlation_out, struct err_info *ei);
};

/* Every backend's store struct begins with this. */
struct store {
    const struct store_ops *ops;
};

extern const struct store_ops store_sqlite_ops;

#endif
