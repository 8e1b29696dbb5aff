/* SPDX-License-Identifier: MIT */
/* Black-box helpers: start/stop the real server, HTTP with libcurl, run subcommands. */
#include "common.h"
#include "e2e.h"
#include "tests.h"
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

bool test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

bool test_server_start(struct test_server *s, const char *db, const char *const *extra_args)
{
    memset(s, 0, sizeof(*s));
    s->dir = test_tmpdir();
    if (!s->dir)
        return false;
    size_t n = strlen(s->dir) + 32;
    s->db = malloc(n);
    s->log = malloc(n);
    snprintf(s->db, n, "%s/incidentd.db", s->dir);
    snprintf(s->log, n, "%s/server.log", s->dir);
    if (db) {
        free(s->db);
        s->db = strdup(db);
    }
    static const char *const all_roles[] = {"Incident.ReadWrite.All", "Alert.ReadWrite.All", NULL};
    if (!test_create_app(s->db, TEST_TENANT, "e2e tests", all_roles, s->client_id, s->client_secret,
                         sizeof(s->client_id)))
        return false;
    int out[2];
    if (pipe(out) != 0)
        return false;
    const char *argv[64];
    int k = 0;
    argv[k++] = test_binary();
    argv[k++] = "serve";
    argv[k++] = "--db";
    argv[k++] = s->db;
    argv[k++] = "--listen";
    argv[k++] = "127.0.0.1:0";
    for (int i = 0; extra_args && extra_args[i] && k < 62; i++)
        argv[k++] = extra_args[i];
    argv[k] = NULL;
    s->pid = fork();
    if (s->pid == 0) {
        /* A runner that dies (or runs with CK_FORK=no and exits early) takes its server along. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(out[1], 1);
        int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        close(out[0]);
        close(out[1]);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[256] = "";
    bool ok = false;
    /* Under ASan the binary may take a moment to start; fgets blocks until the line or EOF. */
    while (f && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "listening on http://127.0.0.1:");
        if (p) {
            s->port = atoi(p + strlen("listening on http://127.0.0.1:"));
            ok = s->port > 0;
            break;
        }
    }
    if (f)
        fclose(f);
    if (!ok) {
        fprintf(stderr, "test server did not start; log in %s\n", s->log);
        return false;
    }
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
    if (!test_fetch_token(s, TEST_TENANT, s->client_id, s->client_secret, s->token,
                          sizeof(s->token))) {
        fprintf(stderr, "test server: no token from the token endpoint\n");
        return false;
    }
    return true;
}

bool test_create_app(const char *db, const char *tenant, const char *name, const char *const *roles,
                     char *client_id, char *secret, size_t cap)
{
    const char *args[32] = {"app", "create", "--db", db, "--tenant", tenant, "--name", name};
    int k = 8;
    /* The suite's own application is unlimited: tests that exercise quotas make their own. */
    if (strcmp(name, "e2e tests") == 0) {
        args[k++] = "--quota";
        args[k++] = "list=0,get=0,update=0";
    }
    for (int i = 0; roles && roles[i] && k < 30; i++) {
        args[k++] = "--role";
        args[k++] = roles[i];
    }
    args[k] = NULL;
    char *out = NULL, *err = NULL;
    int rc = test_run_cli(args, &out, &err);
    json_t *j = rc == 0 ? json_loads(out, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(j, "client_id"));
    const char *sec = json_string_value(json_object_get(j, "client_secret"));
    bool ok = id && sec;
    if (ok) {
        snprintf(client_id, cap, "%s", id);
        snprintf(secret, cap, "%s", sec);
    } else {
        fprintf(stderr, "app create failed (%d): %s\n", rc, err ? err : "");
    }
    json_decref(j);
    free(out);
    free(err);
    return ok;
}

bool test_fetch_token(const struct test_server *s, const char *tenant, const char *client_id,
                      const char *secret, char *out, size_t cap)
{
    char path[256], body[512];
    snprintf(path, sizeof(path), "/%s/oauth2/v2.0/token", tenant);
    snprintf(body, sizeof(body),
             "grant_type=client_credentials&client_id=%s&client_secret=%s&scope="
             "https%%3A%%2F%%2Fapi.security.microsoft.com%%2F.default",
             client_id, secret);
    static const char *const no_auth[] = {"Authorization:", NULL};
    struct test_resp r;
    if (!test_http(s, "POST", path, "application/x-www-form-urlencoded", body, no_auth, &r))
        return false;
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    bool ok = tok && strlen(tok) < cap;
    if (ok)
        snprintf(out, cap, "%s", tok);
    else
        fprintf(stderr, "token request failed: %ld %s\n", r.status, r.body);
    json_decref(j);
    test_resp_free(&r);
    return ok;
}

