/* SPDX-License-Identifier: MIT */
/*
 * SQLite backend: alert ingestion and correlation (issue 5, CONTRACT §9). A batch runs in one
 * write transaction under the store's single writer, so concurrent ingestion is serialised and
 * two alerts sharing a key can never start two incidents. Incidents a batch touches are loaded
 * once, changed in memory and rebuilt once at the end; the scalar columns correlation filters on
 * (status, redirect) are written as soon as they change so later alerts of the same batch see
 * them. Rules: docs/internals/correlation.md.
 */
#include "common.h"
#include "log.h"
#include "store_sqlite_int.h"
#include "ts.h"
#include "xmalloc.h"

/*
 * An incident the batch changes. Its stored alerts stay text until something needs them parsed
 * (an update, a merge, an alert that sorts before the stored ones): an incident that only gains
 * newer alerts is rewritten by splicing, so its cost does not grow with its size (a noisy device
 * can gather thousands of alerts). The summary keeps what naming needs from the stored alerts.
 */
struct touched {
    struct incident inc; /* scalar state, tags, comments */
    struct buf doc;      /* stored document, as loaded */
    size_t alerts_off;
    json_t *alerts;  /* every alert, parsed; NULL while the stored ones are still text */
    json_t *added;   /* alerts joined while `alerts` is NULL */
    json_t *summary; /* stored summary ({"reps":[...],"seen":{...},"tail":{...}}) or NULL */
    bool dirty;
    /* Fields other than name, severity, alerts and lastUpdateTime changed (merge, reopen,
     * re-pointed stub): the whole row is written. Otherwise only those columns are, so SQLite
     * leaves the indexes on status, assignee and creation time alone. */
    bool full;
};

struct batch {
    struct sqlite_store *st;
    sqlite3 *db;
    const char *tenant;
    const struct corr_options *o;
    int64_t now;
    int64_t next_id;
    struct touched **t; /* in the order first touched */
    size_t nt, cap;
    struct touched **slots;    /* open-addressing table by incident id, 2 * cap entries */
    sqlite3_stmt *s[W__COUNT]; /* the store's cached statements this batch uses */
};

/* A candidate incident for a new alert. */
struct match {
    int64_t id;
    enum status status;
    int64_t created;
    enum corr_key_type type; /* the key that found it first (priority order) */
    const char *value;       /* borrowed from the alert's keys */
    char *alert_id;          /* the alert of that incident that matched */
};

static void touched_free(struct touched *t)
{
    incident_release(&t->inc);
    buf_release(&t->doc);
    json_decref(t->alerts);
    json_decref(t->added);
    json_decref(t->summary);
    free(t);
}

/* The alerts array of a stored doc: from alerts_off to just before the incident's closing brace. */
static json_t *doc_alerts(const struct buf *doc, size_t off)
{
    size_t len = doc->len - off;
    while (len > 0 && doc->data[off + len - 1] != '}')
        len--;
    return len ? json_loadb(doc->data + off, len - 1, 0, NULL) : NULL;
}

static size_t slot_of(int64_t id, size_t nslots)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 17) & (nslots - 1);
}

/* A batch can touch thousands of incidents (a 1,000-alert batch merging chains): the lookup is
 * a hash table, not a scan. */
static struct touched *touched_find(const struct batch *b, int64_t id)
{
    if (!b->slots)
        return NULL;
    size_t n = b->cap * 2;
    for (size_t i = slot_of(id, n);; i = (i + 1) & (n - 1)) {
        if (!b->slots[i])
            return NULL;
        if (b->slots[i]->inc.id == id)
            return b->slots[i];
    }
}

static void touched_add(struct batch *b, struct touched *t)
{
    if (b->nt == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->t = xrealloc(b->t, b->cap * sizeof(*b->t));
        free(b->slots);
        b->slots = xcalloc(b->cap * 2, sizeof(*b->slots));
        for (size_t i = 0; i < b->nt; i++) {
            size_t k = slot_of(b->t[i]->inc.id, b->cap * 2);
            while (b->slots[k])
                k = (k + 1) & (b->cap * 2 - 1);
            b->slots[k] = b->t[i];
        }
    }
    b->t[b->nt++] = t;
    size_t k = slot_of(t->inc.id, b->cap * 2);
    while (b->slots[k])
        k = (k + 1) & (b->cap * 2 - 1);
    b->slots[k] = t;
}

static enum err touched_get(struct batch *b, int64_t id, struct touched **out, struct err_info *ei)
{
    struct touched *found = touched_find(b, id);
    if (found) {
        *out = found;
        return ERR_OK;
    }
    struct touched *t = xcalloc(1, sizeof(*t));
    buf_init(&t->doc, BUF_UNLIMITED);
    t->added = json_array();
    enum err e = sq_load_incident(b->st, b->tenant, id, &t->inc, &t->doc, &t->alerts_off, ei);
    if (e)
        incident_init(&t->inc);
    if (!e) {
        sqlite3_stmt *q = b->s[W_GET_SUMMARY];
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, b->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, id);
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
            t->summary = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    }
    if (e) {
        touched_free(t);
        return e;
    }
    touched_add(b, t);
    *out = t;
    return ERR_OK;
}

/* Parses the stored alerts (once) and adds the ones joined since. */
static enum err materialize(struct touched *t, struct err_info *ei)
{
    if (t->alerts)
        return ERR_OK;
    t->alerts = doc_alerts(&t->doc, t->alerts_off);
    if (!json_is_array(t->alerts))
        return err_set(ei, ERR_STORAGE, -1, "stored incident %" PRId64 " is corrupt", t->inc.id);
    json_array_extend(t->alerts, t->added);
    json_array_clear(t->added);
    return ERR_OK;
}

/* Writes the columns later lookups of this batch filter on. */
static enum err write_state(struct batch *b, const struct incident *inc, struct err_info *ei)
{
    sqlite3_stmt *s = b->s[W_SET_STATE];
    sqlite3_reset(s);
    sqlite3_bind_int(s, 1, (int)inc->status);
    if (inc->redirect_id)
        sqlite3_bind_int64(s, 2, inc->redirect_id);
    else
        sqlite3_bind_null(s, 2);
    sqlite3_bind_text(s, 3, b->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, inc->id);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sq_fail(b->db, "updating an incident", ei);
    return ERR_OK;
}

/*
 * The id of a new incident: one above the tenant's highest. An import may hold the highest
 * int64 (any positive id is valid, CONTRACT §1); from there the lowest free id is used, so an
 * id is never reused while its incident exists and never overflows.
 */
