/* SPDX-License-Identifier: MIT */
/* Tests for import.c: every accepted input shape, exact error positions, all-or-nothing. */
#include "common.h"
#include "buf.h"
#include "demo.h"
#include "import.h"
#include "tests.h"
#include <unistd.h>

/* Parses a NUL-terminated input into a fresh set; the caller releases it. */
static enum err parse(const char *s, struct import_set *set, struct err_info *ei)
{
    import_set_init(set);
    err_clear(ei);
    return import_parse(s, strlen(s), set, ei);
}

/* Asserts that s is rejected with exactly `msg` and leaves nothing behind. */
static void expect_error(const char *s, const char *msg)
{
    struct import_set set;
    struct err_info ei;
    enum err e = parse(s, &set, &ei);
    ck_assert_msg(e == ERR_INVALID, "accepted: %s", s);
    ck_assert_str_eq(ei.msg, msg);
    ck_assert_uint_eq(set.n, 0);
    import_set_release(&set);
}

static int64_t id_of(const struct import_set *set, size_t i)
{
    return json_integer_value(json_object_get(set->items[i], "incidentId"));
}

/* Shapes of the fixtures, reproduced inline (trimmed to what the parser cares about). */

/* microsoft-docs/list-incidents-response.json */
static const char DOCS_LIST[] =
    "{\n"
    "    \"@odata.context\": \"https://api.security.microsoft.com/api/$metadata#Incidents\",\n"
    "    \"value\": [\n"
    "        {\n"
    "            \"incidentId\": 924565,\n"
    "            \"redirectIncidentId\": null,\n"
    "            \"incidentName\": \"Ransomware activity\",\n"
    "            \"createdTime\": \"2020-09-06T14:46:57.0733333Z\",\n"
    "            \"lastUpdateTime\": \"2020-09-06T14:46:57.29Z\",\n"
    "            \"assignedTo\": null,\n"
    "            \"classification\": \"Unknown\",\n"
    "            \"determination\": \"NotAvailable\",\n"
    "            \"status\": \"Active\",\n"
    "            \"severity\": \"Medium\",\n"
    "            \"tags\": [],\n"
    "            \"comments\": [{\"comment\": \"test comment for docs\", \"createdBy\": "
    "\"secop123@contoso.com\", \"createdTime\": \"2021-01-26T01:00:37.8404534Z\"}],\n"
    "            \"alerts\": [{\"alertId\": \"caD70CFEE2-1F54-32DB-9988-3A868A1EBFAC\", "
    "\"incidentId\": 924565, \"devices\": [], \"entities\": [{\"entityType\": \"User\", "
    "\"sha1\": null, \"accountName\": \"testUser2\"}]}]\n"
    "        },\n"
    "        {\"incidentId\": 924521, \"incidentName\": \"'Mimikatz' hacktool was detected on one "
    "endpoint\", \"alerts\": []},\n"
    "        {\"incidentId\": 924518, \"incidentName\": \"Email reported by user as malware or "
    "phish\", \"alerts\": []}\n"
    "    ]\n"
    "}\n";

/* cortex-xsoar/incidents_empty_list_response.json, byte for byte */
static const char XSOAR_EMPTY[] = "{\"value\" : [] , \"@odata.context\": "
                                  "\"https://api.security.microsoft.com/api/$metadata#Incidents\"}";

/* cortex-xsoar/incident_update_response.json: a single entity with a $entity context */
static const char XSOAR_ENTITY[] =
    "{\n"
    "  \"@odata.context\": "
    "\"https://api.security.microsoft.com/api/$metadata#Incidents/$entity\",\n"
    "  \"incidentId\": 263,\n"
    "  \"redirectIncidentId\": null,\n"
    "  \"incidentName\": \"Automated investigation started manually on one endpoint\",\n"
    "  \"assignedTo\": \"Unassigned\",\n"
    "  \"tags\": [\n    \"test1\",\n    \"test2\"\n  ],\n"
    "  \"comments\": [],\n"
    "  \"alerts\": [{\"alertId\": \"alertId-1\", \"incidentId\": 263, \"detectorId\": "
    "\"detectorId\", \"devices\": [{\"mdatpDeviceId\": \"mdatpDeviceId\", \"vmMetadata\": null}], "
    "\"entities\": []}]\n"
    "}";

