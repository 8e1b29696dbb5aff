/* SPDX-License-Identifier: MIT */
/*
 * The command line, black-box: --help, usage errors (exit 64, `incidentd: ` messages), import's
 * per-file atomicity and upserts, demo's determinism, serve's listen errors, config --markdown.
 */
#include "common.h"
#include "e2e.h"
#include "tests.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void rm_rf(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The line of text starting with prefix, or NULL (log lines may come before a message). */
static const char *line_starting(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, n) == 0)
            return p;
    return NULL;
}

/* Runs incidentd with args; fails the test unless it exits with `want`. Returns stderr. */
static char *run_expect(int want, const char *const *args, char **out)
{
    char *err = NULL, *o = NULL;
    int rc = test_run_cli(args, &o, &err);
    ck_assert_msg(rc == want, "incidentd %s %s: exit %d, expected %d; stderr: %s", args[0],
                  args[1] ? args[1] : "", rc, want, err);
    if (out)
        *out = o;
    else
        free(o);
    return err;
}

/* GET with a fixed Host header, so that bodies from two servers can be compared byte for byte
 * (@odata.context is built from the Host). Fails unless 200; returns the body. */
static char *get_body(const struct test_server *s, const char *path)
{
    static const char *const host[] = {"Host: incidentd.test", NULL};
    struct test_resp r;
    ck_assert_msg(test_http(s, "GET", path, NULL, NULL, host, &r), "GET %s: transport error", path);
    ck_assert_msg(r.status == 200, "GET %s: status %ld: %.300s", path, r.status, r.body);
    char *body = r.body;
    r.body = NULL;
    test_resp_free(&r);
    return body;
}

static json_t *get_json(const struct test_server *s, const char *path)
{
    char *body = get_body(s, path);
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    ck_assert_msg(j != NULL, "GET %s: invalid JSON: %s", path, je.text);
    free(body);
    return j;
}

static long get_status(const struct test_server *s, const char *path)
{
    struct test_resp r;
    ck_assert(test_http(s, "GET", path, NULL, NULL, NULL, &r));
    long st = r.status;
    test_resp_free(&r);
    return st;
}

/* Ids of the listed incidents (at most 100), in list order. */
static size_t list_ids(const struct test_server *s, int64_t *ids, size_t cap)
{
    json_t *list = get_json(s, "/api/incidents?$top=100");
    json_t *value = json_object_get(list, "value");
    ck_assert(json_is_array(value));
    size_t n = json_array_size(value);
    for (size_t i = 0; i < n && i < cap; i++)
        ids[i] = json_integer_value(json_object_get(json_array_get(value, i), "incidentId"));
    json_decref(list);
    return n;
}

static bool has_id(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * --help and usage errors
 */

static const char *const commands[] = {"serve", "import", "demo", "config"};

START_TEST(test_cli_help)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        const char *args[] = {commands[i], "--help", NULL};
        char *out = NULL;
        char *err = run_expect(0, args, &out);
        char want[64];
        snprintf(want, sizeof(want), "usage: incidentd %s", commands[i]);
        ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s --help printed: %s", commands[i],
                      out);
        ck_assert_msg(strstr(out, "--") != NULL, "%s --help names no option", commands[i]);
        free(out);
        free(err);
    }
    const char *args[] = {"--help", NULL};
    char *out = NULL;
    char *err = run_expect(0, args, &out);
    ck_assert_msg(strncmp(out, "usage: incidentd", 16) == 0, "--help printed: %s", out);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        ck_assert_msg(strstr(out, commands[i]) != NULL, "--help does not list %s", commands[i]);
    free(out);
    free(err);
}
END_TEST

START_TEST(test_cli_unknown_command)
{
    const char *args[] = {"frobnicate", NULL};
    char *err = run_expect(64, args, NULL);
    const char *msg = line_starting(err, "incidentd: ");
    ck_assert_msg(msg && strstr(msg, "frobnicate"), "no 'incidentd: ' message naming it: %s", err);
    free(err);
    const char *none[] = {NULL};
    char *err2 = NULL;
    ck_assert_int_eq(test_run_cli(none, NULL, &err2), 64);
    ck_assert_msg(strstr(err2, "usage: incidentd"), "no usage without a command: %s", err2);
    free(err2);
}
END_TEST

