/* SPDX-License-Identifier: MIT */
/* Tests for demo.c: determinism, the service's shapes and key orders, and consistency rules. */
#include "common.h"
#include "demo.h"
#include "model.h"
#include "tests.h"
#include "ts.h"

#define SET_SIZE 2000

static const char *const INCIDENT_KEYS[] = {
    "incidentId", "redirectIncidentId", "incidentName",  "createdTime", "lastUpdateTime",
    "assignedTo", "classification",     "determination", "status",      "severity",
    "tags",       "comments",           "alerts",
};
static const char *const ALERT_KEYS[] = {
    "alertId",        "providerAlertId", "incidentId",       "serviceSource",
    "creationTime",   "lastUpdatedTime", "resolvedTime",     "firstActivity",
    "lastActivity",   "title",           "description",      "category",
    "status",         "severity",        "investigationId",  "investigationState",
    "classification", "determination",   "detectionSource",  "detectorId",
    "assignedTo",     "actorName",       "threatFamilyName", "mitreTechniques",
    "devices",        "entities",
};
static const char *const DEVICE_KEYS[] = {
    "mdatpDeviceId",    "aadDeviceId",      "deviceDnsName", "osPlatform",
    "version",          "osProcessor",      "osBuild",       "healthStatus",
    "riskScore",        "rbacGroupName",    "firstSeen",     "tags",
    "defenderAvStatus", "onboardingStatus", "vmMetadata",    "loggedOnUsers",
};
static const char *const ENTITY_HEAD[] = {"entityType", "evidenceCreationTime", "verdict",
                                          "remediationStatus"};

/* Asserts that o's keys are exactly `keys`, in order. */
static void expect_keys(json_t *o, const char *const *keys, size_t n, const char *what)
{
    size_t i = 0;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it), i++) {
        ck_assert_msg(i < n, "%s: extra key '%s'", what, json_object_iter_key(it));
        ck_assert_msg(strcmp(json_object_iter_key(it), keys[i]) == 0,
                      "%s: key %zu is '%s', want '%s'", what, i, json_object_iter_key(it), keys[i]);
    }
    ck_assert_msg(i == n, "%s: %zu keys, want %zu", what, i, n);
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Parses timestamp o[key] (asserting it is well-formed) and returns its ticks. */
static int64_t ticks(json_t *o, const char *key)
{
    const char *s = str(o, key);
    ck_assert_msg(s != NULL, "'%s' is not a string", key);
    int64_t t;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(ts_parse(s, strlen(s), 0, &t, &ei) == ERR_OK, "'%s': bad timestamp %s", key, s);
    /* ts_format wrote it: formatting again gives the same text. */
    char back[TS_FORMAT_MAX];
    ts_format(t, back);
    ck_assert_str_eq(back, s);
    return t;
}

