/* SPDX-License-Identifier: MIT */
/* GET /api/incidents, GET /api/incidents/{id}, PATCH /api/incidents/{id} (CONTRACT §3-§6). */
#include "common.h"
#include "api.h"
#include "log.h"
#include "xmalloc.h"
#include <jansson.h>
#include <strings.h>

#define BASE_URL_MAX 512

struct row_ctx {
    struct buf *out;
    const char *context_base; /* non-NULL: single entity with @odata.context */
    const char *portal;
    const char *tenant;
    size_t rows;
};

/* Appends one incident: the deployment-dependent keys, then the stored document. */
static enum err emit_row(void *arg, int64_t id, const char *doc, size_t len)
{
    struct row_ctx *c = arg;
    enum err e = ERR_OK;
    if (!c->context_base && c->rows > 0)
        e = buf_putc(c->out, ',');
    c->rows++;
    e = e ? e : incident_doc_prefix(c->out, c->context_base, id, c->portal, c->tenant);
    return e ? e : buf_append(c->out, doc, len);
}

/* Percent-encodes a query value for the nextLink: unreserved characters and a few that are safe
 * inside a query stay, everything else (space, quotes, &, #, +, %) is escaped. */
static void put_query_value(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~:@,()$*!/", c)) {
            buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 3);
        }
    }
}

void api_incidents_list(struct app *app, const struct principal *who, struct http_request *req,
                        struct http_response *resp)
{
    struct err_info ei;
    err_clear(&ei);
    struct odata_query q;
    odata_query_init(&q);
    if (odata_query_parse(&q, req->params, req->nparams, &ei)) {
        api_error(resp, req, &ei);
        return;
    }
    char base[BASE_URL_MAX];
    api_base_url(app, req, base, sizeof(base));
    struct buf *b = &resp->body;
    /* Room for a typical page up front (incidents run ~5-10 KB): growing from empty would
     * copy a 1 MB page a dozen times on its way up. */
    if (q.top > 0)
        buf_reserve(b, (size_t)q.top * 8192);
    buf_appendf(b, "{\"@odata.context\":\"%s/api/$metadata#Incidents\",\"value\":[", base);
    struct row_ctx c = {b, NULL, app->cfg->portal_url, who->tenant, 0};
    bool more = false;
    enum err e = store_incident_list(app->store, &who->scope, &q, emit_row, &c, &more, &ei);
    if (e) {
        api_error(resp, req, &ei);
        odata_query_release(&q);
        return;
    }
    buf_putc(b, ']');
    /* A skip near INT64_MAX cannot have rows after it; the guard keeps the sum defined. */
    if (more && q.skip <= INT64_MAX - q.top) {
        /* Absolute and usable verbatim: repeats the client's $filter, $orderby and $top with
         * $skip advanced (CONTRACT §3). */
        buf_appendf(b, ",\"@odata.nextLink\":\"%s/api/incidents/?", base);
        if (q.filter_text) {
            buf_puts(b, "$filter=");
            put_query_value(b, q.filter_text);
            buf_putc(b, '&');
        }
        if (q.orderby_text) {
            buf_puts(b, "$orderby=");
            put_query_value(b, q.orderby_text);
            buf_putc(b, '&');
        }
        if (q.top_given)
            buf_appendf(b, "$top=%" PRId64 "&", q.top);
        buf_appendf(b, "$skip=%" PRId64 "\"", q.skip + q.top);
    }
    buf_putc(b, '}');
    api_success(resp);
    odata_query_release(&q);
}

void api_incidents_get(struct app *app, const struct principal *who, int64_t id,
                       struct http_request *req, struct http_response *resp)
{
    struct err_info ei;
    err_clear(&ei);
    char base[BASE_URL_MAX];
    api_base_url(app, req, base, sizeof(base));
    struct row_ctx c = {&resp->body, base, app->cfg->portal_url, who->tenant, 0};
    if (store_incident_get(app->store, &who->scope, id, emit_row, &c, &ei)) {
        api_error(resp, req, &ei);
        return;
    }
    api_success(resp);
}

void api_incidents_patch(struct app *app, const struct principal *who, int64_t id,
                         struct http_request *req, struct http_response *resp)
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
        err_set(&ei, ERR_BODY, jerr.position,
                "the request body is not valid JSON: %s at byte offset %d", jerr.text,
                jerr.position);
        api_error(resp, req, &ei);
        return;
    }
    struct incident_patch p;
    if (incident_patch_parse(body, &p, &ei)) {
        api_error(resp, req, &ei);
        json_decref(body);
        return;
    }
    p.author = who->name;
    char base[BASE_URL_MAX];
    api_base_url(app, req, base, sizeof(base));
    struct row_ctx c = {&resp->body, base, app->cfg->portal_url, who->tenant, 0};
    if (store_incident_update(app->store, &who->scope, id, &p, emit_row, &c, &ei)) {
        api_error(resp, req, &ei);
    } else {
        resp->status = 200;
        resp->content_type = API_JSON_CONTENT_TYPE;
        http_response_header(resp, "OData-Version", "4.0");
    }
    incident_patch_release(&p);
    json_decref(body);
}