START_TEST(test_cli_unknown_option)
{
    char failures[4096] = "";
    size_t used = 0;
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        const char *args[] = {commands[i], "--bogus-option", NULL};
        char *err = NULL;
        int rc = test_run_cli(args, NULL, &err);
        const char *msg = line_starting(err, "incidentd: ");
        if (rc != 64 || !msg || !strstr(msg, "--bogus-option")) {
            const char *eol = strchr(err, '\n');
            used += (size_t)snprintf(failures + used, sizeof(failures) - used,
                                     "\n  %s --bogus-option: exit %d, stderr starts '%.*s'",
                                     commands[i], rc, eol ? (int)(eol - err) : 80, err);
        }
        free(err);
        ck_assert(used < sizeof(failures));
    }
    ck_assert_msg(used == 0, "expected exit 64 and an 'incidentd: ' message naming the option:%s",
                  failures);
}
END_TEST

/* The database subcommands share one option table; an option that belongs to another of them
 * is refused by name, not silently ignored, and actions are checked. */
START_TEST(test_cli_option_not_for_this_command)
{
    static const char *const cases[][10] = {
        {"app", "create", "--db", "/tmp/unused.db", "--scope", "Incident.Read", NULL},
        {"user", "list", "--db", "/tmp/unused.db", "--quota", "get=0", NULL},
        {"token", "--db", "/tmp/unused.db", "--role", "Incident.Read.All", NULL},
        {"keys", "rotate", "--db", "/tmp/unused.db", "--client-id", "x", NULL},
    };
    static const char *const named[] = {"'--scope'", "'--quota'", "'--role'", "'--client-id'"};
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *err = NULL;
        ck_assert_int_eq(test_run_cli(cases[i], NULL, &err), 64);
        ck_assert_msg(strstr(err, named[i]) && strstr(err, "does not apply"), "%s", err);
        free(err);
    }
    const char *bad[] = {"keys", "spin", NULL};
    char *err = NULL;
    ck_assert_int_eq(test_run_cli(bad, NULL, &err), 64);
    ck_assert(strstr(err, "unknown action 'spin' (rotate, list)"));
    free(err);
}
END_TEST

START_TEST(test_cli_bad_arguments)
{
    /* Missing or malformed required arguments: exit 64 with an `incidentd: ` message. */
    static const char *const cases[][6] = {
        {"import", "--db", "/nonexistent-dir-for-test/x.db", NULL},
        {"demo", "--db", "/nonexistent-dir-for-test/x.db", NULL},
        {"demo", "--db", "/nonexistent-dir-for-test/x.db", "--incidents", "many", NULL},
        {"demo", "--db", "/nonexistent-dir-for-test/x.db", "--incidents", "-1", NULL},
        /* strtoull would read "-1" as 2^64-1. */
        {"demo", "--db", "/nonexistent-dir-for-test/x.db", "--seed", "-1", NULL},
        {"serve", "--db", "/nonexistent-dir-for-test/x.db", "extra", NULL},
    };
    unsetenv("INCIDENTD_DB");
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *err = run_expect(64, cases[i], NULL);
        ck_assert_msg(line_starting(err, "incidentd: ") != NULL, "case %zu: no message: %s", i,
                      err);
        free(err);
    }
    /* A file that does not exist: EX_NOINPUT, naming it. */
    char *dir = test_tmpdir();
    char db[600], missing[600], prefix[700];
    snprintf(db, sizeof(db), "%s/m.db", dir);
    snprintf(missing, sizeof(missing), "%s/no-such-file.json", dir);
    const char *imp[] = {"import", "--db", db, missing, NULL};
    char *err = run_expect(66, imp, NULL);
    snprintf(prefix, sizeof(prefix), "incidentd: %s: ", missing);
    ck_assert_msg(line_starting(err, prefix) != NULL, "no message naming the file: %s", err);
    free(err);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * import
 */

