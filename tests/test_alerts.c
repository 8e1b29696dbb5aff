/* SPDX-License-Identifier: MIT */
/*
 * Black-box tests of alert ingestion (CONTRACT §1 and §9, issue 5 points 1, 6 and 7) against the
 * real binary on 127.0.0.1 and an ephemeral port: POST /api/alerts results and idempotency,
 * batch atomicity and limits, permissions, GET /api/alerts/{id} with its correlation object,
 * polling, concurrent ingestion into one incident, durability across kill -9, the correlation
 * settings, and `incidentd ingest`. The grouping rules themselves are tested by the correlation
 * suites; here alerts share or do not share one device.
 */
#include "common.h"
#include "e2e.h"
#include "tests.h"
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static struct test_server srv;

static void setup(void)
{
    ck_assert(test_server_start(&srv, NULL, NULL));
}

static void teardown(void)
{
    ck_assert_int_eq(test_server_stop(&srv, false), 0);
}

/* An alert on one device (mdatpDeviceId `device`, in device group `group` when non-NULL);
 * malloc'd text. */
static char *alert_text(const char *id, const char *device, const char *severity, const char *group)
{
    char grp[128] = "";
    if (group)
        snprintf(grp, sizeof(grp), ",\"rbacGroupName\":\"%s\"", group);
    size_t cap = 1024 + strlen(id) + strlen(device) * 2;
    char *s = malloc(cap);
    snprintf(s, cap,
             "{\"alertId\":\"%s\",\"title\":\"Suspicious PowerShell command line\","
             "\"severity\":\"%s\",\"category\":\"Execution\",\"serviceSource\":"
             "\"MicrosoftDefenderForEndpoint\",\"detectionSource\":\"EDR\",\"devices\":[{"
             "\"mdatpDeviceId\":\"%s\",\"deviceDnsName\":\"%s.contoso.com\"%s}],\"entities\":[]}",
             id, severity, device, device, grp);
    return s;
}

/* {"value":[…]} of n alerts "<prefix>-<i>" on `device`; malloc'd. */
static char *batch_text(const char *prefix, size_t n, const char *device)
{
    size_t cap = 64 + n * 600, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s, cap, "{\"value\":[");
    for (size_t i = 0; i < n; i++) {
        char id[96];
        snprintf(id, sizeof(id), "%s-%zu", prefix, i);
        char *a = alert_text(id, device, "Medium", NULL);
        len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? "," : "", a);
        free(a);
    }
    snprintf(s + len, cap - len, "]}");
    return s;
}

static void post(const struct test_server *s, const char *body, struct test_resp *r)
{
    ck_assert(test_http(s, "POST", "/api/alerts", "application/json", body, NULL, r));
}

/* POSTs and expects 200; returns the parsed body (caller decrefs). */
static json_t *post_ok(const struct test_server *s, const char *body)
{
    struct test_resp r;
    post(s, body, &r);
    ck_assert_msg(r.status == 200, "POST /api/alerts: %ld %s", r.status, r.body);
    json_t *j = test_json_body(&r);
    test_resp_free(&r);
    ck_assert(json_is_array(json_object_get(j, "value")));
    return j;
}

static json_t *result_at(json_t *j, size_t i)
{
    json_t *v = json_array_get(json_object_get(j, "value"), i);
    ck_assert_msg(json_is_object(v), "no result %zu", i);
    return v;
}

static const char *result_of(json_t *j, size_t i)
{
    return json_string_value(json_object_get(result_at(j, i), "result"));
}

static json_int_t incident_of(json_t *j, size_t i)
{
    json_t *v = json_object_get(result_at(j, i), "incidentId");
    ck_assert(json_is_integer(v));
    return json_integer_value(v);
}

/* Creates an application with the given roles on s's database and returns a token for it. */
static void app_token(const struct test_server *s, const char *name, const char *const *roles,
                      char *out, size_t cap)
{
    char id[64], secret[64];
    ck_assert(test_create_app(s->db, TEST_TENANT, name, roles, id, secret, sizeof(id)));
    ck_assert(test_fetch_token(s, TEST_TENANT, id, secret, out, cap));
}

static void as(const char *token, char *header, size_t cap)
{
    snprintf(header, cap, "Authorization: Bearer %s", token);
}

/* The Authorization header of a delegated token for registered user `upn` with `scope`. */
static void as_user(const struct test_server *s, const char *upn, const char *scope, char *header,
                    size_t cap)
{
    const char *tok[] = {"token",  "--db", s->db,     "--tenant", TEST_TENANT,
                         "--user", upn,    "--scope", scope,      NULL};
    char *out = NULL;
    ck_assert_int_eq(test_run_cli(tok, &out, NULL), 0);
    out[strcspn(out, "\r\n")] = '\0';
    as(out, header, cap);
    free(out);
}

/* ---------------------------------------------------------------------------------------------
 * POST /api/alerts
 */

