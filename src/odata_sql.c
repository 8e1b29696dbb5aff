/* SPDX-License-Identifier: MIT */
/*
 * OData tree -> SQL. The only text this file writes is column names, operators, keywords and
 * placeholders from the tables below; every value from the client travels as a bound parameter.
 * Each translated comparison yields 0/1 (never SQL NULL), so `not`, `and` and `or` keep OData's
 * two-valued meaning. Chains of one operator are written flat (`(a AND b AND c)`), keeping the SQL
 * nesting close to the filter's own nesting. See docs/internals/odata.md.
 */
#include "common.h"
#include "odata_sql.h"

static const char *const columns[] = {
    [ODATA_FIELD_LAST_UPDATE_TIME] = "last_update_time",
    [ODATA_FIELD_CREATED_TIME] = "created_time",
    [ODATA_FIELD_STATUS] = "status",
    [ODATA_FIELD_ASSIGNED_TO] = "assigned_to",
    [ODATA_FIELD_SEVERITY] = "severity",
    [ODATA_FIELD_CLASSIFICATION] = "classification",
    [ODATA_FIELD_DETERMINATION] = "determination",
    [ODATA_FIELD_INCIDENT_ID] = "incident_id",
};

static const char *const sql_ops[] = {
    [ODATA_OP_EQ] = "=",  [ODATA_OP_NE] = "<>", [ODATA_OP_GT] = ">",
    [ODATA_OP_GE] = ">=", [ODATA_OP_LT] = "<",  [ODATA_OP_LE] = "<=",
};

/*
 * PostgreSQL has no ASCII-only case-insensitive comparison: lower() and ILIKE follow the
 * database locale and fold non-ASCII letters too. translate() with the 26 ASCII capitals maps
 * exactly what SQLite's NOCASE folds, and nothing else, so both back ends agree.
 */
#define PG_FOLD_ARGS "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"

struct emitter {
    enum odata_dialect dialect;
    int next_placeholder; /* PG: number of the next $n */
    struct buf *sql;
    struct odata_sql_params *params;
};

/* The column of a field; a field without one is a bug. */
static const char *column(enum odata_field f)
{
    if ((size_t)f >= ARRAY_SIZE(columns) || !columns[f])
        BUG("odata_sql: field %d has no column", (int)f);
    return columns[f];
}

/* Appends a placeholder bound to the node's value. */
static enum err placeholder(struct emitter *e, const struct odata_node *n)
{
    struct odata_sql_params *ps = e->params;
    if (ps->n >= ODATA_SQL_MAX_PARAMS)
        return ERR_TOO_LARGE;
    struct odata_sql_param *v = &ps->v[ps->n];
    memset(v, 0, sizeof(*v));
    if (n->value_kind == ODATA_VALUE_STRING) {
        v->kind = ODATA_SQL_TEXT;
        v->s = n->s;
        v->s_len = n->s_len;
    } else {
        v->kind = ODATA_SQL_INT;
        v->i = n->i;
    }
    enum err err;
    if (e->dialect == ODATA_DIALECT_PG)
        err = buf_appendf(e->sql, "$%d", e->next_placeholder);
    else
        err = buf_putc(e->sql, '?');
    if (err)
        return err;
    ps->n++;
    e->next_placeholder++;
    return ERR_OK;
}

/*
 * assignedTo, the one nullable column. OData: null equals only null, and any comparison between
 * null and a string is false, so `ne 'x'` holds for unassigned incidents. The explicit IS [NOT]
 * NULL test turns SQL's unknown into 0/1.
 */
static enum err emit_assigned_to(struct emitter *e, const struct odata_node *n)
{
    struct buf *b = e->sql;
    enum err err;
    if (n->value_kind == ODATA_VALUE_NULL) {
        if (n->op != ODATA_OP_EQ && n->op != ODATA_OP_NE)
            BUG("odata_sql: assignedTo %d null", (int)n->op);
        return buf_puts(b,
                        n->op == ODATA_OP_EQ ? "assigned_to IS NULL" : "assigned_to IS NOT NULL");
    }
    if (n->value_kind != ODATA_VALUE_STRING)
        BUG("odata_sql: assignedTo with value kind %d", (int)n->value_kind);