static void incident_line(char *out, size_t cap, int64_t id, const char *name, const char *status,
                          const char *alert_ids)
{
    /* alert_ids: comma-separated ids, one alert each. */
    int n = snprintf(out, cap,
                     "{\"incidentId\":%" PRId64 ",\"incidentName\":\"%s\","
                     "\"createdTime\":\"2024-05-01T08:00:00Z\",\"lastUpdateTime\":"
                     "\"2024-05-02T08:00:00.5Z\",\"status\":\"%s\",\"severity\":\"Medium\","
                     "\"tags\":[\"%s\"],\"comments\":[],\"alerts\":[",
                     id, name, status, name);
    char ids[256];
    snprintf(ids, sizeof(ids), "%s", alert_ids);
    int k = 0;
    for (char *save = NULL, *a = strtok_r(ids, ",", &save); a; a = strtok_r(NULL, ",", &save))
        n += snprintf(out + n, cap - (size_t)n,
                      "%s{\"alertId\":\"%s\",\"creationTime\":\"2024-05-01T08:00:0%dZ\","
                      "\"title\":\"%s of %s\",\"severity\":\"Medium\",\"status\":\"New\","
                      "\"devices\":[],\"entities\":[{\"entityType\":\"Ip\",\"ipAddress\":"
                      "\"10.0.0.%d\"}]}",
                      k ? "," : "", a, k % 10, a, name, k + 1),
            k++;
    snprintf(out + n, cap - (size_t)n, "]}");
    ck_assert_uint_lt((size_t)n + 2, cap);
}

