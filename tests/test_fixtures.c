/* SPDX-License-Identifier: MIT */
/*
 * Real captured responses (../shared/fixtures) through `incidentd import` and back out of
 * GET /api/incidents/{id}, black-box. Every file under the fixtures directory (README.md aside)
 * is one test: files holding incidents must import and read back equal to what was imported,
 * apart from the server-owned fields (CONTRACT §2 fidelity); every other file must be rejected
 * with exit 65, a message naming the file, and nothing imported. Which kind a file is, is decided
 * here from its content, independently of src/import.c.
 */
#include "common.h"
#include "e2e.h"
#include "tests.h"
#include <dirent.h>
#include <jansson.h>
#include <sys/stat.h>

enum { MAX_FIXTURES = 128 };
/* Filled when the suite is built (before Check forks), so each file is its own loop test. */
static char fixture_paths[MAX_FIXTURES][1024];
static size_t fixture_count;

/* Incident keys in wire order, after "@odata.context" (CONTRACT §2). */
static const char *const incident_keys[] = {
    "incidentId",     "incidentUri", "redirectIncidentId", "incidentName",  "createdTime",
    "lastUpdateTime", "assignedTo",  "classification",     "determination", "status",
    "severity",       "tags",        "comments",           "alerts",
};

/* Documented alert keys in wire order (reference §3.3, CONTRACT §2). */
static const char *const alert_keys[] = {
    "alertId",        "providerAlertId", "incidentId",       "serviceSource",
    "creationTime",   "lastUpdatedTime", "resolvedTime",     "firstActivity",
    "lastActivity",   "title",           "description",      "category",
    "status",         "severity",        "investigationId",  "investigationState",
    "classification", "determination",   "detectionSource",  "detectorId",
    "assignedTo",     "actorName",       "threatFamilyName", "mitreTechniques",
    "devices",        "entities",
};

static const char *const alert_time_keys[] = {"creationTime", "lastUpdatedTime", "resolvedTime",
                                              "firstActivity", "lastActivity"};

static bool in_list(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Timestamps, parsed independently of src/ts.c
 */

/* The server's form: UTC `Z`, 0-7 fractional digits, trailing zeros trimmed. */
static bool is_canonical(const char *s)
{
    size_t n = strlen(s);
    if (n < 20 || s[n - 1] != 'Z')
        return false;
    if (n == 20)
        return true;
    return s[19] == '.' && n >= 22 && n <= 28 && s[n - 2] != '0';
}

/* ---------------------------------------------------------------------------------------------
 * What a file holds, decided independently of src/import.c
 */

static bool is_incident(json_t *v)
{
    return json_is_object(v) && json_is_integer(json_object_get(v, "incidentId"));
}

/* Appends the incidents of one document; false when it is not an incident export. */
static bool take_doc(json_t *doc, json_t *out)
{
    json_t *list = doc;
    if (is_incident(doc)) {
        json_array_append(out, doc);
        return true;
    }
    if (json_is_object(doc))
        list = json_object_get(doc, "value");
    if (!json_is_array(list))
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!is_incident(v))
            return false;
        json_array_append(out, v);
    }
    return true;
}

/*
 * The incidents a file holds (one JSON document, or NDJSON), or NULL when it is not an incident
 * export; *syntax is set when it is not JSON at all.
 */
