/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd glue. Each request gets a struct conn_req, created by the URI-log callback (so
 * it sees the raw target, before MHD decodes anything) and freed by the completion callback,
 * which writes the access-log line. Responses are queued on the second access-handler call, not
 * the first: libmicrohttpd 0.9.75 otherwise drops keep-alive (perf-notes §4).
 */
#include "common.h"
#include "http_server.h"
#include "log.h"
#include "xmalloc.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

struct http_server {
    struct MHD_Daemon *daemon;
    struct app *app;
    int port;
    atomic_int inflight;
    atomic_int connections;
    atomic_bool stopping; /* set by http_server_stop: new connections are closed at once */
    int family;           /* of the listening socket */
};

/* Per connection: the request being read, so a request libmicrohttpd abandons without a
 * completion callback (e.g. when its memory pool overflows on a huge query string) is still
 * freed when the connection closes. */
struct conn_slot {
    struct conn_req *pending;
};

struct conn_req {
    struct http_server *srv;
    char *target;
    size_t target_len;
    struct timespec start;
    bool started;
    bool too_large;
    struct http_request req;
    int status;
    size_t bytes;
    char method[16];
};

static void conn_log(void *cls, const char *fmt, va_list ap)
{
    UNUSED(cls);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_warn("http: %s", msg);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    UNUSED(c);
    struct http_server *srv = cls;
    struct conn_req *r = xcalloc(1, sizeof(*r));
    r->srv = srv;
    r->target_len = strlen(uri);
    r->target = xstrndup(uri, r->target_len);
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    http_request_init(&r->req);
    r->req.body.max = (size_t)srv->app->cfg->max_body_bytes;
    http_request_id_new(r->req.request_id);
    atomic_fetch_add(&srv->inflight, 1);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_slot *slot = ci ? ci->socket_context : NULL;
    if (slot)
        slot->pending = r;
    return r;
}

static void free_req(struct http_server *srv, struct conn_req *r)
{
    http_request_release(&r->req);
    free(r->target);
    free(r);
    atomic_fetch_sub(&srv->inflight, 1);
}

/* Counts connections (our own limit, see on_accept) and frees an abandoned request. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    UNUSED(c);
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = xcalloc(1, sizeof(struct conn_slot));
        return;
    }
    struct conn_slot *slot = *socket_context;
    if (slot && slot->pending)
        free_req(srv, slot->pending);
    free(slot);
    *socket_context = NULL;
    atomic_fetch_sub(&srv->connections, 1);
}

/*
 * Our connection limit. libmicrohttpd 0.9.75 with epoll and a thread pool stalls every
 * worker for the whole idle timeout once its own connection limit is reached (found by load
 * testing at max_connections), so its limit is set above ours and connections beyond ours
 * are refused here, at accept time.
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    UNUSED(addr);
    UNUSED(addrlen);
    struct http_server *srv = cls;
    if (atomic_load(&srv->stopping))
        return MHD_NO;
    if (atomic_fetch_add(&srv->connections, 1) >= srv->app->cfg->max_connections) {
        atomic_fetch_sub(&srv->connections, 1);
        return MHD_NO;
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct conn_req *r = *con_cls;
    if (!r)
        return;
    if (srv->app->cfg->access_log) {
        struct timespec end;
        clock_gettime(CLOCK_MONOTONIC, &end);
        double ms = (double)(end.tv_sec - r->start.tv_sec) * 1e3 +
                    (double)(end.tv_nsec - r->start.tv_nsec) / 1e6;
        /* The path only: query values may hold personal data (conventions §3.9). */
        const char *q = memchr(r->target, '?', r->target_len);
        size_t plen = q ? (size_t)(q - r->target) : r->target_len;
        char path[256];
        log_escape(path, sizeof(path), r->target, plen);
        char caller[128], method[48];
        log_escape(caller, sizeof(caller), r->req.caller, strlen(r->req.caller));
        log_escape(method, sizeof(method), r->method, strlen(r->method));
        log_info("access method=%s path=\"%s\" query=%s status=%d bytes=%zu ms=%.2f "
                 "caller=\"%s\" request_id=%s%s",
                 method[0] ? method : "-", path, q ? "yes" : "no", r->status, r->bytes, ms,
                 caller[0] ? caller : "-", r->req.request_id,
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_slot *slot = ci ? ci->socket_context : NULL;
    if (slot && slot->pending == r)
        slot->pending = NULL;
    free_req(srv, r);
    *con_cls = NULL;
}