static enum err next_incident_id(struct batch *b, int64_t *out, struct err_info *ei)
{
    if (b->next_id > 0) {
        *out = b->next_id;
        b->next_id = b->next_id == INT64_MAX ? 0 : b->next_id + 1;
        return ERR_OK;
    }
    sqlite3_stmt *s;
    enum err e = sq_prepare(b->db,
                            "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM incidents WHERE "
                            "tenant_id = ?1 AND incident_id = 1) THEN 1 ELSE (SELECT "
                            "min(i.incident_id) + 1 FROM incidents i WHERE i.tenant_id = ?1 AND "
                            "i.incident_id > 0 AND i.incident_id < 9223372036854775807 AND NOT "
                            "EXISTS (SELECT 1 FROM incidents j WHERE j.tenant_id = ?1 AND "
                            "j.incident_id = i.incident_id + 1)) END",
                            &s, ei);
    if (e)
        return e;
    sqlite3_bind_text(s, 1, b->tenant, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER)
        *out = sqlite3_column_int64(s, 0);
    else
        e = err_set(ei, ERR_STORAGE, -1, "tenant %s has no incident id left", b->tenant);
    sqlite3_finalize(s);
    return e;
}

/* Creates an incident row for a new alert; its document is written when the batch ends. */
static enum err create_incident(struct batch *b, struct touched **out, struct err_info *ei)
{
    struct touched *t = xcalloc(1, sizeof(*t));
    incident_init(&t->inc);
    enum err e0 = next_incident_id(b, &t->inc.id, ei);
    if (e0) {
        touched_free(t);
        return e0;
    }
    t->inc.name = xstrdup("");
    t->inc.created_time = b->now;
    t->inc.last_update_time = b->now;
    t->inc.tags = json_array();
    t->inc.comments = json_array();
    t->alerts = json_array();
    t->added = json_array();
    t->dirty = true;
    /* A placeholder document: the real one is written when the batch ends. */
    buf_init(&t->doc, BUF_UNLIMITED);
    buf_puts(&t->doc, "}");
    enum err e = sq_save_incident(b->st, b->tenant, &t->inc, &t->doc, 0, NULL, ei);
    if (e) {
        touched_free(t);
        return e;
    }
    touched_add(b, t);
    *out = t;
    return ERR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Key index
 */

/* Activity interval of a stored alert (correlation.md: firstActivity, else creationTime;
 * lastActivity, else firstActivity). */
static void alert_activity(json_t *a, int64_t *first, int64_t *last)
{
    const char *keys[] = {"firstActivity", "creationTime"};
    *first = INT64_MIN;
    for (size_t i = 0; i < 2 && *first == INT64_MIN; i++) {
        json_t *v = json_object_get(a, keys[i]);
        int64_t t;
        if (json_is_string(v) && ts_parse(json_string_value(v), json_string_length(v),
                                          TS_LENIENT_FRACTION, &t, NULL) == ERR_OK)
            *first = t;
    }
    if (*first == INT64_MIN)
        *first = 0;
    *last = *first;
    json_t *v = json_object_get(a, "lastActivity");
    int64_t t;
    if (json_is_string(v) &&
        ts_parse(json_string_value(v), json_string_length(v), TS_LENIENT_FRACTION, &t, NULL) ==
            ERR_OK &&
        t >= *first)
        *last = t;
}

/* Replaces the key rows of alert `id` with `keys` (borrowed). */
static enum err index_keys(struct sqlite_store *st, const char *tenant, const char *id,
                           const struct corr_key *keys, size_t n, int64_t incident, int64_t first,
                           int64_t last, struct err_info *ei)
{
    sqlite3 *db = st->writer;
    sqlite3_stmt *del, *ins;
    if (sq_wstmt(st, W_KEYS_DEL, "DELETE FROM alert_keys WHERE tenant_id = ? AND alert_id = ?",
                 &del, ei))
        return ERR_STORAGE;
    sqlite3_bind_text(del, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(del, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(del);
    sqlite3_reset(del);
    if (rc != SQLITE_DONE)
        return sq_fail(db, "indexing alert keys", ei);
    if (n == 0)
        return ERR_OK;
    if (sq_wstmt(st, W_KEYS_INS,
                 "INSERT OR IGNORE INTO alert_keys (tenant_id, key_type, key_value, "
                 "last_activity, alert_id, first_activity, incident_id) VALUES (?,?,?,?,?,?,?)",
                 &ins, ei))
        return ERR_STORAGE;
    enum err e = ERR_OK;
    for (size_t i = 0; i < n && !e; i++) {
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 2, (int)keys[i].type);
        sqlite3_bind_text(ins, 3, keys[i].value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, last);
        sqlite3_bind_text(ins, 5, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 6, first);
        sqlite3_bind_int64(ins, 7, incident);
        if (sqlite3_step(ins) != SQLITE_DONE)
            e = sq_fail(db, "indexing alert keys", ei);
    }
    sqlite3_reset(ins);
    return e;
}

enum err sq_index_alert(struct sqlite_store *st, const char *tenant, json_t *alert,
                        int64_t incident, int64_t first, int64_t last, struct err_info *ei)
{
    const char *id = json_string_value(json_object_get(alert, "alertId"));
    if (!id)
        return ERR_OK;
    if (first == INT64_MIN)
        alert_activity(alert, &first, &last);
    struct corr_key *keys;
    size_t n = corr_alert_keys(alert, &keys);
    enum err e = index_keys(st, tenant, id, keys, n, incident, first, last, ei);
    corr_keys_free(keys, n);
    return e;
}

enum err sq_index_pending(struct sqlite_store *st, struct err_info *ei)
{
    sqlite3 *db = st->writer;
    sqlite3_stmt *s;
    /* The table exists only between migration 3 and the end of this backfill. */
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM alert_keys_pending", -1, &s, NULL) != SQLITE_OK)
        return ERR_OK;
    sqlite3_finalize(s);
    enum err e = sq_exec(db, "BEGIN IMMEDIATE", ei);
    if (e)
        return e;
    e = sq_prepare(db, "SELECT tenant_id, doc, alerts_off, incident_id FROM incidents", &s, ei);
    size_t count = 0;
    while (!e && sqlite3_step(s) == SQLITE_ROW) {
        const char *tenant = (const char *)sqlite3_column_text(s, 0);
        struct buf doc = {0};
        buf_init(&doc, BUF_UNLIMITED);
        buf_append(&doc, sqlite3_column_text(s, 1), (size_t)sqlite3_column_bytes(s, 1));
        size_t off = (size_t)sqlite3_column_int64(s, 2);
        json_t *alerts = off <= doc.len ? doc_alerts(&doc, off) : NULL;
        size_t i;
        json_t *a;
        json_array_foreach(alerts, i, a)
        {
            if (!e)
                e = sq_index_alert(st, tenant, a, sqlite3_column_int64(s, 3), INT64_MIN, INT64_MIN,
                                   ei);
            count++;
        }
        json_decref(alerts);
        buf_release(&doc);
    }
    sqlite3_finalize(s);
    if (!e)
        e = sq_exec(db, "DROP TABLE alert_keys_pending", ei);
    if (!e)
        e = sq_commit(st, ei);
    if (e)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    else
        log_info("indexed the correlation keys of %zu stored alerts", count);
    return e;
}

/* ---------------------------------------------------------------------------------------------
 * Correlation
 */

static void matches_free(struct match *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].alert_id);
    free(m);
}

/* Finds the incidents whose alerts share an enabled key with `a` within the window: open,
 * Resolved (for the reopen policy); Redirected ones hold no alerts. */
