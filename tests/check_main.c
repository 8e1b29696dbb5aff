/* SPDX-License-Identifier: MIT */
/* The only test main(): one SRunner holding every suite, so one Check summary ends the run. */
#include "common.h"
#include "log.h"
#include "tests.h"
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUITE(name) Suite *name##_suite(void);
#include "suites.inc"
#undef SUITE

const char *test_data_dir(void)
{
    const char *d = getenv("INCIDENTD_TEST_DATA");
    return d ? d : "tests/data";
}

const char *test_fixtures_dir(void)
{
    const char *d = getenv("INCIDENTD_FIXTURES");
    if (!d)
        d = "../shared/fixtures";
    struct stat st;
    return stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
}

const char *test_binary(void)
{
    const char *b = getenv("INCIDENTD_BIN");
    return b ? b : "build/asan/incidentd";
}

char *test_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *p = malloc(cap);
    size_t n;
    while (p && (n = fread(p + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            p = realloc(p, cap);
        }
    }
    fclose(f);
    if (!p)
        return NULL;
    p[len] = '\0';
    if (len_out)
        *len_out = len;
    return p;
}

char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/incidentd-test-XXXXXX", base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

int main(void)
{
    /* Library code logs migrations and storage errors; tests that care read them directly. */
    log_max_level = getenv("INCIDENTD_TEST_LOG") ? LOG_DEBUG : LOG_ERROR;
    SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, name##_suite());
#include "suites.inc"
#undef SUITE
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