START_TEST(test_alerts_created_unchanged_updated)
{
    char *a = alert_text("one-1", "dev-one", "Medium", NULL);
    struct test_resp r;
    post(&srv, a, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    char h[256];
    ck_assert(test_resp_header(&r, "Content-Type", h, sizeof(h)));
    ck_assert_str_eq(h, "application/json; odata.metadata=minimal; odata.streaming=true; "
                        "charset=utf-8");
    ck_assert(test_resp_header(&r, "OData-Version", h, sizeof(h)));
    ck_assert_str_eq(h, "4.0");
    ck_assert(test_resp_header(&r, "RateLimit-Limit", h, sizeof(h)));
    ck_assert_str_eq(h, "300");
    json_t *j = test_json_body(&r);
    test_resp_free(&r);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "value")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(result_at(j, 0), "alertId")), "one-1");
    ck_assert_str_eq(result_of(j, 0), "created");
    json_int_t inc = incident_of(j, 0);
    ck_assert(inc > 0);
    json_decref(j);

    char path[64];
    snprintf(path, sizeof(path), "/api/incidents/%" JSON_INTEGER_FORMAT, inc);
    json_t *before = test_get_json(&srv, path, 200);

    /* The same alert again: unchanged, same incident, nothing touched. */
    j = post_ok(&srv, a);
    ck_assert_str_eq(result_of(j, 0), "unchanged");
    ck_assert_int_eq(incident_of(j, 0), inc);
    json_decref(j);
    json_t *again = test_get_json(&srv, path, 200);
    ck_assert_str_eq(json_string_value(json_object_get(again, "lastUpdateTime")),
                     json_string_value(json_object_get(before, "lastUpdateTime")));
    json_decref(again);
    free(a);

    /* Changed: updated, same incident, whose severity follows and lastUpdateTime moves on. */
    a = alert_text("one-1", "dev-one", "High", NULL);
    j = post_ok(&srv, a);
    ck_assert_str_eq(result_of(j, 0), "updated");
    ck_assert_int_eq(incident_of(j, 0), inc);
    json_decref(j);
    json_t *after = test_get_json(&srv, path, 200);
    ck_assert_str_eq(json_string_value(json_object_get(after, "severity")), "High");
    int64_t t0, t1;
    ck_assert(
        test_parse_instant(json_string_value(json_object_get(before, "lastUpdateTime")), &t0));
    ck_assert(test_parse_instant(json_string_value(json_object_get(after, "lastUpdateTime")), &t1));
    ck_assert(t1 > t0);
    json_decref(after);
    json_decref(before);
    free(a);
}
END_TEST

START_TEST(test_alerts_batch_results_in_input_order)
{
    char *x = alert_text("order-c", "dev-c", "Low", NULL);
    char *y = alert_text("order-a", "dev-a", "Low", NULL);
    char *z = alert_text("order-b", "dev-b", "Low", NULL);
    size_t cap = strlen(x) + strlen(y) + strlen(z) + 32;
    char *body = malloc(cap);
    snprintf(body, cap, "{\"value\":[%s,%s,%s]}", x, y, z);
    json_t *j = post_ok(&srv, body);
    static const char *const want[] = {"order-c", "order-a", "order-b"};
    ck_assert_uint_eq(json_array_size(json_object_get(j, "value")), 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(json_string_value(json_object_get(result_at(j, i), "alertId")), want[i]);
        ck_assert_str_eq(result_of(j, i), "created");
    }
    /* Three devices: three incidents. */
    ck_assert(incident_of(j, 0) != incident_of(j, 1) && incident_of(j, 1) != incident_of(j, 2) &&
              incident_of(j, 0) != incident_of(j, 2));
    json_decref(j);
    /* A bare JSON array is a batch too. */
    snprintf(body, cap, "[%s,%s]", z, x);
    j = post_ok(&srv, body);
    ck_assert_str_eq(json_string_value(json_object_get(result_at(j, 0), "alertId")), "order-b");
    ck_assert_str_eq(result_of(j, 0), "unchanged");
    ck_assert_str_eq(result_of(j, 1), "unchanged");
    json_decref(j);
    free(body);
    free(x);
    free(y);
    free(z);
}
END_TEST

START_TEST(test_alerts_invalid_alert_rejects_the_whole_batch)
{
    char *a0 = alert_text("atomic-0", "dev-atomic", "Low", NULL);
    char *a1 = alert_text("atomic-1", "dev-atomic", "Low", NULL);
    const char *a2 = "{\"title\":\"no id\",\"severity\":\"Low\"}";
    size_t cap = strlen(a0) + strlen(a1) + strlen(a2) + 32;
    char *body = malloc(cap);
    snprintf(body, cap, "{\"value\":[%s,%s,%s]}", a0, a1, a2);
    struct test_resp r;
    post(&srv, body, &r);
    test_expect_error(&r, 400, "InvalidRequestBody");
    ck_assert_msg(strstr(r.body, "value[2]") && strstr(r.body, "alertId"),
                  "message names neither index nor field: %s", r.body);
    test_resp_free(&r);
    /* Nothing of the batch was stored. */
    ck_assert(test_http(&srv, "GET", "/api/alerts/atomic-0", NULL, NULL, NULL, &r));
    test_expect_error(&r, 404, "ResourceNotFound");
    test_resp_free(&r);
    json_t *list = test_get_json(&srv, "/api/incidents", 200);
    ck_assert_uint_eq(json_array_size(json_object_get(list, "value")), 0);
    json_decref(list);

    /* A bad field value names index and field too. */
    free(a1);
    a1 = alert_text("atomic-1", "dev-atomic", "Severe", NULL);
    snprintf(body, cap, "{\"value\":[%s,%s]}", a0, a1);
    post(&srv, body, &r);
    test_expect_error(&r, 400, "InvalidRequestBody");
    ck_assert_msg(strstr(r.body, "value[1]") && strstr(r.body, "severity"), "%s", r.body);
    test_resp_free(&r);
    free(body);
    free(a0);
    free(a1);
}
END_TEST