static enum err find_matches(struct batch *b, const struct alert_in *a, struct corr_key *keys,
                             size_t nkeys, struct match **out, size_t *nout, struct err_info *ei)
{
    struct match *m = NULL;
    size_t n = 0;
    sqlite3_stmt *s = b->s[W_FIND];
    for (size_t k = 0; k < nkeys; k++) {
        if (!(b->o->keys & (1u << keys[k].type)))
            continue;
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, b->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, (int)keys[k].type);
        sqlite3_bind_text(s, 3, keys[k].value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, a->first_activity - b->o->window);
        sqlite3_bind_int64(s, 5, a->last_activity + b->o->window);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(s, 0);
            bool seen = false;
            for (size_t i = 0; i < n; i++)
                seen |= m[i].id == id;
            if (seen)
                continue;
            m = xrealloc(m, (n + 1) * sizeof(*m));
            m[n] = (struct match){
                .id = id,
                .status = (enum status)sqlite3_column_int(s, 1),
                .created = sqlite3_column_int64(s, 2),
                .type = keys[k].type,
                .value = keys[k].value,
                .alert_id = xstrdup((const char *)sqlite3_column_text(s, 3)),
            };
            n++;
        }
        if (rc != SQLITE_DONE) {
            matches_free(m, n);
            return sq_fail(b->db, "correlating an alert", ei);
        }
    }
    *out = m;
    *nout = n;
    return ERR_OK;
}

