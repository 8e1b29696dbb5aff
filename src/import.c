/* SPDX-License-Identifier: MIT */
/*
 * Finding the incident objects in an export (import.h). jansson does the parsing; this file
 * decides which shape the input has, walks it, and turns every failure into `line L, column C:
 * <why>` measured on the whole input.
 *
 * Shape detection: the input is first parsed as one JSON document. When jansson stops with
 * "end of file expected" (a valid first document followed by more text) the input is NDJSON and
 * is parsed again line by line, so each record's errors and line numbers are its own.
 *
 * Positions: jansson reports the byte offset where it stopped, not where the bad token began, and
 * knows nothing about the tree once parsing succeeded. json_error_offset() recovers the start of
 * the offending token, and the small skip-scanner below finds where an element of a valid
 * document starts, so semantic errors ("element 3 is a string") point at the element itself.
 * Columns count UTF-8 characters, as jansson and editors do; a leading byte order mark is not
 * counted.
 */
#include "common.h"
#include "import.h"
#include "buf.h"
#include "xmalloc.h"

/*
 * JSON_REJECT_DUPLICATES: an incident with two `incidentId` or `status` keys has no single
 * meaning, and jansson would silently keep the last one; an export from the real service never
 * repeats a key, so a duplicate means the file was edited or damaged. JSON_DECODE_ANY: scalars at
 * the top level parse, so that we, not jansson, say what was expected instead.
 */
#define IMPORT_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* The input being parsed: data[0..len), with a BOM of bom bytes skipped at the start. */
struct input {
    const char *data;
    size_t len;
    size_t bom;
    struct err_info *ei;
};

void import_set_init(struct import_set *s)
{
    s->items = NULL;
    s->lines = NULL;
    s->cols = NULL;
    s->n = 0;
    s->cap = 0;
}

void import_set_release(struct import_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->items[i]);
    free(s->items);
    free(s->lines);
    free(s->cols);
    import_set_init(s);
}

/* Appends a new reference to `incident`. */
static void set_push(struct import_set *s, json_t *incident, int line, int col)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->items = xrealloc(s->items, s->cap * sizeof(*s->items));
        s->lines = xrealloc(s->lines, s->cap * sizeof(*s->lines));
        s->cols = xrealloc(s->cols, s->cap * sizeof(*s->cols));
    }
    s->items[s->n] = json_incref(incident);
    s->lines[s->n] = line;
    s->cols[s->n] = col;
    s->n++;
}

/* Drops everything appended after the first n0 items (the all-or-nothing rule). */
static void set_truncate(struct import_set *s, size_t n0)
{
    while (s->n > n0)
        json_decref(s->items[--s->n]);
}

/* 1-based line and character column of byte offset `off`. */
static void locate(const struct input *in, size_t off, int *line, int *col)
{
    if (off > in->len)
        off = in->len;
    size_t start = in->bom;
    int l = 1;
    for (size_t i = in->bom; i < off; i++) {
        if (in->data[i] == '\n') {
            l++;
            start = i + 1;
        }
    }
    int c = 1;
    for (size_t i = start; i < off; i++)
        if (((unsigned char)in->data[i] & 0xC0) != 0x80) /* not a UTF-8 continuation byte */
            c++;
    *line = l;
    *col = c;
}

/* Records `line L, column C: <message>` for byte offset `off` and returns ERR_INVALID. */
ATTR_PRINTF(3, 4) static enum err fail_at(const struct input *in, size_t off, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    int line, col;
    locate(in, off, &line, &col);
    return err_set(in->ei, ERR_INVALID, off <= INT32_MAX ? (int)off : -1, "line %d, column %d: %s",
                   line, col, why);
}

/*
 * Offset, relative to the parsed chunk, of the byte a jansson error is about. jansson's position
 * is just past the last byte it consumed. For input that ended too early or a byte that is not
 * UTF-8, that is the offending place itself; otherwise the message usually quotes the token
 * ("invalid token near 'tru'"), and when the quoted text really ends at the position we point at
 * its first byte. Failing that, the last byte consumed.
 */
static size_t json_error_offset(const char *chunk, size_t chunk_len, const json_error_t *je)
{
    size_t pos = je->position < 0 ? 0 : (size_t)je->position;
    if (pos > chunk_len)
        pos = chunk_len;
    enum json_error_code code = json_error_code(je);
    if (code == json_error_premature_end_of_input || code == json_error_invalid_utf8)
        return pos;
    const char *near = strstr(je->text, " near '");
    size_t text_len = strlen(je->text);
    /* A message filling the whole text buffer may have lost the token's end: not usable. */
    if (near && text_len + 1 < JSON_ERROR_TEXT_LENGTH && je->text[text_len - 1] == '\'') {
        const char *tok = near + strlen(" near '");
        size_t tok_len = (size_t)(je->text + text_len - 1 - tok);
        if (tok_len > 0 && tok_len <= pos && memcmp(chunk + pos - tok_len, tok, tok_len) == 0)
            return pos - tok_len;
    }
    size_t off = pos > 0 ? pos - 1 : 0;
    while (off > 0 && ((unsigned char)chunk[off] & 0xC0) == 0x80) /* back to the lead byte */
        off--;
    return off;
}

