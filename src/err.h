/* SPDX-License-Identifier: MIT */
/*
 * The project-wide error code, a fixed-size detail record that never allocates, and the single
 * table mapping codes to HTTP statuses and the error `code` strings of CONTRACT §7.
 */
#ifndef ERR_H
#define ERR_H

#include "common.h"

enum err {
    ERR_OK = 0,
    ERR_NOMEM,
    ERR_INVALID,           /* generic invalid argument (CLI, config) */
    ERR_ODATA,             /* 400 ODataError: bad $filter/$top/$skip/$orderby/unknown option */
    ERR_BODY,              /* 400 InvalidRequestBody: malformed JSON, bad property or value */
    ERR_INPUT,             /* 400 InvalidInput: bad path id, forbidden transition */
    ERR_UNAUTHORIZED,      /* 401 */
    ERR_FORBIDDEN,         /* 403 */
    ERR_NOT_FOUND,         /* 404 ResourceNotFound: no such incident */
    ERR_NO_ROUTE,          /* 404 NotFound: unknown path */
    ERR_METHOD,            /* 405 MethodNotAllowed */
    ERR_TOO_LARGE,         /* 413 */
    ERR_HEADERS_TOO_LARGE, /* 431: request line and headers over the limit */
    ERR_MEDIA_TYPE,        /* 415 */
    ERR_RATE_LIMITED,      /* 429 */
    ERR_CONFLICT,          /* constraint violation in storage */
    ERR_STORAGE,           /* storage failure: 500 without details */
    ERR_UNAVAILABLE,       /* busy or shutting down: 503 */
    ERR_IO,                /* file or socket error (CLI) */
    ERR_INTERNAL,
};

/* Fields callers may read: code, offset (byte offset into the input, -1 when none), msg. */
struct err_info {
    enum err code;
    int offset;
    char msg[256];
};

/* Short English name of a code ("not found"); static storage. */
const char *err_str(enum err code);

/* HTTP status for a code (CONTRACT §7); 500 for codes that should never reach a client. */
int err_http_status(enum err code);

/* The error envelope's `code` string for a code (CONTRACT §7); static storage. */
const char *err_api_code(enum err code);

/*
 * Records the first error only: later calls on an info that already holds an error are ignored,
 * so the innermost, most precise message wins (SQLite's sqlite3ErrorMsg rule). `ei` may be NULL.
 * Returns `code` so callers can write `return err_set(ei, ERR_ODATA, pos, "...")`.
 */
ATTR_PRINTF(4, 5)
enum err err_set(struct err_info *ei, enum err code, int offset, const char *fmt, ...);

/* Replaces, in place, every byte of s that does not begin a complete, valid UTF-8 sequence with
 * '?' (err_set applies it to every message). */
void utf8_sanitize(char *s);

/* True when s[0..len) (valid UTF-8) shows nothing: only whitespace (Unicode White_Space) and
 * invisible format characters such as U+200B, or empty. */
bool utf8_blank(const char *s, size_t len);

/* Number of code points in s[0..len), which must be valid UTF-8 (as jansson and the HTTP layer
 * guarantee): the unit of the API's length limits. */
size_t utf8_chars(const char *s, size_t len);

/* Resets an info to "no error". */
void err_clear(struct err_info *ei);

#endif
