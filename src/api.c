/* SPDX-License-Identifier: MIT */
/* Routing (CONTRACT §1) and the one place error envelopes are built (CONTRACT §7). */
#include "common.h"
#include "api.h"
#include "log.h"
#include "ts.h"

void api_error(struct http_response *resp, const struct http_request *req,
               const struct err_info *ei)
{
    enum err code = ei->code ? ei->code : ERR_INTERNAL;
    resp->status = err_http_status(code);
    resp->content_type = "application/json; charset=utf-8";
    buf_reset(&resp->body);
    const char *msg = ei->msg[0] ? ei->msg : err_str(code);
    if (resp->status >= 500)
        msg = "the server could not complete the request; try again later";
    buf_appendf(&resp->body, "{\"error\":{\"code\":\"%s\",\"message\":", err_api_code(code));
    buf_json_string(&resp->body, msg, strlen(msg));
    buf_appendf(&resp->body, ",\"target\":\"%s\"}}", req->request_id);
    /* The database was held by another process (an import) past the busy timeout. */
    if (code == ERR_UNAVAILABLE)
        http_response_header(resp, "Retry-After", "1");
}

static bool url_safe(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>')
            return false;
    }
    return true;
}

void api_base_url(const struct app *app, const struct http_request *req, char *out, size_t cap)
{
    if (app->cfg->public_url) {
        snprintf(out, cap, "%s", app->cfg->public_url);
    } else if (req->host && *req->host && strlen(req->host) < 256 && url_safe(req->host) &&
               !strpbrk(req->host, "/?#@")) {
        snprintf(out, cap, "http://%s", req->host);
    } else {
        snprintf(out, cap, "%s", app->listen_base ? app->listen_base : "http://localhost");
    }
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
}

/* Parses a path id: a decimal int64 > 0 (CONTRACT §1). */
static bool parse_id(const char *s, int64_t *out)
{
    if (!*s)
        return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v > (INT64_MAX - (*s - '0')) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    if (v <= 0)
        return false;
    *out = v;
    return true;
}

static void method_not_allowed(struct http_response *resp, struct http_request *req,
                               const char *allow)
{
    struct err_info ei;
    err_clear(&ei);
    err_set(&ei, ERR_METHOD, -1, "method '%.16s' is not allowed here; allowed: %s", req->method,
            allow);
    api_error(resp, req, &ei);
    http_response_header(resp, "Allow", "%s", allow);
}

/* A tenant path segment: what Entra accepts as a tenant (GUID or domain) and nothing else. */
static bool tenant_segment(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return false;
    }
    return true;
}

/* Routes /{tenant}/oauth2/…, /{tenant}/discovery/… and /{tenant}/…/.well-known/…; false when
 * the path is none of them. */
static bool dispatch_identity(struct app *app, struct http_request *req, struct http_response *resp)
{
    const char *path = req->path;
    if (path[0] != '/')
        return false;
    const char *slash = strchr(path + 1, '/');
    if (!slash || !tenant_segment(path + 1, (size_t)(slash - path - 1)))
        return false;
    char tenant[65];
    snprintf(tenant, sizeof(tenant), "%.*s", (int)(slash - path - 1), path + 1);
    const char *rest = slash;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    bool v2 = strcmp(rest, "/oauth2/v2.0/token") == 0;
    if (v2 || strcmp(rest, "/oauth2/token") == 0) {
        if (post)
            api_token(app, tenant, v2, req, resp);
        else
            method_not_allowed(resp, req, "POST");
        return true;
    }
    bool keys = strcmp(rest, "/discovery/v2.0/keys") == 0 || strcmp(rest, "/discovery/keys") == 0;
    bool oidc = strcmp(rest, "/v2.0/.well-known/openid-configuration") == 0 ||
                strcmp(rest, "/.well-known/openid-configuration") == 0;
    if (!keys && !oidc)
        return false;
    if (!get) {
        method_not_allowed(resp, req, "GET");
        return true;
    }
    struct err_info ei;
    err_clear(&ei);
    bool known = false;
    if (store_tenant_exists(app->store, tenant, &known, &ei) || !known) {
        err_set(&ei, ERR_NO_ROUTE, -1, "tenant '%s' was not found", tenant);
        api_error(resp, req, &ei);
    } else if (keys) {
        api_jwks(app, tenant, req, resp);
    } else {
        api_openid_configuration(app, tenant, req, resp);
    }
    return true;
}

/* Authenticates an API request and checks it carries `need` (CONTRACT §7-§8). On failure the
 * response is filled (401 with WWW-Authenticate, or 403 naming the permissions) and false is
 * returned. */
