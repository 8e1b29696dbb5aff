/* SPDX-License-Identifier: MIT */
/*
 * Load and robustness, black-box against the real binary: an incident with 5,000 alerts, 100
 * concurrent PATCHes to one incident, SIGKILL during a PATCH load (no acknowledged change may be
 * lost), and SIGTERM while a slow response is being sent (it completes; the server exits 0).
 */
#include "common.h"
#include "e2e.h"
#include "tests.h"
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Helpers
 */

/* Ticks of a JSON string member holding a date-time; fails the test when it is not one. */
static int64_t member_instant(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    int64_t t = 0;
    ck_assert_msg(json_is_string(v) && test_parse_instant(json_string_value(v), &t),
                  "'%s' is not a date-time", key);
    return t;
}

static void rm_rf(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs `incidentd import --db db file`; fails the test unless it exits 0. */
static void import_or_fail(const char *db, const char *file)
{
    const char *args[] = {"import", "--db", db, file, NULL};
    char *err = NULL;
    int rc = test_run_cli(args, NULL, &err);
    ck_assert_msg(rc == 0, "import %s exited %d: %s", file, rc, err);
    free(err);
}

/* GET path; fails unless 200 with a JSON body, which is returned (caller decrefs). */
/* A growing body buffer. test_http grows its buffer chunk by chunk, which is quadratic under
 * ASan for multi-megabyte bodies; the big responses here use this instead. */
struct body {
    char *p;
    size_t len, cap;
};

static bool body_append(struct body *b, const char *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return false;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    return body_append(ud, ptr, size * nmemb) ? size * nmemb : 0;
}

/* GET base+path; fails unless 200 with a JSON body, which is returned (caller decrefs). With
 * gzip, asks for a compressed response, checks it is one and lets libcurl inflate it. */
static json_t *get_big_json(const struct test_server *s, const char *path, bool gzip)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    struct body b = {0}, h = {0};
    CURL *c = curl_easy_init();
    ck_assert(c != NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (gzip)
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, s->token);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t wire = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &wire);
    curl_easy_cleanup(c);
    ck_assert_msg(rc == CURLE_OK, "GET %s: %s", path, curl_easy_strerror(rc));
    ck_assert_msg(status == 200, "GET %s: status %ld", path, status);
    if (gzip) {
        bool gz = false;
        for (const char *l = h.p; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            gz |= strncasecmp(l, "Content-Encoding: gzip", 22) == 0;
        ck_assert_msg(gz, "GET %s: not gzip-encoded: %s", path, h.p);
        ck_assert_msg((size_t)wire < b.len / 4, "GET %s: %ld bytes on the wire for %zu", path,
                      (long)wire, b.len);
    }
    json_error_t je;
    json_t *j = json_loadb(b.p, b.len, 0, &je);
    ck_assert_msg(j != NULL, "GET %s: invalid JSON (%s at %d) in %zu bytes", path, je.text,
                  je.position, b.len);
    free(b.p);
    free(h.p);
    return j;
}

/* ---------------------------------------------------------------------------------------------
 * A big incident: every alert with one device and one entity, distinct alertIds, creation times
 * that tie in groups of four written in different textual forms of the same instant.
 */

struct big_alert {
    char id[24];
    int64_t creation;
    char *devices;  /* compact JSON of the alert's devices array as imported */
    char *entities; /* likewise */
};

struct big_incident {
    struct big_alert *alerts; /* in the expected order: creationTime, then alertId */
    size_t n;
};

static int big_alert_cmp(const void *a, const void *b)
{
    const struct big_alert *x = a, *y = b;
    if (x->creation != y->creation)
        return x->creation < y->creation ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void big_release(struct big_incident *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->alerts[i].devices);
        free(b->alerts[i].entities);
    }
    free(b->alerts);
    memset(b, 0, sizeof(*b));
}

