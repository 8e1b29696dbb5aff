/* SPDX-License-Identifier: MIT */
/*
 * The OData query subset of CONTRACT §3. A hand-written lexer turns `$filter` text into tokens
 * one at a time; a recursive-descent parser with Lua-style precedence climbing (`and` binds
 * tighter than `or`, `not` tighter than both) builds a `struct odata_node` tree, type-checking
 * each comparison against the property table as it goes, so that every error names the token
 * that caused it and its byte offset. Recursion is bounded by ODATA_MAX_DEPTH, checked before
 * each recursive step. `$top`, `$skip` and `$orderby` have small dedicated scanners.
 * docs/internals/odata.md holds the grammar and the design notes.
 */
#include "common.h"
#include "odata.h"
#include "model.h"
#include "ts.h"
#include "xmalloc.h"

/* ===================================================================================== */
/* Properties                                                                            */
/* ===================================================================================== */

enum field_type {
    FT_TIME,
    FT_ENUM,
    FT_STRING,
    FT_INT,
};

static const struct field_def {
    const char *name;
    enum odata_field field;
    enum field_type type;
} field_defs[] = {
    {"lastUpdateTime", ODATA_FIELD_LAST_UPDATE_TIME, FT_TIME},
    {"createdTime", ODATA_FIELD_CREATED_TIME, FT_TIME},
    {"status", ODATA_FIELD_STATUS, FT_ENUM},
    {"assignedTo", ODATA_FIELD_ASSIGNED_TO, FT_STRING},
    {"severity", ODATA_FIELD_SEVERITY, FT_ENUM},
    {"classification", ODATA_FIELD_CLASSIFICATION, FT_ENUM},
    {"determination", ODATA_FIELD_DETERMINATION, FT_ENUM},
    {"incidentId", ODATA_FIELD_INCIDENT_ID, FT_INT},
};

const char *odata_field_name(enum odata_field f)
{
    for (size_t i = 0; i < ARRAY_SIZE(field_defs); i++)
        if (field_defs[i].field == f)
            return field_defs[i].name;
    return "?";
}

