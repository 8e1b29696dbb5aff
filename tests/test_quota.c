/* SPDX-License-Identifier: MIT */
/* Quota tables and specifications (issue 4). */
#include "common.h"
#include "quota.h"
#include "tests.h"

START_TEST(test_quota_defaults_match_the_real_service)
{
    struct quota_table t;
    quota_defaults(&t);
    ck_assert_uint_eq(t.m[QUOTA_LIST].per_minute, 50);
    ck_assert_uint_eq(t.m[QUOTA_LIST].per_hour, 1500);
    ck_assert_uint_eq(t.m[QUOTA_GET].per_minute, 100);
    ck_assert_uint_eq(t.m[QUOTA_GET].per_hour, 1500);
    ck_assert_uint_eq(t.m[QUOTA_UPDATE].per_minute, 50);
    ck_assert_uint_eq(t.m[QUOTA_UPDATE].per_hour, 1500);
}
END_TEST

START_TEST(test_quota_apply_overrides)
{
    struct quota_table t;
    quota_defaults(&t);
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(quota_apply(&t, "list=500/min, get=0,update=10000/hour", &ei), ERR_OK);
    ck_assert_uint_eq(t.m[QUOTA_LIST].per_minute, 500);
    ck_assert_uint_eq(t.m[QUOTA_LIST].per_hour, 1500);
    ck_assert_uint_eq(t.m[QUOTA_GET].per_minute, 0);
    ck_assert_uint_eq(t.m[QUOTA_GET].per_hour, 0);
    ck_assert_uint_eq(t.m[QUOTA_UPDATE].per_minute, 50);
    ck_assert_uint_eq(t.m[QUOTA_UPDATE].per_hour, 10000);
    ck_assert_int_eq(quota_apply(&t, "", &ei), ERR_OK);
    ck_assert_uint_eq(t.m[QUOTA_LIST].per_minute, 500);
}
END_TEST

START_TEST(test_quota_apply_rejects_and_changes_nothing)
{
    static const char *const bad[] = {
        "list",        "list=",      "list=5", "list=5/day",          "lists=5/min",
        "list=-1/min", "list=x/min", "=5/min", "list=5000000000/min", "get=0,list=5/week"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct quota_table t;
        quota_defaults(&t);
        struct err_info ei;
        err_clear(&ei);
        ck_assert_msg(quota_apply(&t, bad[i], &ei) == ERR_INVALID, "accepted '%s'", bad[i]);
        ck_assert(strstr(ei.msg, "quota item"));
        ck_assert_uint_eq(t.m[QUOTA_GET].per_minute, 100); /* untouched, even by get=0 */
    }
}
END_TEST

Suite *quota_suite(void)
{
    Suite *s = suite_create("quota");
    TCase *tc = tcase_create("spec");
    tcase_add_test(tc, test_quota_defaults_match_the_real_service);
    tcase_add_test(tc, test_quota_apply_overrides);
    tcase_add_test(tc, test_quota_apply_rejects_and_changes_nothing);
    suite_add_tcase(s, tc);
    return s;
}
