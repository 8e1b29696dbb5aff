/* SPDX-License-Identifier: MIT */
/* Error codes, their HTTP mapping (CONTRACT §7) and the no-allocation detail record. */
#include "common.h"
#include "err.h"

static const struct {
    const char *str;
    int status;
    const char *api_code;
} err_table[] = {
    [ERR_OK] = {"ok", 200, ""},
    [ERR_NOMEM] = {"out of memory", 500, "InternalServerError"},
    [ERR_INVALID] = {"invalid argument", 400, "InvalidInput"},
    [ERR_ODATA] = {"invalid query", 400, "ODataError"},
    [ERR_BODY] = {"invalid request body", 400, "InvalidRequestBody"},
    [ERR_INPUT] = {"invalid input", 400, "InvalidInput"},
    [ERR_UNAUTHORIZED] = {"unauthorized", 401, "Unauthorized"},
    [ERR_FORBIDDEN] = {"forbidden", 403, "Forbidden"},
    [ERR_NOT_FOUND] = {"not found", 404, "ResourceNotFound"},
    [ERR_NO_ROUTE] = {"no such route", 404, "NotFound"},
    [ERR_METHOD] = {"method not allowed", 405, "MethodNotAllowed"},
    [ERR_TOO_LARGE] = {"too large", 413, "BadRequest"},
    [ERR_HEADERS_TOO_LARGE] = {"request headers too large", 431, "BadRequest"},
    [ERR_MEDIA_TYPE] = {"unsupported media type", 415, "BadRequest"},
    [ERR_RATE_LIMITED] = {"too many requests", 429, "TooManyRequests"},
    [ERR_CONFLICT] = {"conflict", 409, "Conflict"},
    [ERR_STORAGE] = {"storage error", 500, "InternalServerError"},
    [ERR_UNAVAILABLE] = {"unavailable", 503, "ServiceUnavailable"},
    [ERR_IO] = {"i/o error", 500, "InternalServerError"},
    [ERR_INTERNAL] = {"internal error", 500, "InternalServerError"},
};

const char *err_str(enum err code)
{
    if ((size_t)code >= ARRAY_SIZE(err_table))
        return "unknown error";
    return err_table[code].str;
}

int err_http_status(enum err code)
{
    if ((size_t)code >= ARRAY_SIZE(err_table))
        return 500;
    return err_table[code].status;
}

const char *err_api_code(enum err code)
{
    if ((size_t)code >= ARRAY_SIZE(err_table))
        return "InternalServerError";
    return err_table[code].api_code;
}

enum err err_set(struct err_info *ei, enum err code, int offset, const char *fmt, ...)
{
    if (!ei || ei->code != ERR_OK)
        return code;
    ei->code = code;
    ei->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ei->msg, sizeof(ei->msg), fmt, ap);
    va_end(ap);
    utf8_sanitize(ei->msg);
    return code;
}

void utf8_sanitize(char *s)
{
    /* Messages quote client text with "%.40s"-style precisions, which can cut a character in
     * half; error bodies must still be UTF-8 (CONTRACT §2), so any byte that does not start a
     * complete, valid sequence becomes '?'. */
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = 0;
        uint32_t cp = 0;
        if (*p < 0x80) {
            p++;
            continue;
        } else if (*p >= 0xC2 && *p <= 0xDF) {
            n = 1;
            cp = *p & 0x1F;
        } else if (*p >= 0xE0 && *p <= 0xEF) {
            n = 2;
            cp = *p & 0x0F;
        } else if (*p >= 0xF0 && *p <= 0xF4) {
            n = 3;
            cp = *p & 0x07;
        }
        bool ok = n > 0;
        for (size_t k = 1; ok && k <= n; k++) {
            ok = (p[k] & 0xC0) == 0x80;
            cp = (cp << 6) | (p[k] & 0x3F);
        }
        if (ok && ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
                   (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = false;
        if (ok) {
            p += n + 1;
        } else {
            *p++ = '?';
        }
    }
}

void err_clear(struct err_info *ei)
{
    ei->code = ERR_OK;
    ei->offset = -1;
    ei->msg[0] = '\0';
}

bool utf8_blank(const char *s, size_t len)
{
    /* Unicode White_Space, and the invisible format characters (zero-width space, joiners,
     * word joiner, BOM) that display as nothing too. */
    static const uint32_t invisible[] = {0x85,   0xA0,   0x1680, 0x180E, 0x2028, 0x2029,
                                         0x202F, 0x205F, 0x2060, 0x3000, 0xFEFF};
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (i + n > len)
            return false;
        uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1Fu : n == 3 ? c & 0x0Fu : c & 0x07u;
        for (size_t k = 1; k < n; k++)
            cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3Fu);
        bool space = cp == ' ' || (cp >= '\t' && cp <= '\r') || (cp >= 0x2000 && cp <= 0x200D);
        for (size_t k = 0; k < sizeof(invisible) / sizeof(invisible[0]) && !space; k++)
            space = cp == invisible[k];
        if (!space)
            return false;
        i += n;
    }
    return true;
}

size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}
