/* SPDX-License-Identifier: MIT */
/*
 * Black-box quota tests (issue 4, point 5): a server whose config file lowers the quotas, the
 * 429 body and headers, recovery after the announced wait, and independence of other
 * applications, tenants and methods. One server is shared by the case (an unchecked fixture)
 * so the last test can wait out the window the first one used up.
 */
#include "common.h"
#include "e2e.h"
#include "tests.h"
#include <jansson.h>
#include <unistd.h>

static struct test_server srv;
static char dir[512];
static char tok_a[4096], tok_b[4096], tok_other_tenant[4096], tok_app_quota[4096];

#define OTHER_TENANT "11111111-1111-1111-1111-111111111111"

static void make_token(const char *db, const char *tenant, const char *name, const char *quota,
                       char *out)
{
    const char *args[16] = {"app",  "create", "--db", db,       "--tenant",
                            tenant, "--name", name,   "--role", "Incident.ReadWrite.All"};
    int k = 10;
    if (quota) {
        args[k++] = "--quota";
        args[k++] = quota;
    }
    args[k] = NULL;
    char *o = NULL;
    ck_assert_int_eq(test_run_cli(args, &o, NULL), 0);
    json_t *j = json_loads(o, 0, NULL);
    ck_assert(j);
    ck_assert(test_fetch_token(&srv, tenant, json_string_value(json_object_get(j, "client_id")),
                               json_string_value(json_object_get(j, "client_secret")), out, 4096));
    json_decref(j);
    free(o);
}

static void setup(void)
{
    char *d = test_tmpdir();
    snprintf(dir, sizeof(dir), "%s", d);
    free(d);
    char db[600], conf[600], cfgarg[620];
    snprintf(db, sizeof(db), "%s/t.db", dir);
    snprintf(conf, sizeof(conf), "%s/incidentd.conf", dir);
    /* Lowered quotas for the whole server: list 3/min, get 4/min, update 2/min and 3/hour. */
    ck_assert(test_write_file(conf, "quota = list=3/min,get=4/min,update=2/min,update=3/hour\n"));
    const char *demo[] = {"demo", "--db", db, "--incidents", "5", NULL};
    ck_assert_int_eq(test_run_cli(demo, NULL, NULL), 0);
    const char *demo2[] = {"demo", "--db", db, "--incidents", "5", "--tenant", OTHER_TENANT, NULL};
    ck_assert_int_eq(test_run_cli(demo2, NULL, NULL), 0);
    snprintf(cfgarg, sizeof(cfgarg), "%s", conf);
    const char *extra[] = {"--config", cfgarg, NULL};
    ck_assert(test_server_start(&srv, db, extra));
    make_token(db, TEST_TENANT, "app A", NULL, tok_a);
    make_token(db, TEST_TENANT, "app B", NULL, tok_b);
    make_token(db, OTHER_TENANT, "app C", NULL, tok_other_tenant);
    make_token(db, TEST_TENANT, "app D", "list=5/min", tok_app_quota);
}

static void teardown(void)
{
    ck_assert_int_eq(test_server_stop(&srv, false), 0);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static long call(const char *token, const char *method, const char *path, struct test_resp *r)
{
    char auth[4200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    const char *const h[] = {auth, NULL};
    const char *body = strcmp(method, "PATCH") == 0 ? "{\"comment\":\"q\"}" : NULL;
    ck_assert(test_http(&srv, method, path, body ? "application/json" : NULL, body, h, r));
    return r->status;
}

static long header_num(const struct test_resp *r, const char *name)
{
    char v[64];
    ck_assert_msg(test_resp_header(r, name, v, sizeof(v)), "no %s header", name);
    return strtol(v, NULL, 10);
}

START_TEST(test_throttle_list_quota_429)
{
    struct test_resp r;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(call(tok_a, "GET", "/api/incidents?$top=1", &r), 200);
        ck_assert_int_eq(header_num(&r, "RateLimit-Limit"), 3);
        ck_assert_int_eq(header_num(&r, "RateLimit-Remaining"), 2 - i);
        long reset = header_num(&r, "RateLimit-Reset");
        ck_assert(reset >= 1 && reset <= 60);
        test_resp_free(&r);
    }
    ck_assert_int_eq(call(tok_a, "GET", "/api/incidents?$top=1", &r), 429);
    json_t *j = json_loads(r.body, 0, NULL);
    json_t *err = json_object_get(j, "error");
    ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "TooManyRequests");
    const char *msg = json_string_value(json_object_get(err, "message"));
    ck_assert_msg(strstr(msg, "Maximum allowed 3 per 00:01:00"), "%s", msg);
    long retry = header_num(&r, "Retry-After");
    ck_assert(retry >= 1 && retry <= 60);
    char tail[96];
    snprintf(tail, sizeof(tail), "You can send requests again in %ld seconds.", retry);
    ck_assert_msg(strlen(msg) >= strlen(tail) &&
                      strcmp(msg + strlen(msg) - strlen(tail), tail) == 0,
                  "%s", msg);
    char rid[64];
    ck_assert(test_resp_header(&r, "request-id", rid, sizeof(rid)));
    ck_assert_str_eq(json_string_value(json_object_get(err, "target")), rid);
    ck_assert_int_eq(header_num(&r, "RateLimit-Remaining"), 0);
    json_decref(j);
    test_resp_free(&r);
    /* Throttled calls do not use quota: still exactly one wait, not a longer one. */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(call(tok_a, "GET", "/api/incidents?$top=1", &r), 429);
        ck_assert(header_num(&r, "Retry-After") <= retry);
        test_resp_free(&r);
    }
}
END_TEST

