/* SPDX-License-Identifier: MIT */
/* Bounded growable byte buffer. */
#include "common.h"
#include "buf.h"
#include "xmalloc.h"

void buf_init(struct buf *b, size_t max_bytes)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max_bytes;
}

void buf_release(struct buf *b)
{
    free(b->data);
    buf_init(b, b->max);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *buf_reserve(struct buf *b, size_t n)
{
    if (b->max && (n > b->max || b->len > b->max - n))
        return NULL;
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

enum err buf_append(struct buf *b, const void *p, size_t n)
{
    char *dst = buf_reserve(b, n);
    if (!dst)
        return ERR_TOO_LARGE;
    if (n)
        memcpy(dst, p, n);
    buf_commit(b, n);
    return ERR_OK;
}

enum err buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum err buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

enum err buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return ERR_INTERNAL;
    }
    char *dst = buf_reserve(b, (size_t)n);
    if (!dst) {
        va_end(ap2);
        return ERR_TOO_LARGE;
    }
    vsnprintf(dst, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    buf_commit(b, (size_t)n);
    return ERR_OK;
}

void buf_truncate(struct buf *b, size_t new_len)
{
    if (new_len < b->len) {
        b->len = new_len;
        b->data[new_len] = '\0';
    }
}

char *buf_detach(struct buf *b, size_t *len_out)
{
    char *p = b->data ? b->data : xstrdup("");
    if (len_out)
        *len_out = b->len;
    buf_init(b, b->max);
    return p;
}

enum err buf_json_string(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX. */
    char *dst = buf_reserve(b, len * 6 + 2);
    if (!dst)
        return ERR_TOO_LARGE;
    char *p = dst;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            *p++ = '\\';
            *p++ = '"';
            break;
        case '\\':
            *p++ = '\\';
            *p++ = '\\';
            break;
        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;
        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;
        case '\b':
            *p++ = '\\';
            *p++ = 'b';
            break;
        case '\f':
            *p++ = '\\';
            *p++ = 'f';
            break;
        default:
            if (c < 0x20) {
                *p++ = '\\';
                *p++ = 'u';
                *p++ = '0';
                *p++ = '0';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 15];
            } else {
                *p++ = (char)c;
            }
        }
    }
    *p++ = '"';
    buf_commit(b, (size_t)(p - dst));
    return ERR_OK;
}
