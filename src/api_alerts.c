/* SPDX-License-Identifier: MIT */
/*
 * POST /api/alerts and GET /api/alerts/{alertId} (CONTRACT §1 and §9, issue 5 points 1 and 6):
 * alert ingestion, whose grouping rules live in correlate.c and the store, and the explanation
 * of how an alert was grouped. Routing, authentication, permissions and quotas are api.c's.
 */
#include "common.h"
#include "api.h"
#include "log.h"
#include "ts.h"
#include "xmalloc.h"
#include <jansson.h>
#include <strings.h>

#define BASE_URL_MAX 512

/* {"value":[{"alertId","incidentId","result"},…]} in input order. */
static enum err write_results(struct buf *b, const struct alert_in *alerts,
                              const struct store_ingested *res, size_t n)
{
    /* About 100 bytes per entry: reserve once instead of doubling through a large batch. */
    buf_reserve(b, 16 + n * 128);
    enum err e = buf_puts(b, "{\"value\":[");
    for (size_t i = 0; !e && i < n; i++) {
        e = buf_puts(b, i ? ",{\"alertId\":" : "{\"alertId\":");
        e = e ? e : buf_json_string(b, alerts[i].id, strlen(alerts[i].id));
        e = e ? e
              : buf_appendf(b, ",\"incidentId\":%" PRId64 ",\"result\":\"%s\"}", res[i].incident_id,
                            store_ingest_result_name(res[i].result));
    }
    return e ? e : buf_puts(b, "]}");
}

void api_alerts_post(struct app *app, const struct principal *who, struct http_request *req,
                     struct http_response *resp)
{
    struct err_info ei;
    err_clear(&ei);
    if (!api_is_json(req->content_type)) {
        err_set(&ei, ERR_MEDIA_TYPE, -1,
                "the request body must be sent with Content-Type: application/json");
        api_error(resp, req, &ei);
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        /* A second document after the first is the usual sign of NDJSON sent here. */
        bool more = strstr(jerr.text, "end of file expected") != NULL;
        err_set(&ei, ERR_BODY, jerr.position,
                "the request body is not valid JSON: %s at byte offset %d%s", jerr.text,
                jerr.position,
                more ? " (one JSON document per request: send several alerts as "
                       "{\"value\":[...]}; NDJSON files are for incidentd ingest)"
                     : "");
        api_error(resp, req, &ei);
        return;
    }
    struct alert_in *alerts = NULL;
    size_t n = 0;
    if (alert_parse_batch(body, ALERT_BATCH_MAX, ts_now(), &alerts, &n, &ei)) {
        if (!ei.code)
            ei.code = ERR_BODY;
        api_error(resp, req, &ei);
        json_decref(body);
        return;
    }
    json_decref(body);
    struct store_ingested *res = xcalloc(n ? n : 1, sizeof(*res));
    enum err e =
        n ? store_alert_ingest(app->store, who->tenant, &app->corr, alerts, n, res, &ei) : ERR_OK;
    if (e) {
        if (e != ERR_UNAVAILABLE)
            log_error("ingesting %zu alerts for tenant %s failed: %s (request %s)", n, who->tenant,
                      ei.msg[0] ? ei.msg : err_str(e), req->request_id);
        if (!ei.code)
            ei.code = e;
        api_error(resp, req, &ei);
    } else if (write_results(&resp->body, alerts, res, n) != ERR_OK) {
        err_clear(&ei);
        err_set(&ei, ERR_NOMEM, -1, "out of memory");
        api_error(resp, req, &ei);
    } else {
        api_success(resp);
    }
    for (size_t i = 0; i < n; i++)
        alert_in_release(&alerts[i]);
    free(alerts);
    free(res);
}

void api_alerts_get(struct app *app, const struct principal *who, const char *alert_id,
                    struct http_request *req, struct http_response *resp)
{
    struct err_info ei;
    err_clear(&ei);
    json_t *alert = NULL, *corr = NULL;
    enum err e = store_alert_get(app->store, &who->scope, alert_id, &alert, &corr, &ei);
    if (e) {
        if (!ei.code)
            ei.code = e;
        api_error(resp, req, &ei);
        json_decref(alert);
        json_decref(corr);
        return;
    }
    char base[BASE_URL_MAX];
    api_base_url(app, req, base, sizeof(base));
    /* The entity's keys in the alert's own order, then the explanation (an extension). A stored
     * key named "correlation" (unknown keys are kept) yields to the server's object. */
    json_t *out = json_object();
    char ctx[BASE_URL_MAX + 64];
    snprintf(ctx, sizeof(ctx), "%s/api/$metadata#Alerts/$entity", base);
    json_object_set_new(out, "@odata.context", json_string(ctx));
    const char *key;
    json_t *v;
    json_object_foreach(alert, key, v)
    {
        if (strcmp(key, "correlation") != 0 && strcmp(key, "@odata.context") != 0)
            json_object_set(out, key, v);
    }
    json_object_set(out, "correlation", corr ? corr : json_null());
    char *text = json_dumps(out, JSON_COMPACT);
    if (!text || buf_puts(&resp->body, text) != ERR_OK) {
        err_set(&ei, ERR_NOMEM, -1, "out of memory");
        api_error(resp, req, &ei);
    } else {
        api_success(resp);
    }
    free(text);
    json_decref(out);
    json_decref(alert);
    json_decref(corr);
}