START_TEST(test_throttle_other_callers_unaffected)
{
    struct test_resp r;
    /* Same tenant, another application; another tenant; another method of the same app. */
    ck_assert_int_eq(call(tok_b, "GET", "/api/incidents?$top=1", &r), 200);
    test_resp_free(&r);
    ck_assert_int_eq(call(tok_other_tenant, "GET", "/api/incidents?$top=1", &r), 200);
    test_resp_free(&r);
    ck_assert_int_eq(call(tok_a, "GET", "/api/incidents/1", &r), 200);
    ck_assert_int_eq(header_num(&r, "RateLimit-Limit"), 4);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_throttle_application_quota_overrides_config)
{
    struct test_resp r;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(call(tok_app_quota, "GET", "/api/incidents?$top=1", &r), 200);
        ck_assert_int_eq(header_num(&r, "RateLimit-Limit"), 5);
        test_resp_free(&r);
    }
    ck_assert_int_eq(call(tok_app_quota, "GET", "/api/incidents?$top=1", &r), 429);
    test_resp_free(&r);
}
END_TEST

START_TEST(test_throttle_update_hour_window)
{
    struct test_resp r;
    /* update=2/min and 3/hour: the minute window is the tightest first. */
    ck_assert_int_eq(call(tok_b, "PATCH", "/api/incidents/1", &r), 200);
    ck_assert_int_eq(header_num(&r, "RateLimit-Limit"), 2);
    test_resp_free(&r);
    ck_assert_int_eq(call(tok_b, "PATCH", "/api/incidents/1", &r), 200);
    test_resp_free(&r);
    ck_assert_int_eq(call(tok_b, "PATCH", "/api/incidents/1", &r), 429);
    ck_assert(strstr(r.body, "Maximum allowed 2 per 00:01:00"));
    test_resp_free(&r);
}
END_TEST

START_TEST(test_throttle_recovers_after_the_wait)
{
    struct test_resp r;
    ck_assert_int_eq(call(tok_a, "GET", "/api/incidents?$top=1", &r), 429);
    long retry_a = header_num(&r, "Retry-After");
    test_resp_free(&r);
    /* App B's updates are held by their minute window (2/min) at this point. */
    ck_assert_int_eq(call(tok_b, "PATCH", "/api/incidents/1", &r), 429);
    long retry_b = header_num(&r, "Retry-After");
    test_resp_free(&r);
    /* Waiting exactly what the server announced is enough. */
    sleep((unsigned)(retry_a > retry_b ? retry_a : retry_b));
    ck_assert_int_eq(call(tok_a, "GET", "/api/incidents?$top=1", &r), 200);
    test_resp_free(&r);
    /* B's third update fits the hour (3/hour); the fourth exceeds the hour window, which is
     * then the one reported, with a wait of close to an hour. */
    ck_assert_int_eq(call(tok_b, "PATCH", "/api/incidents/1", &r), 200);
    test_resp_free(&r);
    ck_assert_int_eq(call(tok_b, "PATCH", "/api/incidents/1", &r), 429);
    ck_assert_msg(strstr(r.body, "Maximum allowed 3 per 01:00:00"), "%s", r.body);
    long hour_wait = header_num(&r, "Retry-After");
    ck_assert(hour_wait > 3000 && hour_wait <= 3600);
    test_resp_free(&r);
}
END_TEST

Suite *throttle_suite(void)
{
    Suite *s = suite_create("throttle");
    TCase *tc = tcase_create("quota");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_throttle_list_quota_429);
    tcase_add_test(tc, test_throttle_other_callers_unaffected);
    tcase_add_test(tc, test_throttle_application_quota_overrides_config);
    tcase_add_test(tc, test_throttle_update_hour_window);
    tcase_add_test(tc, test_throttle_recovers_after_the_wait);
    suite_add_tcase(s, tc);
    return s;
}