const char *http_choose_encoding(const char *ae)
{
    if (!ae)
        return NULL;
    double q_gzip = -1, q_deflate = -1, q_star = -1;
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t tlen = (size_t)(p - tok);
        double q = 1.0;
        while (*p && *p != ',') {
            if (*p == ';') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if ((*p == 'q' || *p == 'Q') && p[1] == '=')
                    q = strtod(p + 2, NULL);
            } else {
                p++;
            }
        }
        if (tlen == 4 && strncasecmp(tok, "gzip", 4) == 0)
            q_gzip = q;
        else if (tlen == 7 && strncasecmp(tok, "deflate", 7) == 0)
            q_deflate = q;
        else if (tlen == 1 && *tok == '*')
            q_star = q;
    }
    if (q_gzip < 0)
        q_gzip = q_star;
    if (q_deflate < 0)
        q_deflate = q_star;
    if (q_gzip > 0 && q_gzip >= q_deflate)
        return "gzip";
    if (q_deflate > 0)
        return "deflate";
    return NULL;
}

enum err http_compress(const char *src, size_t len, bool gzip, struct buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* Level 1: pages are large and compress well even at the fastest level; CPU is the limit. */
    if (deflateInit2(&z, 1, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return ERR_INTERNAL;
    size_t bound = deflateBound(&z, (uLong)len);
    char *dst = buf_reserve(out, bound);
    if (!dst) {
        deflateEnd(&z);
        return ERR_TOO_LARGE;
    }
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)dst;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    size_t produced = bound - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END)
        return ERR_INTERNAL;
    buf_commit(out, produced);
    return ERR_OK;
}

static enum MHD_Result queue(struct conn_req *r, struct MHD_Connection *c,
                             struct http_response *resp)
{
    struct http_server *srv = r->srv;
    const char *enc = NULL;
    struct buf zbuf;
    buf_init(&zbuf, BUF_UNLIMITED);
    if (resp->body.len >= (size_t)srv->app->cfg->gzip_min_bytes && resp->body.len > 0) {
        enc = http_choose_encoding(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
        if (enc && http_compress(resp->body.data, resp->body.len, strcmp(enc, "gzip") == 0,
                                 &zbuf) != ERR_OK) {
            buf_release(&zbuf);
            enc = NULL;
        }
    }
    size_t len;
    char *data = enc ? buf_detach(&zbuf, &len) : buf_detach(&resp->body, &len);
    struct MHD_Response *mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!mr) {
        free(data);
        return MHD_NO;
    }
    if (resp->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    if (enc)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_ENCODING, enc);
    if (resp->status < 300)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    for (int i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(mr, resp->headers[i].name, resp->headers[i].value);
    /* Shutting down: end keep-alive connections after this response, so clients that keep
     * sending cannot hold the drain open (http_server_stop). */
    if (atomic_load(&srv->stopping))
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = resp->status;
    r->bytes = len;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* Answers with an error envelope before or instead of dispatching (limits, bad targets). */
static enum MHD_Result queue_error(struct conn_req *r, struct MHD_Connection *c,
                                   const struct err_info *ei)
{
    struct http_response resp;
    http_response_init(&resp);
    http_response_header(&resp, "request-id", "%s", r->req.request_id);
    api_error(&resp, &r->req, ei);
    enum MHD_Result ret = queue(r, c, &resp);
    http_response_release(&resp);
    return ret;
}

/* Adds one header's size as it appeared on the wire ("Name: value\r\n"). Authorization is
 * left out: a token has its own limit (16 KiB, CONTRACT §8), and an oversized one must be
 * answered as an invalid token (401), not as oversized headers. */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    UNUSED(kind);
    if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) != 0)
        *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* The 413 message; where the route takes more from a permitted caller (POST /api/alerts), it
 * says so, since an expired or unpermitted token otherwise reads like a size problem. */
