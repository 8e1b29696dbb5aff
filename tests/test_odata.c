/* SPDX-License-Identifier: MIT */
/*
 * Tests for odata.c and odata_sql.c: the `$filter` parser, the `$top`/`$skip`/`$orderby`
 * options, the SQL translation (text, parameters, and real evaluation in SQLite for the null
 * semantics), the limits, and a deterministic robustness run over random and mutated filters.
 *
 * Case files: tests/data/odata/<name>.case, read by test_odata_cases. A file holds any number
 * of cases. Blank lines and lines starting with '#' are ignored. A case starts with
 *     filter: <text>        the rest of the line after "filter:" and one space, verbatim
 *                           (may be empty; trailing blanks are kept)
 * followed by either
 *     sql: <fragment>       expected odata_sql_where output for SQLite
 *     params: <list>        expected parameters, ", "-separated: int:<n> or text:'<s>' with a
 *                           quote doubled; an empty list for none. Required with sql:.
 *     pg: <fragment>        optional: expected output for PostgreSQL, placeholders from $1
 * or
 *     error: <offset> <fragment>   parsing fails with ERR_ODATA at that 0-based byte offset and
 *                                  a message containing the fragment
 */
#include "common.h"
#include "tests.h"
#include "odata.h"
#include "odata_sql.h"
#include "model.h"
#include "xmalloc.h"
#include <dirent.h>
#include <sqlite3.h>

/* ----------------------------------------------------------------------------------------- */
/* Helpers                                                                                   */
/* ----------------------------------------------------------------------------------------- */

/* Renders params in the case-file form: "int:5, text:'it''s'". Caller frees. */
static char *params_render(const struct odata_sql_params *ps)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    for (size_t i = 0; i < ps->n; i++) {
        const struct odata_sql_param *p = &ps->v[i];
        if (i)
            buf_puts(&b, ", ");
        if (p->kind == ODATA_SQL_INT) {
            buf_appendf(&b, "int:%" PRId64, p->i);
            continue;
        }
        buf_puts(&b, "text:'");
        for (size_t k = 0; k < p->s_len; k++) {
            if (p->s[k] == '\'')
                buf_putc(&b, '\'');
            buf_putc(&b, p->s[k]);
        }
        buf_putc(&b, '\'');
    }
    return buf_detach(&b, NULL);
}

/* Parses and translates a filter; returns the SQL (caller frees) or NULL with ei filled. */
static char *where(const char *filter, enum odata_dialect d, char **params_out, struct err_info *ei)
{
    struct odata_node *n = NULL;
    err_clear(ei);
    if (odata_filter_parse(filter, strlen(filter), &n, ei) != ERR_OK)
        return NULL;
    struct buf b;
    struct odata_sql_params ps = {.n = 0};
    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(odata_sql_where(n, d, 1, &b, &ps), ERR_OK);
    if (params_out)
        *params_out = params_render(&ps);
    odata_node_free(n);
    return buf_detach(&b, NULL);
}

/* True when a message filled its buffer, i.e. was probably cut short. */
static bool msg_truncated(const struct err_info *ei)
{
    return strlen(ei->msg) >= sizeof(ei->msg) - 1;
}

/* Expects the filter to fail at offset with a message containing frag. */
static void expect_filter_error(const char *filter, size_t len, int offset, const char *frag)
{
    struct err_info ei;
    struct odata_node *n = NULL;
    err_clear(&ei);
    ck_assert_int_eq(odata_filter_parse(filter, len, &n, &ei), ERR_ODATA);
    ck_assert_ptr_null(n);
    ck_assert_int_eq(ei.code, ERR_ODATA);
    ck_assert_msg(ei.offset == offset, "offset %d, want %d (%s)", ei.offset, offset, ei.msg);
    ck_assert_msg(strstr(ei.msg, frag), "message '%s' lacks '%s'", ei.msg, frag);
    ck_assert_msg(!msg_truncated(&ei), "message cut short: %s", ei.msg);
}

/* ----------------------------------------------------------------------------------------- */
/* Case files                                                                                */
/* ----------------------------------------------------------------------------------------- */

struct ocase {
    const char *file;
    int line;
    char *filter, *sql, *pg, *params, *error;
};

static void ocase_clear(struct ocase *c)
{
    free(c->filter);
    free(c->sql);
    free(c->pg);
    free(c->params);
    free(c->error);
    c->filter = c->sql = c->pg = c->params = c->error = NULL;
}

/* Runs one case; returns the number of failures (0 or 1), printing what went wrong. */
static int ocase_run(const struct ocase *c)
{
    struct err_info ei;
    char *params = NULL;
    int bad = 0;

#define CASE_FAIL(...)                                                        \
    do {                                                                      \
        fprintf(stderr, "%s:%d: filter '%s': ", c->file, c->line, c->filter); \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        bad = 1;                                                              \
    } while (0)

    if (!!c->sql == !!c->error || (c->sql && !c->params)) {
        CASE_FAIL("malformed case: need sql: and params:, or error:");
        return 1;
    }
    char *sql = where(c->filter, ODATA_DIALECT_SQLITE, &params, &ei);
    if (c->error) {
        char *end;
        long off = strtol(c->error, &end, 10);
        const char *frag = *end == ' ' ? end + 1 : end;
        if (sql)
            CASE_FAIL("parsed as '%s', want error '%s'", sql, c->error);
        else if (ei.code != ERR_ODATA || ei.offset != off || !strstr(ei.msg, frag) ||
                 msg_truncated(&ei))
            CASE_FAIL("error %d at %d '%s', want at %ld '%s'", (int)ei.code, ei.offset, ei.msg, off,
                      frag);
    } else if (!sql) {
        CASE_FAIL("error at %d: %s", ei.offset, ei.msg);
    } else {
        if (strcmp(sql, c->sql) != 0)
            CASE_FAIL("sql\n  got  %s\n  want %s", sql, c->sql);
        if (strcmp(params, c->params) != 0)
            CASE_FAIL("params\n  got  %s\n  want %s", params, c->params);
        if (c->pg) {
            char *pg = where(c->filter, ODATA_DIALECT_PG, NULL, &ei);
            if (!pg || strcmp(pg, c->pg) != 0)
                CASE_FAIL("pg\n  got  %s\n  want %s", pg ? pg : "(error)", c->pg);
            free(pg);
        }
    }
#undef CASE_FAIL
    free(sql);
    free(params);
    return bad;
}

