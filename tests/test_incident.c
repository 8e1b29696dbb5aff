/* SPDX-License-Identifier: MIT */
/* Backend-neutral incident rules: import canonicalisation (CONTRACT §2) and PATCH (§5-§6). */
#include "common.h"
#include "buf.h"
#include "incident.h"
#include "tests.h"
#include "ts.h"

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    ck_assert_msg(j != NULL, "bad test JSON: %s", e.text);
    return j;
}

static const char *const sample =
    "{\"incidentId\":7,\"incidentUri\":\"https://x/incidents/7\",\"redirectIncidentId\":null,"
    "\"incidentName\":\"Two alerts\",\"createdTime\":\"2021-01-01T00:00:00.5000000Z\","
    "\"lastUpdateTime\":\"2021-01-02T00:00:00+01:00\",\"assignedTo\":null,"
    "\"classification\":\"truepositive\",\"determination\":\"Apt\",\"status\":\"Active\","
    "\"severity\":\"High\",\"tags\":[\"a\"],\"comments\":[{\"comment\":\"c\",\"createdBy\":\"u\","
    "\"createdTime\":\"2021-01-01T00:00:01.1200000Z\"}],\"alerts\":["
    "{\"alertId\":\"b\",\"extra\":1,\"incidentId\":99,\"creationTime\":\"2021-01-01T00:00:02Z\","
    "\"devices\":[{\"z\":1,\"a\":null,\"firstSeen\":\"2020-02-06T14:16:01.9330135000Z\"}]},"
    "{\"alertId\":\"a\",\"creationTime\":\"2021-01-01T00:00:02Z\",\"entities\":[]}]}";

START_TEST(test_incident_import_canonical)
{
    json_t *src = load(sample);
    struct incident inc;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(incident_from_json(src, INCIDENT_IMPORT, &inc, &ei) == ERR_OK, "%s", ei.msg);
    ck_assert_int_eq(inc.id, 7);
    ck_assert_int_eq(inc.classification, CLASSIFICATION_TRUE_POSITIVE);
    ck_assert_int_eq(inc.determination, DETERMINATION_APT);
    /* Alerts sorted by creationTime then alertId; documented keys first, extras after. */
    json_t *a0 = json_array_get(inc.alerts, 0), *a1 = json_array_get(inc.alerts, 1);
    ck_assert_str_eq(json_string_value(json_object_get(a0, "alertId")), "a");
    ck_assert_str_eq(json_string_value(json_object_get(a1, "alertId")), "b");
    ck_assert_int_eq(json_integer_value(json_object_get(a1, "incidentId")), 7);
    const char *first = NULL, *last = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(a1, k, v)
    {
        if (!first)
            first = k;
        last = k;
    }
    ck_assert_str_eq(first, "alertId");
    ck_assert_str_eq(last, "extra");
    ck_assert(json_is_null(json_object_get(a1, "providerAlertId")));
    ck_assert(json_is_array(json_object_get(a0, "devices")));
    ck_assert(json_is_array(json_object_get(a0, "mitreTechniques")));
    /* Device objects are kept verbatim, timestamps inside them too. */
    char *dev = json_dumps(json_object_get(a1, "devices"), JSON_COMPACT);
    ck_assert_str_eq(dev,
                     "[{\"z\":1,\"a\":null,\"firstSeen\":\"2020-02-06T14:16:01.9330135000Z\"}]");
    free(dev);

    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(incident_doc_head(&inc, &b), ERR_OK);
    size_t off = b.len;
    ck_assert_int_eq(incident_doc_alerts(inc.alerts, &b), ERR_OK);
    ck_assert(strncmp(b.data,
                      "\"redirectIncidentId\":null,\"incidentName\":\"Two alerts\","
                      "\"createdTime\":\"2021-01-01T00:00:00.5Z\","
                      "\"lastUpdateTime\":\"2021-01-01T23:00:00Z\",\"assignedTo\":null,"
                      "\"classification\":\"TruePositive\",\"determination\":\"Apt\","
                      "\"status\":\"Active\",\"severity\":\"High\",\"tags\":[\"a\"],"
                      "\"comments\":[{\"comment\":\"c\",\"createdBy\":\"u\","
                      "\"createdTime\":\"2021-01-01T00:00:01.12Z\"}],\"alerts\":",
                      off) == 0);
    ck_assert_int_eq(b.data[off], '[');
    ck_assert_int_eq(b.data[b.len - 1], '}');
    /* The assembled document is valid JSON. */
    struct buf full;
    buf_init(&full, BUF_UNLIMITED);
    incident_doc_prefix(&full, "http://h", 7, "https://p", "t1");
    buf_append(&full, b.data, b.len);
    json_t *parsed = json_loads(full.data, 0, NULL);
    ck_assert(parsed != NULL);
    ck_assert_str_eq(json_string_value(json_object_get(parsed, "incidentUri")),
                     "https://p/incidents/7?tid=t1");
    json_decref(parsed);
    buf_release(&full);
    buf_release(&b);
    incident_release(&inc);
    json_decref(src);
}
END_TEST

