/* SPDX-License-Identifier: MIT */
/*
 * Private to the SQLite backend: the store struct and the helpers that store_sqlite.c (incidents,
 * access records) and store_sqlite_alerts.c (ingestion and correlation) share.
 */
#ifndef STORE_SQLITE_INT_H
#define STORE_SQLITE_INT_H

#include "store_int.h"

enum err sqlite_alert_ingest(struct store *st, const char *tenant, const struct corr_options *o,
                             const struct alert_in *alerts, size_t n,
                             struct store_ingested *results, struct err_info *ei);
enum err sqlite_alert_get(struct store *st, const struct store_scope *scope, const char *alert_id,
                          json_t **alert_out, json_t **correlation_out, struct err_info *ei);

#endif