START_TEST(test_cli_import_invalid_file_is_atomic)
{
    char *dir = test_tmpdir();
    char bad[600], bad2[600], good[600], db[600];
    snprintf(bad, sizeof(bad), "%s/bad.ndjson", dir);
    snprintf(bad2, sizeof(bad2), "%s/bad2.ndjson", dir);
    snprintf(good, sizeof(good), "%s/good.json", dir);
    snprintf(db, sizeof(db), "%s/cli.db", dir);
    char l1[2048], l2[2048], g[2048], text[8192];
    incident_line(l1, sizeof(l1), 101, "first", "Active", "a101");
    incident_line(l2, sizeof(l2), 102, "second", "Active", "a102,b102");
    /* Line 3: a comma missing before "status"; the offending byte is its opening quote. */
    const char *l3 = "{\"incidentId\": 103, \"incidentName\": \"third\" \"status\": \"Active\"}";
    int col = (int)(strstr(l3, "\"status\"") - l3) + 1;
    snprintf(text, sizeof(text), "%s\n%s\n%s\n", l1, l2, l3);
    ck_assert(test_write_file(bad, text));
    /* Valid JSON on every line, but line 3 is not a valid incident. */
    const char *l3b = "{\"incidentId\":104,\"status\":\"Sleeping\",\"alerts\":[]}";
    snprintf(text, sizeof(text), "%s\n%s\n%s\n", l1, l2, l3b);
    ck_assert(test_write_file(bad2, text));
    incident_line(g, sizeof(g), 201, "good", "InProgress", "a201");
    ck_assert(test_write_file(good, g));

    const char *args[] = {"import", "--db", db, bad, good, bad2, NULL};
    char *err = run_expect(65, args, NULL);
    char prefix[700];
    snprintf(prefix, sizeof(prefix), "incidentd: %s: ", bad);
    const char *msg = line_starting(err, prefix);
    ck_assert_msg(msg != NULL, "no message starting '%s': %s", prefix, err);
    char where[64];
    snprintf(where, sizeof(where), "line 3, column %d", col);
    const char *eol = strchr(msg, '\n');
    ck_assert_msg(strstr(msg, where) && (!eol || strstr(msg, where) < eol),
                  "message does not name %s: %s", where, msg);
    snprintf(prefix, sizeof(prefix), "incidentd: %s: ", bad2);
    msg = line_starting(err, prefix);
    ck_assert_msg(msg && strstr(msg, "line 3"), "no message naming %s line 3: %s", bad2, err);
    free(err);

    struct test_server s;
    ck_assert(test_server_start(&s, db, NULL));
    int64_t ids[8];
    size_t n = list_ids(&s, ids, ARRAY_SIZE(ids));
    ck_assert_msg(n == 1 && ids[0] == 201, "expected only incident 201 to be imported, got %zu", n);
    ck_assert_int_eq(get_status(&s, "/api/incidents/101"), 404);
    ck_assert_int_eq(get_status(&s, "/api/incidents/102"), 404);
    ck_assert_int_eq(get_status(&s, "/api/incidents/104"), 404);
    json_t *inc = get_json(&s, "/api/incidents/201");
    ck_assert_str_eq(json_string_value(json_object_get(inc, "status")), "InProgress");
    json_decref(inc);
    ck_assert_int_eq(test_server_stop(&s, false), 0);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_cli_reimport_upserts)
{
    char *dir = test_tmpdir();
    char v1[600], v2[600], db[600];
    snprintf(v1, sizeof(v1), "%s/v1.ndjson", dir);
    snprintf(v2, sizeof(v2), "%s/v2.json", dir);
    snprintf(db, sizeof(db), "%s/up.db", dir);
    char a[2048], b[2048], c[2048], text[8192];
    incident_line(a, sizeof(a), 1, "one", "Active", "u1");
    incident_line(b, sizeof(b), 2, "two", "Active", "u2,v2");
    incident_line(c, sizeof(c), 3, "three", "Active", "u3");
    snprintf(text, sizeof(text), "%s\n%s\n%s\n", a, b, c);
    ck_assert(test_write_file(v1, text));
    /* Version 2 of incidents 2 and 3, as a list response: new name, status, tags and alerts
     * (alert v2 dropped, w2 new). */
    incident_line(b, sizeof(b), 2, "two-renamed", "Resolved", "u2,w2");
    incident_line(c, sizeof(c), 3, "three-renamed", "InProgress", "u3");
    snprintf(text, sizeof(text), "{\"value\":[%s,%s]}", b, c);
    ck_assert(test_write_file(v2, text));

    const char *imp1[] = {"import", "--db", db, v1, NULL};
    free(run_expect(0, imp1, NULL));
    struct test_server s;
    ck_assert(test_server_start(&s, db, NULL));
    char *one_before = get_body(&s, "/api/incidents/1");
    ck_assert_int_eq(test_server_stop(&s, false), 0);

    const char *imp2[] = {"import", "--db", db, v2, NULL};
    free(run_expect(0, imp2, NULL));
    ck_assert(test_server_start(&s, db, NULL));
    int64_t ids[8];
    ck_assert_uint_eq(list_ids(&s, ids, ARRAY_SIZE(ids)), 3);
    ck_assert(has_id(ids, 3, 1) && has_id(ids, 3, 2) && has_id(ids, 3, 3));
    char *one_after = get_body(&s, "/api/incidents/1");
    ck_assert_str_eq(one_after, one_before);
    json_t *two = get_json(&s, "/api/incidents/2");
    ck_assert_str_eq(json_string_value(json_object_get(two, "incidentName")), "two-renamed");
    ck_assert_str_eq(json_string_value(json_object_get(two, "status")), "Resolved");
    json_t *tags = json_object_get(two, "tags");
    ck_assert_uint_eq(json_array_size(tags), 1);
    ck_assert_str_eq(json_string_value(json_array_get(tags, 0)), "two-renamed");
    json_t *alerts = json_object_get(two, "alerts");
    ck_assert_uint_eq(json_array_size(alerts), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(alerts, 0), "alertId")),
                     "u2");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(alerts, 0), "title")),
                     "u2 of two-renamed");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(alerts, 1), "alertId")),
                     "w2");
    json_decref(two);
    json_t *three = get_json(&s, "/api/incidents/3");
    ck_assert_str_eq(json_string_value(json_object_get(three, "status")), "InProgress");
    ck_assert_str_eq(json_string_value(json_object_get(three, "incidentName")), "three-renamed");
    json_decref(three);
    char *two_body = get_body(&s, "/api/incidents/2");
    ck_assert_int_eq(test_server_stop(&s, false), 0);

    /* The same file again changes nothing. */
    free(run_expect(0, imp2, NULL));
    ck_assert(test_server_start(&s, db, NULL));
    ck_assert_uint_eq(list_ids(&s, ids, ARRAY_SIZE(ids)), 3);
    char *two_again = get_body(&s, "/api/incidents/2");
    ck_assert_str_eq(two_again, two_body);
    ck_assert_int_eq(test_server_stop(&s, false), 0);
    free(one_before);
    free(one_after);
    free(two_body);
    free(two_again);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * demo
 */