/* Writes incident `id` with n alerts to path (a list response) and fills the expectation. */
static void write_big_incident(const char *path, int64_t id, size_t n, struct big_incident *exp)
{
    json_t *alerts = json_array();
    exp->alerts = calloc(n, sizeof(*exp->alerts));
    exp->n = n;
    size_t instants = n / 4 > 0 ? n / 4 : 1;
    for (size_t k = 0; k < n; k++) {
        /* Four alerts per instant (7 is coprime with the instant counts used here), each of the
         * four written in another textual form of the same instant. */
        int s = (int)((k * 7) % instants);
        int hh = 10 + s / 3600, mm = s / 60 % 60, ss = s % 60;
        char when[40];
        switch (k / instants % 4) {
        case 0:
            snprintf(when, sizeof(when), "2024-03-01T%02d:%02d:%02dZ", hh, mm, ss);
            break;
        case 1:
            snprintf(when, sizeof(when), "2024-03-01T%02d:%02d:%02d.0Z", hh, mm, ss);
            break;
        case 2:
            snprintf(when, sizeof(when), "2024-03-01T%02d:%02d:%02d.0000000Z", hh, mm, ss);
            break;
        default:
            snprintf(when, sizeof(when), "2024-03-01T%02d:%02d:%02d+02:00", hh + 2, mm, ss);
            break;
        }
        struct big_alert *e = &exp->alerts[k];
        snprintf(e->id, sizeof(e->id), "x%zu", k);
        ck_assert(test_parse_instant(when, &e->creation));
        char mdatp[41], host[64], fname[32], cmdline[96];
        snprintf(mdatp, sizeof(mdatp), "%040zx", k * 2654435761u);
        snprintf(host, sizeof(host), "host-%zu.contoso.com", k);
        snprintf(fname, sizeof(fname), "tool%zu.exe", k);
        snprintf(cmdline, sizeof(cmdline), "tool%zu.exe --quote \"x\" \\\\share é ✓", k);
        json_t *device = json_pack(
            "{s:s, s:n, s:s, s:s, s:s, s:n, s:i, s:s, s:s, s:s, s:s, s:[s], s:s, s:s, s:n}",
            "mdatpDeviceId", mdatp, "aadDeviceId", "deviceDnsName", host, "osPlatform", "Windows10",
            "version", "22H2", "osProcessor", "osBuild", 19045, "healthStatus", "Active",
            "riskScore", "Medium", "rbacGroupName", "Ring0", "firstSeen",
            "2024-01-01T00:00:00.1230000Z", "tags", "load", "defenderAvStatus", "Updated",
            "onboardingStatus", "Onboarded", "vmMetadata");
        json_t *entity =
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "entityType", "Process",
                      "evidenceCreationTime", "2024-03-01T10:00:00.50Z", "verdict", "Suspicious",
                      "remediationStatus", "None", "processId", (json_int_t)(1000 + k), "fileName",
                      fname, "processCommandLine", cmdline, "deviceId", mdatp);
        ck_assert(device && entity);
        json_t *devices = json_pack("[o]", device), *entities = json_pack("[o]", entity);
        e->devices = json_dumps(devices, JSON_COMPACT);
        e->entities = json_dumps(entities, JSON_COMPACT);
        char title[64];
        snprintf(title, sizeof(title), "Load alert %zu", k);
        json_t *a =
            json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "alertId", e->id,
                      "incidentId", (json_int_t)id, "serviceSource", "MicrosoftDefenderForEndpoint",
                      "creationTime", when, "title", title, "category", "Execution", "status",
                      "New", "severity", "Low", "devices", devices, "entities", entities);
        ck_assert(a != NULL);
        json_array_append_new(alerts, a);
    }
    json_t *inc =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:[], s:[], s:o}", "incidentId", (json_int_t)id,
                  "incidentName", "Load incident", "createdTime", "2024-03-01T09:00:00Z",
                  "lastUpdateTime", "2024-03-01T12:00:00Z", "status", "Active", "severity", "Low",
                  "tags", "comments", "alerts", alerts);
    json_t *doc = json_pack("{s:[o]}", "value", inc);
    ck_assert(doc != NULL);
    ck_assert_int_eq(json_dump_file(doc, path, JSON_COMPACT), 0);
    json_decref(doc);
    qsort(exp->alerts, n, sizeof(*exp->alerts), big_alert_cmp);
}