static int match_cmp(const void *x, const void *y)
{
    const struct match *a = x, *b = y;
    if (a->created != b->created)
        return a->created < b->created ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Why open incidents may not merge (correlation.md "Merge guards"), or NULL when they may. */
static const char *merge_guard(struct touched *const *t, size_t n)
{
    const char *assignee = NULL;
    enum classification cls = CLASSIFICATION_UNKNOWN;
    for (size_t i = 0; i < n; i++) {
        const char *a = t[i]->inc.assigned_to;
        if (a && assignee && strcasecmp(a, assignee) != 0)
            return "the incidents are assigned to different owners";
        if (a)
            assignee = a;
        enum classification c = t[i]->inc.classification;
        if (c != CLASSIFICATION_UNKNOWN && cls != CLASSIFICATION_UNKNOWN && c != cls)
            return "the incidents have different classifications";
        if (c != CLASSIFICATION_UNKNOWN)
            cls = c;
    }
    return NULL;
}

/* A comment array from either stored form; new reference. */
static json_t *comments_of(const struct incident *inc)
{
    if (inc->comments)
        return json_incref(inc->comments);
    json_t *c = NULL;
    if (inc->comments_text.len)
        c = json_loadb(inc->comments_text.data, inc->comments_text.len, 0, NULL);
    return json_is_array(c) ? c : (json_decref(c), json_array());
}

struct comment_sort {
    json_t *c;
    int64_t t;
    size_t seq;
};

static int comment_cmp(const void *x, const void *y)
{
    const struct comment_sort *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Comments of both incidents, oldest first; at equal times the survivor's come first. */
static void merge_comments(struct incident *into, const struct incident *from)
{
    json_t *a = comments_of(into), *b = comments_of(from);
    size_t n = json_array_size(a) + json_array_size(b);
    struct comment_sort *cs = xcalloc(n ? n : 1, sizeof(*cs));
    size_t k = 0;
    json_t *lists[] = {a, b};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(lists[l], i, c)
        {
            json_t *tv = json_object_get(c, "createdTime");
            int64_t t = 0;
            if (json_is_string(tv))
                ts_parse(json_string_value(tv), json_string_length(tv), TS_LENIENT_FRACTION, &t,
                         NULL);
            cs[k] = (struct comment_sort){.c = c, .t = t, .seq = k};
            k++;
        }
    }
    qsort(cs, n, sizeof(*cs), comment_cmp);
    json_t *merged = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(merged, cs[i].c);
    free(cs);
    json_decref(a);
    json_decref(b);
    json_decref(into->comments);
    into->comments = merged;
    buf_reset(&into->comments_text);
}

/* Moves everything of `from` into the survivor `s`, leaves `from` a Redirected stub and
 * re-points stubs that pointed at `from` (chains collapse). */
static enum err merge_into(struct batch *b, struct touched *s, struct touched *from,
                           struct err_info *ei)
{
    enum err e = materialize(s, ei);
    e = e ? e : materialize(from, ei);
    if (e)
        return e;
    size_t i;
    json_t *v;
    /* The key index names each alert's incident (schema 3): it moves with the alerts. */
    sqlite3_stmt *mk = NULL;
    e = sq_wstmt(b->st, W_KEYS_MOVE,
                 "UPDATE alert_keys SET incident_id = ? WHERE tenant_id = ? AND alert_id = ?", &mk,
                 ei);
    json_array_foreach(from->alerts, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "alertId"));
        if (e || !id)
            continue;
        sqlite3_reset(mk);
        sqlite3_bind_int64(mk, 1, s->inc.id);
        sqlite3_bind_text(mk, 2, b->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(mk, 3, id, -1, SQLITE_STATIC);
        if (sqlite3_step(mk) != SQLITE_DONE)
            e = sq_fail(b->db, "moving alert keys", ei);
    }
    if (mk)
        sqlite3_reset(mk);
    if (e)
        return e;
    json_array_extend(s->alerts, from->alerts);
    json_array_clear(from->alerts);
    json_array_foreach(from->inc.tags, i, v)
    {
        bool have = false;
        size_t k;
        json_t *w;
        json_array_foreach(s->inc.tags, k, w)
        {
            have |= json_equal(v, w);
        }
        if (!have)
            json_array_append(s->inc.tags, v);
    }
    merge_comments(&s->inc, &from->inc);
    if (!s->inc.assigned_to && from->inc.assigned_to)
        s->inc.assigned_to = xstrdup(from->inc.assigned_to);
    /* Assigning an incident assigns its alerts (CONTRACT §5): those that had nobody, from
     * either side, take the survivor's assignee. */
    if (s->inc.assigned_to && *s->inc.assigned_to)
        json_array_foreach(s->alerts, i, v)
        {
            const char *who = json_string_value(json_object_get(v, "assignedTo"));
            if (!who || !*who)
                json_object_set_new(v, "assignedTo", json_string(s->inc.assigned_to));
        }
    if (s->inc.classification == CLASSIFICATION_UNKNOWN &&
        from->inc.classification != CLASSIFICATION_UNKNOWN) {
        s->inc.classification = from->inc.classification;
        s->inc.determination = from->inc.determination;
    }
    if (from->inc.status == STATUS_IN_PROGRESS)
        s->inc.status = STATUS_IN_PROGRESS;
    from->inc.status = STATUS_REDIRECTED;
    from->inc.redirect_id = s->inc.id;
    s->dirty = from->dirty = true;
    s->full = from->full = true;

    sqlite3_stmt *mv = b->s[W_MOVE_ALERTS];
    sqlite3_reset(mv);
    sqlite3_bind_int64(mv, 1, s->inc.id);
    sqlite3_bind_text(mv, 2, b->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(mv, 3, from->inc.id);
    if (sqlite3_step(mv) != SQLITE_DONE)
        return sq_fail(b->db, "moving alerts", ei);
    e = write_state(b, &s->inc, ei);
    e = e ? e : write_state(b, &from->inc, ei);
    if (e)
        return e;

    int64_t *stubs = NULL;
    size_t nstubs = 0;
    sqlite3_stmt *q = b->s[W_STUBS_OF];
    sqlite3_reset(q);
    sqlite3_bind_text(q, 1, b->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, from->inc.id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        stubs = xrealloc(stubs, (nstubs + 1) * sizeof(*stubs));
        stubs[nstubs++] = sqlite3_column_int64(q, 0);
    }
    if (rc != SQLITE_DONE)
        e = sq_fail(b->db, "re-pointing merged incidents", ei);
    /* One statement re-points them all; the documents follow when the batch ends. */
    sqlite3_stmt *u = b->s[W_REPOINT];
    sqlite3_reset(u);
    sqlite3_bind_int64(u, 1, s->inc.id);
    sqlite3_bind_text(u, 2, b->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(u, 3, from->inc.id);
    if (!e && nstubs && sqlite3_step(u) != SQLITE_DONE)
        e = sq_fail(b->db, "re-pointing merged incidents", ei);
    for (size_t k = 0; k < nstubs && !e; k++) {
        struct touched *stub;
        e = touched_get(b, stubs[k], &stub, ei);
        if (!e) {
            stub->inc.redirect_id = s->inc.id;
            stub->dirty = stub->full = true;
        }
    }
    free(stubs);
    return e;
}

static json_t *key_of(const struct match *m)
{
    return m ? json_pack("{ssss}", "type", corr_key_name(m->type), "value", m->value) : json_null();
}

/* The explanation stored with a new alert (store.h store_alert_get). `resolved`: the Resolved
 * incident it matched but did not reopen (policy `new`), or NULL. */
static json_t *explanation(const char *action, int64_t incident, const struct match *m,
                           json_t *merged, json_t *skipped, const struct match *resolved,
                           int64_t now)
{
    char when[TS_FORMAT_MAX];
    ts_format(now, when);
    json_t *rs = resolved ? json_pack("{sIsoss}", "incidentId", (json_int_t)resolved->id, "key",
                                      key_of(resolved), "matchedAlertId", resolved->alert_id)
                          : json_null();
    return json_pack("{sssIsosososossso}", "action", action, "correlatedIncidentId",
                     (json_int_t)incident, "key", key_of(m), "matchedAlertId",
                     m ? json_string(m->alert_id) : json_null(), "merged", merged, "mergeSkipped",
                     skipped ? skipped : json_null(), "time", when, "resolvedNotReopened", rs);
}

/* Stores a new alert's row and its key rows; `keys` are the alert's, already extracted for
 * correlation (borrowed). */
static enum err insert_alert(struct batch *b, const struct alert_in *a, const struct corr_key *keys,
                             size_t nkeys, int64_t incident, json_t *why, struct err_info *ei)
{
    char *text = json_dumps(why, JSON_COMPACT);
    sqlite3_stmt *s = b->s[W_INS_ALERT];
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, b->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, incident);
    sqlite3_bind_blob(s, 4, a->hash, sizeof(a->hash), SQLITE_STATIC);
    sqlite3_bind_text(s, 5, text, -1, free);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sq_fail(b->db, "storing an alert", ei);
    return index_keys(b->st, b->tenant, a->id, keys, nkeys, incident, a->first_activity,
                      a->last_activity, ei);
}

/* Correlates a new alert and adds it to its incident. */
static enum err ingest_new(struct batch *b, const struct alert_in *a, int64_t *incident,
                           struct err_info *ei)
{
    struct corr_key *keys;
    size_t nkeys = corr_alert_keys(a->alert, &keys);
    struct match *m = NULL;
    size_t nm = 0;
    enum err e = find_matches(b, a, keys, nkeys, &m, &nm, ei);
    if (e)
        goto done;
    if (nm > 1)
        qsort(m, nm, sizeof(*m), match_cmp);
    struct match **open = xcalloc(nm ? nm : 1, sizeof(*open));
    struct touched **ts = xcalloc(nm ? nm : 1, sizeof(*ts));
    size_t nopen = 0;
    struct match *resolved = NULL;
    for (size_t i = 0; i < nm; i++) {
        if (m[i].status == STATUS_ACTIVE || m[i].status == STATUS_IN_PROGRESS)
            open[nopen++] = &m[i];
        else if (m[i].status == STATUS_RESOLVED && !resolved)
            resolved = &m[i];
    }
    struct touched *target = NULL;
    const char *action = "joined";
    const struct match *why = NULL;
    json_t *merged = json_array(), *skipped = NULL;
    if (nopen > 0) {
        why = open[0];
        for (size_t i = 0; i < nopen && !e; i++)
            e = touched_get(b, open[i]->id, &ts[i], ei);
        const char *blocked = e || nopen < 2 ? NULL : merge_guard(ts, nopen);
        if (!e && blocked) {
            json_t *ids = json_array();
            for (size_t i = 1; i < nopen; i++)
                json_array_append_new(ids, json_integer(open[i]->id));
            skipped = json_pack("{soss}", "incidentIds", ids, "reason", blocked);
        }
        for (size_t i = 1; i < nopen && !e && !blocked; i++) {
            e = merge_into(b, ts[0], ts[i], ei);
            json_array_append_new(merged, json_integer(open[i]->id));
        }
        target = ts[0];
    } else if (resolved && b->o->resolved == CORR_RESOLVED_REOPEN) {
        why = resolved;
        action = "reopened";
        e = touched_get(b, resolved->id, &target, ei);
        if (!e) {
            target->inc.status = STATUS_ACTIVE;
            target->full = true;
            e = write_state(b, &target->inc, ei);
        }
    } else {
        action = "created";
        e = create_incident(b, &target, ei);
    }
    if (!e) {
        /* Assigning an incident assigns its alerts (CONTRACT §5), including those that join it
         * later, unless the sender assigned the alert itself. */
        if (target->inc.assigned_to && *target->inc.assigned_to &&
            (a->defaulted & ALERT_OMIT_ASSIGNED))
            json_object_set_new(a->alert, "assignedTo", json_string(target->inc.assigned_to));
        json_array_append(target->alerts ? target->alerts : target->added, a->alert);
        target->dirty = true;
        *incident = target->inc.id;
        /* Policy `new` passed over a Resolved match: say so, or the alert looks unmatched. */
        const struct match *passed = !why && resolved ? resolved : NULL;
        json_t *x = explanation(action, target->inc.id, why, merged, skipped, passed, b->now);
        merged = NULL;
        skipped = NULL;
        e = insert_alert(b, a, keys, nkeys, target->inc.id, x, ei);
        json_decref(x);
    }
    json_decref(merged);
    json_decref(skipped);
    free(open);
    free(ts);
done:
    matches_free(m, nm);
    corr_keys_free(keys, nkeys);
    return e;
}

/* Copies `key` from the stored alert when the sender left it out (alert.h defaults). */
static void keep_time(json_t *alert, json_t *old, const char *key)
{
    json_t *v = json_object_get(old, key);
    if (json_is_string(v))
        json_object_set(alert, key, v);
}

/* Copies a triage field (a string or null) from the stored alert. */
static void keep_field(json_t *alert, json_t *old, const char *key)
{
    json_t *v = json_object_get(old, key);
    json_object_set(alert, key, v ? v : json_null());
}

/* Keeps the stored triage the sender left out: an analyst resolved, assigned or classified the
 * alert (or its incident, which cascades, CONTRACT §5), and a connector re-sending the alert
 * with a new severity must not undo that. resolvedTime follows the status it belongs to. */
static void keep_triage(json_t *alert, json_t *old, unsigned defaulted)
{
    /* An imported alert may have no status: the update's default (New) stands then. */
    if ((defaulted & ALERT_OMIT_STATUS) && json_is_string(json_object_get(old, "status")))
        keep_field(alert, old, "status");
    if ((defaulted & ALERT_OMIT_RESOLVED) &&
        json_equal(json_object_get(alert, "status"), json_object_get(old, "status")))
        keep_field(alert, old, "resolvedTime");
    if (defaulted & ALERT_OMIT_ASSIGNED)
        keep_field(alert, old, "assignedTo");
    if (defaulted & ALERT_OMIT_VERDICT) {
        keep_field(alert, old, "classification");
        keep_field(alert, old, "determination");
    }
    /* A kept Resolved status with its time sent as null: the stored time, or the update's. */
    if (json_is_null(json_object_get(alert, "resolvedTime")) &&
        json_is_string(json_object_get(alert, "status")) &&
        !strcmp(json_string_value(json_object_get(alert, "status")), "Resolved")) {
        json_t *t = json_object_get(old, "resolvedTime");
        json_object_set(alert, "resolvedTime",
                        json_is_string(t) ? t : json_object_get(alert, "lastUpdatedTime"));
    }
}

static int64_t ticks_of(json_t *alert, const char *key, int64_t fallback)
{
    json_t *v = json_object_get(alert, key);
    int64_t t;
    if (json_is_string(v) && ts_parse(json_string_value(v), json_string_length(v),
                                      TS_LENIENT_FRACTION, &t, NULL) == ERR_OK)
        return t;
    return fallback;
}

/* Replaces a known alert inside its incident; it does not move (correlation.md). Times the
 * sender left out keep their stored values: a connector re-sending an alert with a new
 * severity must not move when it happened (and so what it correlates with). */
static enum err ingest_update(struct batch *b, const struct alert_in *a, int64_t incident,
                              struct err_info *ei)
{
    struct touched *t;
    enum err e = touched_get(b, incident, &t, ei);
    e = e ? e : materialize(t, ei);
    if (e)
        return e;
    size_t i, at = SIZE_MAX;
    json_t *v;
    json_array_foreach(t->alerts, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "alertId"));
        if (id && strcmp(id, a->id) == 0) {
            at = i;
            break;
        }
    }
    json_t *alert = json_copy(a->alert);
    int64_t first = a->first_activity, last = a->last_activity;
    if (at != SIZE_MAX) {
        json_t *old = json_array_get(t->alerts, at);
        keep_triage(alert, old, a->defaulted);
        if (a->defaulted & ALERT_DEFAULT_CREATION)
            keep_time(alert, old, "creationTime");
        if (a->defaulted & ALERT_DEFAULT_UPDATED) {
            char now[TS_FORMAT_MAX];
            ts_format(b->now, now);
            json_object_set_new(alert, "lastUpdatedTime", json_string(now));
        }
        if (a->defaulted & ALERT_DEFAULT_FIRST)
            keep_time(alert, old, "firstActivity");
        if ((a->defaulted & ALERT_DEFAULT_FIRST) && !(a->defaulted & ALERT_DEFAULT_LAST) &&
            ticks_of(alert, "firstActivity", first) > a->last_activity)
            json_object_set(alert, "firstActivity", json_object_get(alert, "lastActivity"));
        if (a->defaulted & ALERT_DEFAULT_LAST)
            keep_time(alert, old, "lastActivity");
        first = ticks_of(alert, "firstActivity", first);
        last = ticks_of(alert, "lastActivity", last);
        if (last < first) {
            /* A new explicit firstActivity after the stored lastActivity: the interval starts
             * and ends there, as for a new alert without lastActivity. */
            json_object_set(alert, "lastActivity", json_object_get(alert, "firstActivity"));
            last = first;
        }
        json_array_set_new(t->alerts, at, alert);
    } else {
        json_array_append_new(t->alerts, alert);
    }
    t->dirty = true;
    sqlite3_stmt *s = b->s[W_UPD_HASH];
    sqlite3_reset(s);
    sqlite3_bind_blob(s, 1, a->hash, sizeof(a->hash), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, b->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        return sq_fail(b->db, "updating an alert", ei);
    return sq_index_alert(b->st, b->tenant, alert, incident, first, last, ei);
}