START_TEST(test_alerts_batch_limit)
{
    char *body = batch_text("many", 1001, "dev-many");
    struct test_resp r;
    post(&srv, body, &r);
    test_expect_error(&r, 400, "InvalidRequestBody");
    ck_assert_msg(strstr(r.body, "1000"), "%s", r.body);
    test_resp_free(&r);
    free(body);
    /* Exactly 1000 is fine, and all share the device: one incident. */
    body = batch_text("many", 1000, "dev-many");
    json_t *j = post_ok(&srv, body);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "value")), 1000);
    for (size_t i = 0; i < 1000; i++)
        ck_assert_int_eq(incident_of(j, i), incident_of(j, 0));
    json_decref(j);
    free(body);
}
END_TEST

/* An alert whose description pads the body to `bytes`; malloc'd. */
static char *padded_alert(const char *id, size_t bytes)
{
    char *head = alert_text(id, "dev-big", "Low", NULL);
    size_t hl = strlen(head);
    char *s = malloc(bytes + 1);
    /* {"description":"xxxx…",<rest of the alert> */
    static const char lead[] = "{\"description\":\"";
    size_t pad = bytes - hl - strlen("\"description\":\"\",");
    size_t k = 0;
    memcpy(s + k, lead, sizeof(lead) - 1);
    k += sizeof(lead) - 1;
    memset(s + k, 'x', pad);
    k += pad;
    memcpy(s + k, "\",", 2);
    k += 2;
    memcpy(s + k, head + 1, hl - 1);
    k += hl - 1;
    s[k] = '\0';
    free(head);
    return s;
}

START_TEST(test_alerts_body_limits)
{
    /* Over the server's max_body_bytes (1 MiB) but within ALERT_BODY_MAX: accepted here. */
    char *big = padded_alert("big-1", 3u << 20);
    json_t *j = post_ok(&srv, big);
    ck_assert_str_eq(result_of(j, 0), "created");
    json_decref(j);
    /* Other routes keep their limit. */
    struct test_resp r;
    ck_assert(test_http(&srv, "PATCH", "/api/incidents/1", "application/json", big, NULL, &r));
    test_expect_error(&r, 413, "BadRequest");
    test_resp_free(&r);
    /* A caller who may not ingest never gets the larger limit: the body is not read. */
    char tok[4096], auth[4200];
    static const char *const reader[] = {"Incident.Read.All", NULL};
    app_token(&srv, "reader", reader, tok, sizeof(tok));
    as(tok, auth, sizeof(auth));
    const char *const h[] = {auth, NULL};
    ck_assert(test_http(&srv, "POST", "/api/alerts", "application/json", big, h, &r));
    test_expect_error(&r, 413, "BadRequest");
    test_resp_free(&r);
    free(big);
    /* Over 16 MiB: 413 for everyone. */
    big = padded_alert("big-2", (16u << 20) + 1);
    post(&srv, big, &r);
    test_expect_error(&r, 413, "BadRequest");
    test_resp_free(&r);
    free(big);
}
END_TEST

START_TEST(test_alerts_bad_bodies)
{
    struct test_resp r;
    post(&srv, "{\"value\":[{\"alertId\":", &r);
    test_expect_error(&r, 400, "InvalidRequestBody");
    ck_assert_msg(strstr(r.body, "not valid JSON"), "%s", r.body);
    test_resp_free(&r);
    post(&srv, "", &r);
    test_expect_error(&r, 400, "InvalidRequestBody");
    test_resp_free(&r);
    post(&srv, "42", &r);
    test_expect_error(&r, 400, "InvalidRequestBody");
    test_resp_free(&r);
    post(&srv, "{\"value\":{}}", &r);
    test_expect_error(&r, 400, "InvalidRequestBody");
    test_resp_free(&r);
    /* Invalid UTF-8 */
    post(&srv, "{\"alertId\":\"\xC3\x28\",\"title\":\"t\"}", &r);
    test_expect_error(&r, 400, "InvalidRequestBody");
    test_resp_free(&r);
    char *a = alert_text("ct-1", "dev-ct", "Low", NULL);
    ck_assert(test_http(&srv, "POST", "/api/alerts", "text/plain", a, NULL, &r));
    test_expect_error(&r, 415, "BadRequest");
    test_resp_free(&r);
    free(a);
    /* An empty batch stores nothing and says so. */
    json_t *j = post_ok(&srv, "{\"value\":[]}");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "value")), 0);
    json_decref(j);
}
END_TEST

START_TEST(test_alerts_routes)
{
    struct test_resp r;
    char h[64];
    ck_assert(test_http(&srv, "GET", "/api/alerts", NULL, NULL, NULL, &r));
    test_expect_error(&r, 405, "MethodNotAllowed");
    ck_assert(test_resp_header(&r, "Allow", h, sizeof(h)));
    ck_assert_str_eq(h, "POST");
    test_resp_free(&r);
    ck_assert(test_http(&srv, "PATCH", "/api/alerts/x", "application/json", "{}", NULL, &r));
    test_expect_error(&r, 405, "MethodNotAllowed");
    ck_assert(test_resp_header(&r, "Allow", h, sizeof(h)));
    ck_assert_str_eq(h, "GET");
    test_resp_free(&r);
    ck_assert(test_http(&srv, "GET", "/api/alertsx", NULL, NULL, NULL, &r));
    test_expect_error(&r, 404, "NotFound");
    test_resp_free(&r);
    /* The id is limited to ALERT_MAX_ID (256) characters. */
    char path[400] = "/api/alerts/";
    size_t n = strlen(path);
    memset(path + n, 'a', 257);
    path[n + 257] = '\0';
    ck_assert(test_http(&srv, "GET", path, NULL, NULL, NULL, &r));
    test_expect_error(&r, 400, "InvalidInput");
    test_resp_free(&r);
    path[n + 256] = '\0';
    ck_assert(test_http(&srv, "GET", path, NULL, NULL, NULL, &r));
    test_expect_error(&r, 404, "ResourceNotFound");
    test_resp_free(&r);
    /* No token: 401. */
    const char *const none[] = {"Authorization:", NULL};
    ck_assert(test_http(&srv, "POST", "/api/alerts", "application/json", "{}", none, &r));
    test_expect_error(&r, 401, "Unauthorized");
    test_resp_free(&r);
}
END_TEST

