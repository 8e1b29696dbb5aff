/* SPDX-License-Identifier: MIT */
/* Shared helpers for the Check test suites. Each tests/test_<module>.c defines one
 * `Suite *<module>_suite(void)`; the runner finds them by name (see the Makefile). */
#ifndef TESTS_H
#define TESTS_H

#include "common.h"
#include <check.h>

/* Directory of the test data (tests/data), overridable with INCIDENTD_TEST_DATA. */
const char *test_data_dir(void);

/* The shared fixtures directory (../shared/fixtures) or NULL when it is absent. */
const char *test_fixtures_dir(void);

/* Path of the incidentd binary under test (INCIDENTD_BIN, set by scripts/run-tests.sh). */
const char *test_binary(void);

/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL when unreadable. */
char *test_read_file(const char *path, size_t *len_out);

/* Creates a fresh temporary directory and returns its malloc'd path. */
char *test_tmpdir(void);

#endif