static enum severity severity_of(json_t *o)
{
    const char *s = str(o, "severity");
    enum severity v;
    ck_assert(s && severity_parse(s, strlen(s), &v));
    ck_assert_str_eq(severity_name(v), s);
    return v;
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(test_demo_is_deterministic)
{
    for (int64_t id = 1; id <= 50; id++) {
        json_t *a = demo_incident(42, id), *b = demo_incident(42, id);
        char *sa = dump(a), *sb = dump(b);
        ck_assert_str_eq(sa, sb);
        json_t *c = demo_incident(43, id);
        char *sc = dump(c);
        ck_assert_str_ne(sa, sc);
        free(sa);
        free(sb);
        free(sc);
        json_decref(a);
        json_decref(b);
        json_decref(c);
    }
}
END_TEST

START_TEST(test_demo_independent_of_generation_order)
{
    json_t *late = demo_incident(9, 777);
    char *s1 = dump(late);
    json_decref(late);
    for (int64_t id = 1; id <= 20; id++)
        json_decref(demo_incident(9, id));
    late = demo_incident(9, 777);
    char *s2 = dump(late);
    ck_assert_str_eq(s1, s2);
    free(s1);
    free(s2);
    json_decref(late);
}
END_TEST

/* Checks one alert against its incident; returns its severity. */
static enum severity check_alert(json_t *inc, json_t *a, int64_t id)
{
    expect_keys(a, ALERT_KEYS, ARRAY_SIZE(ALERT_KEYS), "alert");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "incidentId")), id);
    const char *alert_id = str(a, "alertId"), *provider = str(a, "providerAlertId");
    ck_assert(alert_id && provider);
    if (strcmp(str(a, "serviceSource"), "AADIdentityProtection") != 0)
        ck_assert_str_eq(provider, alert_id + 2);
    int64_t first = ticks(a, "firstActivity"), last = ticks(a, "lastActivity");
    int64_t created = ticks(a, "creationTime"), updated = ticks(a, "lastUpdatedTime");
    ck_assert(first <= last);
    ck_assert(last <= created);
    ck_assert(created <= updated);
    ck_assert(updated <= ticks(inc, "lastUpdateTime"));
    ck_assert(created < ticks(inc, "createdTime") + 3 * 86400LL * TS_TICKS_PER_SEC);
    const char *status = str(a, "status");
    if (strcmp(str(inc, "status"), "Resolved") == 0) {
        ck_assert_str_eq(status, "Resolved");
        ck_assert(ticks(a, "resolvedTime") >= created);
    } else {
        ck_assert(json_is_null(json_object_get(a, "resolvedTime")));
        ck_assert(strcmp(status, "New") == 0 || strcmp(status, "InProgress") == 0);
    }
    ck_assert(json_is_array(json_object_get(a, "mitreTechniques")));
    ck_assert(json_is_string(json_object_get(a, "detectorId")));

    size_t i;
    json_t *d, *e;
    json_array_foreach(json_object_get(a, "devices"), i, d)
    {
        expect_keys(d, DEVICE_KEYS, ARRAY_SIZE(DEVICE_KEYS), "device");
        ck_assert_uint_eq(strlen(str(d, "mdatpDeviceId")), 40);
        ticks(d, "firstSeen");
    }
    json_t *devices = json_object_get(a, "devices");
    json_array_foreach(json_object_get(a, "entities"), i, e)
    {
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach(e, key, v)
        {
            if (k < ARRAY_SIZE(ENTITY_HEAD))
                ck_assert_str_eq(key, ENTITY_HEAD[k]);
            ck_assert_msg(!json_is_null(v), "entity keeps null '%s'", key);
            k++;
        }
        ck_assert_uint_ge(k, 5);
        ticks(e, "evidenceCreationTime");
        const char *type = str(e, "entityType");
        static const char *const types[] = {"User",        "Ip",          "Url",
                                            "File",        "Process",     "Mailbox",
                                            "MailMessage", "MailCluster", "Registry"};
        bool known = false;
        for (size_t t = 0; t < ARRAY_SIZE(types); t++)
            known |= strcmp(type, types[t]) == 0;
        ck_assert_msg(known, "entity type %s", type);
        json_t *dev_id = json_object_get(e, "deviceId");
        if (dev_id) {
            /* deviceId comes last and names the alert's device. */
            void *it = json_object_iter_at(e, "deviceId");
            ck_assert_ptr_null(json_object_iter_next(e, it));
            ck_assert_str_eq(json_string_value(dev_id),
                             str(json_array_get(devices, 0), "mdatpDeviceId"));
        }
        if (strcmp(type, "Process") == 0) {
            ck_assert(ticks(e, "parentProcessCreationTime") <= ticks(e, "processCreationTime"));
            ck_assert(json_is_integer(json_object_get(e, "processId")));
        }
    }
    return severity_of(a);
}