static bool str_in(json_t *list, const char *s, bool nocase)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *w = json_string_value(v);
        if (s && w && (nocase ? strcasecmp(w, s) : strcmp(w, s)) == 0)
            return true;
    }
    return false;
}

/*
 * Adds `a` to the representatives when it brings something naming can still tell apart: a
 * new title or source (up to a few, since names only ask "one or several"), any new category,
 * or a new device, user or mailbox key while fewer than two are known ("one" or "multiple").
 * corr_incident_name over the representatives then equals the name over every alert.
 */
static void reps_add(json_t *summary, json_t *a)
{
    json_t *reps = json_object_get(summary, "reps");
    json_t *seen = json_object_get(summary, "seen");
    bool novel = false;
    /* Compared as corr_incident_name compares them, so two distinct values here are two for
     * naming too: titles normalised, a missing or blank title a value of its own; sources
     * case-insensitively, missing ones ignored; categories all kept. */
    char *title = corr_title_normalized(json_string_value(json_object_get(a, "title")));
    json_t *titles = json_object_get(seen, "title");
    if (!str_in(titles, title, false) && json_array_size(titles) < 2) {
        json_array_append_new(titles, json_string(title));
        novel = true;
    }
    free(title);
    const char *src = json_string_value(json_object_get(a, "serviceSource"));
    json_t *sources = json_object_get(seen, "serviceSource");
    if (src && *src && !str_in(sources, src, true) && json_array_size(sources) < 2) {
        json_array_append_new(sources, json_string(src));
        novel = true;
    }
    const char *cat = json_string_value(json_object_get(a, "category"));
    json_t *cats = json_object_get(seen, "category");
    if (cat && !str_in(cats, cat, false)) {
        json_array_append_new(cats, json_string(cat));
        novel = true;
    }
    struct corr_key *keys;
    size_t n = corr_alert_keys(a, &keys);
    for (size_t k = 0; k < n; k++) {
        if (keys[k].type != CORR_DEVICE && keys[k].type != CORR_USER &&
            keys[k].type != CORR_MAILBOX)
            continue;
        json_t *list = json_object_get(seen, corr_key_name(keys[k].type));
        if (!str_in(list, keys[k].value, false) && json_array_size(list) < 2) {
            json_array_append_new(list, json_string(keys[k].value));
            novel = true;
        }
    }
    corr_keys_free(keys, n);
    if (novel)
        json_array_append_new(reps, json_pack("{sOsOsOsOsO}", "title", json_object_get(a, "title"),
                                              "category", json_object_get(a, "category"),
                                              "serviceSource", json_object_get(a, "serviceSource"),
                                              "devices", json_object_get(a, "devices"), "entities",
                                              json_object_get(a, "entities")));
}