/* Reports a jansson error for the chunk starting at absolute offset `start`. */
static enum err fail_json(const struct input *in, size_t start, size_t chunk_len,
                          const json_error_t *je, bool ndjson)
{
    size_t off = start + json_error_offset(in->data + start, chunk_len, je);
    bool premature = json_error_code(je) == json_error_premature_end_of_input;
    return fail_at(in, off, "%s%s", je->text,
                   ndjson && premature ? " (NDJSON needs one document per line)" : "");
}

/* "a string", "an array", ... for messages. */
static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        break;
    }
    return "null";
}

/*
 * The skip-scanner. It only ever runs over text jansson has just accepted, so it can assume
 * valid JSON; the bounds checks keep it safe regardless.
 */

static size_t skip_ws(const char *s, size_t i, size_t end)
{
    while (i < end && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Offset just past the string literal whose opening quote is at s[i]. */
static size_t skip_string(const char *s, size_t i, size_t end)
{
    for (i++; i < end; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return end;
}

/* Offset just past the value starting at s[i]. */
static size_t skip_value(const char *s, size_t i, size_t end)
{
    if (i >= end)
        return end;
    if (s[i] == '"')
        return skip_string(s, i, end);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < end) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, end);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return end;
    }
    while (i < end && !strchr(",]} \t\r\n", s[i]))
        i++;
    return i;
}

/* True when the string literal s[i..j) (quotes included) decodes to `want`. */
static bool key_equals(const char *s, size_t i, size_t j, const char *want)
{
    size_t n = strlen(want);
    if (!memchr(s + i, '\\', j - i))
        return j - i == n + 2 && memcmp(s + i + 1, want, n) == 0;
    json_t *k = json_loadb(s + i, j - i, JSON_DECODE_ANY, NULL); /* rare: an escaped key */
    bool eq = k && json_is_string(k) && json_string_length(k) == n &&
              memcmp(json_string_value(k), want, n) == 0;
    json_decref(k);
    return eq;
}

/* Offset of the value of member `key` of the object whose '{' is at s[i]; i when absent. */
static size_t object_member(const char *s, size_t i, size_t end, const char *key)
{
    size_t p = skip_ws(s, i + 1, end);
    while (p < end && s[p] == '"') {
        size_t kend = skip_string(s, p, end);
        bool match = key_equals(s, p, kend, key);
        p = skip_ws(s, kend, end);
        if (p < end && s[p] == ':')
            p = skip_ws(s, p + 1, end);
        if (match)
            return p;
        p = skip_ws(s, skip_value(s, p, end), end);
        if (p >= end || s[p] != ',')
            break;
        p = skip_ws(s, p + 1, end);
    }
    return i;
}

/* Removes `@odata.*` annotations: the envelope of a single-entity response, not incident data. */
static void strip_annotations(json_t *incident)
{
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(incident, tmp, key, v)
    {
        if (strncmp(key, "@odata.", 7) == 0)
            json_object_del(incident, key);
    }
}