/* Checks an incident read back against the expectation: every alert, in order, intact. */
static void check_big_incident(json_t *inc, int64_t id, const struct big_incident *exp)
{
    ck_assert(json_is_object(inc));
    ck_assert_int_eq(json_integer_value(json_object_get(inc, "incidentId")), id);
    json_t *alerts = json_object_get(inc, "alerts");
    ck_assert(json_is_array(alerts));
    ck_assert_uint_eq(json_array_size(alerts), exp->n);
    for (size_t i = 0; i < exp->n; i++) {
        json_t *a = json_array_get(alerts, i);
        const struct big_alert *e = &exp->alerts[i];
        const char *aid = json_string_value(json_object_get(a, "alertId"));
        ck_assert_msg(aid && strcmp(aid, e->id) == 0, "alert %zu is %s, expected %s", i,
                      aid ? aid : "(none)", e->id);
        ck_assert_int_eq(json_integer_value(json_object_get(a, "incidentId")), id);
        ck_assert_msg(member_instant(a, "creationTime") == e->creation,
                      "alert %s: creationTime %s is another instant", e->id,
                      json_string_value(json_object_get(a, "creationTime")));
        char *devices = json_dumps(json_object_get(a, "devices"), JSON_COMPACT);
        char *entities = json_dumps(json_object_get(a, "entities"), JSON_COMPACT);
        ck_assert_msg(devices && strcmp(devices, e->devices) == 0,
                      "alert %s: devices\n  got  %s\n  want %s", e->id, devices, e->devices);
        ck_assert_msg(entities && strcmp(entities, e->entities) == 0,
                      "alert %s: entities\n  got  %s\n  want %s", e->id, entities, e->entities);
        free(devices);
        free(entities);
    }
}

/* ---------------------------------------------------------------------------------------------
 * 5,000 alerts in one incident
 */

