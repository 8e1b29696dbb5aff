/* SPDX-License-Identifier: MIT */
/*
 * Black-box tests of CONTRACT §1-§7 against the real binary on 127.0.0.1 and an ephemeral port.
 * The "read" case shares one server (started before the forked tests) over demo data plus a few
 * crafted incidents; the "write" case starts a fresh server per test.
 */
#include "common.h"
#include "e2e.h"
#include "tests.h"
#include "ts.h"
#include <jansson.h>
#include <zlib.h>

#define DEMO_N 250

static struct test_server rd;
static char *rd_dir;

static const char *const crafted =
    "{\"value\":["
    "{\"incidentId\":900001,\"redirectIncidentId\":900002,\"incidentName\":\"merged\","
    "\"createdTime\":\"2020-01-01T00:00:00Z\",\"lastUpdateTime\":\"2020-01-02T00:00:00Z\","
    "\"assignedTo\":null,\"classification\":\"Unknown\",\"determination\":\"NotAvailable\","
    "\"status\":\"Redirected\",\"severity\":\"UnSpecified\",\"tags\":[],\"comments\":[],"
    "\"alerts\":[]},"
    "{\"incidentId\":900002,\"redirectIncidentId\":null,\"incidentName\":\"zero\\u200bwidth "
    "\\u00e9\","
    "\"createdTime\":\"2020-01-01T00:00:00Z\",\"lastUpdateTime\":\"2020-01-03T00:00:00.1234567Z\","
    "\"assignedTo\":\"Analyst@Contoso.com\",\"classification\":\"Unknown\","
    "\"determination\":\"NotAvailable\",\"status\":\"InProgress\",\"severity\":\"Low\","
    "\"tags\":[\"x\"],\"comments\":[],\"alerts\":[]}]}";

static void req_error(const struct test_server *s, const char *method, const char *path,
                      const char *ct, const char *body, long status, const char *code)
{
    struct test_resp r;
    ck_assert(test_http(s, method, path, ct, body, NULL, &r));
    test_expect_error(&r, status, code);
    test_resp_free(&r);
}

static void read_setup(void)
{
    rd_dir = test_tmpdir();
    char db[512], file[512], n[16];
    snprintf(db, sizeof(db), "%s/read.db", rd_dir);
    snprintf(file, sizeof(file), "%s/crafted.json", rd_dir);
    snprintf(n, sizeof(n), "%d", DEMO_N);
    ck_assert(test_write_file(file, crafted));
    const char *demo[] = {"demo", "--db", db, "--incidents", n, "--seed", "11", NULL};
    ck_assert_int_eq(test_run_cli(demo, NULL, NULL), 0);
    const char *imp[] = {"import", "--db", db, file, NULL};
    ck_assert_int_eq(test_run_cli(imp, NULL, NULL), 0);
    ck_assert(test_server_start(&rd, db, NULL));
}

static void read_teardown(void)
{
    ck_assert_int_eq(test_server_stop(&rd, false), 0);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rd_dir);
    ck_assert_int_eq(system(cmd), 0);
    free(rd_dir);
}

/* ---------------------------------------------------------------------------------------------
 * Representation (§2) and listing (§3)
 */

