/* SPDX-License-Identifier: MIT */
/* SQLite backend: alert ingestion and correlation (issue 5). Being written. */
#include "store_sqlite_int.h"

enum err sqlite_alert_ingest(struct store *st, const char *tenant, const struct corr_options *o,
                             const struct alert_in *alerts, size_t n,
                             struct store_ingested *results, struct err_info *ei)
{
    (void)st, (void)tenant, (void)o, (void)alerts, (void)n, (void)results;
    return err_set(ei, ERR_INTERNAL, -1, "alert ingestion is not implemented yet");
}

enum err sqlite_alert_get(struct store *st, const struct store_scope *scope, const char *alert_id,
                          json_t **alert_out, json_t **correlation_out, struct err_info *ei)
{
    (void)st, (void)scope, (void)alert_id, (void)alert_out, (void)correlation_out;
    return err_set(ei, ERR_INTERNAL, -1, "alert lookup is not implemented yet");
}