START_TEST(test_load_5000_alerts)
{
    enum { N = 5000 };
    char *dir = test_tmpdir();
    char file[600], db[600];
    snprintf(file, sizeof(file), "%s/big.json", dir);
    snprintf(db, sizeof(db), "%s/big.db", dir);
    struct big_incident exp = {0};
    write_big_incident(file, 42, N, &exp);
    import_or_fail(db, file);
    struct test_server s;
    ck_assert(test_server_start(&s, db, NULL));

    json_t *list = get_big_json(&s, "/api/incidents", false);
    json_t *value = json_object_get(list, "value");
    ck_assert(json_is_array(value));
    ck_assert_uint_eq(json_array_size(value), 1);
    ck_assert_ptr_null(json_object_get(list, "@odata.nextLink"));
    check_big_incident(json_array_get(value, 0), 42, &exp);
    json_decref(list);

    json_t *one = get_big_json(&s, "/api/incidents/42", false);
    check_big_incident(one, 42, &exp);
    json_decref(one);

    /* Compressed, the same document. */
    json_t *unz = get_big_json(&s, "/api/incidents/42", true);
    check_big_incident(unz, 42, &exp);
    json_decref(unz);

    ck_assert_int_eq(test_server_stop(&s, false), 0);
    big_release(&exp);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * 100 concurrent PATCHes to one incident
 */

enum { CP_THREADS = 10, CP_PER_THREAD = 10, CP_TOTAL = CP_THREADS * CP_PER_THREAD };

struct cp_result {
    long status;
    bool transport_ok;
    bool parsed;
    bool has_comment; /* the response holds this PATCH's comment */
    int64_t last_update;
    char last_update_text[40];
};

struct cp_job {
    const struct test_server *s;
    int thread;
    struct cp_result *results; /* CP_TOTAL entries, indexed by comment number */
};

static void cp_comment_text(int k, char *out, size_t cap)
{
    snprintf(out, cap, "concurrent comment %03d \xE2\x9C\x93", k);
}

static void *cp_worker(void *arg)
{
    struct cp_job *job = arg;
    for (int i = 0; i < CP_PER_THREAD; i++) {
        int k = job->thread * CP_PER_THREAD + i;
        char text[64], body[128];
        cp_comment_text(k, text, sizeof(text));
        snprintf(body, sizeof(body), "{\"comment\":\"%s\"}", text);
        struct cp_result *res = &job->results[k];
        struct test_resp r;
        res->transport_ok =
            test_http(job->s, "PATCH", "/api/incidents/7", "application/json", body, NULL, &r);
        res->status = r.status;
        json_t *j = json_loadb(r.body, r.len, 0, NULL);
        const char *lut = json_string_value(json_object_get(j, "lastUpdateTime"));
        if (lut) {
            snprintf(res->last_update_text, sizeof(res->last_update_text), "%s", lut);
            res->parsed = test_parse_instant(lut, &res->last_update);
        }
        size_t ci;
        json_t *c;
        json_array_foreach(json_object_get(j, "comments"), ci, c)
        {
            const char *ct = json_string_value(json_object_get(c, "comment"));
            res->has_comment |= ct && strcmp(ct, text) == 0;
        }
        json_decref(j);
        test_resp_free(&r);
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_load_concurrent_patches)
{
    /* Threads below use libcurl: initialise it once, before any of them does. */
    ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    char *dir = test_tmpdir();
    char file[600], db[600];
    snprintf(file, sizeof(file), "%s/one.json", dir);
    snprintf(db, sizeof(db), "%s/one.db", dir);
    ck_assert(test_write_file(
        file,
        "{\"incidentId\":7,\"incidentName\":\"Target\",\"createdTime\":\"2024-01-01T00:00:00Z\","
        "\"lastUpdateTime\":\"2024-01-02T00:00:00Z\",\"status\":\"Active\",\"severity\":"
        "\"High\",\"tags\":[],\"comments\":[{\"comment\":\"before the load\",\"createdBy\":"
        "\"a@contoso.com\",\"createdTime\":\"2024-01-01T12:00:00Z\"}],\"alerts\":[]}"));
    import_or_fail(db, file);
    struct test_server s;
    ck_assert(test_server_start(&s, db, NULL));

    json_t *before = test_get_json(&s, "/api/incidents/7", 200);
    int64_t lut0 = member_instant(before, "lastUpdateTime");
    size_t comments0 = json_array_size(json_object_get(before, "comments"));
    ck_assert_uint_eq(comments0, 1);
    json_decref(before);

    static struct cp_result results[CP_TOTAL];
    memset(results, 0, sizeof(results));
    pthread_t th[CP_THREADS];
    struct cp_job jobs[CP_THREADS];
    for (int t = 0; t < CP_THREADS; t++) {
        jobs[t] = (struct cp_job){&s, t, results};
        ck_assert_int_eq(pthread_create(&th[t], NULL, cp_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < CP_THREADS; t++)
        pthread_join(th[t], NULL);

    int64_t luts[CP_TOTAL], max_lut = lut0;
    for (int k = 0; k < CP_TOTAL; k++) {
        ck_assert_msg(results[k].transport_ok, "PATCH %d: transport error", k);
        ck_assert_msg(results[k].status == 200, "PATCH %d: status %ld", k, results[k].status);
        ck_assert_msg(results[k].parsed, "PATCH %d: no lastUpdateTime in the response", k);
        ck_assert_msg(results[k].has_comment, "PATCH %d: its comment is not in the response", k);
        ck_assert_msg(results[k].last_update > lut0,
                      "PATCH %d: lastUpdateTime %s is not after the one before the load", k,
                      results[k].last_update_text);
        luts[k] = results[k].last_update;
        if (luts[k] > max_lut)
            max_lut = luts[k];
    }
    qsort(luts, CP_TOTAL, sizeof(luts[0]), cmp_i64);
    for (int k = 1; k < CP_TOTAL; k++)
        ck_assert_msg(luts[k] != luts[k - 1], "two PATCHes got the same lastUpdateTime");

    json_t *after = test_get_json(&s, "/api/incidents/7", 200);
    ck_assert_msg(member_instant(after, "lastUpdateTime") == max_lut,
                  "final lastUpdateTime %s is not the largest one a PATCH returned",
                  json_string_value(json_object_get(after, "lastUpdateTime")));
    json_t *comments = json_object_get(after, "comments");
    ck_assert_uint_eq(json_array_size(comments), comments0 + CP_TOTAL);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(comments, 0), "comment")),
                     "before the load");
    /* Each text exactly once; ordered by createdTime (distinct: one write each), the comments
     * are in the order of their PATCH responses' lastUpdateTime values. */
    bool seen[CP_TOTAL] = {false};
    int64_t prev_created = member_instant(json_array_get(comments, 0), "createdTime");
    int64_t prev_lut = INT64_MIN;
    for (size_t i = comments0; i < json_array_size(comments); i++) {
        json_t *c = json_array_get(comments, i);
        const char *text = json_string_value(json_object_get(c, "comment"));
        int k = -1;
        for (int q = 0; text && q < CP_TOTAL; q++) {
            char want[64];
            cp_comment_text(q, want, sizeof(want));
            if (strcmp(text, want) == 0)
                k = q;
        }
        ck_assert_msg(k >= 0, "unexpected comment '%s'", text ? text : "(null)");
        ck_assert_msg(!seen[k], "comment %d appears twice", k);
        seen[k] = true;
        int64_t created = member_instant(c, "createdTime");
        ck_assert_msg(created > prev_created,
                      "comment %zu: createdTime %s is not after the previous comment's", i,
                      json_string_value(json_object_get(c, "createdTime")));
        ck_assert_msg(results[k].last_update > prev_lut,
                      "comment %d (position %zu) is out of the order of its PATCH's "
                      "lastUpdateTime %s",
                      k, i, results[k].last_update_text);
        prev_created = created;
        prev_lut = results[k].last_update;
    }
    json_decref(after);
    ck_assert_int_eq(test_server_stop(&s, false), 0);
    rm_rf(dir);
    free(dir);
    curl_global_cleanup();
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * SIGKILL during a PATCH load
 */

enum { KL_THREADS = 4, KL_INCIDENTS = 3, KL_MAX = 4000, KL_ACKED_BEFORE_KILL = 200 };

struct kl_shared {
    const struct test_server *s;
    atomic_int acked;
    atomic_bool stop;
};

struct kl_job {
    struct kl_shared *sh;
    int thread;
    int sent;
    int acked_n;
    int acked[KL_MAX];     /* sequence numbers whose PATCH returned 200 */
    int unexpected_status; /* a status other than 200 before the kill, or 0 */
    char unexpected_body[200];
};

static void kl_text(int thread, int seq, char *out, size_t cap)
{
    snprintf(out, cap, "kill-load t%d n%d", thread, seq);
}

static int kl_incident(int thread, int seq)
{
    return (thread + seq) % KL_INCIDENTS + 1;
}

static void *kl_worker(void *arg)
{
    struct kl_job *job = arg;
    for (int seq = 0; seq < KL_MAX && !atomic_load(&job->sh->stop); seq++) {
        char text[64], body[160], path[64];
        kl_text(job->thread, seq, text, sizeof(text));
        snprintf(body, sizeof(body), "{\"comment\":\"%s\",\"tags\":[\"t%d\",\"n%d\"]}", text,
                 job->thread, seq);
        snprintf(path, sizeof(path), "/api/incidents/%d", kl_incident(job->thread, seq));
        struct test_resp r;
        bool ok = test_http(job->sh->s, "PATCH", path, "application/json", body, NULL, &r);
        job->sent++;
        json_t *j = ok && r.status == 200 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
        if (j && strstr(r.body, text)) {
            /* Acknowledged: a complete, valid entity holding the comment. */
            job->acked[job->acked_n++] = seq;
            atomic_fetch_add(&job->sh->acked, 1);
        } else if (ok && !job->unexpected_status) {
            job->unexpected_status = (int)r.status;
            snprintf(job->unexpected_body, sizeof(job->unexpected_body), "%s", r.body);
        }
        json_decref(j);
        test_resp_free(&r);
        if (!ok)
            break; /* the server is gone */
    }
    return NULL;
}

static void write_small_incidents(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    for (int id = 1; id <= n; id++)
        fprintf(f,
                "{\"incidentId\":%d,\"incidentName\":\"Incident %d\",\"createdTime\":"
                "\"2024-02-01T00:00:00Z\",\"lastUpdateTime\":\"2024-02-01T00:00:0%dZ\","
                "\"status\":\"Active\",\"severity\":\"Medium\",\"tags\":[],\"comments\":[],"
                "\"alerts\":[{\"alertId\":\"da-%d\",\"creationTime\":\"2024-02-01T00:00:00Z\","
                "\"title\":\"t\",\"severity\":\"Medium\",\"status\":\"New\",\"devices\":[],"
                "\"entities\":[]}]}\n",
                id, id, id % 10, id);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_load_sigkill_loses_no_acknowledged_change)
{
    /* Threads below use libcurl: initialise it once, before any of them does. */
    ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    char *dir = test_tmpdir();
    char file[600], db[600];
    snprintf(file, sizeof(file), "%s/three.ndjson", dir);
    snprintf(db, sizeof(db), "%s/kill.db", dir);
    write_small_incidents(file, KL_INCIDENTS);
    import_or_fail(db, file);

    struct test_server s;
    ck_assert(test_server_start(&s, db, NULL)); /* default db_sync: full */
    struct kl_shared sh = {.s = &s};
    atomic_init(&sh.acked, 0);
    atomic_init(&sh.stop, false);
    static struct kl_job jobs[KL_THREADS];
    pthread_t th[KL_THREADS];
    for (int t = 0; t < KL_THREADS; t++) {
        memset(&jobs[t], 0, sizeof(jobs[t]));
        jobs[t].sh = &sh;
        jobs[t].thread = t;
        ck_assert_int_eq(pthread_create(&th[t], NULL, kl_worker, &jobs[t]), 0);
    }
    /* Kill once a fair number of changes were acknowledged; requests are in flight then. */
    double deadline = now_s() + 60;
    while (atomic_load(&sh.acked) < KL_ACKED_BEFORE_KILL && now_s() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int acked_at_kill = atomic_load(&sh.acked);
    ck_assert_int_eq(kill(s.pid, SIGKILL), 0);
    atomic_store(&sh.stop, true);
    for (int t = 0; t < KL_THREADS; t++)
        pthread_join(th[t], NULL);
    int st = 0;
    ck_assert_int_eq(waitpid(s.pid, &st, 0), s.pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    s.pid = 0; /* reaped: test_server_stop must not signal it again */
    test_server_stop(&s, false);
    ck_assert_msg(acked_at_kill >= KL_ACKED_BEFORE_KILL, "only %d PATCHes acknowledged within 60 s",
                  acked_at_kill);
    for (int t = 0; t < KL_THREADS; t++)
        ck_assert_msg(jobs[t].unexpected_status == 0, "thread %d got status %d: %s", t,
                      jobs[t].unexpected_status, jobs[t].unexpected_body);

    /* Restart on the same file: every acknowledged comment is there, exactly once. */
    struct test_server s2;
    ck_assert(test_server_start(&s2, db, NULL));
    int total_acked = 0;
    for (int id = 1; id <= KL_INCIDENTS; id++) {
        char path[64];
        snprintf(path, sizeof(path), "/api/incidents/%d", id);
        json_t *inc = test_get_json(&s2, path, 200);
        json_t *comments = json_object_get(inc, "comments");
        ck_assert(json_is_array(comments));
        for (int t = 0; t < KL_THREADS; t++) {
            for (int a = 0; a < jobs[t].acked_n; a++) {
                int seq = jobs[t].acked[a];
                if (kl_incident(t, seq) != id)
                    continue;
                char text[64];
                kl_text(t, seq, text, sizeof(text));
                int found = 0;
                size_t i;
                json_t *c;
                json_array_foreach(comments, i, c)
                {
                    const char *ct = json_string_value(json_object_get(c, "comment"));
                    found += ct && strcmp(ct, text) == 0;
                }
                ck_assert_msg(found == 1, "acknowledged comment '%s' found %d times in %d", text,
                              found, id);
                total_acked++;
            }
        }
        /* Nothing else: every comment is one that was sent to this incident. And the tags
         * come from a PATCH whose comment is there too (one transaction each). */
        size_t i;
        json_t *c;
        json_array_foreach(comments, i, c)
        {
            const char *ct = json_string_value(json_object_get(c, "comment"));
            int t = -1, seq = -1, n = 0;
            ck_assert_msg(ct && sscanf(ct, "kill-load t%d n%d%n", &t, &seq, &n) == 2 &&
                              ct[n] == '\0' && t >= 0 && t < KL_THREADS && seq >= 0 &&
                              seq < jobs[t].sent && kl_incident(t, seq) == id,
                          "incident %d has a comment that was not sent to it: %s", id,
                          ct ? ct : "(null)");
        }
        json_t *tags = json_object_get(inc, "tags");
        if (json_array_size(tags) > 0) {
            int t = -1, seq = -1;
            ck_assert_uint_eq(json_array_size(tags), 2);
            ck_assert(sscanf(json_string_value(json_array_get(tags, 0)), "t%d", &t) == 1);
            ck_assert(sscanf(json_string_value(json_array_get(tags, 1)), "n%d", &seq) == 1);
            char text[64];
            kl_text(t, seq, text, sizeof(text));
            bool found = false;
            json_array_foreach(comments, i, c)
            {
                const char *ct = json_string_value(json_object_get(c, "comment"));
                found |= ct && strcmp(ct, text) == 0;
            }
            ck_assert_msg(found, "incident %d has the tags of '%s' but not its comment", id, text);
        }
        json_decref(inc);
    }
    ck_assert_int_ge(total_acked, acked_at_kill);

    /* The database lists fine and still takes writes. */
    json_t *list = test_get_json(&s2, "/api/incidents", 200);
    ck_assert_uint_eq(json_array_size(json_object_get(list, "value")), KL_INCIDENTS);
    json_decref(list);
    struct test_resp r;
    ck_assert(test_http(&s2, "PATCH", "/api/incidents/1", "application/json",
                        "{\"comment\":\"after restart\"}", NULL, &r));
    ck_assert_int_eq(r.status, 200);
    test_resp_free(&r);
    ck_assert_int_eq(test_server_stop(&s2, false), 0);
    rm_rf(dir);
    free(dir);
    curl_global_cleanup();
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * SIGTERM while a slow response is in flight
 */

/* A GET whose reader stops after the first bytes until released, so the response is certainly
 * in flight (the body is larger than the socket buffers) while the server is told to stop. */
struct slow_get {
    char url[128];
    const char *token;
    struct body body;
    long status;
    CURLcode rc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool first_bytes; /* under mu */
    bool released;    /* under mu */
    atomic_bool done;
};

static size_t slow_on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct slow_get *g = ud;
    size_t n = size * nmemb;
    if (!body_append(&g->body, ptr, n))
        return 0;
    pthread_mutex_lock(&g->mu);
    g->first_bytes = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->released)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* A small receive buffer so the kernel cannot take the whole body off the server's hands. */
static int slow_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
    UNUSED(ud);
    UNUSED(purpose);
    int sz = 32 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    return CURL_SOCKOPT_OK;
}

static void *slow_get_run(void *arg)
{
    struct slow_get *g = arg;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, g->url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, slow_on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 16384L);
    curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, slow_sockopt);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, g->token);
    g->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->status);
    curl_easy_cleanup(c);
    pthread_mutex_lock(&g->mu);
    g->first_bytes = true; /* also wakes the waiter when no byte ever came */
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    atomic_store(&g->done, true);
    return NULL;
}