/* Runs every case of one file; returns the failure count and adds the case count to *ncases. */
static int ocase_file(const char *path, int *ncases)
{
    size_t len;
    char *text = test_read_file(path, &len);
    ck_assert_msg(text, "cannot read %s", path);
    struct ocase c = {.file = path};
    int failures = 0, lineno = 0;
    char *p = text;
    while (*p) {
        char *nl = strchr(p, '\n');
        char *line = p;
        p = nl ? nl + 1 : p + strlen(p);
        if (nl)
            *nl = '\0';
        lineno++;
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        ck_assert_msg(colon, "%s:%d: expected 'key: value'", path, lineno);
        *colon = '\0';
        char *value = colon[1] == ' ' ? colon + 2 : colon + 1;
        char **slot = NULL;
        if (strcmp(line, "filter") == 0) {
            if (c.filter) {
                failures += ocase_run(&c);
                (*ncases)++;
                ocase_clear(&c);
            }
            c.line = lineno;
            slot = &c.filter;
        } else if (strcmp(line, "sql") == 0) {
            slot = &c.sql;
        } else if (strcmp(line, "pg") == 0) {
            slot = &c.pg;
        } else if (strcmp(line, "params") == 0) {
            slot = &c.params;
        } else if (strcmp(line, "error") == 0) {
            slot = &c.error;
        }
        ck_assert_msg(slot && (slot == &c.filter || c.filter) && !*slot,
                      "%s:%d: unexpected or repeated key '%s'", path, lineno, line);
        *slot = xstrdup(value);
    }
    if (c.filter) {
        failures += ocase_run(&c);
        (*ncases)++;
    }
    ocase_clear(&c);
    free(text);
    return failures;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

START_TEST(test_odata_cases)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/odata", test_data_dir());
    DIR *d = opendir(dir);
    ck_assert_msg(d, "cannot open %s", dir);
    int failures = 0, ncases = 0, nfiles = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!has_suffix(de->d_name, ".case"))
            continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        failures += ocase_file(path, &ncases);
        nfiles++;
    }
    closedir(d);
    ck_assert_msg(nfiles > 0 && ncases > 100, "only %d cases in %d files", ncases, nfiles);
    ck_assert_msg(failures == 0, "%d of %d cases failed (details on stderr)", failures, ncases);
}
END_TEST

/* ----------------------------------------------------------------------------------------- */
/* Filter: limits and inputs the case format cannot express                                 */
/* ----------------------------------------------------------------------------------------- */

/* "(((...(incidentId eq 1)...)))" with n parentheses; caller frees. */
static char *nested_parens(int n)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    for (int i = 0; i < n; i++)
        buf_putc(&b, '(');
    buf_puts(&b, "incidentId eq 1");
    for (int i = 0; i < n; i++)
        buf_putc(&b, ')');
    return buf_detach(&b, NULL);
}

START_TEST(test_odata_depth_limit)
{
    struct err_info ei;
    struct odata_node *n = NULL;

    char *ok = nested_parens(ODATA_MAX_DEPTH);
    err_clear(&ei);
    ck_assert_int_eq(odata_filter_parse(ok, strlen(ok), &n, &ei), ERR_OK);
    odata_node_free(n);
    free(ok);

    char *deep = nested_parens(ODATA_MAX_DEPTH + 1);
    expect_filter_error(deep, strlen(deep), ODATA_MAX_DEPTH, "nests deeper than the limit of 32");
    free(deep);

    /* 4096 '(' is within the length limit: the depth check must stop it, not the C stack. */
    char *opens = xmalloc(ODATA_MAX_FILTER_BYTES);
    memset(opens, '(', ODATA_MAX_FILTER_BYTES);
    expect_filter_error(opens, ODATA_MAX_FILTER_BYTES, ODATA_MAX_DEPTH, "nests deeper");
    free(opens);

    /* 10,000 '(' hits the length limit first. */
    char *many = xmalloc(10000);
    memset(many, '(', 10000);
    expect_filter_error(many, 10000, ODATA_MAX_FILTER_BYTES, "too long");
    free(many);

    /* not not not ...: 32 is fine, 33 is not. */
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    for (int i = 0; i < ODATA_MAX_DEPTH; i++)
        buf_puts(&b, "not ");
    buf_puts(&b, "incidentId eq 1");
    err_clear(&ei);
    ck_assert_int_eq(odata_filter_parse(b.data, b.len, &n, &ei), ERR_OK);
    odata_node_free(n);
    buf_reset(&b);
    for (int i = 0; i < 1000; i++)
        buf_puts(&b, "not ");
    buf_puts(&b, "incidentId eq 1");
    expect_filter_error(b.data, b.len, 4 * ODATA_MAX_DEPTH, "nests deeper");

    /* Mixed: 16 "not (" pairs make 32 levels; one more '(' is too many. */
    buf_reset(&b);
    for (int i = 0; i < 16; i++)
        buf_puts(&b, "not (");
    size_t at = b.len;
    buf_puts(&b, "(incidentId eq 1)");
    for (int i = 0; i < 16; i++)
        buf_putc(&b, ')');
    expect_filter_error(b.data, b.len, (int)at, "nests deeper");
    buf_release(&b);

    /* A long flat chain is not nesting: 200 or-ed comparisons parse. */
    buf_init(&b, BUF_UNLIMITED);
    for (int i = 0; i < 200; i++)
        buf_appendf(&b, "%sincidentId eq %d", i ? " or " : "", i);
    err_clear(&ei);
    ck_assert_int_eq(odata_filter_parse(b.data, b.len, &n, &ei), ERR_OK);
    odata_node_free(n);
    buf_release(&b);
}
END_TEST

START_TEST(test_odata_length_limit)
{
    struct err_info ei;
    struct odata_node *n = NULL;
    char *s = xmalloc(ODATA_MAX_FILTER_BYTES + 2);
    const char *base = "incidentId eq 1";
    memset(s, ' ', ODATA_MAX_FILTER_BYTES + 1);
    memcpy(s, base, strlen(base));
    /* Exactly 4096 bytes (trailing blanks) parses. */
    err_clear(&ei);
    ck_assert_int_eq(odata_filter_parse(s, ODATA_MAX_FILTER_BYTES, &n, &ei), ERR_OK);
    odata_node_free(n);
    /* 4097 does not, whatever it holds. */
    expect_filter_error(s, ODATA_MAX_FILTER_BYTES + 1, ODATA_MAX_FILTER_BYTES,
                        "$filter is too long: 4097 bytes (limit 4096)");
    free(s);
}
END_TEST