START_TEST(test_api_list_representation)
{
    struct test_resp r;
    ck_assert(test_http(&rd, "GET", "/api/incidents", NULL, NULL, NULL, &r));
    ck_assert_int_eq(r.status, 200);
    char h[256];
    ck_assert(test_resp_header(&r, "Content-Type", h, sizeof(h)));
    ck_assert_str_eq(h, "application/json; odata.metadata=minimal; odata.streaming=true; "
                        "charset=utf-8");
    ck_assert(test_resp_header(&r, "OData-Version", h, sizeof(h)));
    ck_assert_str_eq(h, "4.0");
    ck_assert(test_resp_header(&r, "request-id", h, sizeof(h)));
    ck_assert_int_eq(strlen(h), 36);
    json_t *j = test_json_body(&r);
    char want[128];
    snprintf(want, sizeof(want), "%s/api/$metadata#Incidents", rd.base);
    ck_assert_str_eq(json_string_value(json_object_get(j, "@odata.context")), want);
    json_t *value = json_object_get(j, "value");
    ck_assert_int_eq(json_array_size(value), 100);
    const char *next = json_string_value(json_object_get(j, "@odata.nextLink"));
    ck_assert_msg(next && strncmp(next, rd.base, strlen(rd.base)) == 0, "nextLink %s", next);
    /* Keys in contract order, all present. */
    static const char *const keys[] = {
        "incidentId",     "incidentUri", "redirectIncidentId", "incidentName",  "createdTime",
        "lastUpdateTime", "assignedTo",  "classification",     "determination", "status",
        "severity",       "tags",        "comments",           "alerts"};
    json_t *first = json_array_get(value, 0);
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(first, k, v)
    {
        ck_assert_msg(i < ARRAY_SIZE(keys) && strcmp(k, keys[i]) == 0, "key %zu is %s", i, k);
        i++;
    }
    ck_assert_int_eq(i, ARRAY_SIZE(keys));
    /* Alert keys start with the documented ones in order. */
    json_t *alert = json_array_get(json_object_get(first, "alerts"), 0);
    static const char *const akeys[] = {"alertId",       "providerAlertId", "incidentId",
                                        "serviceSource", "creationTime",    "lastUpdatedTime"};
    i = 0;
    json_object_foreach(alert, k, v)
    {
        if (i < ARRAY_SIZE(akeys))
            ck_assert_str_eq(k, akeys[i]);
        i++;
    }
    ck_assert_int_eq(json_integer_value(json_object_get(alert, "incidentId")),
                     json_integer_value(json_object_get(first, "incidentId")));
    char uri[256];
    snprintf(uri, sizeof(uri),
             "https://security.microsoft.com/incidents/%" JSON_INTEGER_FORMAT
             "?tid=00000000-0000-0000-0000-000000000000",
             json_integer_value(json_object_get(first, "incidentId")));
    ck_assert_str_eq(json_string_value(json_object_get(first, "incidentUri")), uri);
    json_decref(j);
    test_resp_free(&r);
}
END_TEST

static int64_t ticks_of(json_t *incident, const char *key)
{
    const char *s = json_string_value(json_object_get(incident, key));
    ck_assert(s != NULL);
    int64_t t;
    ck_assert_int_eq(ts_parse(s, strlen(s), 0, &t, NULL), ERR_OK);
    char back[TS_FORMAT_MAX];
    ts_format(t, back);
    ck_assert_msg(strcmp(back, s) == 0, "%s is not in canonical form", s);
    return t;
}