static void demo_db(const char *db, const char *seed)
{
    const char *args[] = {"demo", "--db", db, "--incidents", "50", "--seed", seed, NULL};
    free(run_expect(0, args, NULL));
}

START_TEST(test_cli_demo_deterministic)
{
    char *dir = test_tmpdir();
    char a[600], b[600], c[600];
    snprintf(a, sizeof(a), "%s/a.db", dir);
    snprintf(b, sizeof(b), "%s/b.db", dir);
    snprintf(c, sizeof(c), "%s/c.db", dir);
    demo_db(a, "3");
    demo_db(b, "3");
    demo_db(c, "4");
    struct test_server sa, sb, sc;
    ck_assert(test_server_start(&sa, a, NULL));
    ck_assert(test_server_start(&sb, b, NULL));
    ck_assert(test_server_start(&sc, c, NULL));

    static const char *const paths[] = {
        "/api/incidents?$top=100", "/api/incidents/1",  "/api/incidents/2",
        "/api/incidents/7",        "/api/incidents/25", "/api/incidents/50",
    };
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        char *x = get_body(&sa, paths[i]), *y = get_body(&sb, paths[i]);
        ck_assert_msg(strcmp(x, y) == 0, "GET %s differs between two runs with seed 3", paths[i]);
        free(x);
        free(y);
    }
    char *x = get_body(&sa, paths[0]), *z = get_body(&sc, paths[0]);
    ck_assert_msg(strcmp(x, z) != 0, "seeds 3 and 4 gave the same incidents");
    free(z);

    /* Ids 1..50; 1-5 alerts each, except Redirected stubs, which have none. */
    json_t *list = json_loads(x, 0, NULL);
    free(x);
    json_t *value = json_object_get(list, "value");
    ck_assert_uint_eq(json_array_size(value), 50);
    bool seen[51] = {false};
    size_t i;
    json_t *inc;
    json_array_foreach(value, i, inc)
    {
        int64_t id = json_integer_value(json_object_get(inc, "incidentId"));
        ck_assert_msg(id >= 1 && id <= 50 && !seen[id], "unexpected incident id %" PRId64, id);
        seen[id] = true;
        size_t na = json_array_size(json_object_get(inc, "alerts"));
        const char *status = json_string_value(json_object_get(inc, "status"));
        ck_assert(status != NULL);
        if (strcmp(status, "Redirected") == 0) {
            ck_assert_msg(na == 0, "Redirected incident %" PRId64 " has %zu alerts", id, na);
            json_int_t to = json_integer_value(json_object_get(inc, "redirectIncidentId"));
            ck_assert_msg(to >= 1 && to < id, "incident %" PRId64 " redirects to %lld", id,
                          (long long)to);
        } else {
            ck_assert_msg(na >= 1 && na <= 5, "incident %" PRId64 " has %zu alerts", id, na);
        }
        size_t k;
        json_t *al;
        json_array_foreach(json_object_get(inc, "alerts"), k, al)
        {
            ck_assert_int_eq(json_integer_value(json_object_get(al, "incidentId")), id);
        }
    }
    json_decref(list);
    ck_assert_int_eq(test_server_stop(&sa, false), 0);
    ck_assert_int_eq(test_server_stop(&sb, false), 0);
    ck_assert_int_eq(test_server_stop(&sc, false), 0);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * serve --listen errors
 */

/*
 * Runs `incidentd serve --db db --listen listen`, which must fail. A server that starts anyway
 * would run forever: after 20 s it is killed and the test fails. Returns the exit status;
 * *err receives stderr.
 */