START_TEST(test_odata_blanks_and_bytes)
{
    char *params = NULL;
    struct err_info ei;
    /* Tabs are blanks too. */
    char *sql =
        where("\tstatus\teq\t'Active'\tand\tincidentId eq 2\t", ODATA_DIALECT_SQLITE, &params, &ei);
    ck_assert_ptr_nonnull(sql);
    ck_assert_str_eq(sql, "(status = ? AND incident_id = ?)");
    ck_assert_str_eq(params, "int:0, int:2");
    free(sql);
    free(params);

    /* Other control characters are not. */
    expect_filter_error("status eq 'Active'\n", 19, 18, "unexpected byte 0x0a");
    expect_filter_error("status\req 'Active'", 18, 6, "unexpected byte 0x0d");

    /* A NUL byte inside a string literal is kept (the length travels with the value). */
    static const char nul[] = "assignedTo eq 'a\0b'";
    struct odata_node *n = NULL;
    err_clear(&ei);
    ck_assert_int_eq(odata_filter_parse(nul, sizeof(nul) - 1, &n, &ei), ERR_OK);
    ck_assert_int_eq(n->value_kind, ODATA_VALUE_STRING);
    ck_assert_uint_eq(n->s_len, 3);
    ck_assert_int_eq(memcmp(n->s, "a\0b", 4), 0);
    odata_node_free(n);
    /* Outside one it is an unexpected byte. */
    expect_filter_error("status eq 'Active'\0", 19, 18, "unexpected byte 0x00");

    /* Non-ASCII text in a message is shown as '?'. */
    const char *u1 = "status eq \xc3\xa4", *u2 = "severity eq 'H\xc3\xb6h'";
    expect_filter_error(u1, strlen(u1), 10, "unexpected byte 0xc3 at position 10");
    expect_filter_error(u2, strlen(u2), 12, "unknown severity 'H??h'");
}
END_TEST

START_TEST(test_odata_node_offsets)
{
    struct err_info ei;
    struct odata_node *n = NULL;
    const char *f = "(status eq 'Active') or not 5 lt incidentId";
    err_clear(&ei);
    ck_assert_int_eq(odata_filter_parse(f, strlen(f), &n, &ei), ERR_OK);
    ck_assert_int_eq(n->kind, ODATA_NODE_OR);
    ck_assert_int_eq(n->offset, 1); /* the first token of its left operand */
    ck_assert_int_eq(n->left->kind, ODATA_NODE_CMP);
    ck_assert_int_eq(n->left->offset, 1);
    ck_assert_int_eq(n->right->kind, ODATA_NODE_NOT);
    ck_assert_int_eq(n->right->offset, 24);
    const struct odata_node *c = n->right->left;
    ck_assert_int_eq(c->offset, 28);
    ck_assert_int_eq(c->field, ODATA_FIELD_INCIDENT_ID);
    ck_assert_int_eq(c->op, ODATA_OP_GT); /* 5 lt incidentId == incidentId gt 5 */
    ck_assert_int_eq(c->i, 5);
    odata_node_free(n);
    odata_node_free(NULL);
}
END_TEST

START_TEST(test_odata_field_names)
{
    ck_assert_str_eq(odata_field_name(ODATA_FIELD_LAST_UPDATE_TIME), "lastUpdateTime");
    ck_assert_str_eq(odata_field_name(ODATA_FIELD_CREATED_TIME), "createdTime");
    ck_assert_str_eq(odata_field_name(ODATA_FIELD_STATUS), "status");
    ck_assert_str_eq(odata_field_name(ODATA_FIELD_ASSIGNED_TO), "assignedTo");
    ck_assert_str_eq(odata_field_name(ODATA_FIELD_SEVERITY), "severity");
    ck_assert_str_eq(odata_field_name(ODATA_FIELD_CLASSIFICATION), "classification");
    ck_assert_str_eq(odata_field_name(ODATA_FIELD_DETERMINATION), "determination");
    ck_assert_str_eq(odata_field_name(ODATA_FIELD_INCIDENT_ID), "incidentId");
}
END_TEST

/* ----------------------------------------------------------------------------------------- */
/* SQL translation                                                                           */
/* ----------------------------------------------------------------------------------------- */

START_TEST(test_odata_sql_placeholder_numbering)
{
    struct err_info ei;
    struct odata_node *n = NULL;
    const char *f = "assignedTo eq 'x' and incidentId gt 7";
    err_clear(&ei);
    ck_assert_int_eq(odata_filter_parse(f, strlen(f), &n, &ei), ERR_OK);

    /* PG numbering continues after the caller's own parameters; values are appended. */
    struct odata_sql_params ps = {.n = 2};
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    buf_puts(&b, "tenant_id = $1 AND owner = $2 AND ");
    ck_assert_int_eq(odata_sql_where(n, ODATA_DIALECT_PG, 3, &b, &ps), ERR_OK);
    ck_assert_str_eq(b.data, "tenant_id = $1 AND owner = $2 AND ((assigned_to IS NOT NULL AND "
                             "translate(assigned_to, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
                             "'abcdefghijklmnopqrstuvwxyz') = translate($3, "
                             "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) AND "
                             "incident_id > $4)");
    ck_assert_uint_eq(ps.n, 4);
    ck_assert_int_eq(ps.v[2].kind, ODATA_SQL_TEXT);
    ck_assert_ptr_eq(ps.v[2].s, n->left->s); /* borrowed from the tree */
    ck_assert_uint_eq(ps.v[2].s_len, 1);
    ck_assert_int_eq(ps.v[3].kind, ODATA_SQL_INT);
    ck_assert_int_eq(ps.v[3].i, 7);

    /* SQLite ignores first_placeholder. */
    buf_reset(&b);
    ps.n = 0;
    ck_assert_int_eq(odata_sql_where(n, ODATA_DIALECT_SQLITE, 9, &b, &ps), ERR_OK);
    ck_assert_str_eq(b.data, "((assigned_to IS NOT NULL AND assigned_to = ? COLLATE NOCASE) AND "
                             "incident_id > ?)");
    ck_assert_uint_eq(ps.n, 2);

    /* No filter: a true expression, valid in both dialects. */
    buf_reset(&b);
    ps.n = 0;
    ck_assert_int_eq(odata_sql_where(NULL, ODATA_DIALECT_PG, 1, &b, &ps), ERR_OK);
    ck_assert_str_eq(b.data, "1 = 1");
    ck_assert_uint_eq(ps.n, 0);
    buf_release(&b);
    odata_node_free(n);
}
END_TEST