    bool ne = n->op == ODATA_OP_NE;
    bool pg = e->dialect == ODATA_DIALECT_PG;
    const char *guard = ne ? "(assigned_to IS NULL OR " : "(assigned_to IS NOT NULL AND ";
    if ((err = buf_puts(b, guard)))
        return err;
    if (pg)
        err = buf_appendf(b, "translate(assigned_to, " PG_FOLD_ARGS ") %s translate(",
                          sql_ops[n->op]);
    else
        err = buf_appendf(b, "assigned_to %s ", sql_ops[n->op]);
    if (err || (err = placeholder(e, n)))
        return err;
    if (pg) {
        /* Byte (code point) order for gt/ge/lt/le, as SQLite's NOCASE compares. */
        bool ordering = n->op != ODATA_OP_EQ && n->op != ODATA_OP_NE;
        return buf_puts(b,
                        ordering ? ", " PG_FOLD_ARGS ") COLLATE \"C\")" : ", " PG_FOLD_ARGS "))");
    }
    return buf_puts(b, " COLLATE NOCASE)");
}

/* A comparison; non-null columns are a plain `column op placeholder`. */
static enum err emit_cmp(struct emitter *e, const struct odata_node *n)
{
    if ((size_t)n->op >= ARRAY_SIZE(sql_ops))
        BUG("odata_sql: operator %d", (int)n->op);
    if (n->field == ODATA_FIELD_ASSIGNED_TO)
        return emit_assigned_to(e, n);
    if (n->value_kind != ODATA_VALUE_INT && n->value_kind != ODATA_VALUE_TIME)
        BUG("odata_sql: %s with value kind %d", column(n->field), (int)n->value_kind);
    enum err err = buf_appendf(e->sql, "%s %s ", column(n->field), sql_ops[n->op]);
    return err ? err : placeholder(e, n);
}

static enum err emit_node(struct emitter *e, const struct odata_node *n);

/* The operands of a same-operator chain, joined by the keyword, without parentheses of their
 * own: and/or are associative, so `((a AND b) AND c)` is written `a AND b AND c`. */
static enum err emit_chain(struct emitter *e, const struct odata_node *n, enum odata_node_kind kind)
{
    if (n->kind != kind)
        return emit_node(e, n);
    enum err err = emit_chain(e, n->left, kind);
    if (!err)
        err = buf_puts(e->sql, kind == ODATA_NODE_AND ? " AND " : " OR ");
    if (!err)
        err = emit_chain(e, n->right, kind);
    return err;
}

/* Appends one node: and/or chains in parentheses, not, or a comparison. */
static enum err emit_node(struct emitter *e, const struct odata_node *n)
{
    enum err err;
    switch (n->kind) {
    case ODATA_NODE_AND:
    case ODATA_NODE_OR:
        if ((err = buf_putc(e->sql, '(')) || (err = emit_chain(e, n, n->kind)))
            return err;
        return buf_putc(e->sql, ')');
    case ODATA_NODE_NOT:
        /* An and/or operand brings its own parentheses. */
        if (n->left->kind == ODATA_NODE_AND || n->left->kind == ODATA_NODE_OR) {
            if ((err = buf_puts(e->sql, "NOT ")))
                return err;
            return emit_node(e, n->left);
        }
        if ((err = buf_puts(e->sql, "NOT (")) || (err = emit_node(e, n->left)))
            return err;
        return buf_putc(e->sql, ')');
    case ODATA_NODE_CMP:
        return emit_cmp(e, n);
    }
    BUG("odata_sql: node kind %d", (int)n->kind);
}

enum err odata_sql_where(const struct odata_node *filter, enum odata_dialect d,
                         int first_placeholder, struct buf *sql, struct odata_sql_params *params)
{
    size_t sql_len = sql->len, nparams = params->n;
    struct emitter e = {
        .dialect = d, .next_placeholder = first_placeholder, .sql = sql, .params = params};
    enum err err;

    if (d == ODATA_DIALECT_PG && first_placeholder < 1)
        BUG("odata_sql: PostgreSQL placeholders start at $1, not $%d", first_placeholder);
    if (!filter)
        err = buf_puts(sql, "1 = 1");
    else
        err = emit_node(&e, filter);
    if (err) {
        /* Leave the caller's buffer and list as they were. */
        if (sql->data)
            buf_truncate(sql, sql_len);
        params->n = nparams;
    }
    return err;
}

enum err odata_sql_order(const struct odata_query *q, struct buf *sql)
{
    size_t sql_len = sql->len;
    bool has_id = false;
    enum err err = ERR_OK;
    for (size_t i = 0; i < q->norder && !err; i++) {
        const struct odata_order *o = &q->order[i];
        has_id |= o->field == ODATA_FIELD_INCIDENT_ID;
        err =
            buf_appendf(sql, "%s%s %s", i ? ", " : "", column(o->field), o->desc ? "DESC" : "ASC");
    }
    if (!err && !has_id)
        err = buf_appendf(sql, "%sincident_id ASC", q->norder ? ", " : "");
    if (err && sql->data)
        buf_truncate(sql, sql_len);
    return err;
}