static void too_large(struct http_server *srv, const char *method, const char *url, size_t limit,
                      struct err_info *ei)
{
    size_t most = api_route_body_max(srv->app, method, url);
    if (most > limit)
        err_set(ei, ERR_TOO_LARGE, -1,
                "the request body is larger than %zu bytes (this route takes up to %zu bytes "
                "from a caller whose valid token permits it)",
                limit, most);
    else
        err_set(ei, ERR_TOO_LARGE, -1, "the request body is larger than %zu bytes", limit);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    UNUSED(version);
    struct http_server *srv = cls;
    struct conn_req *r = *con_cls;
    if (!r)
        return MHD_NO;
    struct err_info ei;
    err_clear(&ei);
    if (!r->started) {
        r->started = true;
        snprintf(r->method, sizeof(r->method), "%s", method);
        /* A request that arrives on a kept-alive connection once the server is stopping is
         * not started: clients retry a 503 elsewhere or later (Retry-After). */
        if (atomic_load(&srv->stopping)) {
            err_set(&ei, ERR_UNAVAILABLE, -1, "the server is shutting down");
            return queue_error(r, c, &ei);
        }
        /* libmicrohttpd's memory pool is sized with slack for its read buffer, so the exact
         * header limit is enforced here, before anything is dispatched. */
        size_t header_bytes = r->target_len + strlen(method) + 12;
        MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &header_bytes);
        if (header_bytes > (size_t)srv->app->cfg->max_header_bytes) {
            err_set(&ei, ERR_HEADERS_TOO_LARGE, -1,
                    "the request line and headers are larger than %d bytes",
                    srv->app->cfg->max_header_bytes);
            return queue_error(r, c, &ei);
        }
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
        /* One route (POST /api/alerts) takes larger bodies from callers allowed to use it;
         * asking costs a token check, so only when the default limit may not do. `url` is
         * the decoded path without the query. */
        size_t limit = (size_t)srv->app->cfg->max_body_bytes;
        if (!cl || declared > limit)
            limit = api_body_limit(
                srv->app, method, url,
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
        r->req.body.max = limit;
        if (cl && declared > limit) {
            /* Refuse before reading: the connection closes after this response. */
            too_large(srv, method, url, limit, &ei);
            return queue_error(r, c, &ei);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_large && buf_append(&r->req.body, upload_data, *upload_size))
            r->too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_large) {
        too_large(srv, method, url, r->req.body.max, &ei);
        return queue_error(r, c, &ei);
    }
    r->req.method = r->method;
    if (http_request_set_target(&r->req, r->target, r->target_len, &ei)) {
        if (!r->req.path)
            r->req.path = xstrdup("");
        return queue_error(r, c, &ei);
    }
    r->req.host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    r->req.content_type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    r->req.authorization =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    struct http_response resp;
    http_response_init(&resp);
    http_dispatch(srv->app, &r->req, &resp);
    enum MHD_Result ret = queue(r, c, &resp);
    http_response_release(&resp);
    return ret;
}

/* Splits HOST:PORT ([v6]:port allowed) and resolves it numerically. */
static enum err parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
                             struct err_info *ei)
{
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return err_set(ei, ERR_INVALID, -1, "listen address '%s' must be HOST:PORT", listen);
    char host[256];
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= sizeof(host))
        return err_set(ei, ERR_INVALID, -1, "listen address '%s' is too long", listen);
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return err_set(ei, ERR_INVALID, -1, "listen port in '%s' must be 0-65535", listen);
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%ld", port);
    int rc = getaddrinfo(*host ? host : NULL, portstr, &hints, &res);
    if (rc != 0)
        return err_set(ei, ERR_INVALID, -1, "cannot resolve listen host '%s': %s", host,
                       gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return ERR_OK;
}

enum err http_server_start(struct app *app, struct http_server **out, struct err_info *ei)
{
    const struct config *cfg = app->cfg;
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (parse_listen(cfg->listen, &ss, &sslen, ei))
        return ERR_INVALID;
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->app = app;
    atomic_init(&srv->inflight, 0);
    atomic_init(&srv->connections, 0);
    atomic_init(&srv->stopping, false);
    srv->family = ss.ss_family;
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The connection memory pool holds the request line, headers and read buffer. Past it,
     * libmicrohttpd answers 431 with its own HTML page, so it is sized well beyond what we
     * refuse ourselves (headers over the limit: 431 envelope; tokens over 16 KiB: 401): the
     * header limit twice over plus 128 KiB. Pages are only touched as far as a request
     * needs, so an idle connection costs little resident memory. */
    size_t pool = (size_t)cfg->max_header_bytes * 2 + 128 * 1024;
    /* The logger goes first so that no message reaches libmicrohttpd's own stderr logger. */
    srv->daemon = MHD_start_daemon(
        flags, 0, on_accept, srv, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, conn_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections + 64u + 4u * (unsigned)cfg->threads,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_END);
    if (!srv->daemon) {
        free(srv);
        return err_set(ei, ERR_IO, -1, "cannot listen on %s: %s", cfg->listen,
                       errno ? strerror(errno) : "libmicrohttpd refused to start");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    *out = srv;
    return ERR_OK;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *s, int timeout_s)
{
    if (!s)
        return;
    /* Stop listening now, so new clients are refused while in-flight responses finish. Not
     * with MHD_quiesce_daemon: with a thread pool and epoll it races the workers, which remove
     * the listening socket from their epoll sets themselves once they see the daemon
     * quiesced, and libmicrohttpd then aborts ("Failed to remove listen FD from epoll set",
     * seen in make test). Instead the descriptor is pointed at a fresh unbound socket: the
     * listening socket is closed (the kernel drops it from every epoll set and refuses new
     * connections), and libmicrohttpd's descriptor stays valid, never ready, until
     * MHD_stop_daemon closes it. The accept policy refuses anything already queued. */
    atomic_store(&s->stopping, true);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    if (info && info->listen_fd != MHD_INVALID_SOCKET) {
        int dummy = socket(s->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (dummy >= 0) {
            dup2(dummy, info->listen_fd);
            close(dummy);
        }
    }
    /* Let requests already being handled finish and be sent before the connections close. */
    for (int waited_ms = 0; atomic_load(&s->inflight) > 0 && waited_ms < timeout_s * 1000;
         waited_ms += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->daemon);
    free(s);
}
