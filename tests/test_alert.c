/* SPDX-License-Identifier: MIT */
/* Ingested alerts: validation, canonical form, defaults and the content hash (issue 5 point 1,
 * CONTRACT §2 and §9). */
#include "common.h"
#include "alert.h"
#include "tests.h"
#include "ts.h"

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "bad test JSON: %s", e.text);
    return j;
}

/* Parses `text` as a batch; returns the error code and leaves the message in ei. */
static enum err parse(const char *text, struct alert_in **out, size_t *n, struct err_info *ei)
{
    json_t *body = load(text);
    err_clear(ei);
    enum err e = alert_parse_batch(body, ALERT_BATCH_MAX, 1000 * TS_TICKS_PER_SEC, out, n, ei);
    json_decref(body);
    return e;
}

static void release(struct alert_in *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        alert_in_release(&a[i]);
    free(a);
}

static const char *str(json_t *alert, const char *key)
{
    return json_string_value(json_object_get(alert, key));
}

START_TEST(test_alert_single_defaults)
{
    struct alert_in *a;
    size_t n;
    struct err_info ei;
    ck_assert_msg(parse("{\"alertId\":\"a1\",\"title\":\"T\",\"incidentId\":77,\"zz\":[1],"
                        "\"severity\":\"high\",\"devices\":[{\"b\":1,\"a\":null}]}",
                        &a, &n, &ei) == ERR_OK,
                  "%s", ei.msg);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(a[0].id, "a1");
    /* Enum spelling canonicalised; status and severity defaulted as Defender serves them. */
    ck_assert_str_eq(str(a[0].alert, "severity"), "High");
    ck_assert_str_eq(str(a[0].alert, "status"), "New");
    /* The server owns incidentId; times default from creationTime, which defaults to now. */
    ck_assert(json_is_null(json_object_get(a[0].alert, "incidentId")));
    ck_assert_str_eq(str(a[0].alert, "creationTime"), "1970-01-01T00:16:40Z");
    ck_assert_str_eq(str(a[0].alert, "lastActivity"), "1970-01-01T00:16:40Z");
    ck_assert_int_eq(a[0].first_activity, 1000 * TS_TICKS_PER_SEC);
    ck_assert_int_eq(a[0].last_activity, a[0].first_activity);
    /* Documented keys first in order, unknown ones after, devices verbatim. */
    const char *first = NULL, *last = NULL, *k;
    json_t *v;
    json_object_foreach(a[0].alert, k, v)
    {
        if (!first)
            first = k;
        last = k;
    }
    ck_assert_str_eq(first, "alertId");
    ck_assert_str_eq(last, "zz");
    char *dev = json_dumps(json_object_get(a[0].alert, "devices"), JSON_COMPACT);
    ck_assert_str_eq(dev, "[{\"b\":1,\"a\":null}]");
    free(dev);
    release(a, n);
}
END_TEST

START_TEST(test_alert_hash_ignores_server_defaults)
{
    const char *text = "{\"alertId\":\"a1\",\"title\":\"T\"}";
    struct alert_in *a, *b, *c;
    size_t n;
    struct err_info ei;
    ck_assert(parse(text, &a, &n, &ei) == ERR_OK);
    json_t *body = load(text);
    /* Arriving later (another `now`) must not make a resend look changed. */
    ck_assert(alert_parse_batch(body, 0, 5000 * TS_TICKS_PER_SEC, &b, &n, &ei) == ERR_OK);
    json_decref(body);
    ck_assert_mem_eq(a[0].hash, b[0].hash, sizeof(a[0].hash));
    /* The sender's incidentId is not content either; a title change is. */
    ck_assert(parse("{\"alertId\":\"a1\",\"title\":\"T\",\"incidentId\":4}", &c, &n, &ei) ==
              ERR_OK);
    ck_assert_mem_eq(a[0].hash, c[0].hash, sizeof(a[0].hash));
    release(c, 1);
    ck_assert(parse("{\"alertId\":\"a1\",\"title\":\"T2\"}", &c, &n, &ei) == ERR_OK);
    ck_assert(memcmp(a[0].hash, c[0].hash, sizeof(a[0].hash)) != 0);
    release(a, 1);
    release(b, 1);
    release(c, 1);
}
END_TEST

