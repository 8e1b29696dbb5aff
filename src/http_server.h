/* SPDX-License-Identifier: MIT */
/*
 * Adapts libmicrohttpd to http_dispatch (api.h): keep-alive, a worker thread pool, limits on
 * headers, body, idle time and connections, gzip/deflate responses, one access-log line per
 * request, and a graceful stop that lets in-flight requests finish (issue 2, point 4).
 */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include "api.h"

struct http_server;

/*
 * Binds cfg->listen and starts serving `app` (borrowed; must outlive the server). The bound
 * port is available from http_server_port (useful with port 0). ERR_IO with ei on failure.
 */
enum err http_server_start(struct app *app, struct http_server **out, struct err_info *ei);

/* The TCP port the server listens on. */
int http_server_port(const struct http_server *s);

/*
 * Stops accepting connections, waits up to timeout_s for in-flight requests to complete, then
 * closes everything and frees the server. Accepts NULL.
 */
void http_server_stop(struct http_server *s, int timeout_s);

/*
 * Compresses src into out with gzip (gzip=true) or zlib-wrapped deflate (HTTP's "deflate").
 * ERR_INTERNAL if zlib fails.
 */
enum err http_compress(const char *src, size_t len, bool gzip, struct buf *out);

/* Picks the response encoding for an Accept-Encoding header value: "gzip", "deflate" or NULL
 * for identity. Honours q-values (q=0 refuses) and "*". */
const char *http_choose_encoding(const char *accept_encoding);

#endif
