/* SPDX-License-Identifier: MIT */
/*
 * Black-box helpers: run the real incidentd binary (test_binary()) as a server on 127.0.0.1 and
 * an ephemeral port, talk HTTP to it with libcurl, and run its subcommands.
 */
#ifndef E2E_H
#define E2E_H

#include "common.h"
#include <jansson.h>
#include <sys/types.h>

struct test_server {
    pid_t pid;
    int port;
    char base[64]; /* "http://127.0.0.1:PORT" */
    char *dir;     /* temporary directory holding the database (owned) */
    char *db;      /* database path (owned) */
    char *log;     /* server stderr file (owned) */
    char client_id[64];
    char client_secret[64];
    char token[4096]; /* from the token endpoint; sent by test_http unless overridden */
};

#define TEST_TENANT "00000000-0000-0000-0000-000000000000"

/*
 * Creates a temporary directory with an empty database (or uses `db` when non-NULL), registers
 * an application with every role and no quota (`incidentd app create`), starts `incidentd serve
 * --db …
 * --listen 127.0.0.1:0` plus extra_args (NULL-terminated, may be NULL), waits for its
 * "listening on" line, and gets a token for the application from the token endpoint, as a
 * real client would. Returns false (with a message on stderr) on failure.
 */
bool test_server_start(struct test_server *s, const char *db, const char *const *extra_args);

/* Sends SIGTERM, waits, and returns the exit status (0 expected; non-zero e.g. on a leak);
 * removes the temporary directory unless keep_dir. */
int test_server_stop(struct test_server *s, bool keep_dir);

struct test_resp {
    long status;
    char *body; /* NUL-terminated, as received (no Accept-Encoding is sent unless given) */
    size_t len;
    char *headers; /* raw header block */
};

/*
 * Sends one request. path is appended to s->base verbatim (include the query). content_type and
 * body may be NULL. extra_headers is a NULL-terminated list of "Name: value" lines or NULL.
 * The server's token goes along as `Authorization: Bearer …` unless extra_headers has an
 * Authorization line (an empty "Authorization:" line sends none). Returns false on a transport
 * error.
 */
bool test_http(const struct test_server *s, const char *method, const char *path,
               const char *content_type, const char *body, const char *const *extra_headers,
               struct test_resp *out);

/* Value of a response header (case-insensitive name) copied into out; false when absent. */
bool test_resp_header(const struct test_resp *r, const char *name, char *out, size_t cap);

void test_resp_free(struct test_resp *r);

/* Runs `incidentd <args…>` (NULL-terminated) and returns its exit status; captures stdout and
 * stderr into malloc'd strings when the pointers are non-NULL. */
int test_run_cli(const char *const *args, char **out, char **err);

/* Gets a token from the token endpoint for a client (v2, client_secret_post) into out;
 * false on failure. */
bool test_fetch_token(const struct test_server *s, const char *tenant, const char *client_id,
                      const char *secret, char *out, size_t cap);

/* Runs `incidentd app create` on a database with the given roles (NULL-terminated) and fills
 * client id and secret; false on failure. */
bool test_create_app(const char *db, const char *tenant, const char *name, const char *const *roles,
                     char *client_id, char *secret, size_t cap);

/* The response body as JSON; fails the test when it is not valid JSON. Caller decrefs. */
json_t *test_json_body(const struct test_resp *r);

/* GETs `path` with the server's token, checks the status is `want_status` and returns the body
 * as JSON (the test fails otherwise). Caller decrefs. */
json_t *test_get_json(const struct test_server *s, const char *path, long want_status);

/* Asserts the CONTRACT §7 error envelope: status, error code, a message, and target equal to
 * the request-id header. */
void test_expect_error(const struct test_resp *r, long status, const char *code);

/* Parses a date-time (Z or ±hh:mm, 0-7 fractional digits) into 100 ns ticks independently of
 * src/ts.c, so tests do not check the server with its own parser. */
bool test_parse_instant(const char *s, int64_t *out);

/* Writes text to path; false on failure. */
bool test_write_file(const char *path, const char *text);

#endif