START_TEST(test_alert_activity_defaults)
{
    struct alert_in *a;
    size_t n;
    struct err_info ei;
    /* Only lastActivity, before the creation time: the activity starts there too. */
    ck_assert_msg(
        parse("{\"alertId\":\"a\",\"title\":\"T\",\"creationTime\":"
              "\"2026-01-02T00:00:00Z\",\"lastActivity\":\"2026-01-01T00:00:00Z\","
              "\"classification\":\"TruePositive\",\"determination\":\"compromiseduser\"}",
              &a, &n, &ei) == ERR_OK,
        "%s", ei.msg);
    ck_assert_str_eq(str(a[0].alert, "firstActivity"), "2026-01-01T00:00:00Z");
    ck_assert_int_eq(a[0].first_activity, a[0].last_activity);
    /* Triage the sender left out is marked too (an update keeps the stored values); the verdict
     * was sent. */
    ck_assert_uint_eq(a[0].defaulted, ALERT_DEFAULT_UPDATED | ALERT_DEFAULT_FIRST |
                                          ALERT_OMIT_STATUS | ALERT_OMIT_RESOLVED |
                                          ALERT_OMIT_ASSIGNED);
    /* Determination spellings of the read side are stored as the update page's. */
    ck_assert_str_eq(str(a[0].alert, "determination"), "CompromisedAccount");
    release(a, n);
}
END_TEST