/* Builds "incidentId eq 0 or incidentId eq 1 or ..." by hand: more comparisons than a 4 KiB
 * filter can hold, to reach the parameter limit. */
static struct odata_node *long_chain(int n)
{
    struct odata_node *root = NULL;
    for (int i = 0; i < n; i++) {
        struct odata_node *c = xcalloc(1, sizeof(*c));
        c->kind = ODATA_NODE_CMP;
        c->field = ODATA_FIELD_INCIDENT_ID;
        c->op = ODATA_OP_EQ;
        c->value_kind = ODATA_VALUE_INT;
        c->i = i;
        if (!root) {
            root = c;
            continue;
        }
        struct odata_node *o = xcalloc(1, sizeof(*o));
        o->kind = ODATA_NODE_OR;
        o->left = root;
        o->right = c;
        root = o;
    }
    return root;
}

START_TEST(test_odata_sql_limits)
{
    struct odata_sql_params ps = {.n = 0};
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    buf_puts(&b, "x AND ");

    struct odata_node *ok = long_chain(ODATA_SQL_MAX_PARAMS);
    ck_assert_int_eq(odata_sql_where(ok, ODATA_DIALECT_SQLITE, 1, &b, &ps), ERR_OK);
    ck_assert_uint_eq(ps.n, ODATA_SQL_MAX_PARAMS);
    odata_node_free(ok);

    /* One parameter too many: ERR_TOO_LARGE and the buffer and list are left as they were. */
    buf_reset(&b);
    buf_puts(&b, "x AND ");
    ps.n = 1;
    struct odata_node *big = long_chain(ODATA_SQL_MAX_PARAMS);
    ck_assert_int_eq(odata_sql_where(big, ODATA_DIALECT_SQLITE, 1, &b, &ps), ERR_TOO_LARGE);
    ck_assert_str_eq(b.data, "x AND ");
    ck_assert_uint_eq(ps.n, 1);
    buf_release(&b);

    /* A capped buffer: same contract. */
    struct buf small;
    buf_init(&small, 40);
    buf_puts(&small, "keep");
    ps.n = 0;
    ck_assert_int_eq(odata_sql_where(big, ODATA_DIALECT_PG, 1, &small, &ps), ERR_TOO_LARGE);
    ck_assert_str_eq(small.data, "keep");
    ck_assert_uint_eq(ps.n, 0);
    buf_release(&small);

    struct buf empty;
    buf_init(&empty, 4);
    ck_assert_int_eq(odata_sql_where(big, ODATA_DIALECT_SQLITE, 1, &empty, &ps), ERR_TOO_LARGE);
    ck_assert_uint_eq(empty.len, 0);
    buf_release(&empty);
    odata_node_free(big);
}
END_TEST

/* ----------------------------------------------------------------------------------------- */
/* Evaluation in SQLite: the null semantics and the operators as the store will run them    */
/* ----------------------------------------------------------------------------------------- */

#define T0 15994036170000000LL /* 2020-09-06T14:46:57Z */

static sqlite3 *semantics_db(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    static const char schema[] =
        "CREATE TABLE incidents (incident_id INTEGER PRIMARY KEY, last_update_time INTEGER NOT "
        "NULL, created_time INTEGER NOT NULL, status INTEGER NOT NULL, assigned_to TEXT, severity "
        "INTEGER NOT NULL, classification INTEGER NOT NULL, determination INTEGER NOT NULL);"
        "INSERT INTO incidents VALUES"
        " (1, 15994036170000000, 15994036170000000, 0, 'Alice@Contoso.com', 4, 0, 0),"
        " (2, 15994036170000001, 15994036170000000, 2, NULL, 2, 1, 4),"
        " (3, 15994036270000000, 15994036270000000, 1, 'bob@contoso.com', 3, 3, 11),"
        " (4, 15994036270000000, 15994036270000000, 3, '\xc3\x89LOISE@x', 1, 1, 13),"
        " (5, 15994036370000000, 15994036370000000, 0, 'o''brien', 2, 2, 8);";
    ck_assert_int_eq(sqlite3_exec(db, schema, NULL, NULL, NULL), SQLITE_OK);
    return db;
}

/* Runs the filter against the table; returns the matching ids as "1,3" (caller frees). */
static char *select_ids(sqlite3 *db, const char *filter)
{
    struct err_info ei;
    struct odata_node *n = NULL;
    err_clear(&ei);
    ck_assert_msg(odata_filter_parse(filter, strlen(filter), &n, &ei) == ERR_OK, "%s: %s", filter,
                  ei.msg);
    struct buf sql;
    struct odata_sql_params ps = {.n = 0};
    buf_init(&sql, BUF_UNLIMITED);
    buf_puts(&sql, "SELECT incident_id FROM incidents WHERE ");
    ck_assert_int_eq(odata_sql_where(n, ODATA_DIALECT_SQLITE, 1, &sql, &ps), ERR_OK);
    buf_puts(&sql, " ORDER BY incident_id");
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql.data, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql.data,
                  sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_bind_parameter_count(st), (int)ps.n);
    for (size_t i = 0; i < ps.n; i++) {
        const struct odata_sql_param *p = &ps.v[i];
        int rc = p->kind == ODATA_SQL_INT
                     ? sqlite3_bind_int64(st, (int)i + 1, p->i)
                     : sqlite3_bind_text(st, (int)i + 1, p->s, (int)p->s_len, SQLITE_STATIC);
        ck_assert_int_eq(rc, SQLITE_OK);
    }
    struct buf ids;
    buf_init(&ids, BUF_UNLIMITED);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        buf_appendf(&ids, "%s%lld", ids.len ? "," : "", (long long)sqlite3_column_int64(st, 0));
    ck_assert_int_eq(rc, SQLITE_DONE);
    sqlite3_finalize(st);
    buf_release(&sql);
    odata_node_free(n);
    return buf_detach(&ids, NULL);
}