/* Follows nextLink from `path` and returns every incident id in order (caller frees). */
static int64_t *page_through(const char *path, size_t *n_out, size_t *pages_out)
{
    size_t cap = 64, n = 0, pages = 0;
    int64_t *ids = malloc(cap * sizeof(*ids));
    char *next = strdup(path);
    while (next) {
        json_t *j = test_get_json(&rd, next, 200);
        free(next);
        next = NULL;
        pages++;
        json_t *v;
        size_t i;
        json_array_foreach(json_object_get(j, "value"), i, v)
        {
            if (n == cap)
                ids = realloc(ids, (cap *= 2) * sizeof(*ids));
            ids[n++] = json_integer_value(json_object_get(v, "incidentId"));
        }
        const char *nl = json_string_value(json_object_get(j, "@odata.nextLink"));
        if (nl) {
            ck_assert(strncmp(nl, rd.base, strlen(rd.base)) == 0);
            next = strdup(nl + strlen(rd.base)); /* verbatim, minus our own base */
        }
        json_decref(j);
        ck_assert(pages < 1000);
    }
    *n_out = n;
    *pages_out = pages;
    return ids;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

START_TEST(test_api_skip_paging_every_row_once)
{
    size_t n, pages;
    int64_t *ids = page_through("/api/incidents?$top=37", &n, &pages);
    ck_assert_int_eq(n, DEMO_N + 2);
    ck_assert_int_eq(pages, (DEMO_N + 2 + 36) / 37);
    qsort(ids, n, sizeof(*ids), cmp_i64);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(ids[i] != ids[i - 1], "incident %" PRId64 " seen twice", ids[i]);
    free(ids);
    /* With a filter the nextLink repeats it. */
    json_t *all = test_get_json(&rd, "/api/incidents?$filter=status+eq+%27Active%27&$top=100", 200);
    size_t direct = json_array_size(json_object_get(all, "value"));
    json_decref(all);
    ids = page_through("/api/incidents?$filter=status%20eq%20'active'&$top=10", &n, &pages);
    ck_assert(n > 10);
    ck_assert(direct == 100 || direct == n);
    free(ids);
}
END_TEST

START_TEST(test_api_default_order_total)
{
    json_t *prev = NULL;
    int64_t pt = 0, pid = 0;
    for (int skip = 0; skip < DEMO_N + 2; skip += 100) {
        char path[64];
        snprintf(path, sizeof(path), "/api/incidents?$skip=%d", skip);
        json_t *j = test_get_json(&rd, path, 200);
        json_t *v;
        size_t i;
        json_array_foreach(json_object_get(j, "value"), i, v)
        {
            int64_t t = ticks_of(v, "lastUpdateTime");
            int64_t id = json_integer_value(json_object_get(v, "incidentId"));
            if (prev || skip || i)
                ck_assert_msg(t < pt || (t == pt && id > pid), "order broken at %" PRId64, id);
            pt = t;
            pid = id;
            prev = v;
        }
        json_decref(j);
    }
    /* $orderby extension: createdTime asc with incidentId as tiebreaker. */
    json_t *j = test_get_json(&rd, "/api/incidents?$orderby=createdTime%20asc&$top=50", 200);
    json_t *v;
    size_t i;
    pt = INT64_MIN;
    json_array_foreach(json_object_get(j, "value"), i, v)
    {
        int64_t t = ticks_of(v, "createdTime");
        ck_assert(t >= pt);
        pt = t;
    }
    json_decref(j);
}
END_TEST

START_TEST(test_api_query_options_validated)
{
    static const char *const bad[] = {
        "/api/incidents?$top=101",
        "/api/incidents?$top=-1",
        "/api/incidents?$top=abc",
        "/api/incidents?$top=1.5",
        "/api/incidents?$top=",
        "/api/incidents?$skip=-1",
        "/api/incidents?$skip=x",
        "/api/incidents?$select=status",
        "/api/incidents?$count=true",
        "/api/incidents?$top=1&$top=2",
        "/api/incidents?$orderby=severity",
        "/api/incidents?$filter=",
        "/api/incidents?$filter=foo+eq+1",
        "/api/incidents?$filter=createdTime+gt+'2020-01-01T00:00:00Z'",
        "/api/incidents?$filter=createdTime+gt+2020-01-01T00:00:00",
        "/api/incidents?%24filter=startswith(assignedTo,'a')",
        "/api/incidents?$filter=status%ZZ",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        req_error(&rd, "GET", bad[i], NULL, NULL, 400, "ODataError");
    /* The message names the token and its position. */
    struct test_resp r;
    ck_assert(test_http(&rd, "GET", "/api/incidents?$filter=status+eq+'Active'+and+foo+eq+1", NULL,
                        NULL, NULL, &r));
    ck_assert_int_eq(r.status, 400);
    ck_assert_msg(strstr(r.body, "'foo'") && strstr(r.body, "23"), "%s", r.body);
    test_resp_free(&r);
    /* $top=0: empty and no nextLink; unknown parameters without $ are ignored. */
    json_t *j = test_get_json(&rd, "/api/incidents?$top=0&api-version=1&foo=bar", 200);
    ck_assert_int_eq(json_array_size(json_object_get(j, "value")), 0);
    ck_assert(json_object_get(j, "@odata.nextLink") == NULL);
    json_decref(j);
    j = test_get_json(&rd, "/api/incidents?$skip=100000", 200);
    ck_assert_int_eq(json_array_size(json_object_get(j, "value")), 0);
    ck_assert(json_object_get(j, "@odata.nextLink") == NULL);
    json_decref(j);
}
END_TEST

START_TEST(test_api_percent_decoding_equivalent)
{
    /* Same decoded request, byte-identical bodies (nextLink included). */
    static const char *const forms[] = {
        "/api/incidents?$filter=status+eq+'InProgress'&$top=5",
        "/api/incidents?%24filter=status%20eq%20%27InProgress%27&%24top=5",
    };
    struct test_resp r1, r2, r3;
    ck_assert(test_http(&rd, "GET", forms[0], NULL, NULL, NULL, &r1));
    ck_assert(test_http(&rd, "GET", forms[1], NULL, NULL, NULL, &r2));
    ck_assert_int_eq(r1.status, 200);
    ck_assert(r1.len == r2.len && memcmp(r1.body, r2.body, r1.len) == 0);
    /* Enum values compare case-insensitively; the trailing-slash collection is the same. */
    ck_assert(test_http(&rd, "GET", "/api/incidents/?$filter=status+eq+%27inprogress%27&$top=5",
                        NULL, NULL, NULL, &r3));
    json_t *a = test_json_body(&r1), *b = test_json_body(&r3);
    ck_assert(json_equal(json_object_get(a, "value"), json_object_get(b, "value")));
    json_decref(a);
    json_decref(b);
    test_resp_free(&r1);
    test_resp_free(&r2);
    test_resp_free(&r3);
}
END_TEST

START_TEST(test_api_filters)
{
    json_t *j =
        test_get_json(&rd, "/api/incidents?$filter=assignedTo+eq+'analyst@contoso.COM'", 200);
    ck_assert_int_eq(json_array_size(json_object_get(j, "value")), 1);
    json_decref(j);
    j = test_get_json(&rd, "/api/incidents?$filter=incidentId+eq+900001+or+incidentId+eq+900002",
                      200);
    ck_assert_int_eq(json_array_size(json_object_get(j, "value")), 2);
    json_decref(j);
    /* OData null semantics: ne includes unassigned incidents. */
    json_t *all = test_get_json(&rd, "/api/incidents?$filter=incidentId+ge+900001", 200);
    json_t *ne = test_get_json(
        &rd, "/api/incidents?$filter=incidentId+ge+900001+and+assignedTo+ne+'nobody'", 200);
    ck_assert_int_eq(json_array_size(json_object_get(ne, "value")), 2);
    json_t *nul = test_get_json(
        &rd, "/api/incidents?$filter=incidentId+ge+900001+and+assignedTo+eq+null", 200);
    ck_assert_int_eq(json_array_size(json_object_get(nul, "value")), 1);
    json_t *notf = test_get_json(
        &rd, "/api/incidents?$filter=incidentId+ge+900001+and+not+(assignedTo+eq+'x')", 200);
    ck_assert_int_eq(json_array_size(json_object_get(notf, "value")), 2);
    json_decref(all);
    json_decref(ne);
    json_decref(nul);
    json_decref(notf);
    /* Exact 100 ns comparisons on a stored value. */
    j = test_get_json(&rd, "/api/incidents?$filter=lastUpdateTime+eq+2020-01-03T00:00:00.1234567Z",
                      200);
    ck_assert_int_eq(json_array_size(json_object_get(j, "value")), 1);
    json_decref(j);
    j = test_get_json(&rd,
                      "/api/incidents?$filter=lastUpdateTime+gt+2020-01-03T00:00:00.1234567Z+and+"
                      "incidentId+eq+900002",
                      200);
    ck_assert_int_eq(json_array_size(json_object_get(j, "value")), 0);
    json_decref(j);
    j = test_get_json(
        &rd,
        "/api/incidents?$filter=lastUpdateTime+ge+2020-01-03T01:00:00.1234567%2B01:00+"
        "and+incidentId+eq+900002",
        200);
    ck_assert_int_eq(json_array_size(json_object_get(j, "value")), 1);
    json_decref(j);
}
END_TEST

START_TEST(test_api_get_one)
{
    char want[128];
    snprintf(want, sizeof(want), "%s/api/$metadata#Incidents/$entity", rd.base);
    json_t *j = test_get_json(&rd, "/api/incidents/900002", 200);
    const char *first_key = json_object_iter_key(json_object_iter(j));
    ck_assert_str_eq(first_key, "@odata.context");
    ck_assert_str_eq(json_string_value(json_object_get(j, "@odata.context")), want);
    /* Strings come back exactly as stored, invisible characters included. */
    ck_assert_str_eq(json_string_value(json_object_get(j, "incidentName")),
                     "zero\xe2\x80\x8bwidth \xc3\xa9");
    ck_assert_str_eq(json_string_value(json_object_get(j, "lastUpdateTime")),
                     "2020-01-03T00:00:00.1234567Z");
    json_decref(j);
    /* A merged incident is its stub; the redirect is not followed. */
    j = test_get_json(&rd, "/api/incidents/900001", 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "Redirected");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "redirectIncidentId")), 900002);
    ck_assert_int_eq(json_array_size(json_object_get(j, "alerts")), 0);
    json_decref(j);
    req_error(&rd, "GET", "/api/incidents/123456789", NULL, NULL, 404, "ResourceNotFound");
    static const char *const bad[] = {"abc",  "0", "-1", "1.0", "99999999999999999999",
                                      "%31x", "+1"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/api/incidents/%s", bad[i]);
        req_error(&rd, "GET", path, NULL, NULL, 400, "InvalidInput");
    }
}
END_TEST

