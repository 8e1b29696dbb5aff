/* SPDX-License-Identifier: MIT */
/* Request/response records, target decoding and request ids. */
#include "common.h"
#include "http.h"
#include "xmalloc.h"
#include <sys/random.h>

void http_request_init(struct http_request *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, BUF_UNLIMITED);
}

void http_request_release(struct http_request *r)
{
    free(r->path);
    free(r->params);
    free(r->param_text);
    buf_release(&r->body);
    http_request_init(r);
}

void http_response_init(struct http_response *r)
{
    memset(r, 0, sizeof(*r));
    r->status = 200;
    buf_init(&r->body, BUF_UNLIMITED);
}

void http_response_release(struct http_response *r)
{
    buf_release(&r->body);
    http_response_init(r);
}

void http_response_header(struct http_response *r, const char *name, const char *fmt, ...)
{
    if (r->nheaders >= HTTP_MAX_HEADERS)
        return;
    struct http_header *h = &r->headers[r->nheaders++];
    h->name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->value, sizeof(h->value), fmt, ap);
    va_end(ap);
}

bool utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..len) into out (which has room for len bytes); returns the decoded length or -1
 * at a bad escape (offset in *bad). */
static long decode(const char *s, size_t len, bool plus_is_space, char *out, size_t *bad)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len) {
                *bad = i;
                return -1;
            }
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) {
                *bad = i;
                return -1;
            }
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    return (long)o;
}

static bool clean_text(const char *s, size_t len)
{
    return memchr(s, '\0', len) == NULL && utf8_valid(s, len);
}

enum err http_request_set_target(struct http_request *r, const char *target, size_t len,
                                 struct err_info *ei)
{
    const char *q = memchr(target, '?', len);
    size_t plen = q ? (size_t)(q - target) : len;
    size_t bad;
    r->path = xmalloc(plen + 1);
    long n = decode(target, plen, false, r->path, &bad);
    if (n < 0)
        return err_set(ei, ERR_INPUT, (int)bad, "malformed percent-escape in the URL path");
    r->path[n] = '\0';
    if (!clean_text(r->path, (size_t)n))
        return err_set(ei, ERR_INPUT, -1, "the URL path is not valid UTF-8");
    if (!q)
        return ERR_OK;
    return http_form_parse(q + 1, len - plen - 1, &r->params, &r->nparams, &r->param_text, ei);
}

enum err http_form_parse(const char *qs, size_t qlen, struct odata_param **params_out,
                         size_t *n_out, char **text_out, struct err_info *ei)
{
    size_t bad;
    /* Each parameter's key and value are decoded into the text buffer, NUL-separated. */
    char *text = xcalloc(1, qlen * 2 + 2); /* zeroed: callers may read it as a string */
    size_t cap = 4, n = 0;
    struct odata_param *params = xmalloc(cap * sizeof(*params));
    *params_out = params;
    *text_out = text;
    *n_out = 0;
    char *out = text;
    size_t i = 0;
    while (i <= qlen) {
        size_t end = i;
        while (end < qlen && qs[end] != '&')
            end++;
        if (end > i) {
            const char *eq = memchr(qs + i, '=', end - i);
            size_t klen = eq ? (size_t)(eq - (qs + i)) : end - i;
            long kn = decode(qs + i, klen, true, out, &bad);
            if (kn < 0)
                return err_set(ei, ERR_ODATA, (int)(i + bad),
                               "malformed percent-escape in the query string at position %zu",
                               i + bad);
            const char *key = out;
            out += kn;
            *out++ = '\0';
            long vn = 0;
            const char *value = out;
            if (eq) {
                size_t vstart = (size_t)(eq - qs) + 1;
                vn = decode(qs + vstart, end - vstart, true, out, &bad);
                if (vn < 0)
                    return err_set(ei, ERR_ODATA, (int)(vstart + bad),
                                   "malformed percent-escape in the query string at position %zu",
                                   vstart + bad);
                out += vn;
            }
            *out++ = '\0';
            if (!clean_text(key, (size_t)kn) || !clean_text(value, (size_t)vn))
                return err_set(ei, ERR_ODATA, (int)i,
                               "query parameter at position %zu is not valid UTF-8", i);
            if (n == cap) {
                cap *= 2;
                params = xrealloc(params, cap * sizeof(*params));
                *params_out = params;
            }
            params[n++] = (struct odata_param){key, (size_t)kn, value, (size_t)vn};
            *n_out = n;
        }
        i = end + 1;
    }
    return ERR_OK;
}

void http_request_id_new(char out[HTTP_REQUEST_ID_LEN + 1])
{
    static _Thread_local uint64_t state;
    if (!state) {
        if (getrandom(&state, sizeof(state), 0) != sizeof(state))
            state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&state;
        state |= 1;
    }
    unsigned char b[16];
    for (int k = 0; k < 2; k++) {
        /* splitmix64: request ids need uniqueness, not secrecy. */
        uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        memcpy(b + 8 * k, &z, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, HTTP_REQUEST_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}