/* Advances a (line, column) position from byte `from` to byte `to` (to >= from). */
static void advance(const char *s, size_t from, size_t to, int *line, int *col)
{
    for (size_t i = from; i < to; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)s[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

/*
 * Checks that every element of `arr` is an incident object and appends them, each with the line
 * and column where it starts so later validation errors can point at it. `at` is the offset of
 * the array's '['; (line, col) is the position of byte `start`, which precedes it. Elements are
 * walked in one pass, so a large array costs O(n).
 */
static enum err take_array(const struct input *in, json_t *arr, size_t at, size_t end,
                           const char *what, struct import_set *set, size_t start, int line,
                           int col)
{
    size_t k;
    json_t *v;
    size_t pos = skip_ws(in->data, at + 1, end);
    advance(in->data, start, pos, &line, &col);
    json_array_foreach(arr, k, v)
    {
        if (!json_is_object(v))
            return fail_at(in, pos, "%s %zu is %s, expected an incident object", what, k,
                           json_kind(v));
        if (!json_object_get(v, "incidentId"))
            return fail_at(in, pos, "%s %zu has no 'incidentId'", what, k);
        set_push(set, v, line, col);
        size_t next = skip_ws(in->data, skip_value(in->data, pos, end), end);
        if (next < end && in->data[next] == ',')
            next = skip_ws(in->data, next + 1, end);
        advance(in->data, pos, next, &line, &col);
        pos = next;
    }
    return ERR_OK;
}

/* Appends the incidents of one parsed document that occupies data[start..end). */
static enum err take_document(const struct input *in, json_t *doc, size_t start, size_t end,
                              struct import_set *set, int line)
{
    size_t at = skip_ws(in->data, start, end);
    if (json_is_array(doc))
        return take_array(in, doc, at, end, "array element", set, start, line, 1);
    if (!json_is_object(doc))
        return fail_at(in, at,
                       "expected an incident, a list response or an array of incidents, found %s",
                       json_kind(doc));
    if (json_object_get(doc, "incidentId")) {
        strip_annotations(doc);
        int l = line, c = 1;
        advance(in->data, start, at, &l, &c);
        set_push(set, doc, l, c);
        return ERR_OK;
    }
    json_t *value = json_object_get(doc, "value");
    if (!value)
        return fail_at(in, at,
                       "object has neither 'incidentId' nor 'value', expected an incident or a "
                       "list response");
    size_t vat = object_member(in->data, at, end, "value");
    if (!json_is_array(value))
        return fail_at(in, vat, "'value' is %s, expected an array of incidents", json_kind(value));
    return take_array(in, value, vat, end, "element", set, start, line, 1);
}

/* Parses data[start..end) as one document. */
static enum err parse_chunk(const struct input *in, size_t start, size_t end,
                            struct import_set *set, int line, bool ndjson)
{
    json_error_t je;
    json_t *doc = json_loadb(in->data + start, end - start, IMPORT_JSON_FLAGS, &je);
    if (!doc)
        return fail_json(in, start, end - start, &je, ndjson);
    enum err e = take_document(in, doc, start, end, set, line);
    json_decref(doc);
    return e;
}

static bool blank(const char *s, size_t i, size_t end)
{
    return skip_ws(s, i, end) == end;
}

/* NDJSON: one document per non-blank line; CRLF and blank lines allowed. */
static enum err parse_lines(const struct input *in, struct import_set *set)
{
    size_t i = in->bom;
    int line = 1;
    while (i < in->len) {
        const char *nl = memchr(in->data + i, '\n', in->len - i);
        size_t eol = nl ? (size_t)(nl - in->data) : in->len;
        if (!blank(in->data, i, eol)) {
            enum err e = parse_chunk(in, i, eol, set, line, true);
            if (e != ERR_OK)
                return e;
        }
        i = eol + 1;
        line++;
    }
    return ERR_OK;
}

enum err import_parse(const char *data, size_t len, struct import_set *set, struct err_info *ei)
{
    struct input in = {.data = data, .len = len, .bom = 0, .ei = ei};
    if (len >= 2 && (((unsigned char)data[0] == 0xFF && (unsigned char)data[1] == 0xFE) ||
                     ((unsigned char)data[0] == 0xFE && (unsigned char)data[1] == 0xFF)))
        return err_set(ei, ERR_INVALID, 0,
                       "line 1, column 1: input is UTF-16 (byte order mark), convert it to UTF-8");
    /* RFC 8259 §8.1 lets parsers ignore a UTF-8 BOM; Windows tools often write one. */
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        in.bom = 3;
    if (blank(data, in.bom, len))
        return fail_at(&in, len,
                       "empty input, expected an incident, a list response, an array of "
                       "incidents or NDJSON");

    size_t n0 = set->n;
    json_error_t je;
    json_t *doc = json_loadb(data + in.bom, len - in.bom, IMPORT_JSON_FLAGS, &je);
    enum err e;
    if (doc) {
        size_t at = skip_ws(data, in.bom, len);
        int line, col;
        locate(&in, at, &line, &col);
        e = take_document(&in, doc, in.bom, len, set, line);
        json_decref(doc);
    } else if (json_error_code(&je) == json_error_end_of_input_expected) {
        e = parse_lines(&in, set);
    } else {
        e = fail_json(&in, in.bom, len - in.bom, &je, false);
    }
    if (e != ERR_OK)
        set_truncate(set, n0);
    return e;
}

enum err import_read_file(const char *path, struct import_set *set, struct err_info *ei)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(ei, ERR_IO, -1, "cannot open '%s': %s", path, strerror(errno));
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    enum err e = ERR_OK;
    for (;;) {
        char *p = buf_reserve(&b, 1 << 16);
        if (!p) {
            e = err_set(ei, ERR_TOO_LARGE, -1, "'%s' is too large", path);
            break;
        }
        size_t n = fread(p, 1, 1 << 16, f);
        buf_commit(&b, n);
        if (n < 1 << 16) {
            if (ferror(f))
                e = err_set(ei, ERR_IO, -1, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (e == ERR_OK)
        e = import_parse(b.data ? b.data : "", b.len, set, ei);
    buf_release(&b);
    return e;
}