static int serve_must_fail(const char *db, const char *listen, const char *errpath, char **err)
{
    pid_t p = fork();
    ck_assert(p >= 0);
    if (p == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(fd, 2);
        execl(test_binary(), test_binary(), "serve", "--db", db, "--listen", listen, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t w = waitpid(p, &st, WNOHANG);
        if (w == p)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 20) {
            kill(p, SIGKILL);
            waitpid(p, &st, 0);
            ck_abort_msg("serve --listen '%s' did not fail: still running after 20 s", listen);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    *err = test_read_file(errpath, NULL);
    ck_assert(*err != NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(test_cli_serve_bad_listen)
{
    char *dir = test_tmpdir();
    char db[600], errpath[600];
    snprintf(db, sizeof(db), "%s/serve.db", dir);
    snprintf(errpath, sizeof(errpath), "%s/err", dir);

    /* A port that is taken. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char taken[32];
    snprintf(taken, sizeof(taken), "127.0.0.1:%d", ntohs(sa.sin_port));

    const char *const bad[] = {"nonsense", "127.0.0.1:99999", "127.0.0.1:http-ish",
                               "127.0.0.1:", taken};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *err = NULL;
        int rc = serve_must_fail(db, bad[i], errpath, &err);
        ck_assert_msg(rc != 0 && rc < 128, "serve --listen '%s': exit %d", bad[i], rc);
        ck_assert_msg(line_starting(err, "incidentd: ") != NULL,
                      "serve --listen '%s': no 'incidentd: ' message: %s", bad[i], err);
        free(err);
    }
    close(fd);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * config
 */

START_TEST(test_cli_config_markdown_lists_every_key)
{
    const char *plain[] = {"config", NULL};
    char *out = NULL;
    free(run_expect(0, plain, &out));
    const char *md_args[] = {"config", "--markdown", NULL};
    char *md = NULL;
    free(run_expect(0, md_args, &md));

    size_t keys = 0;
    bool db = false, listen = false, sync = false;
    for (char *line = out; line && *line;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = '\0';
        char *eq = strstr(line, " = ");
        ck_assert_msg(eq != NULL, "config printed a line that is not 'key = value': %s", line);
        *eq = '\0';
        char cell[128], env[128];
        snprintf(cell, sizeof(cell), "| `%s` |", line);
        ck_assert_msg(strstr(md, cell) != NULL, "config --markdown lacks key '%s'", line);
        snprintf(env, sizeof(env), "`INCIDENTD_");
        size_t n = strlen(env);
        for (const char *p = line; *p && n < sizeof(env) - 2; p++)
            env[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        env[n++] = '`';
        env[n] = '\0';
        ck_assert_msg(strstr(md, env) != NULL, "config --markdown lacks %s", env);
        db |= strcmp(line, "db") == 0;
        listen |= strcmp(line, "listen") == 0;
        sync |= strcmp(line, "db_sync") == 0;
        keys++;
        line = eol ? eol + 1 : NULL;
    }
    ck_assert_msg(db && listen && sync, "config does not print db, listen and db_sync");
    /* One table row per key, nothing else. */
    size_t rows = 0;
    for (const char *p = md; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        rows += strncmp(p, "| `", 3) == 0;
    ck_assert_uint_eq(rows, keys);
    free(out);
    free(md);
}
END_TEST

Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cli_help);
    tcase_add_test(tc, test_cli_unknown_command);
    tcase_add_test(tc, test_cli_unknown_option);
    tcase_add_test(tc, test_cli_bad_arguments);
    tcase_add_test(tc, test_cli_option_not_for_this_command);
    tcase_add_test(tc, test_cli_import_invalid_file_is_atomic);
    tcase_add_test(tc, test_cli_reimport_upserts);
    tcase_add_test(tc, test_cli_demo_deterministic);
    tcase_add_test(tc, test_cli_serve_bad_listen);
    tcase_add_test(tc, test_cli_config_markdown_lists_every_key);
    suite_add_tcase(s, tc);
    return s;
}