START_TEST(test_odata_sqlite_semantics)
{
    static const struct {
        const char *filter, *ids;
    } cases[] = {
        /* assignedTo: case-insensitive (ASCII only), OData null semantics */
        {"assignedTo eq 'alice@contoso.com'", "1"},
        {"assignedTo eq 'ALICE@CONTOSO.COM'", "1"},
        {"assignedTo ne 'alice@contoso.com'", "2,3,4,5"},
        {"not (assignedTo eq 'alice@contoso.com')", "2,3,4,5"},
        {"not (assignedTo ne 'alice@contoso.com')", "1"},
        {"assignedTo eq null", "2"},
        {"null eq assignedTo", "2"},
        {"assignedTo ne null", "1,3,4,5"},
        {"not (assignedTo ne null)", "2"},
        {"not (assignedTo eq null)", "1,3,4,5"},
        {"assignedTo gt 'b'", "3,4,5"},
        {"not (assignedTo gt 'b')", "1,2"},
        {"'b' ge assignedTo", "1"},
        {"assignedTo eq '\xc3\xa9loise@x'", ""}, /* É is not ASCII: not folded */
        {"assignedTo eq '\xc3\x89LOISE@X'", "4"},
        {"assignedTo eq 'O''BRIEN'", "5"},
        {"assignedTo eq 'x'' OR 1=1 --'", ""},
        /* date-times: 100 ns precision, offsets in UTC */
        {"lastUpdateTime gt 2020-09-06T14:46:57Z", "2,3,4,5"},
        {"lastUpdateTime gt 2020-09-06T14:46:57.0000001Z", "3,4,5"},
        {"lastUpdateTime eq 2020-09-06T14:46:57.0000001Z", "2"},
        {"createdTime eq 2020-09-06T16:46:57+02:00", "1,2"},
        {"createdTime le 2020-09-06T09:47:07-05:00", "1,2,3,4"},
        {"2020-09-06T14:47:07Z lt lastUpdateTime", "5"},
        /* enums: case-insensitive, aliases, deprecated values, severity rank */
        {"status eq 'active'", "1,5"},
        {"status ne 'ACTIVE'", "2,3,4"},
        {"determination eq 'apt'", "4"},
        {"determination eq 'clean'", "3"},
        {"classification eq 'falsepositive'", "3"},
        {"severity ge 'medium'", "1,3"},
        {"'Low' gt severity", "4"},
        /* incidentId and logic */
        {"incidentId le 2 or incidentId eq 5", "1,2,5"},
        {"status eq 'Active' or status eq 'Resolved' and severity eq 'High'", "1,5"},
        {"(status eq 'Active' or status eq 'Resolved') and severity eq 'Low'", "2,5"},
        {"not status eq 'Resolved' and severity ge 'Medium'", "1,3"},
        {"not (status eq 'Resolved' or severity ge 'Medium')", "4,5"},
        {"not not incidentId eq 3", "3"},
        {"incidentId gt -1 and incidentId lt 9223372036854775807", "1,2,3,4,5"},
    };
    sqlite3 *db = semantics_db();
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *ids = select_ids(db, cases[i].filter);
        ck_assert_msg(strcmp(ids, cases[i].ids) == 0, "%s: got [%s], want [%s]", cases[i].filter,
                      ids, cases[i].ids);
        free(ids);
    }
    sqlite3_close(db);
}
END_TEST

/* The deepest and the longest filters the parser accepts must still be SQL SQLite accepts. */
START_TEST(test_odata_sqlite_accepts_limits)
{
    sqlite3 *db = semantics_db();
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    for (int i = 0; i < ODATA_MAX_DEPTH / 2; i++)
        buf_puts(&b, "not (assignedTo ne 'x' or ");
    buf_puts(&b, "incidentId eq 1");
    for (int i = 0; i < ODATA_MAX_DEPTH / 2; i++)
        buf_putc(&b, ')');
    char *ids = select_ids(db, b.data);
    free(ids);

    buf_reset(&b);
    while (b.len + 40 < ODATA_MAX_FILTER_BYTES)
        buf_appendf(&b, "%sassignedTo eq 'a'", b.len ? " or " : "");
    ids = select_ids(db, b.data);
    ck_assert_str_eq(ids, "");
    free(ids);
    buf_release(&b);
    sqlite3_close(db);
}
END_TEST

/* ----------------------------------------------------------------------------------------- */
/* Query options                                                                             */
/* ----------------------------------------------------------------------------------------- */

static struct odata_param param(const char *key, const char *value)
{
    struct odata_param p = {key, strlen(key), value, value ? strlen(value) : 0};
    return p;
}

static char *order_sql(const struct odata_query *q)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    ck_assert_int_eq(odata_sql_order(q, &b), ERR_OK);
    return buf_detach(&b, NULL);
}

/* Parses one option; returns the error code and leaves ei filled. */
static enum err parse_one(struct odata_query *q, const char *key, const char *value,
                          struct err_info *ei)
{
    struct odata_param p = param(key, value);
    err_clear(ei);
    return odata_query_parse(q, &p, 1, ei);
}

static void expect_option_error(const char *key, const char *value, int offset, const char *frag)
{
    struct odata_query q;
    struct err_info ei;
    ck_assert_msg(parse_one(&q, key, value, &ei) == ERR_ODATA, "%s=%s accepted", key, value);
    ck_assert_msg(ei.offset == offset, "%s=%s: offset %d, want %d (%s)", key, value, ei.offset,
                  offset, ei.msg);
    ck_assert_msg(strstr(ei.msg, frag), "%s=%s: message '%s' lacks '%s'", key, value, ei.msg, frag);
    ck_assert_msg(!msg_truncated(&ei), "message cut short: %s", ei.msg);
    /* Released on failure. */
    ck_assert_ptr_null(q.filter);
    ck_assert_ptr_null(q.filter_text);
    ck_assert_ptr_null(q.orderby_text);
}

START_TEST(test_odata_query_defaults)
{
    struct odata_query q;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(odata_query_parse(&q, NULL, 0, &ei), ERR_OK);
    ck_assert_ptr_null(q.filter);
    ck_assert_int_eq(q.top, 100);
    ck_assert(!q.top_given);
    ck_assert_int_eq(q.skip, 0);
    ck_assert_uint_eq(q.norder, 1);
    ck_assert_int_eq(q.order[0].field, ODATA_FIELD_LAST_UPDATE_TIME);
    ck_assert(q.order[0].desc);
    char *o = order_sql(&q);
    ck_assert_str_eq(o, "last_update_time DESC, incident_id ASC");
    free(o);
    odata_query_release(&q);
    odata_query_release(&q); /* idempotent */
}
END_TEST