static bool authenticate(struct app *app, struct http_request *req, struct http_response *resp,
                         struct auth_caller *caller)
{
    struct err_info ei;
    err_clear(&ei);
    bool had_token = false;
    int64_t now_s = ts_now() / TS_TICKS_PER_SEC;
    if (auth_authenticate(app->auth, req->authorization, now_s, caller, &had_token, &ei)) {
        api_error(resp, req, &ei);
        if (ei.code == ERR_UNAUTHORIZED && !had_token) {
            http_response_header(resp, "WWW-Authenticate", "Bearer");
        } else if (ei.code == ERR_UNAUTHORIZED) {
            /* RFC 6750 §3: the reason is ours and never contains quotes or token text. */
            http_response_header(resp, "WWW-Authenticate",
                                 "Bearer error=\"invalid_token\", error_description=\"%s\"",
                                 strncmp(ei.msg, "invalid token: ", 15) == 0 ? ei.msg + 15
                                                                             : ei.msg);
        }
        return false;
    }
    snprintf(req->caller, sizeof(req->caller), "%s",
             caller->delegated && caller->upn ? caller->upn
             : caller->client_id              ? caller->client_id
                                              : "-");
    return true;
}

static enum err ignore_doc(void *ctx, int64_t id, const char *doc, size_t len)
{
    UNUSED(ctx);
    UNUSED(id);
    UNUSED(doc);
    UNUSED(len);
    return ERR_OK;
}

/*
 * Answers 404 when a caller limited to device groups may not see the incident `id` (when
 * non-zero) or the alert `alert_id` (when non-NULL), and returns true; false otherwise. Used
 * before a 403 so that a 403 never tells that something exists (issue 3: "404 on GET and
 * PATCH, never 403").
 */
static bool hidden_from(struct app *app, const struct auth_caller *caller, int64_t id,
                        const char *alert_id, struct http_request *req, struct http_response *resp)
{
    if (!caller->restricted || (!id && !alert_id))
        return false;
    struct store_scope scope = {.tenant = caller->tenant,
                                .restricted = true,
                                .groups = (const char *const *)caller->groups,
                                .ngroups = caller->ngroups};
    struct err_info ei;
    err_clear(&ei);
    enum err e;
    if (id) {
        e = store_incident_get(app->store, &scope, id, ignore_doc, NULL, &ei);
    } else {
        json_t *alert = NULL, *corr = NULL;
        e = store_alert_get(app->store, &scope, alert_id, &alert, &corr, &ei);
        json_decref(alert);
        json_decref(corr);
    }
    if (e != ERR_NOT_FOUND)
        return false;
    api_error(resp, req, &ei);
    return true;
}

/* Fills the 403 of CONTRACT §7, naming the permissions the method requires. */
static void forbid(const struct auth_caller *caller, const char *app_perm, const char *user_perm,
                   struct http_request *req, struct http_response *resp)
{
    struct err_info ei;
    err_clear(&ei);
    if (caller->delegated)
        err_set(&ei, ERR_FORBIDDEN, -1,
                "the token lacks the permission this operation requires: delegated "
                "permission (scp) %s",
                user_perm);
    else
        err_set(&ei, ERR_FORBIDDEN, -1,
                "the token lacks the permission this operation requires: application "
                "permission (roles) %s",
                app_perm);
    api_error(resp, req, &ei);
}

/* Checks the caller holds `need` on an incidents route (CONTRACT §7: 403 naming the
 * permissions; 404 first for an incident a scoped user may not see). */
static bool permitted(struct app *app, const struct auth_caller *caller, unsigned need, int64_t id,
                      struct http_request *req, struct http_response *resp)
{
    if ((caller->perms & need) == need)
        return true;
    if (hidden_from(app, caller, id, NULL, req, resp))
        return false;
    if (need & AUTH_INCIDENT_WRITE)
        forbid(caller, "Incident.ReadWrite.All", "Incident.ReadWrite", req, resp);
    else
        forbid(caller, "Incident.Read.All or Incident.ReadWrite.All",
               "Incident.Read or Incident.ReadWrite", req, resp);
    return false;
}

/* Seconds for a header, rounded up so a client that waits that long is never early. */
static uint64_t ceil_s(uint64_t ms)
{
    return (ms + 999) / 1000;
}

/*
 * Takes one call from the caller's quota for a method (issue 4, CONTRACT §7): sets the
 * RateLimit-* headers for the tightest window and, when the quota is used up, fills a 429
 * with Retry-After and returns false. The key is tenant, caller (application id, or the user
 * for delegated tokens) and method, NUL-separated so no two keys collide.
 */