static void import_fails(const char *text, const char *fragment)
{
    json_t *src = load(text);
    struct incident inc;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(incident_from_json(src, 0, &inc, &ei) != ERR_OK, "accepted %s", text);
    ck_assert_msg(strstr(ei.msg, fragment) != NULL, "'%s' lacks '%s'", ei.msg, fragment);
    json_decref(src);
}

START_TEST(test_incident_import_rejects)
{
    const char *t = "\"createdTime\":\"2021-01-01T00:00:00Z\","
                    "\"lastUpdateTime\":\"2021-01-01T00:00:00Z\"";
    char buf[512];
    import_fails("{\"incidentName\":\"x\"}", "incidentId");
    import_fails("{\"incidentId\":0}", "incidentId");
    snprintf(buf, sizeof(buf), "{\"incidentId\":1,%s,\"status\":\"Open\"}", t);
    import_fails(buf, "status");
    snprintf(buf, sizeof(buf), "{\"incidentId\":1,%s,\"determination\":\"Apt\"}", t);
    import_fails(buf, "determination"); /* deprecated values only with INCIDENT_IMPORT */
    snprintf(buf, sizeof(buf),
             "{\"incidentId\":1,%s,\"alerts\":[{\"alertId\":\"a\","
             "\"creationTime\":\"yesterday\"}]}",
             t);
    import_fails(buf, "alerts[0].creationTime");
    snprintf(buf, sizeof(buf),
             "{\"incidentId\":1,%s,\"alerts\":[{\"alertId\":\"a\"},"
             "{\"alertId\":\"a\"}]}",
             t);
    import_fails(buf, "duplicate alertId");
    snprintf(buf, sizeof(buf), "{\"incidentId\":1,%s,\"tags\":\"x\"}", t);
    import_fails(buf, "tags");
    import_fails("{\"incidentId\":1,\"createdTime\":\"2021-01-01T00:00:00\","
                 "\"lastUpdateTime\":\"2021-01-01T00:00:00Z\"}",
                 "createdTime");
    /* Rules PATCH enforces hold for imported data too, or a later PATCH would fail on it. */
    snprintf(buf, sizeof(buf),
             "{\"incidentId\":1,%s,\"classification\":\"Unknown\","
             "\"determination\":\"Malware\"}",
             t);
    import_fails(buf, "not valid with classification");
    snprintf(buf, sizeof(buf), "{\"incidentId\":1,%s,\"status\":\"Redirected\"}", t);
    import_fails(buf, "redirectIncidentId");
    import_fails("{\"incidentId\":1,\"createdTime\":\"2021-01-01T00:00:00Z\","
                 "\"lastUpdateTime\":\"9999-01-01T00:00:00Z\"}",
                 "in the future");
    import_fails("{\"incidentId\":1,\"createdTime\":\"0001-01-01T00:00:00+01:00\","
                 "\"lastUpdateTime\":\"2021-01-01T00:00:00Z\"}",
                 "out of range");
}
END_TEST