/* True when s[0..len) is exactly word. */
static bool span_eq(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* True when s[0..len) equals word ignoring ASCII case. */
static bool span_caseeq(const char *s, size_t len, const char *word)
{
    if (strlen(word) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)word[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

/* Exact (case-sensitive) property lookup; with `fold`, the ASCII case-insensitive one used only
 * to suggest the right spelling in an error. */
static const struct field_def *field_lookup(const char *s, size_t len, bool fold)
{
    for (size_t i = 0; i < ARRAY_SIZE(field_defs); i++)
        if (fold ? span_caseeq(s, len, field_defs[i].name) : span_eq(s, len, field_defs[i].name))
            return &field_defs[i];
    return NULL;
}

/* ===================================================================================== */
/* Error text                                                                            */
/* ===================================================================================== */

#define QUOTE_MAX   40 /* quote(): two quotes, at most 32 bytes, "...", NUL */
#define QUOTE_SHOWN 32
#define POS_FMT     "at position %zu in $filter"

/* Copies s[0..len) between single quotes for a message: printable ASCII is kept, any other byte
 * becomes '?' (messages end up in JSON and logs, and a cut could split a UTF-8 sequence), and
 * text longer than QUOTE_SHOWN is cut with "...". Returns out. */
static const char *quote(char out[QUOTE_MAX], const char *s, size_t len)
{
    size_t n = 0;
    out[n++] = '\'';
    for (size_t i = 0; i < len && i < QUOTE_SHOWN; i++) {
        unsigned char c = (unsigned char)s[i];
        out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (len > QUOTE_SHOWN) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n++] = '\'';
    out[n] = '\0';
    return out;
}

#define NO_POS SIZE_MAX /* an error about an option as a whole: ei->offset = -1 */

/* Records an ERR_ODATA at byte offset pos (NO_POS: none); the first error wins (err_set). */
ATTR_PRINTF(3, 4) static enum err fail(struct err_info *ei, size_t pos, const char *fmt, ...)
{
    char msg[sizeof(ei->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int offset = pos == NO_POS ? -1 : pos > INT32_MAX ? INT32_MAX : (int)pos;
    return err_set(ei, ERR_ODATA, offset, "%s", msg);
}

/* ===================================================================================== */
/* Lexer                                                                                 */
/* ===================================================================================== */

enum tok_kind {
    TK_EOF,
    TK_LPAREN,
    TK_RPAREN,
    TK_IDENT,  /* a property name, or an unknown name (reported by the parser) */
    TK_STRING, /* 'text', raw span includes both quotes */
    TK_INT,
    TK_TIME,
    TK_NULL,
    TK_AND,
    TK_OR,
    TK_NOT,
    TK_CMP,             /* eq ne gt ge lt le: op */
    TK_UNSUPPORTED,     /* OData operators we do not implement: in, has, add, ... */
    TK_UNSUPPORTED_LIT, /* true, false, INF, NaN */
};

struct token {
    enum tok_kind kind;
    size_t pos, len; /* raw span in the filter text */
    enum odata_op op;
    int64_t i; /* TK_INT value, TK_TIME ticks */
};

/* Words with a meaning of their own. Matching is exact: OData keywords are lower case, and a
 * different spelling of one of the supported ones is reported as such (see lex_word). */
static const struct keyword {
    const char *word;
    enum tok_kind kind;
    enum odata_op op;
} keywords[] = {
    {"and", TK_AND, ODATA_OP_EQ},
    {"or", TK_OR, ODATA_OP_EQ},
    {"not", TK_NOT, ODATA_OP_EQ},
    {"null", TK_NULL, ODATA_OP_EQ},
    {"eq", TK_CMP, ODATA_OP_EQ},
    {"ne", TK_CMP, ODATA_OP_NE},
    {"gt", TK_CMP, ODATA_OP_GT},
    {"ge", TK_CMP, ODATA_OP_GE},
    {"lt", TK_CMP, ODATA_OP_LT},
    {"le", TK_CMP, ODATA_OP_LE},
    {"in", TK_UNSUPPORTED, ODATA_OP_EQ},
    {"has", TK_UNSUPPORTED, ODATA_OP_EQ},
    {"add", TK_UNSUPPORTED, ODATA_OP_EQ},
    {"sub", TK_UNSUPPORTED, ODATA_OP_EQ},
    {"mul", TK_UNSUPPORTED, ODATA_OP_EQ},
    {"div", TK_UNSUPPORTED, ODATA_OP_EQ},
    {"divby", TK_UNSUPPORTED, ODATA_OP_EQ},
    {"mod", TK_UNSUPPORTED, ODATA_OP_EQ},
    {"true", TK_UNSUPPORTED_LIT, ODATA_OP_EQ},
    {"false", TK_UNSUPPORTED_LIT, ODATA_OP_EQ},
    {"INF", TK_UNSUPPORTED_LIT, ODATA_OP_EQ},
    {"NaN", TK_UNSUPPORTED_LIT, ODATA_OP_EQ},
};

struct parser {
    const char *s;
    size_t len;
    size_t pos;       /* next byte the lexer reads */
    struct token tok; /* current token */
    int depth;        /* '(' and 'not' currently open */
    struct err_info *ei;
};

/* Blanks: a space (also a decoded `+`) or a tab. */
static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* ASCII digit, whatever the locale. */
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Letters and `_`, which start and continue names. */
static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Bytes that continue a number or date-time literal: digits, letters, '.', ':', '+', '-'. A
 * literal is scanned as one maximal run so that `1.5` or `2020-09-06x` is reported whole. */
static bool is_literal_char(char c)
{
    return is_digit(c) || is_alpha(c) || c == '.' || c == ':' || c == '+' || c == '-';
}

/* Describes a token for a message: its text in quotes, or "the end of $filter". */
static const char *tok_desc(const struct parser *p, const struct token *t, char out[QUOTE_MAX])
{
    if (t->kind == TK_EOF) {
        snprintf(out, QUOTE_MAX, "the end of $filter");
        return out;
    }
    if (t->kind == TK_STRING) /* show the content, not doubled quotes */
        return quote(out, p->s + t->pos + 1, t->len - 2);
    return quote(out, p->s + t->pos, t->len);
}

#define FOUND_MAX (QUOTE_MAX + 48)

/* Describes where the parser stands for "expected X, found Y" messages: "'foo' at position 7 in
 * $filter" or "the end of $filter at position 9". Returns out. */
static const char *found(const struct parser *p, const struct token *t, char out[FOUND_MAX])
{
    char q[QUOTE_MAX];
    if (t->kind == TK_EOF)
        snprintf(out, FOUND_MAX, "the end of $filter at position %zu", t->pos);
    else
        snprintf(out, FOUND_MAX, "%s " POS_FMT, tok_desc(p, t, q), t->pos);
    return out;
}

/* Parses the decimal integer s[0..len) (optional leading '-', then digits) into *out; false on
 * int64 overflow. */
static bool parse_int64(const char *s, size_t len, int64_t *out)
{
    bool neg = len > 0 && s[0] == '-';
    /* Accumulate as a negative number: INT64_MIN has no positive counterpart. */
    int64_t v = 0;
    for (size_t i = neg ? 1 : 0; i < len; i++) {
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return false;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return false;
        v = -v;
    }
    *out = v;
    return true;
}

/* number-or-time -> ['-'] DIGIT {literal-char}
 * A run of digits is an integer; a run starting with four digits and '-' is a date-time
 * (ts_parse: 0-7 fractional digits, mandatory Z or ±hh:mm); anything else is an error. */
static enum err lex_literal(struct parser *p, size_t start)
{
    struct token *t = &p->tok;
    size_t i = start + 1;
    while (i < p->len && is_literal_char(p->s[i]))
        i++;
    const char *s = p->s + start;
    size_t len = i - start;
    char q[QUOTE_MAX];
    t->pos = start;
    t->len = len;
    p->pos = i;

    size_t digits = s[0] == '-' ? 1 : 0;
    while (digits < len && is_digit(s[digits]))
        digits++;
    if (digits == len) {
        if (!parse_int64(s, len, &t->i))
            return fail(p->ei, start, "integer %s " POS_FMT " is out of range", quote(q, s, len),
                        start);
        t->kind = TK_INT;
        return ERR_OK;
    }
    if (ts_looks_like(s, len)) {
        struct err_info tei;
        err_clear(&tei);
        if (ts_parse(s, len, 0, &t->i, &tei) == ERR_OK) {
            t->kind = TK_TIME;
            return ERR_OK;
        }
        /* `+hh:mm` sent raw in a URL arrives as ` hh:mm`: say so instead of "no zone". */
        if ((size_t)tei.offset == len && i + 6 <= p->len && p->s[i] == ' ' &&
            is_digit(p->s[i + 1]) && is_digit(p->s[i + 2]) && p->s[i + 3] == ':')
            return fail(p->ei, start,
                        "date-time %s " POS_FMT " has no time zone; a '+' in a URL decodes to a "
                        "space, so send '+hh:mm' as %%2Bhh:mm",
                        quote(q, s, len), start);
        return fail(p->ei, start, "invalid date-time %s " POS_FMT ": %s", quote(q, s, len), start,
                    tei.msg);
    }
    return fail(p->ei, start, "invalid number %s " POS_FMT, quote(q, s, len), start);
}

/* string -> "'" { any byte except "'" | "''" } "'" */
static enum err lex_string(struct parser *p, size_t start)
{
    size_t i = start + 1;
    for (;;) {
        if (i >= p->len)
            return fail(p->ei, start, "unterminated string starting " POS_FMT, start);
        if (p->s[i] == '\'') {
            if (i + 1 < p->len && p->s[i + 1] == '\'') {
                i += 2;
                continue;
            }
            break;
        }
        i++;
    }
    p->tok.kind = TK_STRING;
    p->tok.pos = start;
    p->tok.len = i + 1 - start;
    p->pos = i + 1;
    return ERR_OK;
}

/* word -> ALPHA {ALPHA | DIGIT}: a keyword or a name. */
static enum err lex_word(struct parser *p, size_t start)
{
    size_t i = start + 1;
    while (i < p->len && (is_alpha(p->s[i]) || is_digit(p->s[i])))
        i++;
    const char *s = p->s + start;
    size_t len = i - start;
    struct token *t = &p->tok;
    t->pos = start;
    t->len = len;
    t->kind = TK_IDENT;
    p->pos = i;
    for (size_t k = 0; k < ARRAY_SIZE(keywords); k++) {
        if (span_eq(s, len, keywords[k].word)) {
            t->kind = keywords[k].kind;
            t->op = keywords[k].op;
            return ERR_OK;
        }
    }
    /* `EQ`, `And`, `NULL`: OData keywords are lower case; say so rather than "unknown". */
    for (size_t k = 0; k < ARRAY_SIZE(keywords); k++) {
        if (keywords[k].kind != TK_UNSUPPORTED && keywords[k].kind != TK_UNSUPPORTED_LIT &&
            span_caseeq(s, len, keywords[k].word)) {
            char q[QUOTE_MAX];
            return fail(p->ei, start, "keyword %s " POS_FMT " must be written in lower case ('%s')",
                        quote(q, s, len), start, keywords[k].word);
        }
    }
    return ERR_OK;
}

/* Reads the next token into p->tok. */
static enum err lex(struct parser *p)
{
    while (p->pos < p->len && is_ws(p->s[p->pos]))
        p->pos++;
    size_t start = p->pos;
    struct token *t = &p->tok;
    t->pos = start;
    t->len = 0;
    if (start >= p->len) {
        t->kind = TK_EOF;
        return ERR_OK;
    }
    char c = p->s[start];
    if (c == '(' || c == ')') {
        t->kind = c == '(' ? TK_LPAREN : TK_RPAREN;
        t->len = 1;
        p->pos++;
        return ERR_OK;
    }
    if (c == '\'')
        return lex_string(p, start);
    if (is_digit(c) || (c == '-' && start + 1 < p->len && is_digit(p->s[start + 1])))
        return lex_literal(p, start);
    if (is_alpha(c))
        return lex_word(p, start);
    unsigned char u = (unsigned char)c;
    if (u >= 0x21 && u < 0x7f)
        return fail(p->ei, start, "unexpected character '%c' " POS_FMT, c, start);
    return fail(p->ei, start, "unexpected byte 0x%02x " POS_FMT, u, start);
}

/* ===================================================================================== */
/* Tree                                                                                  */
/* ===================================================================================== */

void odata_node_free(struct odata_node *n)
{
    /* Iterates down the left spine (and/or chains grow there) and recurses right only, whose
     * depth the parser bounds. */
    while (n) {
        struct odata_node *left = n->left;
        odata_node_free(n->right);
        free(n->s);
        free(n);
        n = left;
    }
}

/* A zeroed node of the given kind starting at byte offset. */
static struct odata_node *node_new(enum odata_node_kind kind, size_t offset)
{
    struct odata_node *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->offset = (int)offset;
    return n;
}

/* ===================================================================================== */
/* Parser                                                                                */
/* ===================================================================================== */

static enum err expr(struct parser *p, struct odata_node **out);

/* Flips an operator for `literal op property` -> `property op' literal`. */
static enum odata_op op_flip(enum odata_op op)
{
    switch (op) {
    case ODATA_OP_GT:
        return ODATA_OP_LT;
    case ODATA_OP_GE:
        return ODATA_OP_LE;
    case ODATA_OP_LT:
        return ODATA_OP_GT;
    case ODATA_OP_LE:
        return ODATA_OP_GE;
    case ODATA_OP_EQ:
    case ODATA_OP_NE:
        break;
    }
    return op;
}

/* The OData spelling of an operator, for messages. */
static const char *op_name(enum odata_op op)
{
    static const char *const names[] = {"eq", "ne", "gt", "ge", "lt", "le"};
    return (size_t)op < ARRAY_SIZE(names) ? names[op] : "?";
}

/* True for the literal tokens that may stand on one side of a comparison. */
static bool is_value_token(enum tok_kind k)
{
    return k == TK_STRING || k == TK_INT || k == TK_TIME || k == TK_NULL;
}

/* True when the next non-blank byte after the current token is '(' (a function call). */
static bool followed_by_paren(const struct parser *p)
{
    size_t i = p->pos;
    while (i < p->len && is_ws(p->s[i]))
        i++;
    return i < p->len && p->s[i] == '(';
}

/* operand -> property | string | integer | date-time | 'null'
 * Validates the current token as one side of a comparison; *def is set for a property. */
static enum err operand(struct parser *p, const struct field_def **def)
{
    const struct token *t = &p->tok;
    char q[QUOTE_MAX];
    *def = NULL;
    if (is_value_token(t->kind))
        return ERR_OK;
    if (t->kind == TK_IDENT) {
        const char *s = p->s + t->pos;
        *def = field_lookup(s, t->len, false);
        if (*def)
            return ERR_OK;
        if (followed_by_paren(p))
            return fail(p->ei, t->pos, "unsupported function %s " POS_FMT, quote(q, s, t->len),
                        t->pos);
        const struct field_def *near = field_lookup(s, t->len, true);
        if (near)
            return fail(p->ei, t->pos,
                        "unknown property %s " POS_FMT "; property names are case-sensitive: '%s'",
                        quote(q, s, t->len), t->pos, near->name);
        return fail(p->ei, t->pos, "unknown property %s " POS_FMT, quote(q, s, t->len), t->pos);
    }
    if (t->kind == TK_UNSUPPORTED_LIT)
        return fail(p->ei, t->pos, "unsupported literal %s " POS_FMT, tok_desc(p, t, q), t->pos);
    if (t->kind == TK_UNSUPPORTED && followed_by_paren(p))
        return fail(p->ei, t->pos, "unsupported function %s " POS_FMT, tok_desc(p, t, q), t->pos);
    char f[FOUND_MAX];
    return fail(p->ei, t->pos, "expected a property or a value, found %s", found(p, t, f));
}

/* "string", "integer", ...: the type of a literal token, for messages. */
static const char *value_kind_name(enum tok_kind k)
{
    switch (k) {
    case TK_STRING:
        return "string";
    case TK_INT:
        return "integer";
    case TK_TIME:
        return "date-time";
    case TK_NULL:
        return "null";
    default:
        return "value";
    }
}

/* The type of a property, for messages. */
static const char *field_type_name(enum field_type t)
{
    static const char *const names[] = {"date-time", "enum", "string", "integer"};
    return names[t];
}

/* The number of values of an enum field (model.h). */
static int enum_count(enum odata_field f)
{
    switch (f) {
    case ODATA_FIELD_STATUS:
        return STATUS__COUNT;
    case ODATA_FIELD_SEVERITY:
        return SEVERITY__COUNT;
    case ODATA_FIELD_CLASSIFICATION:
        return CLASSIFICATION__COUNT;
    case ODATA_FIELD_DETERMINATION:
        return DETERMINATION__COUNT;
    default:
        return 0;
    }
}

/* The canonical name of value i of an enum field. */
static const char *enum_name(enum odata_field f, int i)
{
    switch (f) {
    case ODATA_FIELD_STATUS:
        return status_name((enum status)i);
    case ODATA_FIELD_SEVERITY:
        return severity_name((enum severity)i);
    case ODATA_FIELD_CLASSIFICATION:
        return classification_name((enum classification)i);
    default:
        return determination_name((enum determination)i);
    }
}

/* Appends "Name, Name, ..." of the field's enum values to msg (NUL-terminated, cap bytes): as
 * many as fit, then "..." when some did not. */
static void enum_list(enum odata_field f, char *msg, size_t cap)
{
    size_t n = strlen(msg);
    int count = enum_count(f);
    for (int i = 0; i < count; i++) {
        const char *name = enum_name(f, i);
        const char *sep = i ? ", " : "";
        /* Keep room for ", ..." and the NUL unless this is the last name. */
        size_t reserve = i + 1 < count ? 5 : 0;
        if (n + strlen(sep) + strlen(name) + reserve + 1 > cap) {
            snprintf(msg + n, cap - n, "%s...", sep);
            return;
        }
        n += (size_t)snprintf(msg + n, cap - n, "%s%s", sep, name);
    }
}

/* Decodes a string token's content ('' -> ') into a new malloc'd NUL-terminated string. */
static char *string_decode(const struct parser *p, const struct token *t, size_t *len_out)
{
    const char *s = p->s + t->pos + 1;
    size_t len = t->len - 2, n = 0;
    char *out = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        out[n++] = s[i];
        if (s[i] == '\'')
            i++; /* the lexer guarantees quotes come in pairs here */
    }
    out[n] = '\0';
    *len_out = n;
    return out;
}

/* Parses an enum value name into its model.h number. */
static bool enum_parse(enum odata_field f, const char *s, size_t len, int64_t *out)
{
    bool ok = false;
    switch (f) {
    case ODATA_FIELD_STATUS: {
        enum status v;
        if ((ok = status_parse(s, len, &v)))
            *out = v;
        break;
    }
    case ODATA_FIELD_SEVERITY: {
        enum severity v;
        if ((ok = severity_parse(s, len, &v)))
            *out = v;
        break;
    }
    case ODATA_FIELD_CLASSIFICATION: {
        enum classification v;
        if ((ok = classification_parse(s, len, &v)))
            *out = v;
        break;
    }
    case ODATA_FIELD_DETERMINATION: {
        enum determination v;
        if ((ok = determination_parse(s, len, MODEL_ALLOW_DEPRECATED, &v)))
            *out = v;
        break;
    }
    default:
        break;
    }
    return ok;
}

/* Type-checks `field op literal` and stores the literal's value in n. `op` is normalised (the
 * property on the left); `op_tok` is the operator as written, for messages about it. */
static enum err bind_value(struct parser *p, const struct field_def *def, enum odata_op op,
                           const struct token *op_tok, const struct token *lit,
                           struct odata_node *n)
{
    char q[QUOTE_MAX];
    bool ordering = op != ODATA_OP_EQ && op != ODATA_OP_NE;
    size_t op_pos = op_tok->pos;

    n->field = def->field;
    n->op = op;
    if (lit->kind == TK_NULL) {
        if (def->type != FT_STRING)
            return fail(p->ei, lit->pos,
                        "'%s' is never null; null " POS_FMT " can only be compared with assignedTo",
                        def->name, lit->pos);
        if (ordering)
            return fail(p->ei, op_pos,
                        "operator '%s' " POS_FMT " cannot compare with null; use eq or ne",
                        op_name(op_tok->op), op_pos);
        n->value_kind = ODATA_VALUE_NULL;
        return ERR_OK;
    }
    switch (def->type) {
    case FT_TIME:
        if (lit->kind == TK_TIME) {
            n->value_kind = ODATA_VALUE_TIME;
            n->i = lit->i;
            return ERR_OK;
        }
        if (lit->kind == TK_STRING && ts_looks_like(p->s + lit->pos + 1, lit->len - 2))
            return fail(p->ei, lit->pos,
                        "quoted date-time %s " POS_FMT
                        "; date-time literals are unquoted, e.g. 2020-09-06T14:46:57Z",
                        tok_desc(p, lit, q), lit->pos);
        break;
    case FT_INT:
        if (lit->kind == TK_INT) {
            n->value_kind = ODATA_VALUE_INT;
            n->i = lit->i;
            return ERR_OK;
        }
        break;
    case FT_STRING:
        if (lit->kind == TK_STRING) {
            n->value_kind = ODATA_VALUE_STRING;
            n->s = string_decode(p, lit, &n->s_len);
            return ERR_OK;
        }
        break;
    case FT_ENUM:
        if (lit->kind != TK_STRING)
            break;
        if (ordering && def->field != ODATA_FIELD_SEVERITY)
            return fail(p->ei, op_pos,
                        "operator '%s' " POS_FMT " is not supported for '%s'; use eq or ne",
                        op_name(op_tok->op), op_pos, def->name);
        size_t len;
        char *text = string_decode(p, lit, &len);
        bool ok = enum_parse(def->field, text, len, &n->i);
        free(text);
        if (!ok) {
            char msg[sizeof(p->ei->msg)];
            snprintf(msg, sizeof(msg), "unknown %s %s " POS_FMT "; allowed: ", def->name,
                     tok_desc(p, lit, q), lit->pos);
            enum_list(def->field, msg, sizeof(msg) - 1); /* full, yet visibly not cut */
            return fail(p->ei, lit->pos, "%s", msg);
        }
        n->value_kind = ODATA_VALUE_INT;
        return ERR_OK;
    }
    return fail(p->ei, lit->pos, "cannot compare %s property '%s' with %s %s " POS_FMT,
                field_type_name(def->type), def->name, value_kind_name(lit->kind),
                tok_desc(p, lit, q), lit->pos);
}

/* comparison -> operand cmpop operand
 * cmpop      -> 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le'
 * Exactly one side is a property; `literal op property` is stored as `property op' literal`. */
static enum err comparison(struct parser *p, struct odata_node **out)
{
    char q1[QUOTE_MAX];
    const struct field_def *ldef, *rdef;
    enum err e;

    struct token lhs = p->tok;
    if ((e = operand(p, &ldef)) || (e = lex(p)))
        return e;
    if (p->tok.kind != TK_CMP) {
        const struct token *t = &p->tok;
        if (t->kind == TK_UNSUPPORTED)
            return fail(p->ei, t->pos, "unsupported operator %s " POS_FMT, tok_desc(p, t, q1),
                        t->pos);
        char f[FOUND_MAX];
        return fail(p->ei, t->pos, "expected eq, ne, gt, ge, lt or le after %s, found %s",
                    tok_desc(p, &lhs, q1), found(p, t, f));
    }
    struct token op_tok = p->tok;
    enum odata_op op = op_tok.op;
    if ((e = lex(p)))
        return e;
    struct token rhs = p->tok;
    if ((e = operand(p, &rdef)) || (e = lex(p)))
        return e;

    if (ldef && rdef)
        return fail(p->ei, rhs.pos, "cannot compare property '%s' with property '%s' " POS_FMT,
                    ldef->name, rdef->name, rhs.pos);
    if (!ldef && !rdef)
        return fail(p->ei, lhs.pos,
                    "comparison " POS_FMT " has no property; one side must be a property", lhs.pos);
    const struct field_def *def = ldef ? ldef : rdef;
    const struct token *lit = ldef ? &rhs : &lhs;
    if (!ldef)
        op = op_flip(op);

    struct odata_node *n = node_new(ODATA_NODE_CMP, lhs.pos);
    if ((e = bind_value(p, def, op, &op_tok, lit, n))) {
        odata_node_free(n);
        return e;
    }
    *out = n;
    return ERR_OK;
}

/* Checks the nesting limit before a recursive step for the token at pos. */
static enum err enter_level(struct parser *p, size_t pos)
{
    char q[QUOTE_MAX];
    if (p->depth >= ODATA_MAX_DEPTH)
        return fail(p->ei, pos, "%s " POS_FMT " nests deeper than the limit of %d",
                    tok_desc(p, &p->tok, q), pos, ODATA_MAX_DEPTH);
    p->depth++;
    return ERR_OK;
}

/* primary -> '(' expr ')' | comparison */
static enum err primary(struct parser *p, struct odata_node **out)
{
    enum err e;
    if (p->tok.kind != TK_LPAREN)
        return comparison(p, out);

    size_t open = p->tok.pos;
    if ((e = enter_level(p, open)) || (e = lex(p)))
        return e;
    if ((e = expr(p, out)))
        return e;
    p->depth--;
    if (p->tok.kind != TK_RPAREN) {
        char f[FOUND_MAX];
        const struct token *t = &p->tok;
        if (t->kind == TK_EOF)
            e = fail(p->ei, open, "unclosed '(' " POS_FMT, open);
        else
            e = fail(p->ei, t->pos, "expected ')' to close the '(' at position %zu, found %s", open,
                     found(p, t, f));
        odata_node_free(*out);
        *out = NULL;
        return e;
    }
    if ((e = lex(p))) {
        odata_node_free(*out);
        *out = NULL;
    }
    return e;
}

/* unary -> 'not' unary | primary
 * `not` binds tighter than `and`/`or`; its operand is a comparison or a parenthesised filter. */
static enum err unary(struct parser *p, struct odata_node **out)
{
    enum err e;
    if (p->tok.kind != TK_NOT)
        return primary(p, out);

    size_t pos = p->tok.pos;
    struct odata_node *operand_node = NULL;
    if ((e = enter_level(p, pos)) || (e = lex(p)) || (e = unary(p, &operand_node)))
        return e;
    p->depth--;
    struct odata_node *n = node_new(ODATA_NODE_NOT, pos);
    n->left = operand_node;
    *out = n;
    return ERR_OK;
}

/* Binary operators and their binding powers, Lua lparser style: a higher number binds tighter;
 * equal left and right powers make both left-associative. */
static const struct {
    enum tok_kind tok;
    enum odata_node_kind kind;
    int left, right;
} binops[] = {
    {TK_OR, ODATA_NODE_OR, 1, 1},
    {TK_AND, ODATA_NODE_AND, 2, 2},
};

/* subexpr -> unary { binop subexpr }   with binop priority above `limit`
 * binop   -> 'and' | 'or'
 * A chain of one operator is built iteratively (left-deep); recursion happens only when a
 * tighter operator follows, so the C stack grows with the number of priority levels and
 * parentheses, never with the length of a chain. */
static enum err subexpr(struct parser *p, int limit, struct odata_node **out)
{
    struct odata_node *left = NULL;
    enum err e = unary(p, &left);
    if (e)
        return e;
    for (;;) {
        size_t k = 0;
        while (k < ARRAY_SIZE(binops) && binops[k].tok != p->tok.kind)
            k++;
        if (k == ARRAY_SIZE(binops) || binops[k].left <= limit)
            break;
        struct odata_node *right = NULL;
        if ((e = lex(p)) || (e = subexpr(p, binops[k].right, &right))) {
            odata_node_free(left);
            return e;
        }
        struct odata_node *n = node_new(binops[k].kind, (size_t)left->offset);
        n->left = left;
        n->right = right;
        left = n;
    }
    *out = left;
    return ERR_OK;
}

/* expr -> subexpr (with no priority limit) */
static enum err expr(struct parser *p, struct odata_node **out)
{
    return subexpr(p, 0, out);
}

/* filter -> expr EOF   (blanks are spaces and tabs, allowed between any two tokens) */
enum err odata_filter_parse(const char *s, size_t len, struct odata_node **out, struct err_info *ei)
{
    struct parser p = {.s = s, .len = len, .ei = ei};
    struct odata_node *n = NULL;
    enum err e;
    char f[FOUND_MAX];

    *out = NULL;
    if (len > ODATA_MAX_FILTER_BYTES)
        return fail(ei, ODATA_MAX_FILTER_BYTES, "$filter is too long: %zu bytes (limit %d)", len,
                    ODATA_MAX_FILTER_BYTES);
    if ((e = lex(&p)))
        return e;
    if (p.tok.kind == TK_EOF)
        return fail(ei, 0, "$filter is empty");
    if ((e = expr(&p, &n)))
        return e;
    if (p.tok.kind != TK_EOF) {
        const struct token *t = &p.tok;
        if (t->kind == TK_RPAREN)
            e = fail(ei, t->pos, "unbalanced ')' " POS_FMT, t->pos);
        else
            e = fail(ei, t->pos, "unexpected %s; expected 'and', 'or' or the end of $filter",
                     found(&p, t, f));
        odata_node_free(n);
        return e;
    }
    *out = n;
    return ERR_OK;
}

/* ===================================================================================== */
/* Query options                                                                         */
/* ===================================================================================== */

void odata_query_init(struct odata_query *q)
{
    memset(q, 0, sizeof(*q));
    q->top = ODATA_DEFAULT_TOP;
    q->skip = 0;
    q->order[0].field = ODATA_FIELD_LAST_UPDATE_TIME;
    q->order[0].desc = true;
    q->norder = 1;
}

void odata_query_release(struct odata_query *q)
{
    odata_node_free(q->filter);
    free(q->filter_text);
    free(q->orderby_text);
    odata_query_init(q);
}

/* count -> DIGIT {DIGIT}   (no sign, no blanks, no fraction; leading zeros allowed)
 * Parses `$top`/`$skip` into 0..max. */
static enum err parse_count(const char *name, const char *s, size_t len, int64_t max, int64_t *out,
                            struct err_info *ei)
{
    char q[QUOTE_MAX];
    if (len == 0)
        return fail(ei, 0, "%s is empty; expected an integer from 0 to %" PRId64, name, max);
    for (size_t i = 0; i < len; i++)
        if (!is_digit(s[i]))
            return fail(ei, i,
                        "invalid %s %s at position %zu; expected an integer from 0 to %" PRId64,
                        name, quote(q, s, len), i, max);
    int64_t v;
    if (!parse_int64(s, len, &v) || v > max)
        return fail(ei, 0, "%s %s is out of range; expected an integer from 0 to %" PRId64, name,
                    quote(q, s, len), max);
    *out = v;
    return ERR_OK;
}

/* The property named s[0..len) if `$orderby` accepts it, else NULL. */
static const struct field_def *order_field(const char *s, size_t len)
{
    const struct field_def *def = field_lookup(s, len, false);
    if (def && (def->field == ODATA_FIELD_LAST_UPDATE_TIME ||
                def->field == ODATA_FIELD_CREATED_TIME || def->field == ODATA_FIELD_INCIDENT_ID))
        return def;
    return NULL;
}

/* orderby -> item {',' item}
 * item    -> blanks name [blanks1 ('asc' | 'desc')] blanks
 * name    -> 'lastUpdateTime' | 'createdTime' | 'incidentId'
 * Each property at most once; incidentId, being unique, must be the last item. */
static enum err parse_orderby(struct odata_query *q, const char *s, size_t len, struct err_info *ei)
{
    char qt[QUOTE_MAX];
    size_t i = 0;
    while (i < len && is_ws(s[i]))
        i++;
    if (i == len)
        return fail(ei, 0, "$orderby is empty");
    q->norder = 0;
    for (;;) {
        while (i < len && is_ws(s[i]))
            i++;
        size_t start = i;
        while (i < len && (is_alpha(s[i]) || is_digit(s[i])))
            i++;
        if (i == start) {
            if (i >= len)
                return fail(ei, i, "$orderby ends at position %zu where a property was expected",
                            i);
            return fail(ei, i, "expected a property name in $orderby at position %zu, found %s", i,
                        quote(qt, s + i, 1));
        }
        const struct field_def *def = order_field(s + start, i - start);
        if (!def)
            return fail(ei, start,
                        "cannot order by %s at position %zu; $orderby takes lastUpdateTime, "
                        "createdTime or incidentId",
                        quote(qt, s + start, i - start), start);
        for (size_t k = 0; k < q->norder; k++)
            if (q->order[k].field == def->field)
                return fail(ei, start, "duplicate $orderby property '%s' at position %zu",
                            def->name, start);
        if (q->norder > 0 && q->order[q->norder - 1].field == ODATA_FIELD_INCIDENT_ID)
            return fail(ei, start,
                        "$orderby property '%s' at position %zu follows incidentId, which is "
                        "unique, so it would never apply",
                        def->name, start);
        if (q->norder >= ODATA_MAX_ORDER)
            return fail(ei, start, "too many $orderby properties at position %zu (limit %d)", start,
                        ODATA_MAX_ORDER);
        struct odata_order *o = &q->order[q->norder++];
        o->field = def->field;
        o->desc = false;

        size_t blanks = i;
        while (i < len && is_ws(s[i]))
            i++;
        if (i > blanks && i < len && is_alpha(s[i])) {
            size_t dstart = i;
            while (i < len && (is_alpha(s[i]) || is_digit(s[i])))
                i++;
            if (span_eq(s + dstart, i - dstart, "desc"))
                o->desc = true;
            else if (!span_eq(s + dstart, i - dstart, "asc"))
                return fail(ei, dstart,
                            "invalid $orderby direction %s at position %zu; expected asc or "
                            "desc (lower case)",
                            quote(qt, s + dstart, i - dstart), dstart);
            while (i < len && is_ws(s[i]))
                i++;
        }
        if (i >= len)
            return ERR_OK;
        if (s[i] != ',')
            return fail(ei, i, "unexpected %s in $orderby at position %zu", quote(qt, s + i, 1), i);
        i++;
    }
}

/* The options we know; the index is also the option's bit in odata_query_parse's `seen`. */
enum option { OPT_FILTER, OPT_TOP, OPT_SKIP, OPT_ORDERBY };
static const char *const options[] = {
    [OPT_FILTER] = "$filter", [OPT_TOP] = "$top", [OPT_SKIP] = "$skip", [OPT_ORDERBY] = "$orderby"};

enum err odata_query_parse(struct odata_query *q, const struct odata_param *params, size_t nparams,
                           struct err_info *ei)
{
    unsigned seen = 0;
    enum err e = ERR_OK;
    char qt[QUOTE_MAX];

    odata_query_init(q);
    for (size_t n = 0; n < nparams && !e; n++) {
        const struct odata_param *pr = &params[n];
        if (pr->key_len == 0 || pr->key[0] != '$')
            continue;
        size_t k = 0;
        while (k < ARRAY_SIZE(options) && !span_eq(pr->key, pr->key_len, options[k]))
            k++;
        if (k == ARRAY_SIZE(options)) {
            size_t c = 0;
            while (c < ARRAY_SIZE(options) && !span_caseeq(pr->key, pr->key_len, options[c]))
                c++;
            if (c < ARRAY_SIZE(options))
                e = fail(ei, NO_POS,
                         "unknown query option %s; query options are case-sensitive: '%s'",
                         quote(qt, pr->key, pr->key_len), options[c]);
            else
                e = fail(ei, NO_POS, "unknown query option %s", quote(qt, pr->key, pr->key_len));
            break;
        }
        if (seen & (1u << k)) {
            e = fail(ei, NO_POS, "duplicate query option '%s'", options[k]);
            break;
        }
        seen |= 1u << k;
        const char *v = pr->value ? pr->value : "";
        size_t vlen = pr->value ? pr->value_len : 0;
        switch ((enum option)k) {
        case OPT_FILTER:
            e = odata_filter_parse(v, vlen, &q->filter, ei);
            if (!e)
                q->filter_text = xstrndup(v, vlen);
            break;
        case OPT_TOP:
            e = parse_count("$top", v, vlen, ODATA_MAX_TOP, &q->top, ei);
            q->top_given = true;
            break;
        case OPT_SKIP:
            e = parse_count("$skip", v, vlen, INT64_MAX, &q->skip, ei);
            break;
        case OPT_ORDERBY:
            e = parse_orderby(q, v, vlen, ei);
            if (!e)
                q->orderby_text = xstrndup(v, vlen);
            break;
        }
    }
    if (e)
        odata_query_release(q);
    return e;
}