START_TEST(test_api_header_limit)
{
    /* 16 KiB of request line and headers by default: just under passes, just over is 431. */
    char *h = malloc(17000);
    memcpy(h, "X-Pad: ", 7);
    memset(h + 7, 'a', 15000);
    h[15007] = '\0';
    const char *const ok[] = {h, NULL};
    struct test_resp r;
    ck_assert(test_http(&rd, "GET", "/api/incidents?$top=1", NULL, NULL, ok, &r));
    ck_assert_int_eq(r.status, 200);
    test_resp_free(&r);
    memset(h + 7, 'a', 16500);
    h[16507] = '\0';
    const char *const big[] = {h, NULL};
    ck_assert(test_http(&rd, "GET", "/api/incidents?$top=1", NULL, NULL, big, &r));
    test_expect_error(&r, 431, "BadRequest");
    test_resp_free(&r);
    free(h);
}
END_TEST

START_TEST(test_api_routes_and_methods)
{
    req_error(&rd, "GET", "/api/alertz", NULL, NULL, 404, "NotFound");
    req_error(&rd, "GET", "/", NULL, NULL, 404, "NotFound");
    req_error(&rd, "GET", "/api/incidents/1/alerts", NULL, NULL, 404, "NotFound");
    struct test_resp r;
    char allow[64];
    ck_assert(test_http(&rd, "POST", "/api/incidents", "application/json", "{}", NULL, &r));
    test_expect_error(&r, 405, "MethodNotAllowed");
    ck_assert(test_resp_header(&r, "Allow", allow, sizeof(allow)));
    ck_assert_str_eq(allow, "GET");
    test_resp_free(&r);
    ck_assert(test_http(&rd, "DELETE", "/api/incidents/1", NULL, NULL, NULL, &r));
    test_expect_error(&r, 405, "MethodNotAllowed");
    ck_assert(test_resp_header(&r, "Allow", allow, sizeof(allow)));
    ck_assert_str_eq(allow, "GET, PATCH");
    test_resp_free(&r);
}
END_TEST