START_TEST(test_demo_shapes_and_rules)
{
    unsigned status_count[STATUS__COUNT] = {0};
    unsigned alerts_total = 0, tagged = 0, commented = 0;
    const int64_t window_lo = DEMO_EPOCH_TICKS - 90 * 86400LL * TS_TICKS_PER_SEC;
    for (int64_t id = 1; id <= SET_SIZE; id++) {
        json_t *inc = demo_incident(2026, id);
        expect_keys(inc, INCIDENT_KEYS, ARRAY_SIZE(INCIDENT_KEYS), "incident");
        ck_assert_int_eq(json_integer_value(json_object_get(inc, "incidentId")), id);
        int64_t created = ticks(inc, "createdTime"), updated = ticks(inc, "lastUpdateTime");
        ck_assert(created >= window_lo && created <= DEMO_EPOCH_TICKS);
        ck_assert(updated >= created && updated <= DEMO_EPOCH_TICKS);
        ck_assert(json_string_length(json_object_get(inc, "incidentName")) > 0);

        const char *st = str(inc, "status");
        enum status status;
        ck_assert(status_parse(st, strlen(st), &status));
        status_count[status]++;
        const char *cs = str(inc, "classification"), *ds = str(inc, "determination");
        enum classification cls;
        enum determination det;
        ck_assert(classification_parse(cs, strlen(cs), &cls));
        ck_assert(determination_parse(ds, strlen(ds), 0, &det));
        ck_assert_str_eq(classification_name(cls), cs);
        ck_assert_str_eq(determination_name(det), ds);
        ck_assert_msg(determination_allowed(cls, det), "%s/%s", cs, ds);
        json_t *assigned = json_object_get(inc, "assignedTo");
        if (status == STATUS_IN_PROGRESS)
            ck_assert(json_is_string(assigned));
        if (status != STATUS_RESOLVED && status != STATUS_IN_PROGRESS)
            ck_assert_int_eq(det, DETERMINATION_NOT_AVAILABLE);

        json_t *tags = json_object_get(inc, "tags");
        ck_assert(json_is_array(tags) && json_array_size(tags) <= 3);
        tagged += json_array_size(tags) > 0;
        json_t *comments = json_object_get(inc, "comments");
        size_t i;
        json_t *c;
        int64_t prev = 0;
        json_array_foreach(comments, i, c)
        {
            static const char *const ckeys[] = {"comment", "createdBy", "createdTime"};
            expect_keys(c, ckeys, 3, "comment");
            int64_t at = ticks(c, "createdTime");
            ck_assert(at > prev && at >= created && at <= updated); /* oldest first */
            prev = at;
        }
        commented += json_array_size(comments) > 0;

        json_t *alerts = json_object_get(inc, "alerts");
        json_t *redirect = json_object_get(inc, "redirectIncidentId");
        if (status == STATUS_REDIRECTED) {
            ck_assert_uint_eq(json_array_size(alerts), 0);
            int64_t to = json_integer_value(redirect);
            ck_assert(json_is_integer(redirect) && to >= 1 && to < id);
            json_t *target = demo_incident(2026, to);
            ck_assert_str_ne(str(target, "status"), "Redirected");
            json_decref(target);
            ck_assert_str_eq(str(inc, "severity"), "UnSpecified");
        } else {
            ck_assert(json_is_null(redirect));
            size_t n = json_array_size(alerts);
            ck_assert(n >= 1 && n <= 5);
            alerts_total += (unsigned)n;
            enum severity worst = SEVERITY_UNSPECIFIED;
            json_t *a;
            int64_t prev_created = 0;
            const char *prev_id = "";
            json_array_foreach(alerts, i, a)
            {
                enum severity s = check_alert(inc, a, id);
                if (s > worst)
                    worst = s;
                /* Ordered by creationTime, then alertId. */
                int64_t ct = ticks(a, "creationTime");
                ck_assert(ct > prev_created ||
                          (ct == prev_created && strcmp(prev_id, str(a, "alertId")) < 0));
                prev_created = ct;
                prev_id = str(a, "alertId");
                if (i == 0)
                    ck_assert(ct < created);
            }
            ck_assert_int_eq(severity_of(inc), worst);
        }
        json_decref(inc);
    }
    /* The mix the brief asks for: ~70 / 12 / 15 / 3 %. */
    ck_assert_uint_ge(status_count[STATUS_ACTIVE], SET_SIZE * 60 / 100);
    ck_assert_uint_le(status_count[STATUS_ACTIVE], SET_SIZE * 80 / 100);
    ck_assert_uint_ge(status_count[STATUS_IN_PROGRESS], SET_SIZE * 8 / 100);
    ck_assert_uint_ge(status_count[STATUS_RESOLVED], SET_SIZE * 10 / 100);
    ck_assert_uint_ge(status_count[STATUS_REDIRECTED], SET_SIZE * 1 / 100);
    ck_assert_uint_le(status_count[STATUS_REDIRECTED], SET_SIZE * 6 / 100);
    ck_assert_uint_gt(alerts_total, SET_SIZE * 3 / 2);
    ck_assert_uint_gt(tagged, SET_SIZE / 20);
    ck_assert_uint_gt(commented, SET_SIZE / 20);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_demo_alert_ids_unique)
{
    size_t cap = SET_SIZE * 5, n = 0;
    char **ids = malloc(cap * sizeof(*ids));
    ck_assert_ptr_nonnull(ids);
    for (int64_t id = 1; id <= SET_SIZE; id++) {
        json_t *inc = demo_incident(1, id);
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(inc, "alerts"), i, a)
        {
            ck_assert(n < cap);
            ids[n++] = strdup(str(a, "alertId"));
        }
        json_decref(inc);
    }
    qsort(ids, n, sizeof(*ids), cmp_str);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "duplicate alertId %s", ids[i]);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}