/* elastic-integrations/test-m365-defender-empty-ndjson.log, byte for byte */
static const char ELASTIC_NDJSON[] =
    "{\"incidentId\":1111,\"redirectIncidentId\":1107,\"incidentName\":\"Impossible travel "
    "activity involving one user\",\"createdTime\":\"2021-04-12T11:18:28.86Z\",\"lastUpdateTime\":"
    "\"2021-04-12T11:18:30.4033333Z\",\"assignedTo\":null,\"classification\":\"Unknown\","
    "\"determination\":\"NotAvailable\",\"status\":\"Redirected\",\"severity\":\"UnSpecified\","
    "\"tags\":[],\"comments\":[],\"alerts\":[]}\n"
    "{\"value\":[]}\n";

/* rapid7-insightconnect/test_update_incident.json.resp: a PATCH echo, not an incident */
static const char RAPID7_UPDATE[] = "{\n"
                                    "    \"status\": \"Resolved\",\n"
                                    "    \"assignedTo\": \"user@example.com\",\n"
                                    "    \"classification\": \"TruePositive\"\n"
                                    "}";

START_TEST(test_import_list_response)
{
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse(DOCS_LIST, &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 3);
    ck_assert_int_eq(id_of(&set, 0), 924565);
    ck_assert_int_eq(id_of(&set, 1), 924521);
    ck_assert_int_eq(id_of(&set, 2), 924518);
    /* Each incident carries the position of its own '{', so a validation error found later
     * can point at it. */
    for (size_t i = 0; i < set.n; i++) {
        char key[48];
        snprintf(key, sizeof(key), "\"incidentId\": %" PRId64, id_of(&set, i));
        const char *at = strstr(DOCS_LIST, key);
        ck_assert_ptr_nonnull(at);
        while (*at != '{')
            at--;
        int line = 1, col = 1;
        for (const char *p = DOCS_LIST; p < at; p++) {
            col = *p == '\n' ? 1 : col + 1;
            line += *p == '\n';
        }
        ck_assert_int_eq(set.lines[i], line);
        ck_assert_int_eq(set.cols[i], col);
    }
    /* Nested data is handed over untouched. */
    json_t *alert = json_array_get(json_object_get(set.items[0], "alerts"), 0);
    json_t *entity = json_array_get(json_object_get(alert, "entities"), 0);
    ck_assert(json_is_null(json_object_get(entity, "sha1")));
    ck_assert_str_eq(json_string_value(json_object_get(entity, "accountName")), "testUser2");
    import_set_release(&set);
}
END_TEST