START_TEST(test_odata_query_top)
{
    static const struct {
        const char *v;
        int64_t want;
    } ok[] = {{"0", 0}, {"1", 1}, {"100", 100}, {"007", 7}};
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        struct odata_query q;
        struct err_info ei;
        ck_assert_int_eq(parse_one(&q, "$top", ok[i].v, &ei), ERR_OK);
        ck_assert_int_eq(q.top, ok[i].want);
        ck_assert(q.top_given);
        odata_query_release(&q);
    }
    expect_option_error("$top", "101", 0, "$top '101' is out of range");
    expect_option_error("$top", "99999999999999999999", 0, "out of range");
    expect_option_error("$top", "-1", 0, "invalid $top '-1' at position 0");
    expect_option_error("$top", "", 0, "$top is empty");
    expect_option_error("$top", NULL, 0, "$top is empty");
    expect_option_error("$top", "1.5", 1, "invalid $top '1.5' at position 1");
    expect_option_error("$top", " 5", 0, "invalid $top ' 5'");
    expect_option_error("$top", "5 ", 1, "invalid $top '5 '");
    expect_option_error("$top", "+5", 0, "invalid $top '+5'");
    expect_option_error("$top", "1e2", 1, "expected an integer from 0 to 100");
    expect_option_error("$top", "0x10", 1, "invalid $top");
}
END_TEST

START_TEST(test_odata_query_skip)
{
    static const struct {
        const char *v;
        int64_t want;
    } ok[] = {{"0", 0}, {"250", 250}, {"9223372036854775807", INT64_MAX}};
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        struct odata_query q;
        struct err_info ei;
        ck_assert_int_eq(parse_one(&q, "$skip", ok[i].v, &ei), ERR_OK);
        ck_assert_int_eq(q.skip, ok[i].want);
        ck_assert(!q.top_given);
        odata_query_release(&q);
    }
    expect_option_error("$skip", "9223372036854775808", 0, "$skip '9223372036854775808' is out");
    expect_option_error("$skip", "-1", 0, "invalid $skip '-1'");
    expect_option_error("$skip", "", 0, "$skip is empty");
    expect_option_error("$skip", "10a", 2, "invalid $skip '10a' at position 2");
}
END_TEST

