/* SPDX-License-Identifier: MIT */
/*
 * Reading incident exports for `incidentd import` (issue 2): a list response
 * (`{"value":[...]}`, with or without `@odata.context`), a single incident, a JSON array of
 * incidents, or NDJSON with one list response or incident per line. This module only finds the
 * incident objects and reports syntax errors with line and column; validating an incident's
 * fields is incident.h's job.
 */
#ifndef IMPORT_H
#define IMPORT_H

#include "common.h"
#include "err.h"
#include <jansson.h>

/* The incidents found in one input, in input order. lines[i] and cols[i] are the 1-based line
 * and column (in characters) where incident i's object starts, so validation errors found later
 * can point at it. */
struct import_set {
    json_t **items; /* owned references */
    int *lines;
    int *cols;
    size_t n, cap;
};

void import_set_init(struct import_set *s);
/* Drops every reference and frees the arrays; the set is empty afterwards. */
void import_set_release(struct import_set *s);

/*
 * Parses data[0..len) and appends every incident object to `set`. Input must be UTF-8. On error
 * returns ERR_INVALID, appends nothing, and fills `ei` with `line L, column C: <why>` (1-based
 * line and column of the offending byte). An object counts as an incident when it has an
 * `incidentId`; a list response contributes each element of `value` (which may be empty);
 * anything else (a number, an object without incidentId or value) is an error naming what was
 * expected.
 */
enum err import_parse(const char *data, size_t len, struct import_set *set, struct err_info *ei);

/* Reads a whole file and calls import_parse; ERR_IO with strerror text when unreadable. */
enum err import_read_file(const char *path, struct import_set *set, struct err_info *ei);

#endif