START_TEST(test_import_list_response_value_first_and_empty)
{
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse(XSOAR_EMPTY, &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 0);
    import_set_release(&set);
    ck_assert_int_eq(parse("{\"value\":[]}", &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 0);
    import_set_release(&set);
    /* Later keys of the envelope are ignored, whatever their order. */
    ck_assert_int_eq(parse("{\"value\":[{\"incidentId\":7}],\"@odata.nextLink\":\"x\","
                           "\"@odata.context\":\"y\"}",
                           &set, &ei),
                     ERR_OK);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_int_eq(id_of(&set, 0), 7);
    import_set_release(&set);
}
END_TEST

START_TEST(test_import_single_entity_drops_odata_context)
{
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse(XSOAR_ENTITY, &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_int_eq(id_of(&set, 0), 263);
    ck_assert_int_eq(set.lines[0], 1);
    ck_assert_ptr_null(json_object_get(set.items[0], "@odata.context"));
    /* The remaining keys keep their order. */
    const char *first = json_object_iter_key(json_object_iter(set.items[0]));
    ck_assert_str_eq(first, "incidentId");
    ck_assert_str_eq(json_string_value(json_object_get(set.items[0], "assignedTo")), "Unassigned");
    import_set_release(&set);
}
END_TEST

START_TEST(test_import_array_of_incidents)
{
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse("[{\"incidentId\": 1}, {\"incidentId\": 2}]", &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 2);
    ck_assert_int_eq(id_of(&set, 1), 2);
    import_set_release(&set);
    ck_assert_int_eq(parse("[]", &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 0);
    import_set_release(&set);
}
END_TEST

START_TEST(test_import_ndjson_redirected_and_empty_page)
{
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse(ELASTIC_NDJSON, &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 1);
    ck_assert_int_eq(id_of(&set, 0), 1111);
    ck_assert_int_eq(set.lines[0], 1);
    ck_assert_str_eq(json_string_value(json_object_get(set.items[0], "status")), "Redirected");
    ck_assert_int_eq(json_integer_value(json_object_get(set.items[0], "redirectIncidentId")), 1107);
    import_set_release(&set);
}
END_TEST

START_TEST(test_import_ndjson_lines_crlf_blank)
{
    static const char in[] =
        "\r\n"
        "{\"value\":[{\"incidentId\":1},{\"incidentId\":2}],\"@odata.context\":\"c\"}\r\n"
        "\r\n"
        "   \t\n"
        "{\"@odata.context\":\"c#Incidents/$entity\",\"incidentId\":3}\r\n"
        "{\"value\":[]}\r\n"
        "{\"incidentId\":4}"; /* no final newline */
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse(in, &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 4);
    static const int lines[] = {2, 2, 5, 7};
    static const int cols[] = {11, 28, 1, 1};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(id_of(&set, i), (int64_t)i + 1);
        ck_assert_int_eq(set.lines[i], lines[i]);
        ck_assert_int_eq(set.cols[i], cols[i]);
    }
    ck_assert_ptr_null(json_object_get(set.items[2], "@odata.context"));
    import_set_release(&set);
}
END_TEST

START_TEST(test_import_bom_and_big_integers)
{
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse("\xEF\xBB\xBF{\"incidentId\": 9007199254740993}", &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 1);
    ck_assert(json_is_integer(json_object_get(set.items[0], "incidentId")));
    ck_assert_int_eq(id_of(&set, 0), 9007199254740993LL); /* 2^53 + 1 stays exact */
    import_set_release(&set);
    /* Columns after a BOM do not count it. */
    expect_error("\xEF\xBB\xBF{\"incidentId\": x}", "line 1, column 16: invalid token near 'x'");
    expect_error("{\"incidentId\": 123456789012345678901234}",
                 "line 1, column 39: too big integer");
}
END_TEST

START_TEST(test_import_syntax_error_positions)
{
    expect_error("{\"incidentId\": 1, \"x\": tru}", "line 1, column 24: invalid token near 'tru'");
    expect_error("{\"incidentId\": 1,}", "line 1, column 18: string or '}' expected near '}'");
    expect_error("{\"incidentId\": 1", "line 1, column 17: '}' expected near end of file");
    expect_error("{\n  \"value\": [\n    {\"incidentId\": 1},\n    {\"incidentId\" 2}\n  ]\n}",
                 "line 4, column 19: ':' expected near '2'");
    /* Columns count characters: 'é' is two bytes but one column. */
    expect_error("{\"n\xC3\xA9v\": x}", "line 1, column 9: invalid token near 'x'");
    /* Invalid UTF-8 points at the bad byte itself. */
    expect_error("{\"incidentId\": 1, \"n\": \"a\xFF\"}",
                 "line 1, column 26: unable to decode byte 0xff near '\"a'");
    expect_error("{\"incidentId\": 1, \"incidentId\": 2}",
                 "line 1, column 19: duplicate object key near '\"incidentId\"'");
    expect_error("{\"incidentId\": 1, \"s\": \"a\\u0000b\"}",
                 "line 1, column 24: \\u0000 is not allowed without JSON_ALLOW_NUL near "
                 "'\"a\\u0000b\"'");
    expect_error("", "line 1, column 1: empty input, expected an incident, a list response, an "
                     "array of incidents or NDJSON");
    expect_error(" \n\r\n ", "line 3, column 2: empty input, expected an incident, a list "
                             "response, an array of incidents or NDJSON");
    expect_error("\xFF\xFE{\0", "line 1, column 1: input is UTF-16 (byte order mark), convert it "
                                "to UTF-8");
}
END_TEST

START_TEST(test_import_shape_errors)
{
    expect_error("42", "line 1, column 1: expected an incident, a list response or an array of "
                       "incidents, found a number");
    expect_error("\n  \"x\"", "line 2, column 3: expected an incident, a list response or an "
                              "array of incidents, found a string");
    expect_error("{\"foo\": 1}", "line 1, column 1: object has neither 'incidentId' nor 'value', "
                                 "expected an incident or a list response");
    expect_error(RAPID7_UPDATE, "line 1, column 1: object has neither 'incidentId' nor 'value', "
                                "expected an incident or a list response");
    expect_error("{\"@odata.context\": \"c\", \"value\": {}}",
                 "line 1, column 34: 'value' is an object, expected an array of incidents");
    /* An escaped key still names `value`. */
    expect_error("{\"\\u0076alue\": 5}",
                 "line 1, column 16: 'value' is a number, expected an array of incidents");
    expect_error("{\"value\": [1]}",
                 "line 1, column 12: element 0 is a number, expected an incident object");
    expect_error("{\"value\":[{\"incidentId\":1},{\"a\":[\"]\"],\"b\":2}]}",
                 "line 1, column 28: element 1 has no 'incidentId'");
    expect_error("[{\"incidentId\": 1}, \"x\"]",
                 "line 1, column 21: array element 1 is a string, expected an incident object");
    expect_error("[{\"incidentId\": 1},\n {}]", "line 2, column 2: array element 1 has no "
                                                "'incidentId'");
}
END_TEST

START_TEST(test_import_ndjson_errors)
{
    expect_error("{\"value\":[]}\n{\"incidentId\":1}\n{\"incidentId\":2,}\n",
                 "line 3, column 17: string or '}' expected near '}'");
    expect_error("{\"incidentId\":1}\r\n\r\n{\"value\":[{\"incidentId\":2}, 3]}\r\n",
                 "line 3, column 29: element 1 is a number, expected an incident object");
    expect_error("{\"incidentId\":1} x", "line 1, column 18: end of file expected near 'x'");
    expect_error("{\"incidentId\":1}\n42\n",
                 "line 2, column 1: expected an incident, a list response or an array of "
                 "incidents, found a number");
    /* Pretty-printed documents one after another are not NDJSON. */
    expect_error("{\"incidentId\":1}\n{\n  \"incidentId\": 2\n}\n",
                 "line 2, column 2: string or '}' expected near end of file (NDJSON needs one "
                 "document per line)");
    /* A bad byte after the first record is found by the first, whole-input pass. */
    expect_error("{\"incidentId\":1}\n\xC3\x28\n", "line 2, column 1: unable to decode byte 0xc3");
}
END_TEST

START_TEST(test_import_all_or_nothing)
{
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse("{\"incidentId\": 1}", &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 1);

    static const char *const bad[] = {
        "{\"incidentId\":2}\n{\"incidentId\":3}\n{\"incidentId\":4,\n",
        "{\"value\":[{\"incidentId\":2},{\"incidentId\":3},\"x\"]}",
        "[{\"incidentId\":2},{\"incidentId\":3},{}]",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        err_clear(&ei);
        ck_assert_int_eq(import_parse(bad[i], strlen(bad[i]), &set, &ei), ERR_INVALID);
        ck_assert_uint_eq(set.n, 1);
        ck_assert_int_eq(id_of(&set, 0), 1);
    }
    /* A later good call appends after what is there. */
    err_clear(&ei);
    ck_assert_int_eq(import_parse("[{\"incidentId\":5}]", 18, &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 2);
    ck_assert_int_eq(id_of(&set, 1), 5);
    import_set_release(&set);
    ck_assert_uint_eq(set.n, 0);
    ck_assert_ptr_null(set.items);
}
END_TEST

START_TEST(test_import_many_incidents_grow)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    for (int i = 1; i <= 1000; i++)
        ck_assert_int_eq(buf_appendf(&b, "{\"incidentId\":%d}\n", i), ERR_OK);
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse(b.data, &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 1000);
    ck_assert_int_eq(id_of(&set, 999), 1000);
    ck_assert_int_eq(set.lines[999], 1000);
    import_set_release(&set);
    buf_release(&b);
}
END_TEST

START_TEST(test_import_demo_round_trip)
{
    /* The demo generator's output, as NDJSON, imports back to equal values. */
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    json_t *orig[40];
    for (int i = 0; i < 40; i++) {
        orig[i] = demo_incident(7, i + 1);
        char *s = json_dumps(orig[i], JSON_COMPACT);
        buf_puts(&b, s);
        buf_puts(&b, "\n");
        free(s);
    }
    struct import_set set;
    struct err_info ei;
    ck_assert_int_eq(parse(b.data, &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 40);
    for (int i = 0; i < 40; i++) {
        ck_assert(json_equal(set.items[i], orig[i]));
        ck_assert_int_eq(set.lines[i], i + 1);
        json_decref(orig[i]);
    }
    import_set_release(&set);
    buf_release(&b);
}
END_TEST

START_TEST(test_import_read_file)
{
    struct import_set set;
    struct err_info ei;
    import_set_init(&set);
    err_clear(&ei);
    ck_assert_int_eq(import_read_file("/nonexistent/incidents.json", &set, &ei), ERR_IO);
    ck_assert_str_eq(ei.msg, "cannot open '/nonexistent/incidents.json': No such file or "
                             "directory");

    char *dir = test_tmpdir();
    ck_assert_ptr_nonnull(dir);
    char path[512];
    snprintf(path, sizeof(path), "%s/export.ndjson", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(ELASTIC_NDJSON, f);
    fputs("{\"value\":[{\"incidentId\":5}]}\n", f);
    fclose(f);
    err_clear(&ei);
    ck_assert_int_eq(import_read_file(path, &set, &ei), ERR_OK);
    ck_assert_uint_eq(set.n, 2);
    ck_assert_int_eq(set.lines[1], 3);

    /* A directory opens but cannot be read. */
    err_clear(&ei);
    ck_assert_int_eq(import_read_file(dir, &set, &ei), ERR_IO);
    ck_assert_uint_eq(set.n, 2);

    /* An empty file is an error like empty input. */
    f = fopen(path, "wb");
    fclose(f);
    err_clear(&ei);
    ck_assert_int_eq(import_read_file(path, &set, &ei), ERR_INVALID);
    unlink(path);
    rmdir(dir);
    free(dir);
    import_set_release(&set);
}
END_TEST

/* Imports one fixture file and checks the incident count (-1: must be rejected). */
static void check_fixture(const char *dir, const char *name, int want)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct import_set set;
    struct err_info ei;
    import_set_init(&set);
    err_clear(&ei);
    enum err e = import_read_file(path, &set, &ei);
    if (want < 0) {
        ck_assert_msg(e == ERR_INVALID, "%s: accepted", name);
        ck_assert_uint_eq(set.n, 0);
    } else {
        ck_assert_msg(e == ERR_OK, "%s: %s", name, ei.msg);
        ck_assert_uint_eq(set.n, (size_t)want);
    }
    import_set_release(&set);
}

START_TEST(test_import_shared_fixtures)
{
    const char *dir = test_fixtures_dir();
    if (!dir) {
        printf("test_import_shared_fixtures: skipped, no shared fixtures directory "
               "(set INCIDENTD_FIXTURES)\n");
        return;
    }
    check_fixture(dir, "microsoft-docs/list-incidents-response.json", 3);
    check_fixture(dir, "rapid7-insightconnect/test_list_incidents.json.resp", 1);
    check_fixture(dir, "rapid7-insightconnect/test_get_incident.json.resp", 1);
    check_fixture(dir, "rapid7-insightconnect/test_update_incident.json.resp", -1);
    check_fixture(dir, "rapid7-insightconnect/test_invalid_json_response.json.resp", -1);
    check_fixture(dir, "cortex-xsoar/incidents_empty_list_response.json", 0);
    check_fixture(dir, "cortex-xsoar/incident_update_response.json", 1);
    check_fixture(dir, "elastic-integrations/test-m365-defender-empty-ndjson.log", 1);
}
END_TEST

Suite *import_suite(void)
{
    Suite *s = suite_create("import");
    TCase *tc = tcase_create("shapes");
    tcase_add_test(tc, test_import_list_response);
    tcase_add_test(tc, test_import_list_response_value_first_and_empty);
    tcase_add_test(tc, test_import_single_entity_drops_odata_context);
    tcase_add_test(tc, test_import_array_of_incidents);
    tcase_add_test(tc, test_import_ndjson_redirected_and_empty_page);
    tcase_add_test(tc, test_import_ndjson_lines_crlf_blank);
    tcase_add_test(tc, test_import_bom_and_big_integers);
    tcase_add_test(tc, test_import_many_incidents_grow);
    tcase_add_test(tc, test_import_demo_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_import_syntax_error_positions);
    tcase_add_test(tc, test_import_shape_errors);
    tcase_add_test(tc, test_import_ndjson_errors);
    tcase_add_test(tc, test_import_all_or_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_import_read_file);
    tcase_add_test(tc, test_import_shared_fixtures);
    suite_add_tcase(s, tc);
    return s;
}