static struct incident base_incident(void)
{
    json_t *src = load(sample);
    struct incident inc;
    ck_assert_int_eq(incident_from_json(src, INCIDENT_IMPORT, &inc, NULL), ERR_OK);
    json_decref(src);
    inc.classification = CLASSIFICATION_UNKNOWN;
    inc.determination = DETERMINATION_NOT_AVAILABLE;
    return inc;
}

static enum err patch(struct incident *inc, const char *body, bool *changed, struct err_info *ei)
{
    json_t *j = load(body);
    struct incident_patch p;
    bool cs, ca;
    err_clear(ei);
    enum err e = incident_patch_parse(j, &p, ei);
    if (!e) {
        p.author = "tester";
        e = incident_patch_apply(inc, &p, inc->last_update_time + 1, changed, &cs, &ca, ei);
    }
    incident_patch_release(&p);
    json_decref(j);
    return e;
}

START_TEST(test_incident_patch_rules)
{
    struct incident inc = base_incident();
    struct err_info ei;
    bool changed;
    ck_assert_int_eq(patch(&inc, "{}", &changed, &ei), ERR_OK);
    ck_assert(!changed);
    ck_assert_int_eq(patch(&inc, "{\"status\":\"active\",\"tags\":[\"a\"]}", &changed, &ei),
                     ERR_OK);
    ck_assert(!changed);
    /* Aliases in, canonical out; classification alone keeps NotAvailable. */
    ck_assert_int_eq(patch(&inc, "{\"classification\":\"FalsePositive\"}", &changed, &ei), ERR_OK);
    ck_assert(changed);
    ck_assert_int_eq(patch(&inc, "{\"determination\":\"clean\"}", &changed, &ei), ERR_OK);
    ck_assert_int_eq(inc.determination, DETERMINATION_NOT_MALICIOUS);
    /* Pair outside the row: rejected, nothing changes. */
    ck_assert_int_eq(patch(&inc, "{\"determination\":\"Malware\"}", &changed, &ei), ERR_BODY);
    ck_assert_int_eq(inc.determination, DETERMINATION_NOT_MALICIOUS);
    ck_assert_int_eq(patch(&inc, "{\"classification\":\"TruePositive\"}", &changed, &ei), ERR_BODY);
    ck_assert_int_eq(inc.classification, CLASSIFICATION_FALSE_POSITIVE);
    /* Unknown resets the determination. */
    ck_assert_int_eq(patch(&inc, "{\"classification\":\"Unknown\"}", &changed, &ei), ERR_OK);
    ck_assert_int_eq(inc.determination, DETERMINATION_NOT_AVAILABLE);
    /* Deprecated values are rejected on input. */
    ck_assert_int_eq(patch(&inc, "{\"classification\":\"TruePositive\",\"determination\":\"Apt\"}",
                           &changed, &ei),
                     ERR_BODY);
    /* Tags replace, duplicates dropped keeping the first, order kept. */
    ck_assert_int_eq(patch(&inc, "{\"tags\":[\"z\",\"y\",\"z\"]}", &changed, &ei), ERR_OK);
    char *tags = json_dumps(inc.tags, JSON_COMPACT);
    ck_assert_str_eq(tags, "[\"z\",\"y\"]");
    free(tags);
    /* Comments append with author and server time. */
    int64_t before = inc.last_update_time;
    ck_assert_int_eq(patch(&inc, "{\"comment\":\"hello\"}", &changed, &ei), ERR_OK);
    ck_assert(changed);
    ck_assert_int_eq(inc.last_update_time, before + 1);
    json_t *c = json_array_get(inc.comments, json_array_size(inc.comments) - 1);
    ck_assert_str_eq(json_string_value(json_object_get(c, "createdBy")), "tester");
    /* Assign and unassign ("" and null both unassign). */
    ck_assert_int_eq(patch(&inc, "{\"assignedTo\":\"x@y\"}", &changed, &ei), ERR_OK);
    ck_assert_str_eq(inc.assigned_to, "x@y");
    ck_assert_int_eq(patch(&inc, "{\"assignedTo\":\"\"}", &changed, &ei), ERR_OK);
    ck_assert(inc.assigned_to == NULL);
    ck_assert_int_eq(patch(&inc, "{\"assignedTo\":null}", &changed, &ei), ERR_OK);
    ck_assert(!changed);
    incident_release(&inc);
}
END_TEST

