/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer with a hard cap (curl's dynbuf). Invariants: after buf_init, `data` is
 * either NULL (nothing appended yet) or NUL-terminated with `len` bytes before the NUL; `len`
 * never exceeds `max`. Callers may read `data` and `len`; everything else is private.
 */
#ifndef BUF_H
#define BUF_H

#include "common.h"
#include "err.h"

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* appends that would exceed this fail with ERR_TOO_LARGE; 0 = unlimited */
};

#define BUF_UNLIMITED 0

/* Initialises an empty buffer holding at most max_bytes (0 = unlimited); allocates nothing. */
void buf_init(struct buf *b, size_t max_bytes);

/* Frees the contents and leaves an empty buffer with the same cap. */
void buf_release(struct buf *b);

/* Empties the buffer but keeps its memory for reuse. */
void buf_reset(struct buf *b);

/* Appends n bytes. ERR_TOO_LARGE when the cap would be exceeded (the buffer is unchanged). */
enum err buf_append(struct buf *b, const void *p, size_t n);
enum err buf_puts(struct buf *b, const char *s);
enum err buf_putc(struct buf *b, char c);
ATTR_PRINTF(2, 3) enum err buf_appendf(struct buf *b, const char *fmt, ...);

/* Makes room for n more bytes without changing len; returns a pointer to write them to, or NULL
 * when the cap would be exceeded. Follow with buf_commit(b, written). */
char *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);

/* Drops bytes past new_len (new_len <= len). */
void buf_truncate(struct buf *b, size_t new_len);

/* Hands the data to the caller (free() it; never NULL, "" when empty) and resets the buffer. */
char *buf_detach(struct buf *b, size_t *len_out);

/* Appends s as a JSON string literal with quotes; bytes >= 0x80 are copied as they are (the
 * caller guarantees UTF-8), control characters, quote and backslash are escaped. */
enum err buf_json_string(struct buf *b, const char *s, size_t len);

#endif