START_TEST(test_alerts_permissions)
{
    char *a = alert_text("perm-1", "dev-perm", "Low", NULL);
    json_t *j = post_ok(&srv, a);
    json_decref(j);
    char tok[4096], auth[4200];
    struct test_resp r;
    /* Incident.Read.All: may read alerts, not ingest them. */
    static const char *const reader[] = {"Incident.Read.All", NULL};
    app_token(&srv, "reader", reader, tok, sizeof(tok));
    as(tok, auth, sizeof(auth));
    const char *const h[] = {auth, NULL};
    ck_assert(test_http(&srv, "POST", "/api/alerts", "application/json", a, h, &r));
    test_expect_error(&r, 403, "Forbidden");
    ck_assert_msg(strstr(r.body, "Alert.ReadWrite.All"), "%s", r.body);
    char limit[32];
    ck_assert(test_resp_header(&r, "RateLimit-Limit", limit, sizeof(limit))); /* counted too */
    test_resp_free(&r);
    ck_assert(test_http(&srv, "GET", "/api/alerts/perm-1", NULL, NULL, h, &r));
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    test_resp_free(&r);
    /* Alert.ReadWrite.All alone: may ingest and read alerts, not incidents. */
    static const char *const writer[] = {"Alert.ReadWrite.All", NULL};
    app_token(&srv, "writer", writer, tok, sizeof(tok));
    as(tok, auth, sizeof(auth));
    ck_assert(test_http(&srv, "GET", "/api/alerts/perm-1", NULL, NULL, h, &r));
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    test_resp_free(&r);
    char *b = alert_text("perm-2", "dev-perm", "Low", NULL);
    ck_assert(test_http(&srv, "POST", "/api/alerts", "application/json", b, h, &r));
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    test_resp_free(&r);
    ck_assert(test_http(&srv, "GET", "/api/incidents", NULL, NULL, h, &r));
    test_expect_error(&r, 403, "Forbidden");
    test_resp_free(&r);
    free(a);
    free(b);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * GET /api/alerts/{id}, correlation, polling
 */

START_TEST(test_alerts_get_with_correlation)
{
    char *a = alert_text("corr-1", "dev-shared", "Medium", NULL);
    char *b = alert_text("corr-2", "DEV-SHARED", "High", NULL); /* case-insensitive device */
    char *c = alert_text("corr-3", "dev-other", "Low", NULL);
    json_t *ja = post_ok(&srv, a), *jb = post_ok(&srv, b), *jc = post_ok(&srv, c);
    json_int_t inc = incident_of(ja, 0);
    ck_assert_str_eq(result_of(jb, 0), "created");
    ck_assert_int_eq(incident_of(jb, 0), inc);
    ck_assert(incident_of(jc, 0) != inc);

    struct test_resp r;
    ck_assert(test_http(&srv, "GET", "/api/alerts/corr-2", NULL, NULL, NULL, &r));
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    char h[256];
    ck_assert(test_resp_header(&r, "Content-Type", h, sizeof(h)));
    ck_assert_str_eq(h, "application/json; odata.metadata=minimal; odata.streaming=true; "
                        "charset=utf-8");
    ck_assert(test_resp_header(&r, "RateLimit-Limit", h, sizeof(h)));
    ck_assert_str_eq(h, "100");
    json_t *j = test_json_body(&r);
    test_resp_free(&r);
    /* @odata.context first, the alert's keys, correlation last. */
    const char *k;
    json_t *v;
    const char *first = NULL, *second = NULL, *last = NULL;
    json_object_foreach(j, k, v)
    {
        if (!first)
            first = k;
        else if (!second)
            second = k;
        last = k;
    }
    ck_assert_str_eq(first, "@odata.context");
    ck_assert_str_eq(second, "alertId");
    ck_assert_str_eq(last, "correlation");
    char want[128];
    snprintf(want, sizeof(want), "%s/api/$metadata#Alerts/$entity", srv.base);
    ck_assert_str_eq(json_string_value(json_object_get(j, "@odata.context")), want);
    ck_assert_str_eq(json_string_value(json_object_get(j, "alertId")), "corr-2");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "incidentId")), inc);
    ck_assert_str_eq(json_string_value(json_object_get(j, "severity")), "High");
    json_t *devices = json_object_get(j, "devices");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(devices, 0), "mdatpDeviceId")),
        "DEV-SHARED");
    json_t *corr = json_object_get(j, "correlation");
    ck_assert(json_is_object(corr));
    ck_assert_int_eq(json_integer_value(json_object_get(corr, "incidentId")), inc);
    ck_assert_str_eq(json_string_value(json_object_get(corr, "action")), "joined");
    json_t *key = json_object_get(corr, "key");
    ck_assert_str_eq(json_string_value(json_object_get(key, "type")), "device");
    ck_assert_str_eq(json_string_value(json_object_get(corr, "matchedAlertId")), "corr-1");
    json_decref(j);

    /* The first alert started the incident. */
    j = test_get_json(&srv, "/api/alerts/corr-1", 200);
    corr = json_object_get(j, "correlation");
    ck_assert_str_eq(json_string_value(json_object_get(corr, "action")), "created");
    ck_assert(json_is_null(json_object_get(corr, "key")));
    json_decref(j);

    /* The incident holds both alerts, with the highest severity. */
    char path[64];
    snprintf(path, sizeof(path), "/api/incidents/%" JSON_INTEGER_FORMAT, inc);
    j = test_get_json(&srv, path, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "alerts")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(j, "severity")), "High");
    json_decref(j);
    json_decref(ja);
    json_decref(jb);
    json_decref(jc);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_alerts_id_is_url_decoded)
{
    char *a = alert_text("id with/slash & \xC3\xA9", "dev-url", "Low", NULL);
    json_t *j = post_ok(&srv, a);
    json_decref(j);
    j = test_get_json(&srv, "/api/alerts/id%20with%2Fslash%20%26%20%C3%A9", 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "alertId")), "id with/slash & \xC3\xA9");
    json_decref(j);
    free(a);
}
END_TEST