static char *inflate_body(const struct test_resp *r, bool gzip)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(inflateInit2(&z, gzip ? 15 + 16 : 15), Z_OK);
    size_t cap = r->len * 20 + 1024;
    char *out = malloc(cap);
    z.next_in = (Bytef *)r->body;
    z.avail_in = (uInt)r->len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap - 1;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    out[z.total_out] = '\0';
    inflateEnd(&z);
    return out;
}

START_TEST(test_api_compression)
{
    struct test_resp plain, gz, df, refused;
    ck_assert(test_http(&rd, "GET", "/api/incidents?$top=20", NULL, NULL, NULL, &plain));
    const char *const hg[] = {"Accept-Encoding: gzip, deflate", NULL};
    const char *const hd[] = {"Accept-Encoding: deflate, gzip;q=0", NULL};
    const char *const hr[] = {"Accept-Encoding: gzip;q=0, deflate;q=0", NULL};
    ck_assert(test_http(&rd, "GET", "/api/incidents?$top=20", NULL, NULL, hg, &gz));
    ck_assert(test_http(&rd, "GET", "/api/incidents?$top=20", NULL, NULL, hd, &df));
    ck_assert(test_http(&rd, "GET", "/api/incidents?$top=20", NULL, NULL, hr, &refused));
    char enc[32];
    ck_assert(!test_resp_header(&plain, "Content-Encoding", enc, sizeof(enc)));
    ck_assert(test_resp_header(&gz, "Content-Encoding", enc, sizeof(enc)));
    ck_assert_str_eq(enc, "gzip");
    ck_assert(test_resp_header(&df, "Content-Encoding", enc, sizeof(enc)));
    ck_assert_str_eq(enc, "deflate");
    ck_assert(!test_resp_header(&refused, "Content-Encoding", enc, sizeof(enc)));
    ck_assert(gz.len < plain.len / 2);
    char *a = inflate_body(&gz, true), *b = inflate_body(&df, false);
    ck_assert_str_eq(a, plain.body);
    ck_assert_str_eq(b, plain.body);
    free(a);
    free(b);
    test_resp_free(&plain);
    test_resp_free(&gz);
    test_resp_free(&df);
    test_resp_free(&refused);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Updating (§5-§6): a fresh server per test
 */

static struct test_server wr;

static const char *const two_alerts =
    "{\"incidentId\":5,\"incidentName\":\"n\",\"createdTime\":\"2021-01-01T00:00:00Z\","
    "\"lastUpdateTime\":\"2021-01-01T00:00:00Z\",\"status\":\"Active\",\"severity\":\"Medium\","
    "\"alerts\":[{\"alertId\":\"a1\",\"status\":\"New\",\"creationTime\":\"2021-01-01T00:00:00Z\"},"
    "{\"alertId\":\"a2\",\"status\":\"Resolved\",\"resolvedTime\":\"2021-01-01T00:00:05Z\","
    "\"creationTime\":\"2021-01-01T00:00:01Z\"}]}\n"
    "{\"incidentId\":6,\"redirectIncidentId\":5,\"incidentName\":\"m\",\"createdTime\":"
    "\"2021-01-01T00:00:00Z\",\"lastUpdateTime\":\"2021-01-01T00:00:00Z\",\"status\":"
    "\"Redirected\",\"alerts\":[]}\n";

static void write_setup(void)
{
    char *dir = test_tmpdir();
    char db[512], file[512];
    snprintf(db, sizeof(db), "%s/w.db", dir);
    snprintf(file, sizeof(file), "%s/in.ndjson", dir);
    ck_assert(test_write_file(file, two_alerts));
    const char *imp[] = {"import", "--db", db, file, NULL};
    ck_assert_int_eq(test_run_cli(imp, NULL, NULL), 0);
    ck_assert(test_server_start(&wr, db, NULL));
    free(wr.dir);
    wr.dir = dir; /* removed with the server */
}

static void write_teardown(void)
{
    ck_assert_int_eq(test_server_stop(&wr, false), 0);
}

static json_t *patch_ok(const char *body)
{
    struct test_resp r;
    ck_assert(test_http(&wr, "PATCH", "/api/incidents/5", "application/json", body, NULL, &r));
    ck_assert_msg(r.status == 200, "PATCH %s: %ld %s", body, r.status, r.body);
    json_t *j = test_json_body(&r);
    test_resp_free(&r);
    return j;
}

START_TEST(test_api_patch_full_entity_and_aliases)
{
    json_t *j =
        patch_ok("{\"status\":\"inprogress\",\"assignedTo\":\"secop2@contoso.com\","
                 "\"classification\":\"truePositive\",\"determination\":\"CompromisedUser\","
                 "\"tags\":[\"Yossi's playground\",\"Don't mess\",\"Yossi's playground\"],"
                 "\"comment\":\"pen testing\"}");
    char want[128];
    snprintf(want, sizeof(want), "%s/api/$metadata#Incidents/$entity", wr.base);
    ck_assert_str_eq(json_string_value(json_object_get(j, "@odata.context")), want);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "InProgress");
    ck_assert_str_eq(json_string_value(json_object_get(j, "classification")), "TruePositive");
    ck_assert_str_eq(json_string_value(json_object_get(j, "determination")), "CompromisedAccount");
    ck_assert_int_eq(json_array_size(json_object_get(j, "tags")), 2);
    ck_assert_int_eq(json_array_size(json_object_get(j, "alerts")), 2);
    json_t *c = json_array_get(json_object_get(j, "comments"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "comment")), "pen testing");
    /* The author is the caller: the application's registered display name. */
    ck_assert_str_eq(json_string_value(json_object_get(c, "createdBy")), "e2e tests");
    /* Assigning the incident assigned its alerts. */
    json_t *a = json_array_get(json_object_get(j, "alerts"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(a, "assignedTo")), "secop2@contoso.com");
    json_decref(j);
    /* GET returns what PATCH returned. */
    struct test_resp r1, r2;
    test_http(&wr, "PATCH", "/api/incidents/5", "application/json", "{}", NULL, &r1);
    test_http(&wr, "GET", "/api/incidents/5", NULL, NULL, NULL, &r2);
    ck_assert_str_eq(r1.body, r2.body);
    test_resp_free(&r1);
    test_resp_free(&r2);
    /* Tags [] clears; "" unassigns and reads back as null. */
    j = patch_ok("{\"tags\":[],\"assignedTo\":\"\"}");
    ck_assert_int_eq(json_array_size(json_object_get(j, "tags")), 0);
    ck_assert(json_is_null(json_object_get(j, "assignedTo")));
    json_decref(j);
}
END_TEST