static json_t *file_incidents(const char *data, size_t len, bool *syntax)
{
    *syntax = false;
    json_t *out = json_array();
    json_t *doc = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    bool ok = true;
    if (doc) {
        ok = take_doc(doc, out);
        json_decref(doc);
    } else {
        const char *p = data, *end = data + len;
        bool any = false;
        while (ok && p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *eol = nl ? nl : end;
            const char *q = p;
            while (q < eol && strchr(" \t\r", *q))
                q++;
            if (q < eol) {
                json_t *line = json_loadb(p, (size_t)(eol - p), JSON_DECODE_ANY, NULL);
                if (!line) {
                    *syntax = true;
                    ok = false;
                } else {
                    ok = take_doc(line, out);
                    json_decref(line);
                    any = true;
                }
            }
            p = eol + 1;
        }
        if (!any) {
            *syntax = true;
            ok = false;
        }
    }
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * Comparison of an imported incident with what the server returns
 */

struct diff {
    bool bad;
    char msg[1024];
};

ATTR_PRINTF(2, 3) static void diff_set(struct diff *d, const char *fmt, ...)
{
    if (d->bad)
        return; /* keep the first difference */
    d->bad = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
}

static char *dump(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    return s ? s : strdup("(absent)");
}

static void diff_values(struct diff *d, const char *path, json_t *want, json_t *got)
{
    if (want && got && json_equal(want, got))
        return;
    char *w = dump(want), *g = dump(got);
    diff_set(d, "%s: got %.300s, imported %.300s", path, g, w);
    free(w);
    free(g);
}

static void diff_instants(struct diff *d, const char *path, json_t *want, json_t *got)
{
    if (json_is_null(want) && json_is_null(got))
        return;
    int64_t tw, tg;
    if (!json_is_string(want) || !json_is_string(got) ||
        !test_parse_instant(json_string_value(want), &tw) ||
        !test_parse_instant(json_string_value(got), &tg)) {
        diff_values(d, path, want, got);
        return;
    }
    if (tw != tg)
        diff_set(d, "%s: got %s, another instant than the imported %s", path,
                 json_string_value(got), json_string_value(want));
    else if (!is_canonical(json_string_value(got)))
        diff_set(d, "%s: '%s' is not in canonical form", path, json_string_value(got));
}

/* Device and entity objects: same values, same key order, compared as compact JSON text. */
static void diff_verbatim_array(struct diff *d, const char *path, json_t *want, json_t *got)
{
    if (!json_is_array(want) || !json_is_array(got) ||
        json_array_size(want) != json_array_size(got)) {
        diff_values(d, path, want, got);
        return;
    }
    for (size_t i = 0; i < json_array_size(want); i++) {
        char *w = dump(json_array_get(want, i)), *g = dump(json_array_get(got, i));
        if (strcmp(w, g) != 0)
            diff_set(d, "%s[%zu]:\n  got      %.600s\n  imported %.600s", path, i, g, w);
        free(w);
        free(g);
    }
}

static void diff_alert(struct diff *d, int64_t incident_id, const char *aid, json_t *want,
                       json_t *got)
{
    char path[160];
    /* Keys: the documented ones in order, then the others in arrival order. */
    const char *order[64];
    size_t n = 0;
    for (size_t k = 0; k < ARRAY_SIZE(alert_keys); k++)
        order[n++] = alert_keys[k];
    const char *key;
    json_t *v;
    json_object_foreach(want, key, v)
    {
        if (!in_list(key, alert_keys, ARRAY_SIZE(alert_keys)) && n < ARRAY_SIZE(order))
            order[n++] = key;
    }
    size_t i = 0;
    json_object_foreach(got, key, v)
    {
        if (i >= n || strcmp(key, order[i]) != 0)
            diff_set(d, "alert %s: key %zu is '%s', expected '%s'", aid, i, key,
                     i < n ? order[i] : "(end)");
        i++;
    }
    if (i != n)
        diff_set(d, "alert %s: %zu keys, expected %zu", aid, i, n);
    for (size_t k = 0; k < n; k++) {
        json_t *w = json_object_get(want, order[k]), *g = json_object_get(got, order[k]);
        snprintf(path, sizeof(path), "alert %s: %s", aid, order[k]);
        if (strcmp(order[k], "incidentId") == 0) {
            if (!json_is_integer(g) || json_integer_value(g) != incident_id)
                diff_set(d, "%s: not the incident's id %" PRId64, path, incident_id);
        } else if (!w) {
            /* Documented keys the server adds: exactly providerAlertId and detectorId, null. */
            if (!(strcmp(order[k], "providerAlertId") == 0 ||
                  strcmp(order[k], "detectorId") == 0) ||
                !json_is_null(g))
                diff_values(d, path, w, g);
        } else if (in_list(order[k], alert_time_keys, ARRAY_SIZE(alert_time_keys))) {
            diff_instants(d, path, w, g);
        } else if (strcmp(order[k], "devices") == 0 || strcmp(order[k], "entities") == 0) {
            diff_verbatim_array(d, path, w, g);
        } else {
            diff_values(d, path, w, g);
        }
    }
}

static void diff_alerts(struct diff *d, int64_t incident_id, json_t *want, json_t *got)
{
    if (!json_is_array(want) || !json_is_array(got) ||
        json_array_size(want) != json_array_size(got)) {
        diff_set(d, "alerts: %zu returned, %zu imported", json_array_size(got),
                 json_array_size(want));
        return;
    }
    int64_t prev_t = INT64_MIN;
    const char *prev_id = "";
    size_t i;
    json_t *g;
    json_array_foreach(got, i, g)
    {
        const char *aid = json_string_value(json_object_get(g, "alertId"));
        int64_t t = INT64_MIN;
        if (!aid ||
            !test_parse_instant(json_string_value(json_object_get(g, "creationTime")), &t)) {
            diff_set(d, "alerts[%zu]: no alertId or creationTime", i);
            return;
        }
        if (i > 0 && (t < prev_t || (t == prev_t && strcmp(prev_id, aid) >= 0)))
            diff_set(d, "alerts[%zu] (%s) is out of order (creationTime, then alertId)", i, aid);
        prev_t = t;
        prev_id = aid;
        /* The imported alert with that id; ids are unique in every fixture. */
        json_t *w = NULL, *x;
        size_t j;
        json_array_foreach(want, j, x)
        {
            const char *wid = json_string_value(json_object_get(x, "alertId"));
            if (wid && strcmp(wid, aid) == 0) {
                if (w)
                    diff_set(d, "alert %s returned twice", aid);
                w = x;
            }
        }
        if (!w) {
            diff_set(d, "alert %s was not imported", aid);
            continue;
        }
        diff_alert(d, incident_id, aid, w, g);
    }
}

static void diff_comments(struct diff *d, json_t *want, json_t *got)
{
    if (!json_is_array(want) || !json_is_array(got) ||
        json_array_size(want) != json_array_size(got)) {
        diff_values(d, "comments", want, got);
        return;
    }
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *w = json_array_get(want, i), *g = json_array_get(got, i);
        char path[64];
        if (json_object_size(w) != json_object_size(g)) {
            snprintf(path, sizeof(path), "comments[%zu]", i);
            diff_values(d, path, w, g);
        }
        const char *key;
        json_t *v;
        json_object_foreach(w, key, v)
        {
            snprintf(path, sizeof(path), "comments[%zu].%s", i, key);
            if (strcmp(key, "createdTime") == 0)
                diff_instants(d, path, v, json_object_get(g, key));
            else
                diff_values(d, path, v, json_object_get(g, key));
        }
    }
}