/* True when nothing accepts connections on 127.0.0.1:port any more. */
static bool port_closed(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool refused = connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno == ECONNREFUSED;
    close(fd);
    return refused;
}

START_TEST(test_load_sigterm_finishes_inflight_response)
{
    /* Threads below use libcurl: initialise it once, before any of them does. */
    ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    enum { N = 6000 };
    char *dir = test_tmpdir();
    char file[600], db[600];
    snprintf(file, sizeof(file), "%s/big.json", dir);
    snprintf(db, sizeof(db), "%s/term.db", dir);
    struct big_incident exp = {0};
    write_big_incident(file, 9, N, &exp);
    import_or_fail(db, file);
    struct test_server s;
    ck_assert(test_server_start(&s, db, NULL));

    static struct slow_get g;
    memset(&g, 0, sizeof(g));
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    atomic_init(&g.done, false);
    snprintf(g.url, sizeof(g.url), "%s/api/incidents", s.base);
    g.token = s.token;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, slow_get_run, &g), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.first_bytes)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    bool done_before_term = atomic_load(&g.done);
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    /* The server stops accepting, but waits for the response it is sending. */
    double deadline = now_s() + 30;
    bool closed = false;
    while (!(closed = port_closed(s.port)) && now_s() < deadline) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int st = 0;
    pid_t waited = waitpid(s.pid, &st, WNOHANG);
    if (waited == s.pid)
        s.pid = 0; /* reaped: test_server_stop must not signal it */
    pthread_mutex_lock(&g.mu);
    g.released = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.cv);

    ck_assert_msg(!done_before_term, "the response finished before SIGTERM; nothing tested");
    ck_assert_msg(closed, "the server kept accepting connections 30 s after SIGTERM");
    ck_assert_msg(waited == 0, "the server exited (status 0x%x) with a response in flight", st);
    ck_assert_msg(g.rc == CURLE_OK, "in-flight response broken: %s after %zu bytes",
                  curl_easy_strerror(g.rc), g.body.len);
    ck_assert_int_eq(g.status, 200);
    json_t *list = json_loadb(g.body.p, g.body.len, 0, NULL);
    ck_assert_msg(list != NULL, "in-flight response is not complete JSON (%zu bytes)", g.body.len);
    ck_assert_uint_eq(json_array_size(json_object_get(list, "value")), 1);
    check_big_incident(json_array_get(json_object_get(list, "value"), 0), 9, &exp);
    json_decref(list);
    free(g.body.p);
    ck_assert_int_eq(test_server_stop(&s, false), 0);
    big_release(&exp);
    rm_rf(dir);
    free(dir);
    curl_global_cleanup();
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * SIGTERM while clients keep sending on kept-alive connections
 */