START_TEST(test_api_patch_resolve_cascades)
{
    json_t *j = patch_ok("{\"status\":\"Resolved\"}");
    json_t *a1 = json_array_get(json_object_get(j, "alerts"), 0);
    json_t *a2 = json_array_get(json_object_get(j, "alerts"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(a1, "status")), "Resolved");
    ck_assert_str_eq(json_string_value(json_object_get(a1, "resolvedTime")),
                     json_string_value(json_object_get(j, "lastUpdateTime")));
    /* An alert already resolved keeps its resolvedTime. */
    ck_assert_str_eq(json_string_value(json_object_get(a2, "resolvedTime")),
                     "2021-01-01T00:00:05Z");
    json_decref(j);
}
END_TEST

START_TEST(test_api_patch_times)
{
    json_t *before = test_get_json(&wr, "/api/incidents/5", 200);
    json_t *noop = patch_ok("{\"status\":\"Active\",\"tags\":[]}");
    ck_assert_str_eq(json_string_value(json_object_get(noop, "lastUpdateTime")),
                     json_string_value(json_object_get(before, "lastUpdateTime")));
    int64_t prev = ticks_of(before, "lastUpdateTime");
    char last[64] = "";
    for (int i = 0; i < 5; i++) {
        json_t *j = patch_ok("{\"comment\":\"again\"}");
        int64_t t = ticks_of(j, "lastUpdateTime");
        ck_assert(t > prev);
        prev = t;
        snprintf(last, sizeof(last), "%s", json_string_value(json_object_get(j, "lastUpdateTime")));
        ck_assert_int_eq(json_array_size(json_object_get(j, "comments")), (size_t)i + 1);
        json_decref(j);
    }
    /* The value the server wrote, sent back in gt, does not return the same row; ge does. */
    char path[256];
    snprintf(path, sizeof(path), "/api/incidents?$filter=lastUpdateTime+gt+%s", last);
    json_t *gt = test_get_json(&wr, path, 200);
    ck_assert_int_eq(json_array_size(json_object_get(gt, "value")), 0);
    snprintf(path, sizeof(path), "/api/incidents?$filter=lastUpdateTime+ge+%s", last);
    json_t *ge = test_get_json(&wr, path, 200);
    ck_assert_int_eq(json_array_size(json_object_get(ge, "value")), 1);
    json_decref(gt);
    json_decref(ge);
    json_decref(noop);
    json_decref(before);
}
END_TEST