/* `got` is the GET body (entity with "@odata.context"); `want` the incident as imported. */
static void diff_incident(struct diff *d, json_t *want, json_t *got)
{
    int64_t id = json_integer_value(json_object_get(want, "incidentId"));
    const char *key;
    json_t *v;
    size_t i = 0;
    json_object_foreach(got, key, v)
    {
        const char *exp = i == 0                           ? "@odata.context"
                          : i <= ARRAY_SIZE(incident_keys) ? incident_keys[i - 1]
                                                           : "(end)";
        if (strcmp(key, exp) != 0)
            diff_set(d, "key %zu is '%s', expected '%s'", i, key, exp);
        i++;
    }
    if (i != ARRAY_SIZE(incident_keys) + 1)
        diff_set(d, "%zu keys, expected %zu", i, ARRAY_SIZE(incident_keys) + 1);
    char uri[64];
    snprintf(uri, sizeof(uri), "/incidents/%" PRId64 "?tid=", id);
    const char *got_uri = json_string_value(json_object_get(got, "incidentUri"));
    if (!got_uri || !strstr(got_uri, uri))
        diff_set(d, "incidentUri '%s' does not name the incident", got_uri ? got_uri : "(null)");
    json_object_foreach(want, key, v)
    {
        if (strcmp(key, "@odata.context") == 0 || strcmp(key, "incidentUri") == 0)
            continue;
        json_t *g = json_object_get(got, key);
        if (strcmp(key, "createdTime") == 0 || strcmp(key, "lastUpdateTime") == 0)
            diff_instants(d, key, v, g);
        else if (strcmp(key, "comments") == 0)
            diff_comments(d, v, g);
        else if (strcmp(key, "alerts") == 0)
            diff_alerts(d, id, v, g);
        else
            diff_values(d, key, v, g);
    }
    json_object_foreach(got, key, v)
    {
        if (strcmp(key, "@odata.context") != 0 && strcmp(key, "incidentUri") != 0 &&
            !json_object_get(want, key))
            diff_set(d, "key '%s' was not imported", key);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Running the binary
 */

static void rm_rf(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Number of incidents GET /api/incidents lists (all of them: fixtures hold fewer than 100). */
static size_t list_count(const struct test_server *s)
{
    json_t *list = test_get_json(s, "/api/incidents", 200);
    json_t *value = json_object_get(list, "value");
    ck_assert(json_is_array(value));
    ck_assert_ptr_null(json_object_get(list, "@odata.nextLink"));
    size_t n = json_array_size(value);
    json_decref(list);
    return n;
}

/* The stderr line starting with prefix (log lines may come before it), or NULL. */
static const char *line_starting(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, n) == 0)
            return p;
    return NULL;
}

struct imported {
    char *dir;
    char db[1100];
    int rc;
    char *err;
};

static void import_fresh(const char *file, struct imported *im)
{
    im->dir = test_tmpdir();
    ck_assert(im->dir != NULL);
    snprintf(im->db, sizeof(im->db), "%s/fixtures.db", im->dir);
    const char *args[] = {"import", "--db", im->db, file, NULL};
    im->rc = test_run_cli(args, NULL, &im->err);
}

static void imported_release(struct imported *im)
{
    rm_rf(im->dir);
    free(im->dir);
    free(im->err);
}

/* ---------------------------------------------------------------------------------------------
 * The tests
 */

START_TEST(test_fixtures_absent)
{
    ck_assert_ptr_null(test_fixtures_dir());
    printf("skip: ../shared/fixtures absent\n");
}
END_TEST

START_TEST(test_fixture_file)
{
    const char *path = fixture_paths[_i];
    size_t len = 0;
    char *data = test_read_file(path, &len);
    ck_assert_msg(data != NULL, "cannot read %s", path);
    bool syntax = false;
    json_t *incs = file_incidents(data, len, &syntax);
    free(data);
    struct imported im;
    import_fresh(path, &im);
    struct test_server s;
    if (incs) {
        ck_assert_msg(im.rc == 0, "%s: import exited %d: %s", path, im.rc, im.err);
        ck_assert(test_server_start(&s, im.db, NULL));
        size_t i;
        json_t *want;
        size_t distinct = 0;
        json_array_foreach(incs, i, want)
        {
            int64_t id = json_integer_value(json_object_get(want, "incidentId"));
            bool again = false;
            for (size_t j = 0; j < i; j++)
                again |= json_integer_value(
                             json_object_get(json_array_get(incs, j), "incidentId")) == id;
            distinct += !again;
            char url[64];
            snprintf(url, sizeof(url), "/api/incidents/%" PRId64, id);
            json_t *got = test_get_json(&s, url, 200);
            struct diff d = {0};
            diff_incident(&d, want, got);
            ck_assert_msg(!d.bad, "%s: incident %" PRId64 ": %s", path, id, d.msg);
            json_decref(got);
        }
        ck_assert_uint_eq(list_count(&s), distinct);
        json_decref(incs);
    } else {
        ck_assert_msg(im.rc == 65, "%s is not an incident export but import exited %d: %s", path,
                      im.rc, im.err);
        char prefix[1100];
        snprintf(prefix, sizeof(prefix), "incidentd: %s: ", path);
        const char *msg = line_starting(im.err, prefix);
        ck_assert_msg(msg != NULL, "%s: no message starting with '%s': %s", path, prefix, im.err);
        if (syntax) {
            int line = 0, col = 0;
            const char *at = strstr(msg, "line ");
            ck_assert_msg(at && sscanf(at, "line %d, column %d", &line, &col) == 2 && line > 0 &&
                              col > 0,
                          "%s: syntax error message names no line and column: %s", path, im.err);
        }
        ck_assert(test_server_start(&s, im.db, NULL));
        ck_assert_uint_eq(list_count(&s), 0);
    }
    ck_assert_int_eq(test_server_stop(&s, false), 0);
    imported_release(&im);
}
END_TEST

/* Imports fixture `rel` into a fresh database and starts a server on it. */
static void serve_fixture(const char *rel, struct imported *im, struct test_server *s)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/%s", test_fixtures_dir(), rel);
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "fixture %s is missing", path);
    import_fresh(path, im);
    ck_assert_msg(im->rc == 0, "%s: import exited %d: %s", path, im->rc, im->err);
    ck_assert(test_server_start(s, im->db, NULL));
}