static json_t *summary_new(void)
{
    return json_pack("{s[]s{s[]s[]s[]s[]s[]s[]}}", "reps", "seen", "title", "serviceSource",
                     "category", "device", "user", "mailbox");
}

/*
 * The tail: sort key and end offset of an incident's last TAIL_MAX alerts, so an alert that sorts
 * among them (an out-of-order arrival: connectors send detections late) is spliced into the
 * stored text instead of re-parsing and re-serialising every alert. Stored in the summary as
 * {"base":B,"alerts":[[creation ticks,alertId,end],...]}: offsets count from the array's `[`,
 * `end` is just past the alert's `}` and B is where the tail's first alert starts (1 when the
 * tail holds every alert).
 */
#define TAIL_MAX 64

/* Sets the summary's tail from `keys` ([[ticks, alertId], ...] in array order, borrowed) whose
 * texts end at `ends` (offsets from the array's `[`); `base` is where keys[0] starts. Without a
 * usable alertId on every alert no tail is kept, and the next change re-parses. */
static void tail_set(json_t *summary, json_t *keys, const size_t *ends, size_t base)
{
    size_t n = json_array_size(keys), from = n > TAIL_MAX ? n - TAIL_MAX : 0;
    json_t *list = json_array();
    for (size_t i = from; i < n && list; i++) {
        json_t *k = json_array_get(keys, i);
        if (!json_is_string(json_array_get(k, 1))) {
            json_decref(list);
            list = NULL;
            break;
        }
        json_array_append_new(list, json_pack("[OOI]", json_array_get(k, 0), json_array_get(k, 1),
                                              (json_int_t)ends[i]));
    }
    if (!list) {
        json_object_del(summary, "tail");
        return;
    }
    json_object_set_new(summary, "tail",
                        json_pack("{sIso}", "base", (json_int_t)(from ? ends[from - 1] + 1 : base),
                                  "alerts", list));
}

/* [creation ticks, alertId] of an alert (alertId null when missing). */
static json_t *sort_key_of(json_t *a)
{
    json_t *id = json_object_get(a, "alertId");
    return json_pack("[IO]", (json_int_t)incident_alert_sort_time(a),
                     json_is_string(id) ? id : json_null());
}

static int sort_key_cmp(json_t *x, json_t *y)
{
    int64_t tx = json_integer_value(json_array_get(x, 0)),
            ty = json_integer_value(json_array_get(y, 0));
    if (tx != ty)
        return tx < ty ? -1 : 1;
    const char *ix = json_string_value(json_array_get(x, 1)),
               *iy = json_string_value(json_array_get(y, 1));
    return strcmp(ix ? ix : "", iy ? iy : "");
}

/*
 * Appends to `out` the new alerts text (`[...]}`) of an incident whose stored alerts are still
 * text, merging `added` (settled: sorted, incidentId set) into the summary's tail, and updates
 * the tail. Returns false, leaving `out` as it was, when an added alert sorts before the tail
 * while older alerts precede it, or the tail does not describe the stored text; the caller then
 * re-parses.
 */
static bool tail_splice(const struct touched *t, json_t *added, json_t *summary, struct buf *out)
{
    json_t *tail = json_object_get(summary, "tail");
    json_t *entries = json_object_get(tail, "alerts");
    if (!json_is_array(entries) || !json_is_object(json_object_get(summary, "seen")))
        return false;
    const char *old = t->doc.data + t->alerts_off;
    size_t olen = t->doc.len - t->alerts_off, n = json_array_size(entries);
    json_int_t b = json_integer_value(json_object_get(tail, "base"));
    /* The stored text is `[`, the alerts before the tail and a comma, the tail, `]}`. */
    if (olen < 3 || old[0] != '[' || memcmp(old + olen - 2, "]}", 2) != 0 || b < 1 ||
        (size_t)b > olen - 2 || (b > 1 && old[b - 1] != ',') || (n == 0 && (b != 1 || olen != 3)))
        return false;
    size_t base = (size_t)b;
    size_t *ends = xcalloc(n + 1, sizeof(*ends));
    bool ok = true;
    for (size_t i = 0, start = base; i < n && ok; i++) {
        json_t *e = json_array_get(entries, i);
        json_int_t end = json_integer_value(json_array_get(e, 2));
        ok = json_is_string(json_array_get(e, 1)) && end > (json_int_t)start &&
             (size_t)end <= olen - 2 && old[start] == '{' && old[end - 1] == '}' &&
             old[end] == (i + 1 < n ? ',' : ']');
        ends[i] = (size_t)end;
        start = ends[i] + 1;
    }
    size_t m = json_array_size(added);
    json_t *akeys = json_array();
    for (size_t j = 0; j < m && ok; j++) {
        json_t *k = sort_key_of(json_array_get(added, j));
        ok = json_is_string(json_array_get(k, 1));
        json_array_append_new(akeys, k);
    }
    /* An alert older than the whole tail belongs among the alerts before it. */
    if (ok && m > 0 && base > 1 &&
        sort_key_cmp(json_array_get(akeys, 0), json_array_get(entries, 0)) < 0)
        ok = false;
    json_t *keys = json_array(); /* of the merged tail, in order */
    size_t *mends = xcalloc(n + m + 1, sizeof(*mends));
    size_t o0 = out->len, i = 0, j = 0, k = 0;
    enum err e = ok ? buf_append(out, old, base) : ERR_OK;
    while (ok && !e && (i < n || j < m)) {
        bool take_added = j < m && (i == n || sort_key_cmp(json_array_get(akeys, j),
                                                           json_array_get(entries, i)) < 0);
        if (k > 0)
            e = buf_putc(out, ',');
        if (!e && take_added) {
            char *txt = incident_alert_text(json_array_get(added, j));
            e = txt ? buf_puts(out, txt) : ERR_NOMEM;
            free(txt);
            json_array_append(keys, json_array_get(akeys, j++));
        } else if (!e) {
            size_t start = i == 0 ? base : ends[i - 1] + 1;
            e = buf_append(out, old + start, ends[i] - start);
            json_array_append(keys, json_array_get(entries, i++));
        }
        mends[k++] = out->len - o0;
    }
    e = e ? e : buf_puts(out, "]}");
    ok = ok && !e;
    if (ok)
        tail_set(summary, keys, mends, base);
    else
        buf_truncate(out, o0);
    json_decref(keys);
    json_decref(akeys);
    free(mends);
    free(ends);
    return ok;
}