static void rmrf(const char *dir)
{
    pid_t p = fork();
    if (p == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
}

int test_server_stop(struct test_server *s, bool keep_dir)
{
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int st;
        if (waitpid(s->pid, &st, 0) == s->pid)
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (status != 0) {
            char *log = test_read_file(s->log, NULL);
            fprintf(stderr, "server exited with %d; its log:\n%s\n", status, log ? log : "");
            free(log);
        }
    }
    if (s->dir && !keep_dir)
        rmrf(s->dir);
    free(s->dir);
    free(s->db);
    free(s->log);
    memset(s, 0, sizeof(*s));
    return status;
}

struct grow {
    char *p;
    size_t len;
    size_t cap;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct grow *g = ud;
    size_t n = size * nmemb;
    if (g->len + n + 1 > g->cap) {
        /* Doubling: large bodies arrive in many small chunks. */
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + n + 1)
            cap *= 2;
        char *q = realloc(g->p, cap);
        if (!q)
            return 0;
        g->p = q;
        g->cap = cap;
    }
    memcpy(g->p + g->len, ptr, n);
    g->len += n;
    g->p[g->len] = '\0';
    return n;
}

bool test_http(const struct test_server *s, const char *method, const char *path,
               const char *content_type, const char *body, const char *const *extra_headers,
               struct test_resp *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    if (!c)
        return false;
    size_t ulen = strlen(s->base) + strlen(path) + 1;
    char *url = malloc(ulen);
    snprintf(url, ulen, "%s%s", s->base, path);
    struct grow b = {0}, h = {0};
    struct curl_slist *hdrs = NULL;
    char ct[256];
    if (content_type) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, ct);
    } else if (body) {
        hdrs = curl_slist_append(hdrs, "Content-Type:");
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    bool own_auth = false;
    for (int i = 0; extra_headers && extra_headers[i]; i++) {
        own_auth |= strncasecmp(extra_headers[i], "Authorization:", 14) == 0;
        hdrs = curl_slist_append(hdrs, extra_headers[i]);
    }
    char *auth = NULL;
    if (!own_auth && s->token[0]) {
        size_t n = strlen(s->token) + 32;
        auth = malloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", s->token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(url);
    free(auth);
    out->body = b.p ? b.p : strdup("");
    out->len = b.len;
    out->headers = h.p ? h.p : strdup("");
    return rc == CURLE_OK;
}

bool test_resp_header(const struct test_resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(p + len - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            snprintf(out, cap, "%.*s", (int)vl, v);
            return true;
        }
        p = eol ? eol + 1 : NULL;
    }
    return false;
}

void test_resp_free(struct test_resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

static char *slurp_fd(int fd)
{
    struct grow g = {0};
    char tmp[4096];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        on_data(tmp, 1, (size_t)n, &g);
    return g.p ? g.p : strdup("");
}

int test_run_cli(const char *const *args, char **out, char **err)
{
    char *dir = test_tmpdir();
    char opath[512], epath[512];
    snprintf(opath, sizeof(opath), "%s/out", dir);
    snprintf(epath, sizeof(epath), "%s/err", dir);
    const char *argv[64];
    int k = 0;
    argv[k++] = test_binary();
    for (int i = 0; args[i] && k < 63; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    pid_t p = fork();
    if (p == 0) {
        int o = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(p, &st, 0);
    int fo = open(opath, O_RDONLY), fe = open(epath, O_RDONLY);
    if (out)
        *out = slurp_fd(fo);
    if (err)
        *err = slurp_fd(fe);
    close(fo);
    close(fe);
    rmrf(dir);
    free(dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Shared assertions for the black-box suites. */

json_t *test_json_body(const struct test_resp *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->len, 0, &e);
    ck_assert_msg(j != NULL, "invalid JSON (%s at %d) in %zu bytes: %.200s", e.text, e.position,
                  r->len, r->body);
    return j;
}

json_t *test_get_json(const struct test_server *s, const char *path, long want_status)
{
    struct test_resp r;
    ck_assert_msg(test_http(s, "GET", path, NULL, NULL, NULL, &r), "GET %s: transport error", path);
    ck_assert_msg(r.status == want_status, "GET %s: status %ld: %.300s", path, r.status, r.body);
    json_t *j = test_json_body(&r);
    test_resp_free(&r);
    return j;
}

void test_expect_error(const struct test_resp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
    json_t *j = test_json_body(r);
    json_t *err = json_object_get(j, "error");
    ck_assert_msg(json_is_object(err), "no error object: %s", r->body);
    ck_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
    ck_assert(json_string_length(json_object_get(err, "message")) > 0);
    char rid[64];
    ck_assert(test_resp_header(r, "request-id", rid, sizeof(rid)));
    ck_assert_str_eq(json_string_value(json_object_get(err, "target")), rid);
    json_decref(j);
}

bool test_parse_instant(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19)
        return false;
    const char *p = s + 19;
    int64_t frac = 0;
    int digits = 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits == 7)
                return false;
            frac = frac * 10 + (*p - '0');
        }
        if (digits == 0)
            return false;
    }
    for (int i = digits; i < 7; i++)
        frac *= 10;
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5)
            return false;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    int64_t yy = y - (mo <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *out = (days * 86400 + h * 3600 + mi * 60 + sec - off) * 10000000 + frac;
    return true;
}