START_TEST(test_api_patch_errors_change_nothing)
{
    struct test_resp r;
    ck_assert(test_http(&wr, "GET", "/api/incidents/5", NULL, NULL, NULL, &r));
    char *before = strdup(r.body);
    test_resp_free(&r);
    const char *p = "/api/incidents/5";
    req_error(&wr, "PATCH", p, NULL, "{\"comment\":\"x\"}", 415, "BadRequest");
    req_error(&wr, "PATCH", p, "text/plain", "{\"comment\":\"x\"}", 415, "BadRequest");
    req_error(&wr, "PATCH", p, "application/json; charset=utf-8", "", 400, "InvalidRequestBody");
    req_error(&wr, "PATCH", p, "application/json", "{\"comment\":", 400, "InvalidRequestBody");
    req_error(&wr, "PATCH", p, "application/json", "{\"Comment\":\"x\"}", 400,
              "InvalidRequestBody");
    req_error(&wr, "PATCH", p, "application/json", "{\"tags\":\"3448\"}", 400,
              "InvalidRequestBody");
    req_error(&wr, "PATCH", p, "application/json", "{\"comment\":\"x\",\"status\":\"Closed\"}", 400,
              "InvalidRequestBody");
    req_error(&wr, "PATCH", p, "application/json", "{\"status\":\"Redirected\"}", 400,
              "InvalidInput");
    req_error(&wr, "PATCH", p, "application/json",
              "{\"comment\":\"x\",\"classification\":\"FalsePositive\",\"determination\":"
              "\"Malware\"}",
              400, "InvalidRequestBody");
    req_error(&wr, "PATCH", p, "application/json", "{\"comment\":\"bad \xff utf8\"}", 400,
              "InvalidRequestBody");
    req_error(&wr, "PATCH", p, "application/json", "{\"comment\":\"a\",\"comment\":\"b\"}", 400,
              "InvalidRequestBody");
    req_error(&wr, "PATCH", "/api/incidents/6", "application/json", "{\"comment\":\"x\"}", 400,
              "InvalidInput");
    req_error(&wr, "PATCH", "/api/incidents/7", "application/json", "{\"comment\":\"x\"}", 404,
              "ResourceNotFound");
    /* The byte offset of a JSON error is in the message: jansson reports where it detected
     * the error, just past the bad token 'x' (which starts at 12). */
    ck_assert(test_http(&wr, "PATCH", p, "application/json", "{\"comment\": x}", NULL, &r));
    ck_assert_msg(strstr(r.body, "near 'x' at byte offset 13"), "%s", r.body);
    test_resp_free(&r);
    /* Over 1 MiB: 413. Over the tag limits: 400 naming the property and the limit. */
    size_t big = 1024 * 1024 + 10;
    char *body = malloc(big + 32);
    memcpy(body, "{\"comment\":\"", 12);
    memset(body + 12, 'a', big);
    memcpy(body + 12 + big, "\"}", 3);
    req_error(&wr, "PATCH", p, "application/json", body, 413, "BadRequest");
    free(body);
    char tags[4096] = "{\"tags\":[";
    size_t n = strlen(tags);
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(tags + n, sizeof(tags) - n, "%s\"t%d\"", i ? "," : "", i);
    snprintf(tags + n, sizeof(tags) - n, "]}");
    ck_assert(test_http(&wr, "PATCH", p, "application/json", tags, NULL, &r));
    test_expect_error(&r, 400, "InvalidRequestBody");
    ck_assert(strstr(r.body, "tags") && strstr(r.body, "100"));
    test_resp_free(&r);
    ck_assert(test_http(&wr, "GET", p, NULL, NULL, NULL, &r));
    ck_assert_str_eq(before, r.body);
    test_resp_free(&r);
    free(before);
}
END_TEST