/* Rebuilds and writes a changed incident at the batch time. */
static enum err save_touched(struct batch *b, struct touched *t, struct err_info *ei)
{
    t->inc.last_update_time = b->now;
    enum err e = ERR_OK;
    struct buf spliced; /* the new alerts text, when the stored one could be spliced */
    buf_init(&spliced, BUF_UNLIMITED);
    bool splice = false;
    if (!t->alerts && t->summary) {
        incident_settle_alerts(t->added, t->inc.id);
        splice = tail_splice(t, t->added, t->summary, &spliced);
    }
    e = splice ? ERR_OK : materialize(t, ei);
    if (e) {
        buf_release(&spliced);
        return e;
    }
    json_t *summary = splice ? json_incref(t->summary) : summary_new();
    json_t *list = splice ? t->added : t->alerts;
    if (!splice)
        incident_settle_alerts(list, t->inc.id);
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        reps_add(summary, a);
    }
    if (json_array_size(json_object_get(summary, "reps")) > 0) {
        enum severity sv = corr_incident_severity(list);
        t->inc.severity = splice && t->inc.severity > sv ? t->inc.severity : sv;
        free(t->inc.name);
        t->inc.name = corr_incident_name(json_object_get(summary, "reps"));
    }
    struct buf doc;
    buf_init(&doc, BUF_UNLIMITED);
    e = incident_doc_head(&t->inc, &doc);
    size_t off = doc.len;
    if (!e && splice) {
        e = buf_append(&doc, spliced.data, spliced.len);
    } else if (!e) {
        size_t n = json_array_size(list), from = n > TAIL_MAX ? n - TAIL_MAX : 0;
        size_t *ends = xcalloc(n + 1, sizeof(*ends));
        e = incident_doc_alerts_at(list, &doc, ends);
        json_t *keys = json_array();
        for (size_t k = from; k < n; k++) {
            json_array_append_new(keys, sort_key_of(json_array_get(list, k)));
            ends[k] -= off;
        }
        if (!e)
            tail_set(summary, keys, ends + from, from ? ends[from - 1] - off + 1 : 1);
        json_decref(keys);
        free(ends);
    }
    buf_release(&spliced);
    if (e)
        e = err_set(ei, e, -1, "cannot build incident %" PRId64, t->inc.id);
    char *stext = e ? NULL : json_dumps(summary, JSON_COMPACT);
    if (!e && t->full) {
        e = sq_save_incident(b->st, b->tenant, &t->inc, &doc, off, stext, ei);
    } else if (!e) {
        sqlite3_stmt *u = b->s[W_SET_DOC];
        sqlite3_reset(u);
        sqlite3_bind_text(u, 1, t->inc.name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(u, 2, t->inc.last_update_time);
        sqlite3_bind_int(u, 3, (int)t->inc.severity);
        sqlite3_bind_text(u, 4, doc.data, (int)doc.len, SQLITE_STATIC);
        sqlite3_bind_int64(u, 5, (int64_t)off);
        sqlite3_bind_text(u, 6, stext, -1, SQLITE_STATIC);
        sqlite3_bind_text(u, 7, b->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(u, 8, t->inc.id);
        if (sqlite3_step(u) != SQLITE_DONE)
            e = sq_fail(b->db, "writing an incident", ei);
        sqlite3_reset(u);
    }
    /* A stub keeps the device groups it had: a user who could see the incident can still
     * open it and follow redirectIncidentId (the survivor has those alerts, so those groups). */
    if (!e && t->inc.status != STATUS_REDIRECTED)
        e = sq_add_groups(b->st, b->tenant, t->inc.id, list, !splice, ei);
    free(stext);
    json_decref(summary);
    buf_release(&doc);
    return e;
}

/* The statements a batch runs, prepared once per store (sq_wstmt). */
static const struct {
    enum wstmt id;
    const char *sql;
} batch_sql[] = {
    {W_GET_ALERT,
     "SELECT incident_id, content_hash FROM alerts WHERE tenant_id = ? AND alert_id = ?"},
    {W_INS_ALERT, "INSERT INTO alerts (tenant_id, alert_id, incident_id, content_hash, "
                  "correlation) VALUES (?,?,?,?,?)"},
    {W_UPD_HASH, "UPDATE alerts SET content_hash = ? WHERE tenant_id = ? AND alert_id = ?"},
    /* One row per incident: the bare alert_id comes from the row with the latest activity
     * (SQLite's max() bare-column rule), the closest evidence for the explanation. */
    {W_FIND, "SELECT g.incident_id, i.status, i.created_time, g.alert_id FROM (SELECT "
             "incident_id, alert_id, max(last_activity) FROM alert_keys WHERE "
             "tenant_id = ?1 AND key_type = ?2 AND key_value = ?3 AND last_activity >= "
             "?4 AND first_activity <= ?5 GROUP BY incident_id) g JOIN incidents i ON "
             "i.tenant_id = ?1 AND i.incident_id = g.incident_id WHERE i.status IN (0, "
             "1, 2)"},
    {W_SET_STATE, "UPDATE incidents SET status = ?, redirect_incident_id = ? WHERE "
                  "tenant_id = ? AND incident_id = ?"},
    {W_MOVE_ALERTS, "UPDATE alerts SET incident_id = ? WHERE tenant_id = ? AND incident_id = ?"},
    {W_STUBS_OF, "SELECT incident_id FROM incidents WHERE tenant_id = ? AND "
                 "redirect_incident_id = ?"},
    {W_GET_SUMMARY, "SELECT alert_summary FROM incidents WHERE tenant_id = ? AND incident_id = ?"},
    {W_REPOINT, "UPDATE incidents SET redirect_incident_id = ? WHERE tenant_id = ? AND "
                "redirect_incident_id = ?"},
    {W_SET_DOC, "UPDATE incidents SET incident_name = ?, last_update_time = ?, severity = ?, "
                "doc = ?, alerts_off = ?, alert_summary = ? WHERE tenant_id = ? AND "
                "incident_id = ?"},
};

static enum err batch_prepare(struct batch *b, struct err_info *ei)
{
    for (size_t i = 0; i < ARRAY_SIZE(batch_sql); i++)
        if (sq_wstmt(b->st, batch_sql[i].id, batch_sql[i].sql, &b->s[batch_sql[i].id], ei))
            return ERR_STORAGE;
    sqlite3_stmt *s;
    enum err e = sq_prepare(
        b->db, "SELECT COALESCE(MAX(incident_id), 0) FROM incidents WHERE tenant_id = ?", &s, ei);
    if (e)
        return e;
    sqlite3_bind_text(s, 1, b->tenant, -1, SQLITE_STATIC);
    /* Added in C: SQLite turns INT64_MAX + 1 into a float. 0 means "search for a free id". */
    int64_t max = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    b->next_id = max == INT64_MAX ? 0 : max + 1;
    sqlite3_finalize(s);
    e = sq_prepare(b->db, "INSERT OR IGNORE INTO tenants (tenant_id, created_time) VALUES (?, ?)",
                   &s, ei);
    if (e)
        return e;
    sqlite3_bind_text(s, 1, b->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, b->now);
    if (sqlite3_step(s) != SQLITE_DONE)
        e = sq_fail(b->db, "recording the tenant", ei);
    sqlite3_finalize(s);
    return e;
}

static void batch_release(struct batch *b)
{
    /* The statements belong to the store's cache; reset them so none holds the database. */
    for (size_t i = 0; i < W__COUNT; i++)
        if (b->s[i])
            sqlite3_reset(b->s[i]);
    for (size_t i = 0; i < b->nt; i++)
        touched_free(b->t[i]);
    free(b->t);
    free(b->slots);
}

enum err sqlite_alert_ingest(struct store *base, const char *tenant, const struct corr_options *o,
                             const struct alert_in *alerts, size_t n,
                             struct store_ingested *results, struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    struct batch b = {.st = st, .db = st->writer, .tenant = tenant, .o = o};
    struct store_ingested *res = xcalloc(n ? n : 1, sizeof(*res));
    bool wrote = false;

    int64_t t_wait = sq_mono_ns();
    pthread_mutex_lock(&st->write_lock);
    int64_t t_held = sq_mono_ns(), t_cpu = sq_thread_cpu_ns(), t_commit = 0;
    enum err e = sq_exec(b.db, "BEGIN IMMEDIATE", ei);
    if (e)
        goto unlock;
    /* The batch's time is taken once the database is ours: BEGIN may have waited for another
     * process, whose commits must not carry later times than this one (storage.md). */
    e = sq_sync_clock(st, tenant, ei);
    b.now = sq_next_update_time(st, 0);
    e = e ? e : batch_prepare(&b, ei);
    for (size_t i = 0; i < n && !e; i++) {
        sqlite3_stmt *s = b.s[W_GET_ALERT];
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, alerts[i].id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            int64_t incident = sqlite3_column_int64(s, 0);
            bool same =
                sqlite3_column_bytes(s, 1) == (int)sizeof(alerts[i].hash) &&
                memcmp(sqlite3_column_blob(s, 1), alerts[i].hash, sizeof(alerts[i].hash)) == 0;
            res[i].incident_id = incident;
            res[i].result = same ? STORE_ALERT_UNCHANGED : STORE_ALERT_UPDATED;
            if (!same)
                e = ingest_update(&b, &alerts[i], incident, ei);
        } else if (rc == SQLITE_DONE) {
            res[i].result = STORE_ALERT_CREATED;
            e = ingest_new(&b, &alerts[i], &res[i].incident_id, ei);
        } else {
            e = sq_fail(b.db, "reading an alert", ei);
        }
    }
    for (size_t i = 0; i < b.nt && !e; i++)
        if (b.t[i]->dirty) {
            e = save_touched(&b, b.t[i], ei);
            wrote = true;
        }
    /* An alert's incident may have been merged away by a later alert of the batch: report
     * where it is after the commit. */
    for (size_t i = 0; i < n && !e; i++) {
        struct touched *t = touched_find(&b, res[i].incident_id);
        if (t && t->inc.status == STATUS_REDIRECTED)
            res[i].incident_id = t->inc.redirect_id;
    }
    if (!e && wrote) {
        t_commit = sq_mono_ns();
        e = sq_commit(st, ei);
        t_commit = sq_mono_ns() - t_commit;
    }
    if (e || !wrote)
        sqlite3_exec(b.db, "ROLLBACK", NULL, NULL, NULL);
    else
        st->last_issued = b.now;
unlock:
    batch_release(&b);
    st->lock_stats.batches++;
    st->lock_stats.wait_ns += t_held - t_wait;
    st->lock_stats.commit_ns += t_commit;
    st->lock_stats.held_ns += sq_mono_ns() - t_held;
    st->lock_stats.cpu_ns += sq_thread_cpu_ns() - t_cpu;
    pthread_mutex_unlock(&st->write_lock);
    if (!e)
        memcpy(results, res, n * sizeof(*res));
    free(res);
    return e;
}