START_TEST(test_alert_batch_forms)
{
    struct alert_in *a;
    size_t n;
    struct err_info ei;
    ck_assert(parse("{\"value\":[{\"alertId\":\"x\",\"title\":\"T\"},{\"alertId\":\"y\","
                    "\"title\":\"T\"}]}",
                    &a, &n, &ei) == ERR_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(a[1].id, "y");
    release(a, n);
    ck_assert(parse("[{\"alertId\":\"x\",\"title\":\"T\"}]", &a, &n, &ei) == ERR_OK);
    ck_assert_uint_eq(n, 1);
    release(a, n);
    ck_assert(parse("{\"value\":[]}", &a, &n, &ei) == ERR_OK);
    ck_assert_uint_eq(n, 0);
    release(a, n);
}
END_TEST

/* Each bad input and the start of the message that must name the index and field. */
static const struct {
    const char *body;
    const char *msg;
} bad[] = {
    {"{\"value\":[{\"alertId\":\"a\",\"title\":\"T\"},{\"title\":\"T\"}]}",
     "value[1].alertId: expected a non-empty string"},
    {"{\"value\":[{\"alertId\":\"a\",\"title\":\"T\",\"devices\":[3]}]}",
     "value[0].devices[0]: expected an object"},
    {"{\"alertId\":\"a\"}", "title: required (a string)"},
    {"{\"alertId\":\" \\t \",\"title\":\"T\"}", "alertId: expected a non-blank string"},
    /* no-break space, ideographic space, zero-width space, vertical tab, form feed */
    {"{\"alertId\":\"\\u00a0\\u3000\\u200b\\u000b\\u000c\",\"title\":\"T\"}",
     "alertId: expected a non-blank string"},
    {"{\"alertId\":\"a\",\"title\":null}", "title: expected a string"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"severity\":\"Severe\"}", "severity: unknown value"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"status\":3}", "status: expected a string"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"classification\":\"Bad\"}",
     "classification: unknown value"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"creationTime\":\"yesterday\"}", "creationTime: invalid"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"firstActivity\":\"2026-01-02T00:00:00Z\","
     "\"lastActivity\":\"2026-01-01T00:00:00Z\"}",
     "lastActivity: earlier than firstActivity"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"entities\":{}}", "entities: expected an array"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"mitreTechniques\":[1]}",
     "mitreTechniques[0]: expected a string"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"investigationId\":\"7\"}",
     "investigationId: expected an integer or null"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"description\":5}", "description: expected a string"},
    {"{\"value\":{}}", "value: expected an array"},
    /* The pair rule and the retired values, as PATCH (CONTRACT §6). */
    {"{\"alertId\":\"a\",\"title\":\"T\",\"classification\":\"FalsePositive\","
     "\"determination\":\"Malware\"}",
     "determination: 'Malware' is not valid with classification 'FalsePositive'"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"determination\":\"Malware\"}",
     "determination: 'Malware' is not valid without a classification (an unset classification "
     "is Unknown; allowed: NotAvailable)"},
    {"{\"alertId\":\"a\",\"title\":\"T\",\"classification\":\"TruePositive\","
     "\"determination\":\"Apt\"}",
     "determination: unknown value 'Apt'"},
    {"\"alert\"", "expected an alert object"},
    {"{\"value\":[{\"alertId\":\"a\",\"title\":\"T\"}],\"alertId\":\"outer\",\"title\":\"o\"}",
     "a body with both alertId and value is ambiguous"},
};

START_TEST(test_alert_rejects)
{
    struct alert_in *a;
    size_t n;
    struct err_info ei;
    enum err e = parse(bad[_i].body, &a, &n, &ei);
    ck_assert_msg(e == ERR_BODY, "%s: accepted", bad[_i].body);
    ck_assert_msg(strncmp(ei.msg, bad[_i].msg, strlen(bad[_i].msg)) == 0, "%s: got '%s'",
                  bad[_i].body, ei.msg);
    ck_assert_ptr_null(a);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_alert_limits)
{
    /* More than the batch limit is refused before any alert is validated. */
    json_t *list = json_array();
    for (int i = 0; i <= ALERT_BATCH_MAX; i++)
        json_array_append_new(list, json_pack("{ssss}", "alertId", "a", "title", "T"));
    json_t *body = json_pack("{so}", "value", list);
    struct alert_in *a;
    size_t n;
    struct err_info ei;
    err_clear(&ei);
    ck_assert(alert_parse_batch(body, ALERT_BATCH_MAX, 0, &a, &n, &ei) == ERR_BODY);
    ck_assert_ptr_nonnull(strstr(ei.msg, "at most 1000"));
    json_decref(body);
    /* alertId length is counted in characters. */
    char id[ALERT_MAX_ID * 2 + 1];
    for (int i = 0; i < ALERT_MAX_ID; i++)
        memcpy(id + 2 * i, "\xc3\xa9", 2);
    id[ALERT_MAX_ID * 2] = '\0';
    body = json_pack("{ssss}", "alertId", id, "title", "T");
    err_clear(&ei);
    ck_assert_msg(alert_parse_batch(body, 0, 0, &a, &n, &ei) == ERR_OK, "%s", ei.msg);
    release(a, n);
    json_object_set_new(body, "alertId", json_pack("s+", id, "x"));
    err_clear(&ei);
    ck_assert(alert_parse_batch(body, 0, 0, &a, &n, &ei) == ERR_BODY);
    ck_assert_ptr_nonnull(strstr(ei.msg, "alertId: longer than"));
    /* Spaces around one visible character are an id (only all-blank ids are refused). */
    json_object_set_new(body, "alertId", json_string("\xc2\xa0x\xe3\x80\x80"));
    err_clear(&ei);
    ck_assert_msg(alert_parse_batch(body, 0, 0, &a, &n, &ei) == ERR_OK, "%s", ei.msg);
    release(a, n);
    json_decref(body);

    /* Nesting: 64 levels of arrays and objects are fine, 65 are not (an alert must stay
     * readable inside its incident's document, parsed a few levels deeper). */
    json_t *deep = json_pack("{ssss}", "alertId", "d", "title", "T");
    json_t *inner = json_array();
    for (int i = 0; i < ALERT_MAX_DEPTH - 2; i++)
        inner = json_pack("[o]", inner);
    json_object_set_new(deep, "x", inner);
    err_clear(&ei);
    ck_assert_msg(alert_parse_batch(deep, 0, 0, &a, &n, &ei) == ERR_OK, "%s", ei.msg);
    release(a, n);
    json_object_set_new(deep, "x", json_pack("[O]", json_object_get(deep, "x")));
    err_clear(&ei);
    ck_assert(alert_parse_batch(deep, 0, 0, &a, &n, &ei) == ERR_BODY);
    ck_assert_ptr_nonnull(strstr(ei.msg, "nested more than 64 levels"));
    json_decref(deep);
}
END_TEST

Suite *alert_suite(void)
{
    Suite *s = suite_create("alert");
    TCase *tc = tcase_create("ingest");
    tcase_add_test(tc, test_alert_single_defaults);
    tcase_add_test(tc, test_alert_hash_ignores_server_defaults);
    tcase_add_test(tc, test_alert_batch_forms);
    tcase_add_test(tc, test_alert_activity_defaults);
    tcase_add_loop_test(tc, test_alert_rejects, 0, (int)ARRAY_SIZE(bad));
    tcase_add_test(tc, test_alert_limits);
    suite_add_tcase(s, tc);
    return s;
}