START_TEST(test_odata_query_orderby)
{
    static const struct {
        const char *v, *sql;
    } ok[] = {
        {"createdTime", "created_time ASC, incident_id ASC"},
        {"createdTime desc", "created_time DESC, incident_id ASC"},
        {"lastUpdateTime asc,createdTime desc",
         "last_update_time ASC, created_time DESC, incident_id ASC"},
        {" lastUpdateTime\tdesc , createdTime ", "last_update_time DESC, created_time ASC, "
                                                 "incident_id ASC"},
        {"incidentId desc", "incident_id DESC"},
        {"incidentId", "incident_id ASC"},
        {"createdTime desc, incidentId desc", "created_time DESC, incident_id DESC"},
        {"lastUpdateTime, createdTime, incidentId",
         "last_update_time ASC, created_time ASC, incident_id ASC"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        struct odata_query q;
        struct err_info ei;
        ck_assert_msg(parse_one(&q, "$orderby", ok[i].v, &ei) == ERR_OK, "%s: %s", ok[i].v, ei.msg);
        ck_assert_str_eq(q.orderby_text, ok[i].v);
        char *o = order_sql(&q);
        ck_assert_msg(strcmp(o, ok[i].sql) == 0, "%s: got %s", ok[i].v, o);
        free(o);
        odata_query_release(&q);
    }
    expect_option_error("$orderby", "", 0, "$orderby is empty");
    expect_option_error("$orderby", "  ", 0, "$orderby is empty");
    expect_option_error("$orderby", "status", 0, "cannot order by 'status' at position 0");
    expect_option_error("$orderby", "createdtime", 0, "cannot order by 'createdtime'");
    expect_option_error("$orderby", "createdTime DESC", 12, "invalid $orderby direction 'DESC'");
    expect_option_error("$orderby", "createdTime up", 12, "direction 'up' at position 12");
    expect_option_error("$orderby", "createdTime,createdTime desc", 12,
                        "duplicate $orderby property 'createdTime' at position 12");
    expect_option_error("$orderby", "incidentId, createdTime", 12, "follows incidentId");
    expect_option_error("$orderby", "createdTime,", 12, "$orderby ends at position 12");
    expect_option_error("$orderby", ",createdTime", 0, "found ','");
    expect_option_error("$orderby", "createdTime desc desc", 17, "unexpected 'd'");
    expect_option_error("$orderby", "createdTime;", 11, "unexpected ';' in $orderby");
    expect_option_error("$orderby", "createdTime/x", 11, "unexpected '/'");
}
END_TEST

START_TEST(test_odata_query_options)
{
    struct odata_query q;
    struct err_info ei;

    /* Everything together; keys without '$' are ignored, whatever they hold. */
    struct odata_param all[] = {
        param("api-version", "1"),
        param("$filter", "status eq 'Active'"),
        param("filter", "garbage((("),
        param("$top", "10"),
        param("$skip", "20"),
        param("$orderby", "createdTime desc"),
        param("", "x"),
    };
    err_clear(&ei);
    ck_assert_int_eq(odata_query_parse(&q, all, ARRAY_SIZE(all), &ei), ERR_OK);
    ck_assert_ptr_nonnull(q.filter);
    ck_assert_str_eq(q.filter_text, "status eq 'Active'");
    ck_assert_str_eq(q.orderby_text, "createdTime desc");
    ck_assert_int_eq(q.top, 10);
    ck_assert(q.top_given);
    ck_assert_int_eq(q.skip, 20);
    char *o = order_sql(&q);
    ck_assert_str_eq(o, "created_time DESC, incident_id ASC");
    free(o);
    odata_query_release(&q);
    ck_assert_ptr_null(q.filter);

    /* Unsupported and unknown options; options are case-sensitive. */
    expect_option_error("$select", "incidentId", -1, "unknown query option '$select'");
    expect_option_error("$count", "true", -1, "unknown query option '$count'");
    expect_option_error("$expand", "alerts", -1, "unknown query option '$expand'");
    expect_option_error("$", "", -1, "unknown query option '$'");
    expect_option_error("$Filter", "status eq 'Active'", -1,
                        "unknown query option '$Filter'; query options are case-sensitive: "
                        "'$filter'");
    expect_option_error("$TOP", "1", -1, "case-sensitive: '$top'");

    /* Filter errors keep their offsets inside the $filter value. */
    expect_option_error("$filter", "status eq 'Nope'", 10, "unknown status 'Nope'");
    expect_option_error("$filter", "", 0, "$filter is empty");

    /* Duplicates, even when the values agree; a later error frees what was built. */
    struct odata_param dup[] = {param("$filter", "incidentId eq 1"), param("$top", "5"),
                                param("$filter", "incidentId eq 1")};
    err_clear(&ei);
    ck_assert_int_eq(odata_query_parse(&q, dup, ARRAY_SIZE(dup), &ei), ERR_ODATA);
    ck_assert_str_eq(ei.msg, "duplicate query option '$filter'");
    ck_assert_ptr_null(q.filter);
    ck_assert_ptr_null(q.filter_text);
    ck_assert_int_eq(q.top, ODATA_DEFAULT_TOP);

    struct odata_param dup2[] = {param("$orderby", "createdTime"), param("$orderby", "incidentId")};
    err_clear(&ei);
    ck_assert_int_eq(odata_query_parse(&q, dup2, ARRAY_SIZE(dup2), &ei), ERR_ODATA);
    ck_assert_str_eq(ei.msg, "duplicate query option '$orderby'");
    ck_assert_ptr_null(q.orderby_text);
    ck_assert_uint_eq(q.norder, 1);

    /* The first error in parameter order is the one reported. */
    struct odata_param two[] = {param("$top", "500"), param("$select", "x")};
    err_clear(&ei);
    ck_assert_int_eq(odata_query_parse(&q, two, ARRAY_SIZE(two), &ei), ERR_ODATA);
    ck_assert(strstr(ei.msg, "$top"));

    /* Keys are length-delimited, not NUL-terminated. */
    struct odata_param cut = {"$topx", 4, "7x", 1};
    err_clear(&ei);
    ck_assert_int_eq(odata_query_parse(&q, &cut, 1, &ei), ERR_OK);
    ck_assert_int_eq(q.top, 7);
    odata_query_release(&q);
}
END_TEST

/* Messages quote at most 32 bytes of a token, so even the longest fit err_info.msg whole. */
START_TEST(test_odata_message_lengths)
{
    static const struct {
        const char *tail; /* placed after 3900 blanks */
        const char *frag;
    } cases[] = {
        {"'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
         "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
         "in $filter"},
        {"incidentId eq 1 'cccccccccccccccccccccccccccccccccccccccccccccccccccccc'",
         "or the end of $filter"},
        {"lastUpdateTime eq '2020-09-06T14:46:57.0000000000000000000000000000000000Z'",
         "e.g. 2020-09-06T14:46:57Z"},
        {"lastUpdateTime eq 'dddddddddddddddddddddddddddddddddddddddddddddddddddddd'",
         "in $filter"},
        {"classification eq 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee'", "allowed: "},
        {"determination eq 'ffffffffffffffffffffffffffffffffffffffffffffffffffffff'", "..."},
        {"lastUpdateTime gt 2020-09-06T14:46:57.123456700000000000000000000000 02:00",
         "more than 7 fractional digits"},
        {"lastUpdateTime gt 2020-09-06T14:46:57 02:00", "as %2Bhh:mm"},
        {"lastUpdateTime gt 2020-09-06T14:46:57.1234567000000000000000000000000000Z",
         "more than 7 fractional digits"},
        {"(incidentId eq 1 gggggggggggggggggggggggggggggggggggggggggggggggggggggggg", "in $filter"},
        {"incidentId eq 99999999999999999999999999999999999999999999999999999999999999",
         "is out of range"},
        {"LASTUPDATETIME eq 1", "case-sensitive: 'lastUpdateTime'"},
        {"classification eq nullnullnullnullnullnullnullnullnullnullnullnull", "at position"},
    };
    char *s = xmalloc(ODATA_MAX_FILTER_BYTES + 1);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t tl = strlen(cases[i].tail);
        ck_assert(3900 + tl <= ODATA_MAX_FILTER_BYTES);
        memset(s, ' ', 3900);
        memcpy(s + 3900, cases[i].tail, tl);
        struct err_info ei;
        struct odata_node *n = NULL;
        err_clear(&ei);
        ck_assert_int_eq(odata_filter_parse(s, 3900 + tl, &n, &ei), ERR_ODATA);
        ck_assert_msg(!msg_truncated(&ei), "cut short: %s", ei.msg);
        ck_assert_msg(strstr(ei.msg, cases[i].frag), "'%s' lacks '%s'", ei.msg, cases[i].frag);
        ck_assert_int_ge(ei.offset, 3900);
    }
    free(s);

    struct odata_query q;
    struct err_info ei;
    char skip[200];
    memset(skip, '9', sizeof(skip) - 2);
    skip[sizeof(skip) - 2] = 'x';
    skip[sizeof(skip) - 1] = '\0';
    ck_assert_int_eq(parse_one(&q, "$skip", skip, &ei), ERR_ODATA);
    ck_assert_msg(!msg_truncated(&ei), "cut short: %s", ei.msg);
    ck_assert_int_eq(parse_one(&q, "$skip", skip + 100, &ei), ERR_ODATA);
    ck_assert_msg(!msg_truncated(&ei), "cut short: %s", ei.msg);
    skip[sizeof(skip) - 2] = '9';
    ck_assert_int_eq(parse_one(&q, "$skip", skip, &ei), ERR_ODATA);
    ck_assert_msg(!msg_truncated(&ei), "cut short: %s", ei.msg);
    ck_assert_int_eq(parse_one(&q, "$orderby",
                               "createdTime, lastUpdateTime desc, incidentId, "
                               "createdTimeWithAVeryVeryVeryLongSuffix",
                               &ei),
                     ERR_ODATA);
    ck_assert_msg(!msg_truncated(&ei), "cut short: %s", ei.msg);
    ck_assert_int_eq(
        parse_one(&q, "$orderby", "createdTime ascendingascendingascendingascending", &ei),
        ERR_ODATA);
    ck_assert_msg(!msg_truncated(&ei), "cut short: %s", ei.msg);
    ck_assert_int_eq(parse_one(&q, "$selectAVeryVeryVeryLongOptionNameThatGoesOnAndOn", "", &ei),
                     ERR_ODATA);
    ck_assert_msg(!msg_truncated(&ei), "cut short: %s", ei.msg);
}
END_TEST

/* ----------------------------------------------------------------------------------------- */
/* Robustness: random and mutated filters never crash and always report a sane error        */
/* ----------------------------------------------------------------------------------------- */

static uint64_t rng_state;

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t rng_below(size_t n)
{
    return (size_t)(rng() % n);
}