static bool take_quota(struct app *app, const struct auth_caller *c, enum quota_method m,
                       struct http_request *req, struct http_response *resp)
{
    if (!app->ratelimit)
        return true;
    struct quota_table q = app->quotas;
    if (c->quota && quota_apply(&q, c->quota, NULL) != ERR_OK)
        q = app->quotas; /* validated when stored; never trust it blindly */
    struct ratelimit_limits lim = {q.m[m].per_minute, q.m[m].per_hour};
    const char *who = c->delegated ? c->upn : c->client_id;
    char key[512];
    int n = snprintf(key, sizeof(key), "%s%c%s%s%c%d", c->tenant, 0, c->delegated ? "user:" : "",
                     who ? who : "", 0, (int)m);
    if (n < 0 || (size_t)n >= sizeof(key))
        n = (int)sizeof(key) - 1;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    uint64_t now_ms = (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
    struct ratelimit_result r;
    enum err e = ratelimit_take(app->ratelimit, key, (size_t)n, lim, now_ms, &r);
    if (r.window_s) {
        http_response_header(resp, "RateLimit-Limit", "%u", r.limit);
        http_response_header(resp, "RateLimit-Remaining", "%u", r.remaining);
        http_response_header(resp, "RateLimit-Reset", "%" PRIu64, ceil_s(r.reset_ms));
    }
    if (e != ERR_RATE_LIMITED)
        return true;
    uint64_t wait = ceil_s(r.retry_after_ms);
    if (wait < 1)
        wait = 1;
    struct err_info ei;
    err_clear(&ei);
    err_set(&ei, ERR_RATE_LIMITED, -1,
            "Rate limit is exceeded. Maximum allowed %u per %s. You can send requests again in "
            "%" PRIu64 " seconds.",
            r.violated_limit, r.violated_window_s == 3600 ? "01:00:00" : "00:01:00", wait);
    api_error(resp, req, &ei);
    http_response_header(resp, "Retry-After", "%" PRIu64, wait);
    return false;
}

/* The part of a path after "/api/alerts" ("" or "/…"), or NULL for another path. */
static const char *alerts_rest(const char *path)
{
    static const char prefix[] = "/api/alerts";
    size_t n = sizeof(prefix) - 1;
    if (strncmp(path, prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return NULL;
    return path + n;
}

/* "" and "/" after the prefix both name the collection, as for /api/incidents/. */
static bool alerts_collection(const char *rest)
{
    return rest[0] == '\0' || strcmp(rest, "/") == 0;
}

size_t api_route_body_max(struct app *app, const char *method, const char *path)
{
    const char *rest = alerts_rest(path);
    if (strcmp(method, "POST") == 0 && rest && alerts_collection(rest))
        return ALERT_BODY_MAX; /* whatever max_body_bytes says (issue 5: 16 MiB) */
    return (size_t)app->cfg->max_body_bytes;
}

size_t api_body_limit(struct app *app, const char *method, const char *path,
                      const char *authorization)
{
    size_t limit = (size_t)app->cfg->max_body_bytes;
    size_t most = api_route_body_max(app, method, path);
    if (most <= limit)
        return most;
    struct auth_caller caller;
    struct err_info ei;
    err_clear(&ei);
    bool had_token = false;
    if (auth_authenticate(app->auth, authorization, ts_now() / TS_TICKS_PER_SEC, &caller,
                          &had_token, &ei) != ERR_OK)
        return limit;
    if (caller.perms & AUTH_ALERT_WRITE)
        limit = most;
    auth_caller_release(&caller);
    return limit;
}

void api_success(struct http_response *resp)
{
    resp->status = 200;
    resp->content_type = API_JSON_CONTENT_TYPE;
    http_response_header(resp, "OData-Version", "4.0");
}

bool api_is_json(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* What handlers need of an authenticated caller; borrows from it. */
static struct principal principal_of(const struct auth_caller *caller)
{
    return (struct principal){.scope = {.tenant = caller->tenant,
                                        .restricted = caller->restricted,
                                        .groups = (const char *const *)caller->groups,
                                        .ngroups = caller->ngroups},
                              .tenant = caller->tenant,
                              .name = caller->name};
}

/* Routes /api/alerts and /api/alerts/{alertId} (CONTRACT §1, §9); `rest` follows the prefix. */
static void dispatch_alerts(struct app *app, struct http_request *req, struct http_response *resp,
                            const char *rest)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    const char *alert_id = alerts_collection(rest) ? NULL : rest + 1;
    struct err_info ei;
    err_clear(&ei);
    if (!alert_id && !post) {
        method_not_allowed(resp, req, "POST");
        return;
    }
    if (alert_id && !get) {
        method_not_allowed(resp, req, "GET");
        return;
    }
    /* The path was percent-decoded and checked to be UTF-8 without NUL (http.c). */
    if (alert_id && utf8_chars(alert_id, strlen(alert_id)) > ALERT_MAX_ID) {
        err_set(&ei, ERR_INPUT, -1, "alert id '%.40s…' is not valid: longer than %d characters",
                alert_id, ALERT_MAX_ID);
        api_error(resp, req, &ei);
        return;
    }
    struct auth_caller caller;
    if (!authenticate(app, req, resp, &caller))
        return;
    bool allowed = alert_id ? (caller.perms & (AUTH_ALERT_WRITE | AUTH_INCIDENT_READ)) != 0
                            : (caller.perms & AUTH_ALERT_WRITE) != 0;
    if (!take_quota(app, &caller, alert_id ? QUOTA_ALERT : QUOTA_INGEST, req, resp)) {
        auth_caller_release(&caller);
        return;
    }
    if (!allowed) {
        if (!hidden_from(app, &caller, 0, alert_id, req, resp)) {
            if (alert_id)
                forbid(&caller, "Alert.ReadWrite.All, Incident.Read.All or Incident.ReadWrite.All",
                       "Alert.ReadWrite, Incident.Read or Incident.ReadWrite", req, resp);
            else
                forbid(&caller, "Alert.ReadWrite.All", "Alert.ReadWrite", req, resp);
        }
        auth_caller_release(&caller);
        return;
    }
    if (!alert_id && caller.restricted) {
        /* A user limited to device groups must not add alerts to, or rewrite alerts of,
         * incidents outside those groups, nor learn from the results which alert ids exist
         * there; correlation may join any incident of the tenant, so such users do not ingest
         * (docs/auth.md). */
        err_set(&ei, ERR_FORBIDDEN, -1,
                "users limited to device groups cannot ingest alerts: alerts correlate into "
                "incidents of the whole tenant; send them with an application token");
        api_error(resp, req, &ei);
        auth_caller_release(&caller);
        return;
    }
    struct principal who = principal_of(&caller);
    if (alert_id)
        api_alerts_get(app, &who, alert_id, req, resp);
    else
        api_alerts_post(app, &who, req, resp);
    auth_caller_release(&caller);
}

void http_dispatch(struct app *app, struct http_request *req, struct http_response *resp)
{
    if (!req->request_id[0])
        http_request_id_new(req->request_id);
    http_response_header(resp, "request-id", "%s", req->request_id);
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool patch = strcmp(req->method, "PATCH") == 0;
    const char *prefix = "/api/incidents";
    size_t plen = strlen(prefix);
    const char *rest = strncmp(req->path, prefix, plen) == 0 ? req->path + plen : NULL;
    struct err_info ei;
    err_clear(&ei);
    struct auth_caller caller;
    int64_t id = 0;
    unsigned need = AUTH_INCIDENT_READ;

    const char *alerts = alerts_rest(req->path);
    if (alerts) {
        dispatch_alerts(app, req, resp, alerts);
        return;
    }
    if (rest && (rest[0] == '\0' || strcmp(rest, "/") == 0)) {
        /* The trailing-slash form is what the real service's nextLink uses (CONTRACT §1). */
        if (!get) {
            method_not_allowed(resp, req, "GET");
            return;
        }
    } else if (rest && rest[0] == '/' && !strchr(rest + 1, '/')) {
        if (!get && !patch) {
            method_not_allowed(resp, req, "GET, PATCH");
            return;
        }
        if (!parse_id(rest + 1, &id)) {
            err_set(&ei, ERR_INPUT, -1,
                    "incident id '%.40s' is not valid: expected a positive decimal integer",
                    rest + 1);
            api_error(resp, req, &ei);
            return;
        }
        if (patch)
            need = AUTH_INCIDENT_READ | AUTH_INCIDENT_WRITE;
    } else {
        if (!dispatch_identity(app, req, resp)) {
            err_set(&ei, ERR_NO_ROUTE, -1, "no resource at this path");
            api_error(resp, req, &ei);
        }
        return;
    }
    /* Every authenticated call counts against its quota (a refused one too), so every answer
     * to it carries the RateLimit headers. */
    if (!authenticate(app, req, resp, &caller))
        return;
    enum quota_method m = id == 0 ? QUOTA_LIST : patch ? QUOTA_UPDATE : QUOTA_GET;
    if (!take_quota(app, &caller, m, req, resp) || !permitted(app, &caller, need, id, req, resp)) {
        auth_caller_release(&caller);
        return;
    }
    struct principal who = principal_of(&caller);
    if (id == 0)
        api_incidents_list(app, &who, req, resp);
    else if (patch)
        api_incidents_patch(app, &who, id, req, resp);
    else
        api_incidents_get(app, &who, id, req, resp);
    auth_caller_release(&caller);
}