START_TEST(test_fixture_redirected_stub)
{
    struct imported im;
    struct test_server s;
    serve_fixture("elastic-integrations/test-m365-defender-empty-ndjson.log", &im, &s);
    json_t *inc = test_get_json(&s, "/api/incidents/1111", 200);
    ck_assert_str_eq(json_string_value(json_object_get(inc, "status")), "Redirected");
    ck_assert_int_eq(json_integer_value(json_object_get(inc, "redirectIncidentId")), 1107);
    ck_assert(json_is_array(json_object_get(inc, "alerts")));
    ck_assert_uint_eq(json_array_size(json_object_get(inc, "alerts")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(inc, "severity")), "UnSpecified");
    json_decref(inc);
    ck_assert_uint_eq(list_count(&s), 1);
    ck_assert_int_eq(test_server_stop(&s, false), 0);
    imported_release(&im);
}
END_TEST

START_TEST(test_fixture_xsoar_update_response)
{
    static const char rel[] = "cortex-xsoar/incident_update_response.json";
    char path[1100];
    snprintf(path, sizeof(path), "%s/%s", test_fixtures_dir(), rel);
    json_t *want = json_load_file(path, 0, NULL);
    ck_assert(want != NULL);
    struct imported im;
    struct test_server s;
    serve_fixture(rel, &im, &s);
    json_t *got = test_get_json(&s, "/api/incidents/263", 200);
    ck_assert_str_eq(json_string_value(json_object_get(got, "assignedTo")), "Unassigned");
    json_t *ga = json_object_get(got, "alerts"), *wa = json_object_get(want, "alerts");
    ck_assert_uint_eq(json_array_size(wa), 12);
    ck_assert_uint_eq(json_array_size(ga), 12);
    size_t i;
    json_t *a;
    json_array_foreach(ga, i, a)
    {
        const char *aid = json_string_value(json_object_get(a, "alertId"));
        ck_assert(aid != NULL);
        json_t *w = NULL, *x;
        size_t j;
        json_array_foreach(wa, j, x)
        {
            if (strcmp(json_string_value(json_object_get(x, "alertId")), aid) == 0)
                w = x;
        }
        ck_assert_msg(w != NULL, "alert %s was not imported", aid);
        json_t *wd = json_object_get(w, "detectorId");
        ck_assert(json_is_string(wd));
        ck_assert_msg(json_equal(wd, json_object_get(a, "detectorId")), "alert %s: detectorId",
                      aid);
        json_t *gdev = json_array_get(json_object_get(a, "devices"), 0);
        json_t *wdev = json_array_get(json_object_get(w, "devices"), 0);
        ck_assert(gdev && wdev);
        static const char *const newer[] = {"tags", "defenderAvStatus", "onboardingStatus",
                                            "vmMetadata"};
        for (size_t k = 0; k < ARRAY_SIZE(newer); k++) {
            ck_assert_msg(json_object_get(wdev, newer[k]) != NULL, "fixture lacks %s", newer[k]);
            ck_assert_msg(
                json_equal(json_object_get(gdev, newer[k]), json_object_get(wdev, newer[k])),
                "alert %s: device %s differs", aid, newer[k]);
        }
    }
    json_decref(got);
    json_decref(want);
    ck_assert_int_eq(test_server_stop(&s, false), 0);
    imported_release(&im);
}
END_TEST

