/* SPDX-License-Identifier: MIT */
/* Timestamps: parsing at 100 ns, zones, range checks, .NET round-trip formatting (CONTRACT §2). */
#include "common.h"
#include "tests.h"
#include "ts.h"

static int64_t parse_ok(const char *s)
{
    int64_t t = 0;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(ts_parse(s, strlen(s), 0, &t, &ei) == ERR_OK, "%s: %s", s, ei.msg);
    return t;
}

static int parse_err(const char *s, unsigned flags)
{
    int64_t t = 0;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(ts_parse(s, strlen(s), flags, &t, &ei) != ERR_OK, "%s accepted", s);
    ck_assert(ei.offset >= 0 && ei.offset <= (int)strlen(s));
    return ei.offset;
}

START_TEST(test_ts_parse_precision)
{
    ck_assert_int_eq(parse_ok("1970-01-01T00:00:00Z"), 0);
    ck_assert_int_eq(parse_ok("1970-01-01T00:00:00.0000001Z"), 1);
    ck_assert_int_eq(parse_ok("1970-01-01T00:00:01.5Z"), 15000000);
    ck_assert_int_eq(parse_ok("1970-01-01T00:01Z"), 60LL * TS_TICKS_PER_SEC);
    ck_assert_int_eq(parse_ok("2020-09-06T14:46:57.0733333Z") % TS_TICKS_PER_SEC, 733333);
    /* Offsets are converted to UTC. */
    ck_assert_int_eq(parse_ok("2020-09-06T16:46:57+02:00"), parse_ok("2020-09-06T14:46:57Z"));
    ck_assert_int_eq(parse_ok("2020-09-06T10:16:57-04:30"), parse_ok("2020-09-06T14:46:57Z"));
    ck_assert_int_eq(parse_ok("1969-12-31T23:59:59.9999999Z"), -1);
    ck_assert(parse_ok("2024-02-29T00:00:00Z") > 0);
}
END_TEST

START_TEST(test_ts_parse_rejects)
{
    ck_assert_int_eq(parse_err("2020-09-06T14:46:57", 0), 19);           /* no zone */
    ck_assert_int_eq(parse_err("2020-09-06T14:46:57.12345678Z", 0), 27); /* 8 digits */
    parse_err("2020-09-06", 0);
    parse_err("2020-13-06T00:00:00Z", 0);
    parse_err("2023-02-29T00:00:00Z", 0);
    parse_err("2020-09-06T24:00:00Z", 0);
    parse_err("2020-09-06T14:46:57.Z", 0);
    parse_err("2020-09-06T14:46:57Zx", 0);
    parse_err("2020-09-06T14:46:57+2:00", 0);
    parse_err("'2020-09-06T14:46:57Z'", 0);
    /* Offsets that leave years 0001-9999 once converted to UTC. */
    parse_err("9999-12-31T23:59:59-01:00", 0);
    parse_err("0001-01-01T00:00:00+01:00", 0);
    ck_assert_int_eq(parse_ok("9999-12-31T23:59:59.9999999Z"), TS_MAX_TICKS);
    ck_assert_int_eq(parse_ok("0001-01-01T00:00:00Z"), TS_MIN_TICKS);
    parse_err("", 0);
    int64_t t;
    ck_assert_int_eq(ts_parse("2020-09-06T14:46:57.123456789Z", 30, TS_LENIENT_FRACTION, &t, NULL),
                     ERR_OK);
    ck_assert_int_eq(t % TS_TICKS_PER_SEC, 1234567);
}
END_TEST

START_TEST(test_ts_format_trims_zeros)
{
    char s[TS_FORMAT_MAX];
    ts_format(parse_ok("2020-09-06T14:46:57.0733333Z"), s);
    ck_assert_str_eq(s, "2020-09-06T14:46:57.0733333Z");
    ts_format(parse_ok("2020-09-06T14:46:57.2900000Z"), s);
    ck_assert_str_eq(s, "2020-09-06T14:46:57.29Z");
    ts_format(parse_ok("2020-09-04T05:22:59.000Z"), s);
    ck_assert_str_eq(s, "2020-09-04T05:22:59Z");
    ts_format(-1, s);
    ck_assert_str_eq(s, "1969-12-31T23:59:59.9999999Z");
    ts_format(parse_ok("9999-12-31T23:59:59.9999999Z"), s);
    ck_assert_str_eq(s, "9999-12-31T23:59:59.9999999Z");
}
END_TEST

START_TEST(test_ts_round_trip_every_precision)
{
    /* Every value written parses back to the same instant (CONTRACT §2). */
    int64_t t = parse_ok("2026-11-29T11:31:30Z");
    for (int64_t step = 1; step < 100000000; step = step * 7 + 3) {
        char s[TS_FORMAT_MAX];
        ts_format(t + step, s);
        ck_assert_int_eq(parse_ok(s), t + step);
    }
    int64_t now = ts_now();
    char s[TS_FORMAT_MAX];
    ts_format(now, s);
    ck_assert_int_eq(parse_ok(s), now);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("ts");
    TCase *tc = tcase_create("parse_format");
    tcase_add_test(tc, test_ts_parse_precision);
    tcase_add_test(tc, test_ts_parse_rejects);
    tcase_add_test(tc, test_ts_format_trims_zeros);
    tcase_add_test(tc, test_ts_round_trip_every_precision);
    suite_add_tcase(s, tc);
    return s;
}