START_TEST(test_alerts_new_incident_is_seen_by_pollers)
{
    /* A poller's last lastUpdateTime, just before the ingestion. */
    char since[40];
    time_t t = time(NULL) - 2;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *a = alert_text("poll-1", "dev-poll", "Medium", NULL);
    json_t *j = post_ok(&srv, a);
    json_int_t inc = incident_of(j, 0);
    json_decref(j);
    char path[256];
    snprintf(path, sizeof(path),
             "/api/incidents?$filter=status+eq+%%27Active%%27+and+lastUpdateTime+gt+%s", since);
    json_t *list = test_get_json(&srv, path, 200);
    json_t *value = json_object_get(list, "value");
    ck_assert_uint_eq(json_array_size(value), 1);
    json_t *first = json_array_get(value, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(first, "incidentId")), inc);
    /* Created by ingestion: createdTime = lastUpdateTime = the server time of the change. */
    ck_assert_str_eq(json_string_value(json_object_get(first, "createdTime")),
                     json_string_value(json_object_get(first, "lastUpdateTime")));
    json_t *alerts = json_object_get(first, "alerts");
    ck_assert_uint_eq(json_array_size(alerts), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(alerts, 0), "incidentId")),
                     inc);
    /* Polling past it again returns nothing new. */
    snprintf(path, sizeof(path), "/api/incidents?$filter=lastUpdateTime+gt+%s",
             json_string_value(json_object_get(first, "lastUpdateTime")));
    json_t *next = test_get_json(&srv, path, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(next, "value")), 0);
    json_decref(next);
    json_decref(list);
    free(a);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Concurrency and durability (issue 5 point 7)
 */

enum { CC_THREADS = 4, CC_BATCHES = 50, CC_PER_BATCH = 5 };

struct cc_job {
    int thread;
    int ok;
    long bad_status;
    char bad_body[200];
};

static void *cc_worker(void *arg)
{
    struct cc_job *job = arg;
    for (int b = 0; b < CC_BATCHES; b++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "cc-t%d-b%d", job->thread, b);
        char *body = batch_text(prefix, CC_PER_BATCH, "dev-contended");
        struct test_resp r;
        bool sent = test_http(&srv, "POST", "/api/alerts", "application/json", body, NULL, &r);
        free(body);
        if (sent && r.status == 200) {
            job->ok++;
        } else if (!job->bad_status) {
            job->bad_status = sent ? r.status : -1;
            snprintf(job->bad_body, sizeof(job->bad_body), "%s", sent ? r.body : "");
        }
        if (sent)
            test_resp_free(&r);
    }
    return NULL;
}

