/* SPDX-License-Identifier: MIT */
/*
 * The request and response as our handlers see them, independent of libmicrohttpd, so that
 * tests can dispatch requests in process. http_server.c fills them from real connections.
 */
#ifndef HTTP_H
#define HTTP_H

#include "buf.h"
#include "common.h"
#include "odata.h"

#define HTTP_REQUEST_ID_LEN 36
#define HTTP_MAX_HEADERS    12

struct http_request {
    const char *method;         /* "GET", "PATCH", … (borrowed) */
    char *path;                 /* percent-decoded path without the query (owned) */
    struct odata_param *params; /* decoded query parameters, in order (owned, with their text) */
    size_t nparams;
    char *param_text;          /* storage behind params (owned) */
    const char *host;          /* Host header or NULL (borrowed) */
    const char *content_type;  /* Content-Type header or NULL (borrowed) */
    const char *authorization; /* Authorization header or NULL (borrowed) */
    struct buf body;           /* request body */
    char request_id[HTTP_REQUEST_ID_LEN + 1];
    char caller[96]; /* who made the request, for the access log: client id or UPN */
};

struct http_header {
    const char *name; /* static storage */
    char value[160];
};

struct http_response {
    int status;
    const char *content_type; /* static storage */
    struct buf body;
    struct http_header headers[HTTP_MAX_HEADERS];
    int nheaders;
};

/* Initialises an empty request/response. */
void http_request_init(struct http_request *r);
void http_response_init(struct http_response *r);

/* Frees what they own. */
void http_request_release(struct http_request *r);
void http_response_release(struct http_response *r);

/*
 * Splits a raw target (`/path?query`) into a decoded path and decoded parameters: `%XX` decoded,
 * `+` a space in the query (CONTRACT §3). ERR_INPUT with ei for a malformed escape or decoded
 * bytes that are not valid UTF-8 or contain NUL.
 */
enum err http_request_set_target(struct http_request *r, const char *target, size_t len,
                                 struct err_info *ei);

/*
 * Parses `application/x-www-form-urlencoded` text (a query string or a form body): pairs split
 * on '&', key and value split on the first '=', `%XX` and `+` decoded. *params_out and
 * *text_out are malloc'd (free both, also on error); params point into the text. ERR_ODATA
 * with the byte position for a malformed escape, invalid UTF-8 or a NUL.
 */
enum err http_form_parse(const char *text, size_t len, struct odata_param **params_out,
                         size_t *n_out, char **text_out, struct err_info *ei);

/* Adds a response header (name must be static); ignored when the table is full. */
ATTR_PRINTF(3, 4)
void http_response_header(struct http_response *r, const char *name, const char *fmt, ...);

/* Fills request_id with a random RFC 4122 version 4 GUID. */
void http_request_id_new(char out[HTTP_REQUEST_ID_LEN + 1]);

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t len);

#endif