/* ---------------------------------------------------------------------------------------------
 * Reading one alert
 */

enum err sqlite_alert_get(struct store *base, const struct store_scope *scope, const char *alert_id,
                          json_t **alert_out, json_t **correlation_out, struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    *alert_out = *correlation_out = NULL;
    sqlite3 *db = sq_reader_acquire(st);
    struct buf sql, doc;
    buf_init(&sql, BUF_UNLIMITED);
    buf_init(&doc, BUF_UNLIMITED);
    sqlite3_stmt *s = NULL;
    json_t *why = NULL, *alerts = NULL;
    int64_t incident = 0;
    size_t off = 0;
    /* One read transaction, so the alert row and its incident's document agree. */
    enum err e = sq_exec(db, "BEGIN", ei);
    if (e)
        goto done;
    buf_puts(&sql, "SELECT a.incident_id, a.correlation, incidents.doc, incidents.alerts_off "
                   "FROM alerts a JOIN incidents ON incidents.tenant_id = a.tenant_id AND "
                   "incidents.incident_id = a.incident_id WHERE a.tenant_id = ? AND "
                   "a.alert_id = ?");
    sq_append_scope(&sql, scope);
    e = sq_prepare(db, sql.data, &s, ei);
    if (e)
        goto rollback;
    int idx = 1;
    sqlite3_bind_text(s, idx++, scope->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, idx++, alert_id, -1, SQLITE_STATIC);
    sq_bind_scope(s, &idx, scope);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        e = err_set(ei, ERR_NOT_FOUND, -1, "alert '%.80s' was not found", alert_id);
        goto rollback;
    }
    if (rc != SQLITE_ROW) {
        e = sq_fail(db, "reading an alert", ei);
        goto rollback;
    }
    incident = sqlite3_column_int64(s, 0);
    if (sqlite3_column_type(s, 1) != SQLITE_NULL)
        why = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
    buf_append(&doc, sqlite3_column_text(s, 2), (size_t)sqlite3_column_bytes(s, 2));
    off = (size_t)sqlite3_column_int64(s, 3);
    alerts = off <= doc.len ? doc_alerts(&doc, off) : NULL;
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        const char *id = json_string_value(json_object_get(a, "alertId"));
        if (id && strcmp(id, alert_id) == 0)
            *alert_out = json_incref(a);
    }
    if (!*alert_out) {
        e = err_set(ei, ERR_STORAGE, -1, "alert '%.80s' is missing from incident %" PRId64,
                    alert_id, incident);
        goto rollback;
    }
    if (!json_is_object(why))
        why = (json_decref(why),
               json_pack("{sssnsnsns[]snsn}", "action", "imported", "correlatedIncidentId", "key",
                         "matchedAlertId", "merged", "mergeSkipped", "time"));
    /* The current incident first: a later merge may have moved the alert. */
    json_t *c = json_pack("{sI}", "incidentId", (json_int_t)incident);
    json_object_update(c, why);
    /* Explanations stored before the field existed, and imported alerts, have the same shape. */
    if (!json_object_get(c, "resolvedNotReopened"))
        json_object_set_new(c, "resolvedNotReopened", json_null());
    *correlation_out = c;
rollback:
    sqlite3_finalize(s);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
done:
    sq_reader_release(st, db);
    json_decref(why);
    json_decref(alerts);
    buf_release(&sql);
    buf_release(&doc);
    if (e) {
        json_decref(*alert_out);
        *alert_out = NULL;
    }
    return e;
}