struct keepalive {
    char url[128];
    const char *token;
    int id;
    atomic_int sent;
    atomic_bool stop;
    long last_status;
    CURLcode last_rc;
};

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    UNUSED(ptr);
    UNUSED(ud);
    return size * nmemb;
}

/* Sends requests back to back on one connection (libcurl reuses it) until refused. */
static void *keepalive_run(void *arg)
{
    struct keepalive *k = arg;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, k->url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, k->token);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    char body[4096];
    while (!atomic_load(&k->stop)) {
        /* Ingestion queues behind the single writer, so some request is always in flight. */
        int n = snprintf(body, sizeof(body), "{\"value\":[");
        for (int i = 0; i < 20; i++)
            n += snprintf(body + n, sizeof(body) - (size_t)n,
                          "%s{\"alertId\":\"ka-%d-%d-%d\",\"title\":\"T\",\"devices\":"
                          "[{\"deviceDnsName\":\"ka-%d\"}]}",
                          i ? "," : "", k->id, atomic_load(&k->sent), i, i);
        snprintf(body + n, sizeof(body) - (size_t)n, "]}");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        k->last_rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &k->last_status);
        atomic_fetch_add(&k->sent, 1);
        if (k->last_rc != CURLE_OK || k->last_status != 200)
            break;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return NULL;
}

