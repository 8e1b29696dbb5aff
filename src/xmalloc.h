/* SPDX-License-Identifier: MIT */
/*
 * Allocation wrappers that abort on failure. Input limits (body, header, filter sizes) bound what
 * a client can make us allocate, so out-of-memory is treated as fatal, as redis and git do.
 */
#ifndef XMALLOC_H
#define XMALLOC_H

#include "common.h"

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Copies of a NUL-terminated string / the first n bytes plus a NUL; caller frees with free(). */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a malloc'd formatted string; caller frees. */
ATTR_PRINTF(1, 2) char *xasprintf(const char *fmt, ...);

#endif