static const char *const fuzz_words[] = {
    "lastUpdateTime",
    "createdTime",
    "status",
    "assignedTo",
    "severity",
    "classification",
    "determination",
    "incidentId",
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "and",
    "or",
    "not",
    "null",
    "(",
    ")",
    "'Active'",
    "'high'",
    "'x''y'",
    "''",
    "'",
    "2020-09-06T14:46:57Z",
    "2020-09-06T14:46:57.1234567+02:00",
    "2020-09-06T14:46:57.12345678Z",
    "2020-09-06",
    "'2020-09-06T14:46:57Z'",
    "5",
    "-1",
    "99999999999999999999",
    "startswith(",
    ",",
    "in",
    "EQ",
    "And",
    "true",
    "foo",
    "contains",
    "/",
    "$",
    "\t",
    "\xff",
    "Apt",
    "1.5",
    "-",
};

/* Checks one input: a parse error is ERR_ODATA inside [0, len]; a tree translates in both
 * dialects with exactly one placeholder per parameter and no quote from the client. */
static void fuzz_one(const char *s, size_t len)
{
    struct err_info ei;
    struct odata_node *n = NULL;
    err_clear(&ei);
    enum err e = odata_filter_parse(s, len, &n, &ei);
    if (e != ERR_OK) {
        ck_assert_int_eq(e, ERR_ODATA);
        ck_assert_int_eq(ei.code, ERR_ODATA);
        ck_assert_msg(ei.offset >= 0 && (size_t)ei.offset <= len, "offset %d of %zu: %s", ei.offset,
                      len, ei.msg);
        ck_assert(ei.msg[0] != '\0');
        ck_assert_msg(!msg_truncated(&ei), "message cut short: %s", ei.msg);
        ck_assert_ptr_null(n);
        return;
    }
    ck_assert_ptr_nonnull(n);
    ck_assert(n->offset >= 0 && (size_t)n->offset < len);
    for (int d = 0; d < 2; d++) {
        struct buf b;
        struct odata_sql_params ps = {.n = 0};
        buf_init(&b, BUF_UNLIMITED);
        ck_assert_int_eq(
            odata_sql_where(n, d ? ODATA_DIALECT_PG : ODATA_DIALECT_SQLITE, 1, &b, &ps), ERR_OK);
        size_t marks = 0;
        for (const char *p = b.data; *p; p++) {
            if (*p == (d ? '$' : '?'))
                marks++;
            if (!d)
                ck_assert_msg(*p != '\'', "quote in SQL: %s", b.data);
        }
        ck_assert_uint_eq(marks, ps.n);
        buf_release(&b);
    }
    odata_node_free(n);
}

START_TEST(test_odata_robustness)
{
    static const char *const seeds[] = {
        "lastUpdateTime ge 2020-09-06T14:46:57.0733333Z",
        "status eq 'Active' and (assignedTo eq null or not (severity ge 'Medium'))",
        "createdTime gt 2021-04-01T00:00:00+05:30 or incidentId le 99",
        "not not (determination eq 'CompromisedUser' and classification ne 'Unknown')",
        "'x''y' eq assignedTo or 5 lt incidentId",
    };
    rng_state = 0x9e3779b97f4a7c15ULL;
    char buf[512];

    /* Sequences of grammar words with random separators. */
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = 0, words = 1 + rng_below(16);
        for (size_t w = 0; w < words; w++) {
            const char *word = fuzz_words[rng_below(ARRAY_SIZE(fuzz_words))];
            size_t wl = strlen(word);
            if (len + wl + 1 >= sizeof(buf))
                break;
            memcpy(buf + len, word, wl);
            len += wl;
            size_t sep = rng_below(4);
            if (sep)
                buf[len++] = sep == 3 ? '\t' : ' ';
        }
        fuzz_one(buf, len);
    }

    /* Seeds with byte-level mutations. */
    for (int iter = 0; iter < 3000; iter++) {
        const char *seed = seeds[rng_below(ARRAY_SIZE(seeds))];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        size_t muts = 1 + rng_below(4);
        for (size_t m = 0; m < muts && len > 0; m++) {
            size_t at = rng_below(len);
            switch (rng_below(5)) {
            case 0: /* replace */
                buf[at] = (char)rng_below(256);
                break;
            case 1: /* insert */
                if (len + 1 < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (char)" ()'-:.Z0"[rng_below(9)];
                    len++;
                }
                break;
            case 2: /* delete */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            case 3: /* duplicate a span */ {
                size_t span = 1 + rng_below(len - at);
                if (len + span < sizeof(buf)) {
                    memmove(buf + at + span, buf + at, len - at);
                    len += span;
                }
                break;
            }
            default: /* truncate */
                len = at;
                break;
            }
        }
        fuzz_one(buf, len);
    }

    /* Around the length limit. */
    char *big = xmalloc(ODATA_MAX_FILTER_BYTES + 1);
    for (size_t i = 0; i <= ODATA_MAX_FILTER_BYTES; i++)
        big[i] = "( not"[rng_below(5)];
    fuzz_one(big, ODATA_MAX_FILTER_BYTES);
    fuzz_one(big, ODATA_MAX_FILTER_BYTES + 1);
    free(big);
}
END_TEST

Suite *odata_suite(void)
{
    Suite *s = suite_create("odata");
    TCase *tc = tcase_create("filter");
    tcase_add_test(tc, test_odata_cases);
    tcase_add_test(tc, test_odata_depth_limit);
    tcase_add_test(tc, test_odata_length_limit);
    tcase_add_test(tc, test_odata_blanks_and_bytes);
    tcase_add_test(tc, test_odata_message_lengths);
    tcase_add_test(tc, test_odata_node_offsets);
    tcase_add_test(tc, test_odata_field_names);
    tcase_add_test(tc, test_odata_robustness);
    suite_add_tcase(s, tc);

    tc = tcase_create("sql");
    tcase_add_test(tc, test_odata_sql_placeholder_numbering);
    tcase_add_test(tc, test_odata_sql_limits);
    tcase_add_test(tc, test_odata_sqlite_semantics);
    tcase_add_test(tc, test_odata_sqlite_accepts_limits);
    suite_add_tcase(s, tc);

    tc = tcase_create("options");
    tcase_add_test(tc, test_odata_query_defaults);
    tcase_add_test(tc, test_odata_query_top);
    tcase_add_test(tc, test_odata_query_skip);
    tcase_add_test(tc, test_odata_query_orderby);
    tcase_add_test(tc, test_odata_query_options);
    suite_add_tcase(s, tc);
    return s;
}
