/* SPDX-License-Identifier: MIT */
/*
 * The API layer: routes a request to its handler and renders every failure through one error
 * function (CONTRACT §7). Handlers live one resource per file (api_incidents.c).
 */
#ifndef API_H
#define API_H

#include "alert.h"
#include "auth.h"
#include "config.h"
#include "correlate.h"
#include "http.h"
#include "quota.h"
#include "ratelimit.h"
#include "store.h"

/* What handlers share for the life of the server. Borrowed by the API layer. */
struct app {
    const struct config *cfg;
    struct store *store;
    struct auth *auth;
    struct ratelimit *ratelimit; /* per tenant, caller and method (issue 4) */
    struct quota_table quotas;   /* service defaults with the config's overrides */
    struct corr_options corr;    /* correlation of ingested alerts (config correlation_*) */
    const char *listen_base; /* "http://HOST:PORT" of the bound socket, for requests without Host */
};

/* The caller of a request: what storage may show it (tenant, device groups) and the name
 * written as a comment's createdBy. */
struct principal {
    struct store_scope scope;
    const char *tenant;
    const char *name;
};

/*
 * Routes a request and fills resp: status, headers, body. Never fails: errors become error
 * envelopes. Sets the `request-id` header on every response. Thread-safe.
 */
void http_dispatch(struct app *app, struct http_request *req, struct http_response *resp);

/* Renders the error envelope {"error":{"code","message","target"}} for ei (CONTRACT §7); for
 * 5xx the message is generic so no internal detail leaks. */
void api_error(struct http_response *resp, const struct http_request *req,
               const struct err_info *ei);

/* The base URL of this request: public_url, else http://<Host>, else listen_base. Writes at most
 * cap bytes; the result contains only URL-safe characters. */
void api_base_url(const struct app *app, const struct http_request *req, char *out, size_t cap);

/* Handlers (api_incidents.c). */
void api_incidents_list(struct app *app, const struct principal *who, struct http_request *req,
                        struct http_response *resp);
void api_incidents_get(struct app *app, const struct principal *who, int64_t id,
                       struct http_request *req, struct http_response *resp);
void api_incidents_patch(struct app *app, const struct principal *who, int64_t id,
                         struct http_request *req, struct http_response *resp);

/* Alert ingestion and explanation (api_alerts.c; CONTRACT §9, issue 5). */

/*
 * POST /api/alerts: validates one alert, {"value":[...]} or an array (at most ALERT_BATCH_MAX,
 * all or nothing), ingests it for the caller's tenant under app->corr in one transaction, and
 * answers 200 {"value":[{"alertId","incidentId","result"}]} in input order, only after the
 * commit. Errors as envelopes: 415 without application/json, 400 InvalidRequestBody for
 * malformed JSON (byte offset) or an invalid alert (index and field), 5xx from storage.
 */
void api_alerts_post(struct app *app, const struct principal *who, struct http_request *req,
                     struct http_response *resp);

/*
 * GET /api/alerts/{alertId} (issue 5 point 6): the alert as held by its incident, preceded by
 * "@odata.context":"<base>/api/$metadata#Alerts/$entity" and followed by its "correlation"
 * explanation (store.h store_alert_get). `alert_id` is the decoded path segment (borrowed).
 * 404 ResourceNotFound when the tenant has no such alert or the caller's scope may not see it.
 */
void api_alerts_get(struct app *app, const struct principal *who, const char *alert_id,
                    struct http_request *req, struct http_response *resp);

/* The most a route takes from a caller permitted to use it: ALERT_BODY_MAX for POST
 * /api/alerts, else cfg->max_body_bytes. For 413 messages and api_body_limit. */
size_t api_route_body_max(struct app *app, const char *method, const char *path);

/*
 * The largest request body to read for a request, decided from its request line and headers
 * before any of the body arrives: cfg->max_body_bytes, except for POST /api/alerts from a
 * caller whose token holds Alert.ReadWrite(.All), which may send up to ALERT_BODY_MAX (CONTRACT
 * §9). The token is verified here (no quota is taken), so no anonymous or unauthorised client
 * can make the server buffer more than max_body_bytes. `path` is the decoded path without the
 * query. Costs a token verification for that route only; thread-safe.
 */
size_t api_body_limit(struct app *app, const char *method, const char *path,
                      const char *authorization);

/* Token service and discovery (api_token.c); `tenant` is the path segment. */
void api_token(struct app *app, const char *tenant, bool v2, struct http_request *req,
               struct http_response *resp);
void api_jwks(struct app *app, const char *tenant, struct http_request *req,
              struct http_response *resp);
void api_openid_configuration(struct app *app, const char *tenant, struct http_request *req,
                              struct http_response *resp);

/* Marks a response 200 with the API's JSON content type and OData-Version (CONTRACT §2). */
void api_success(struct http_response *resp);

/* True for application/json with optional parameters, case-insensitive (CONTRACT §5: PATCH and
 * POST bodies). NULL: false. */
bool api_is_json(const char *content_type);

#define API_JSON_CONTENT_TYPE \
    "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"

#endif