/* Clients that keep sending on kept-alive connections once SIGTERM arrived are answered 503
 * with `Connection: close`, so the drain does not wait for them to go away (it took 22 s with
 * three busy clients, found by an adversarial run). */
START_TEST(test_load_sigterm_ends_keepalive_clients)
{
    ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    struct test_server s;
    ck_assert(test_server_start(&s, NULL, NULL));
    enum { CLIENTS = 12 };
    static struct keepalive k[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        memset(&k[i], 0, sizeof(k[i]));
        snprintf(k[i].url, sizeof(k[i].url), "%s/api/alerts", s.base);
        k[i].token = s.token;
        k[i].id = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, keepalive_run, &k[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        while (atomic_load(&k[i].sent) < 5)
            usleep(1000);
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    double t0 = now_s();
    int st = 0;
    pid_t waited = 0;
    while ((waited = waitpid(s.pid, &st, WNOHANG)) == 0 && now_s() < t0 + 20)
        usleep(5000);
    double took = now_s() - t0;
    for (int i = 0; i < CLIENTS; i++) {
        atomic_store(&k[i].stop, true);
        pthread_join(th[i], NULL);
    }
    ck_assert_msg(waited == s.pid, "the server was still running 20 s after SIGTERM");
    s.pid = 0;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
    /* The drain's own wait is 10 ms steps; a second covers the slowest sanitizer run. */
    ck_assert_msg(took < 3.0, "stopping took %.1f s", took);
    for (int i = 0; i < CLIENTS; i++)
        ck_assert_msg(k[i].last_rc != CURLE_OK || k[i].last_status == 503,
                      "client %d ended with %ld", i, k[i].last_status);
    /* Stopping reports where the write lock's time went (storage.md). */
    char *log = test_read_file(s.log, NULL);
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(strstr(log, "write lock: ") && strstr(log, " ingestion transactions held it "),
                  "%s", log);
    free(log);
    test_server_stop(&s, false); /* removes the directory; the exit was checked above */
    curl_global_cleanup();
}
END_TEST

Suite *load_suite(void)
{
    Suite *s = suite_create("load");
    TCase *tc = tcase_create("load");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_load_5000_alerts);
    tcase_add_test(tc, test_load_concurrent_patches);
    tcase_add_test(tc, test_load_sigkill_loses_no_acknowledged_change);
    tcase_add_test(tc, test_load_sigterm_finishes_inflight_response);
    tcase_add_test(tc, test_load_sigterm_ends_keepalive_clients);
    suite_add_tcase(s, tc);
    return s;
}
