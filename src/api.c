/* SPDX-License-Identifier: MIT */
/* Routing (CONTRACT §1) and the one place error envelopes are built (CONTRACT §7). */
#include "common.h"
#include "api.h"
#include "log.h"

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

void http_dispatch(struct app *app, struct http_request *req, struct http_response *resp)
{
    if (!req->request_id[0])
        http_request_id_new(req->request_id);
    http_response_header(resp, "request-id", "%s", req->request_id);
    struct principal who = {.scope = {.tenant = app->cfg->tenant},
                            .tenant = app->cfg->tenant,
                            .name = "API"};
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool patch = strcmp(req->method, "PATCH") == 0;
    const char *prefix = "/api/incidents";
    size_t plen = strlen(prefix);
    const char *rest = strncmp(req->path, prefix, plen) == 0 ? req->path + plen : NULL;
    struct err_info ei;
    err_clear(&ei);

    if (rest && (rest[0] == '\0' || strcmp(rest, "/") == 0)) {
        /* The trailing-slash form is what the real service's nextLink uses (CONTRACT §1). */
        if (get)
            api_incidents_list(app, &who, req, resp);
        else
            method_not_allowed(resp, req, "GET");
    } else if (rest && rest[0] == '/' && !strchr(rest + 1, '/')) {
        int64_t id;
        if (!get && !patch) {
            method_not_allowed(resp, req, "GET, PATCH");
        } else if (!parse_id(rest + 1, &id)) {
            err_set(&ei, ERR_INPUT, -1,
                    "incident id '%.40s' is not valid: expected a positive decimal integer",
                    rest + 1);
            api_error(resp, req, &ei);
        } else if (patch) {
            api_incidents_patch(app, &who, id, req, resp);
        } else {
            api_incidents_get(app, &who, id, req, resp);
        }
    } else {
        err_set(&ei, ERR_NO_ROUTE, -1, "no resource at this path");
        api_error(resp, req, &ei);
    }
}