START_TEST(test_api_patch_unicode_exact)
{
    json_t *j = patch_ok("{\"comment\":\"zero\\u200bwidth \xf0\x9f\x94\xa5 \xe2\x80\x8b\"}");
    json_t *c = json_array_get(json_object_get(j, "comments"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "comment")),
                     "zero\xe2\x80\x8bwidth \xf0\x9f\x94\xa5 \xe2\x80\x8b");
    json_decref(j);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *rcase = tcase_create("read");
    tcase_add_unchecked_fixture(rcase, read_setup, read_teardown);
    tcase_set_timeout(rcase, 60);
    tcase_add_test(rcase, test_api_list_representation);
    tcase_add_test(rcase, test_api_skip_paging_every_row_once);
    tcase_add_test(rcase, test_api_default_order_total);
    tcase_add_test(rcase, test_api_query_options_validated);
    tcase_add_test(rcase, test_api_percent_decoding_equivalent);
    tcase_add_test(rcase, test_api_filters);
    tcase_add_test(rcase, test_api_get_one);
    tcase_add_test(rcase, test_api_routes_and_methods);
    tcase_add_test(rcase, test_api_header_limit);
    tcase_add_test(rcase, test_api_compression);
    suite_add_tcase(s, rcase);

    TCase *wcase = tcase_create("write");
    tcase_add_checked_fixture(wcase, write_setup, write_teardown);
    tcase_set_timeout(wcase, 60);
    tcase_add_test(wcase, test_api_patch_full_entity_and_aliases);
    tcase_add_test(wcase, test_api_patch_resolve_cascades);
    tcase_add_test(wcase, test_api_patch_times);
    tcase_add_test(wcase, test_api_patch_errors_change_nothing);
    tcase_add_test(wcase, test_api_patch_unicode_exact);
    suite_add_tcase(s, wcase);
    return s;
}