START_TEST(test_alerts_concurrent_ingestion_one_incident)
{
    ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    pthread_t th[CC_THREADS];
    static struct cc_job jobs[CC_THREADS];
    for (int t = 0; t < CC_THREADS; t++) {
        memset(&jobs[t], 0, sizeof(jobs[t]));
        jobs[t].thread = t;
        ck_assert_int_eq(pthread_create(&th[t], NULL, cc_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < CC_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < CC_THREADS; t++)
        ck_assert_msg(jobs[t].ok == CC_BATCHES, "thread %d: %d of %d batches; first failure %ld %s",
                      t, jobs[t].ok, CC_BATCHES, jobs[t].bad_status, jobs[t].bad_body);
    /* Exactly one incident that is not a Redirected stub, holding every alert once. */
    json_t *list = test_get_json(&srv, "/api/incidents", 200);
    json_t *value = json_object_get(list, "value");
    json_t *open = NULL;
    size_t i;
    json_t *inc;
    json_array_foreach(value, i, inc)
    {
        const char *status = json_string_value(json_object_get(inc, "status"));
        if (strcmp(status, "Redirected") == 0) {
            ck_assert_uint_eq(json_array_size(json_object_get(inc, "alerts")), 0);
            continue;
        }
        ck_assert_msg(open == NULL, "alerts sharing a device were split over incidents");
        open = inc;
    }
    ck_assert(open != NULL);
    ck_assert_str_eq(json_string_value(json_object_get(open, "status")), "Active");
    json_t *alerts = json_object_get(open, "alerts");
    enum { TOTAL = CC_THREADS * CC_BATCHES * CC_PER_BATCH };
    ck_assert_uint_eq(json_array_size(alerts), TOTAL);
    static bool seen[CC_THREADS][CC_BATCHES][CC_PER_BATCH];
    memset(seen, 0, sizeof(seen));
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        int t, b, k, n = 0;
        const char *id = json_string_value(json_object_get(a, "alertId"));
        ck_assert_msg(id && sscanf(id, "cc-t%d-b%d-%d%n", &t, &b, &k, &n) == 3 && id[n] == '\0',
                      "unexpected alert %s", id ? id : "(null)");
        ck_assert(t >= 0 && t < CC_THREADS && b >= 0 && b < CC_BATCHES && k >= 0 &&
                  k < CC_PER_BATCH);
        ck_assert_msg(!seen[t][b][k], "alert %s twice", id);
        seen[t][b][k] = true;
        ck_assert_int_eq(json_integer_value(json_object_get(a, "incidentId")),
                         json_integer_value(json_object_get(open, "incidentId")));
    }
    json_decref(list);
    curl_global_cleanup();
}
END_TEST

START_TEST(test_alerts_survive_kill_9)
{
    char *dir = test_tmpdir();
    char db[600];
    snprintf(db, sizeof(db), "%s/durable.db", dir);
    struct test_server s;
    ck_assert(test_server_start(&s, db, NULL)); /* default db_sync: full */
    char *a = alert_text("durable-1", "dev-durable", "High", NULL);
    json_t *j = post_ok(&s, a);
    json_int_t inc = incident_of(j, 0);
    json_decref(j);
    ck_assert_int_eq(kill(s.pid, SIGKILL), 0);
    int st = 0;
    ck_assert_int_eq(waitpid(s.pid, &st, 0), s.pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    s.pid = 0; /* reaped: test_server_stop must not signal it again */
    test_server_stop(&s, true);

    struct test_server s2;
    ck_assert(test_server_start(&s2, db, NULL));
    j = test_get_json(&s2, "/api/alerts/durable-1", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "incidentId")), inc);
    json_decref(j);
    /* And it is still the same alert: sending it again changes nothing. */
    j = post_ok(&s2, a);
    ck_assert_str_eq(result_of(j, 0), "unchanged");
    json_decref(j);
    ck_assert_int_eq(test_server_stop(&s2, false), 0);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
    free(a);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Device-group scoping (issue 3) applies to alerts too
 */

START_TEST(test_alerts_scoped_user_sees_only_visible_alerts)
{
    char *mine = alert_text("scope-mine", "dev-g1", "Low", "G1");
    char *theirs = alert_text("scope-theirs", "dev-g2", "Low", "G2");
    json_decref(post_ok(&srv, mine));
    json_decref(post_ok(&srv, theirs));
    const char *create[] = {"user",           "create",    "--db",  srv.db,
                            "--tenant",       TEST_TENANT, "--upn", "analyst@contoso.com",
                            "--device-group", "G1",        NULL};
    ck_assert_int_eq(test_run_cli(create, NULL, NULL), 0);
    char auth[4200];
    as_user(&srv, "analyst@contoso.com", "Incident.Read", auth, sizeof(auth));
    const char *const h[] = {auth, NULL};
    struct test_resp r;
    ck_assert(test_http(&srv, "GET", "/api/alerts/scope-mine", NULL, NULL, h, &r));
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    test_resp_free(&r);
    ck_assert(test_http(&srv, "GET", "/api/alerts/scope-theirs", NULL, NULL, h, &r));
    test_expect_error(&r, 404, "ResourceNotFound");
    test_resp_free(&r);
    /* Without the scope it may not ingest; the answer is 403 naming the delegated one. */
    ck_assert(test_http(&srv, "POST", "/api/alerts", "application/json", mine, h, &r));
    test_expect_error(&r, 403, "Forbidden");
    ck_assert_msg(strstr(r.body, "Alert.ReadWrite"), "%s", r.body);
    test_resp_free(&r);
    /* With the scope it still may not: correlation could join, or an update rewrite, an alert
     * of an incident outside its groups, and the results would reveal which alert ids exist. */
    as_user(&srv, "analyst@contoso.com", "Alert.ReadWrite", auth, sizeof(auth));
    char *rewrite = alert_text("scope-theirs", "dev-g2", "High", "G2");
    ck_assert(test_http(&srv, "POST", "/api/alerts", "application/json", rewrite, h, &r));
    test_expect_error(&r, 403, "Forbidden");
    ck_assert_msg(strstr(r.body, "device groups"), "%s", r.body);
    test_resp_free(&r);
    /* Nothing changed: the hidden alert keeps its severity. */
    json_t *seen = test_get_json(&srv, "/api/alerts/scope-theirs", 200);
    ck_assert_str_eq(json_string_value(json_object_get(seen, "severity")), "Low");
    json_decref(seen);
    free(rewrite);
    free(mine);
    free(theirs);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Settings: correlation_* keys
 */

START_TEST(test_alerts_correlation_settings)
{
    char *dir = test_tmpdir();
    char conf[600];
    snprintf(conf, sizeof(conf), "%s/incidentd.conf", dir);
    /* No correlation keys: every alert starts its own incident. */
    ck_assert(test_write_file(conf, "correlation_keys = \"\"\ncorrelation_window = 90m\n"
                                    "correlation_resolved = reopen\n"));
    struct test_server s;
    const char *extra[] = {"--config", conf, NULL};
    ck_assert(test_server_start(&s, NULL, extra));
    char *a = alert_text("set-1", "dev-set", "Low", NULL);
    char *b = alert_text("set-2", "dev-set", "Low", NULL);
    json_t *ja = post_ok(&s, a), *jb = post_ok(&s, b);
    ck_assert(incident_of(ja, 0) != incident_of(jb, 0));
    json_decref(ja);
    json_decref(jb);
    ck_assert_int_eq(test_server_stop(&s, false), 0);
    free(a);
    free(b);

    /* An invalid value stops the server at start-up, naming the key. */
    ck_assert(test_write_file(conf, "correlation_window = 3 weeks\n"));
    const char *serve[] = {"serve", "--db", "/nonexistent/never.db", "--config", conf, NULL};
    char *err = NULL;
    ck_assert_int_eq(test_run_cli(serve, NULL, &err), 78);
    ck_assert_msg(strstr(err, "correlation_window"), "%s", err);
    free(err);
    ck_assert(test_write_file(conf, "correlation_keys = device,colour\n"));
    ck_assert_int_eq(test_run_cli(serve, NULL, &err), 78);
    ck_assert_msg(strstr(err, "correlation_keys") && strstr(err, "colour"), "%s", err);
    free(err);
    ck_assert(test_write_file(conf, "correlation_resolved = maybe\n"));
    ck_assert_int_eq(test_run_cli(serve, NULL, &err), 78);
    ck_assert_msg(strstr(err, "correlation_resolved"), "%s", err);
    free(err);
    /* And the settings are listed. */
    const char *show[] = {"config", NULL};
    char *out = NULL;
    ck_assert_int_eq(test_run_cli(show, &out, NULL), 0);
    ck_assert_msg(strstr(out, "correlation_keys = device,user,mailbox,file,mail\n") &&
                      strstr(out, "correlation_window = 24h\n") &&
                      strstr(out, "correlation_resolved = new\n"),
                  "%s", out);
    free(out);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * incidentd ingest
 */

START_TEST(test_alerts_ingest_command)
{
    char *dir = test_tmpdir();
    char db[600], nd[600], js[600], bad[600];
    snprintf(db, sizeof(db), "%s/cli.db", dir);
    snprintf(nd, sizeof(nd), "%s/alerts.ndjson", dir);
    snprintf(js, sizeof(js), "%s/alerts.json", dir);
    snprintf(bad, sizeof(bad), "%s/bad.ndjson", dir);
    char *a = alert_text("cli-1", "dev-cli", "Low", NULL);
    char *b = alert_text("cli-2", "dev-cli", "Medium", NULL);
    char *c = alert_text("cli-3", "dev-cli-other", "High", NULL);
    char text[8192];
    snprintf(text, sizeof(text), "%s\n\n%s\r\n%s\n", a, b, c);
    ck_assert(test_write_file(nd, text));
    char *batch = batch_text("cli-json", 4, "dev-cli");
    ck_assert(test_write_file(js, batch));
    free(batch);
    /* Line 3 is invalid: nothing of the file is stored. */
    snprintf(text, sizeof(text), "%s\n%s\n{\"alertId\":\"cli-bad\",\"title\":7}\n", a, b);
    ck_assert(test_write_file(bad, text));

    const char *run_bad[] = {"ingest", "--db", db, "--tenant", TEST_TENANT, bad, NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(test_run_cli(run_bad, &out, &err), 65);
    ck_assert_msg(strstr(err, bad) && strstr(err, "line 3: title: expected a string"), "%s", err);
    ck_assert_msg(!strstr(err, "note:"), "a rejected file stored nothing: %s", err);
    ck_assert_str_eq(out, "");
    free(out);
    free(err);

    /* A tenant nothing can read (a typo, or a new database) is stored, with a note. */
    const char *run_typo[] = {"ingest", "--db", db, "--tenant", "contoso-typo", nd, NULL};
    ck_assert_int_eq(test_run_cli(run_typo, &out, &err), 0);
    ck_assert_msg(strstr(err, "note: tenant 'contoso-typo' has no application or user"), "%s", err);
    free(out);
    free(err);
    const char *app[] = {"app",       "create", "--db",       db,       "--tenant",
                         TEST_TENANT, "--name", "cli-reader", "--role", "Incident.Read.All",
                         NULL};
    ck_assert_int_eq(test_run_cli(app, NULL, NULL), 0);

    const char *run[] = {"ingest", "--db", db, "--tenant", TEST_TENANT, nd, js, NULL};
    ck_assert_int_eq(test_run_cli(run, &out, &err), 0);
    ck_assert_msg(!strstr(err, "note:"), "%s", err);
    ck_assert_msg(!strstr(err, "write lock:"), "the lock report is the server's: %s", err);
    char want[1400];
    snprintf(want, sizeof(want),
             "%s: 3 alerts: 3 created, 0 updated, 0 unchanged\n"
             "%s: 4 alerts: 4 created, 0 updated, 0 unchanged\n",
             nd, js);
    ck_assert_msg(strcmp(out, want) == 0, "stdout: %s\nstderr: %s", out, err);
    free(out);
    free(err);
    /* Again: idempotent. */
    ck_assert_int_eq(test_run_cli(run, &out, NULL), 0);
    snprintf(want, sizeof(want),
             "%s: 3 alerts: 0 created, 0 updated, 3 unchanged\n"
             "%s: 4 alerts: 0 created, 0 updated, 4 unchanged\n",
             nd, js);
    ck_assert_str_eq(out, want);
    free(out);

    /* Flags are checked before anything is opened. */
    const char *bad_window[] = {"ingest",   "--db",    db, "--tenant", TEST_TENANT,
                                "--window", "forever", nd, NULL};
    ck_assert_int_eq(test_run_cli(bad_window, NULL, &err), 64);
    ck_assert_msg(strstr(err, "--window"), "%s", err);
    free(err);
    const char *no_tenant[] = {"ingest", "--db", db, nd, NULL};
    ck_assert_int_eq(test_run_cli(no_tenant, NULL, NULL), 64);
    const char *help[] = {"ingest", "--help", NULL};
    ck_assert_int_eq(test_run_cli(help, &out, NULL), 0);
    ck_assert(strstr(out, "usage: incidentd ingest"));
    free(out);

    /* What the command stored is what the API serves: cli-1 and cli-2 share a device. */
    struct test_server s;
    ck_assert(test_server_start(&s, db, NULL));
    json_t *j1 = test_get_json(&s, "/api/alerts/cli-1", 200);
    json_t *j2 = test_get_json(&s, "/api/alerts/cli-2", 200);
    json_t *j3 = test_get_json(&s, "/api/alerts/cli-3", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j1, "incidentId")),
                     json_integer_value(json_object_get(j2, "incidentId")));
    ck_assert(json_integer_value(json_object_get(j1, "incidentId")) !=
              json_integer_value(json_object_get(j3, "incidentId")));
    json_decref(j1);
    json_decref(j2);
    json_decref(j3);
    struct test_resp r;
    ck_assert(test_http(&s, "GET", "/api/alerts/cli-bad", NULL, NULL, NULL, &r));
    test_expect_error(&r, 404, "ResourceNotFound");
    test_resp_free(&r);
    ck_assert_int_eq(test_server_stop(&s, false), 0);

    /* --keys "" on the command line: no correlation. */
    char db2[600];
    snprintf(db2, sizeof(db2), "%s/cli2.db", dir);
    const char *nokeys[] = {"ingest", "--db", db2, "--tenant", TEST_TENANT, "--keys", "", nd, NULL};
    ck_assert_int_eq(test_run_cli(nokeys, &out, NULL), 0);
    ck_assert(test_server_start(&s, db2, NULL));
    j1 = test_get_json(&s, "/api/alerts/cli-1", 200);
    j2 = test_get_json(&s, "/api/alerts/cli-2", 200);
    ck_assert(json_integer_value(json_object_get(j1, "incidentId")) !=
              json_integer_value(json_object_get(j2, "incidentId")));
    json_decref(j1);
    json_decref(j2);
    ck_assert_int_eq(test_server_stop(&s, false), 0);
    free(out);

    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
    free(a);
    free(b);
    free(c);
}
END_TEST

/* Large files show their progress on a terminal (issue 5 point 1): stderr is a pseudo-terminal
 * here, and the file holds more alerts than the threshold (10,000). */
START_TEST(test_alerts_ingest_progress_on_a_terminal)
{
    enum { N = 10500 };
    char *dir = test_tmpdir();
    char db[600], nd[600];
    snprintf(db, sizeof(db), "%s/progress.db", dir);
    snprintf(nd, sizeof(nd), "%s/many.ndjson", dir);
    FILE *f = fopen(nd, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < N; i++)
        fprintf(f,
                "{\"alertId\":\"p%d\",\"title\":\"T\",\"devices\":[{\"deviceDnsName\":\"h%d\"}]}\n",
                i, i % 300);
    fclose(f);
    int master, slave;
    ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        dup2(slave, 2);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(test_binary(), test_binary(), "ingest", "--db", db, "--tenant", TEST_TENANT, nd,
              (char *)NULL);
        _exit(127);
    }
    close(slave);
    char buf[4096];
    size_t len = 0;
    ssize_t got;
    /* Read until the child closes the terminal (EIO on Linux once the slave side is gone). */
    while ((got = read(master, buf + len, sizeof(buf) - 1 - len)) > 0) {
        len += (size_t)got;
        if (len > sizeof(buf) / 2) {
            memmove(buf, buf + len - 1024, 1024);
            len = 1024;
        }
    }
    buf[len] = '\0';
    close(master);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ingest exited 0x%x", st);
    ck_assert_msg(strstr(buf, "10500/10500 alerts"), "no progress line in: %s", buf);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}
END_TEST

Suite *alerts_suite(void)
{
    Suite *s = suite_create("alerts");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_alerts_created_unchanged_updated);
    tcase_add_test(tc, test_alerts_batch_results_in_input_order);
    tcase_add_test(tc, test_alerts_invalid_alert_rejects_the_whole_batch);
    tcase_add_test(tc, test_alerts_batch_limit);
    tcase_add_test(tc, test_alerts_body_limits);
    tcase_add_test(tc, test_alerts_bad_bodies);
    tcase_add_test(tc, test_alerts_routes);
    tcase_add_test(tc, test_alerts_permissions);
    tcase_add_test(tc, test_alerts_get_with_correlation);
    tcase_add_test(tc, test_alerts_id_is_url_decoded);
    tcase_add_test(tc, test_alerts_new_incident_is_seen_by_pollers);
    tcase_add_test(tc, test_alerts_concurrent_ingestion_one_incident);
    tcase_add_test(tc, test_alerts_scoped_user_sees_only_visible_alerts);
    suite_add_tcase(s, tc);
    TCase *own = tcase_create("own-server");
    tcase_set_timeout(own, 120);
    tcase_add_test(own, test_alerts_survive_kill_9);
    tcase_add_test(own, test_alerts_correlation_settings);
    tcase_add_test(own, test_alerts_ingest_command);
    tcase_add_test(own, test_alerts_ingest_progress_on_a_terminal);
    suite_add_tcase(s, own);
    return s;
}