/* The rejection message for a syntax error names line 1, column 1 of "WRONG JSON RESPONSE". */
START_TEST(test_fixture_invalid_json_position)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/%s", test_fixtures_dir(),
             "rapid7-insightconnect/test_invalid_json_response.json.resp");
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "fixture %s is missing", path);
    struct imported im;
    import_fresh(path, &im);
    ck_assert_int_eq(im.rc, 65);
    char want[1200];
    snprintf(want, sizeof(want), "incidentd: %s: line 1, column 1: ", path);
    ck_assert_msg(line_starting(im.err, want) != NULL, "message: %s", im.err);
    imported_release(&im);
}
END_TEST

static int cmp_path(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void collect(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            collect(path);
        else if (S_ISREG(st.st_mode) && strcmp(e->d_name, "README.md") != 0 &&
                 fixture_count < MAX_FIXTURES)
            snprintf(fixture_paths[fixture_count++], sizeof(fixture_paths[0]), "%s", path);
    }
    closedir(d);
}

Suite *fixtures_suite(void)
{
    Suite *s = suite_create("fixtures");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 60);
    const char *root = test_fixtures_dir();
    if (!root) {
        tcase_add_test(tc, test_fixtures_absent);
    } else {
        fixture_count = 0;
        collect(root);
        qsort(fixture_paths, fixture_count, sizeof(fixture_paths[0]), cmp_path);
        tcase_add_loop_test(tc, test_fixture_file, 0, (int)fixture_count);
        tcase_add_test(tc, test_fixture_redirected_stub);
        tcase_add_test(tc, test_fixture_xsoar_update_response);
        tcase_add_test(tc, test_fixture_invalid_json_position);
    }
    suite_add_tcase(s, tc);
    return s;
}