END_TEST

START_TEST(test_demo_names_and_sources)
{
    /* Over a set, every naming pattern and every documented source shows up. */
    bool multi_stage = false, one_endpoint = false, one_user = false, several_sources = false;
    bool sources[4] = {false};
    static const char *const names[] = {"MicrosoftDefenderForEndpoint",
                                        "MicrosoftDefenderForOffice365",
                                        "MicrosoftCloudAppSecurity", "AADIdentityProtection"};
    for (int64_t id = 1; id <= SET_SIZE; id++) {
        json_t *inc = demo_incident(5, id);
        const char *name = str(inc, "incidentName");
        multi_stage |= strncmp(name, "Multi-stage incident involving ", 31) == 0;
        one_endpoint |= strstr(name, " on one endpoint") != NULL;
        one_user |= strstr(name, " involving one user") != NULL;
        several_sources |= strstr(name, " reported by multiple sources") != NULL;
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(inc, "alerts"), i, a)
        {
            for (size_t s = 0; s < 4; s++)
                sources[s] |= strcmp(str(a, "serviceSource"), names[s]) == 0;
            /* A single-alert incident is named after its alert. */
            if (json_array_size(json_object_get(inc, "alerts")) == 1)
                ck_assert(strncmp(name, str(a, "title"), strlen(str(a, "title"))) == 0);
        }
        json_decref(inc);
    }
    ck_assert(multi_stage && one_endpoint && one_user && several_sources);
    for (size_t s = 0; s < 4; s++)
        ck_assert_msg(sources[s], "no alert from %s", names[s]);
}
END_TEST

START_TEST(test_demo_large_ids)
{
    json_t *inc = demo_incident(3, INT64_C(4000000000));
    ck_assert_int_eq(json_integer_value(json_object_get(inc, "incidentId")), 4000000000LL);
    json_decref(inc);
    inc = demo_incident(3, 1);
    ck_assert_str_ne(str(inc, "status"), "Redirected"); /* nothing lower to merge into */
    json_decref(inc);
}
END_TEST

Suite *demo_suite(void)
{
    Suite *s = suite_create("demo");
    TCase *tc = tcase_create("generator");
    tcase_set_timeout(tc, 60); /* 2,000 incidents under ASan */
    tcase_add_test(tc, test_demo_is_deterministic);
    tcase_add_test(tc, test_demo_independent_of_generation_order);
    tcase_add_test(tc, test_demo_shapes_and_rules);
    tcase_add_test(tc, test_demo_alert_ids_unique);
    tcase_add_test(tc, test_demo_names_and_sources);
    tcase_add_test(tc, test_demo_large_ids);
    suite_add_tcase(s, tc);
    return s;
}