START_TEST(test_incident_patch_body_errors)
{
    struct incident inc = base_incident();
    struct err_info ei;
    bool changed;
    ck_assert_int_eq(patch(&inc, "{\"Status\":\"Active\"}", &changed, &ei), ERR_BODY);
    ck_assert(strstr(ei.msg, "'Status'"));
    ck_assert_int_eq(patch(&inc, "{\"tags\":\"x\"}", &changed, &ei), ERR_BODY);
    ck_assert(strstr(ei.msg, "'tags'"));
    ck_assert_int_eq(patch(&inc, "{\"tags\":[\"\"]}", &changed, &ei), ERR_BODY);
    ck_assert_int_eq(patch(&inc, "{\"status\":5}", &changed, &ei), ERR_BODY);
    ck_assert_int_eq(patch(&inc, "{\"status\":\"Redirected\"}", &changed, &ei), ERR_INPUT);
    ck_assert_int_eq(patch(&inc, "{\"comment\":\"\"}", &changed, &ei), ERR_BODY);
    ck_assert_int_eq(patch(&inc, "[1]", &changed, &ei), ERR_BODY);
    /* Lengths count characters: 256 two-byte characters are fine, 257 are not. */
    char body[2048] = "{\"assignedTo\":\"";
    size_t n = strlen(body);
    for (int i = 0; i < 256; i++, n += 2)
        memcpy(body + n, "\xc3\xa9", 2);
    memcpy(body + n, "\"}", 3);
    ck_assert_int_eq(patch(&inc, body, &changed, &ei), ERR_OK);
    memcpy(body + n, "\xc3\xa9\"}", 5);
    ck_assert_int_eq(patch(&inc, body, &changed, &ei), ERR_BODY);
    ck_assert(strstr(ei.msg, "256"));
    incident_release(&inc);
}
END_TEST

START_TEST(test_incident_patch_redirected)
{
    struct incident inc = base_incident();
    inc.status = STATUS_REDIRECTED;
    inc.redirect_id = 3;
    struct err_info ei;
    bool changed;
    ck_assert_int_eq(patch(&inc, "{\"comment\":\"x\"}", &changed, &ei), ERR_INPUT);
    ck_assert(strstr(ei.msg, "incident 3"));
    incident_release(&inc);
}
END_TEST

START_TEST(test_incident_cascade)
{
    struct incident inc = base_incident();
    struct buf b, out;
    buf_init(&b, BUF_UNLIMITED);
    buf_init(&out, BUF_UNLIMITED);
    incident_doc_alerts(inc.alerts, &b);
    free(inc.assigned_to);
    inc.assigned_to = strdup("me@x");
    ck_assert_int_eq(incident_alerts_cascade(b.data, b.len, &inc, true, true, 12345, &out), ERR_OK);
    ck_assert_int_eq(out.data[out.len - 1], '}');
    json_t *alerts = json_loadb(out.data, out.len - 1, 0, NULL);
    ck_assert(json_is_array(alerts));
    json_t *a;
    size_t i;
    json_array_foreach(alerts, i, a)
    {
        ck_assert_str_eq(json_string_value(json_object_get(a, "status")), "Resolved");
        ck_assert_str_eq(json_string_value(json_object_get(a, "assignedTo")), "me@x");
        ck_assert_str_eq(json_string_value(json_object_get(a, "resolvedTime")),
                         "1970-01-01T00:00:00.0012345Z");
    }
    json_decref(alerts);
    buf_release(&b);
    buf_release(&out);
    incident_release(&inc);
}
END_TEST

Suite *incident_suite(void)
{
    Suite *s = suite_create("incident");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_incident_import_canonical);
    tcase_add_test(tc, test_incident_import_rejects);
    tcase_add_test(tc, test_incident_patch_rules);
    tcase_add_test(tc, test_incident_patch_body_errors);
    tcase_add_test(tc, test_incident_patch_redirected);
    tcase_add_test(tc, test_incident_cascade);
    suite_add_tcase(s, tc);
    return s;
}
