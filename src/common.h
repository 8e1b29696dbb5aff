/* SPDX-License-Identifier: MIT */
/*
 * Included first by every .c file: standard types, small helpers and the banned-function list.
 */
#ifndef COMMON_H
#define COMMON_H

/* Every header that declares a banned function comes before banned.h, so later includes are
 * no-ops under their guards and the macros below cannot mangle a declaration. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARRAY_SIZE(a)       (sizeof(a) / sizeof((a)[0]))
#define ATTR_PRINTF(fmt, a) __attribute__((format(printf, fmt, a)))
#define ATTR_NORETURN       __attribute__((noreturn))
#define UNUSED(x)           ((void)(x))

/* Logs file and line and aborts: for broken invariants, never for client input. */
#define BUG(...) bug_fl(__FILE__, __LINE__, __VA_ARGS__)
ATTR_NORETURN ATTR_PRINTF(3, 4) void bug_fl(const char *file, int line, const char *fmt, ...);

#include "banned.h"

#endif
