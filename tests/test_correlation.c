/* SPDX-License-Identifier: MIT */
/*
 * Correlation scenarios (issue 5 point 8, CONTRACT §9): ordered alert sequences run against a
 * fresh SQLite store, with the expected incidents after each step. One Check test per file of
 * tests/data/correlation/NAME.json (a loop test; the failure message names the file and the step).
 *
 * Scenario file format (JSON; an unknown key in the format's own objects is an error, so a typo
 * cannot pass silently; alerts and PATCH bodies go to the code under test as they are):
 *
 *   {
 *     "description": "what the scenario shows",                       required
 *     "options": {"keys": "device,user", "window": "24h",             optional; parsed with
 *                 "resolved": "new" | "reopen"},                       corr_*_parse over defaults
 *     "tenant": "t1",                                                  default tenant, "t1"
 *     "now": "2026-03-01T00:00:00Z",                                   `now` for alert defaults
 *                                                  (a step may set its own "now", kept after)
 *     "alert_defaults": {alert keys},       merged into every alert that lacks them (shallow)
 *     "steps": [step, ...]
 *   }
 *
 * A step does at most one action, then checks its expectations:
 *
 *   "comment": "free text"
 *   "tenant": "t2"                       this step's tenant (default: the scenario's)
 *   "options": {...}                     overrides the scenario options for this step only
 *   action, one of:
 *     "ingest": [alert, ...]             one batch: alert_parse_batch then store_alert_ingest
 *     "ingest_repeat": {"count": N, "template": alert}
 *                                        one batch of N alerts; "{i}" (0..N-1), "{i+K}" and
 *                                        "{K-i}" are substituted in every string of the
 *                                        template
 *     "patch": {"incident": ID, "body": {PATCH body}, "author": "upn", "error": "InvalidInput"}
 *                                        incident_patch_parse + store_incident_update; "error"
 *                                        (err_api_code of the expected failure) is optional
 *   "reject": "text"                     with an ingest: the batch must be refused by
 *                                        alert_parse_batch (ERR_BODY) with a message containing
 *                                        text; nothing is ingested
 *   "results": ["created" | {"result": "created", "incident": ID}, ...]
 *                                        per alert of the batch, in input order
 *   "results_all": "created" | {"result": ..., "incident": ID}   the same for every alert
 *   "expect": {
 *     "incidents": [{"id": 1,                                      required
 *                    "status": "Active", "severity": "High", "redirect": null | ID,
 *                    "name": "...", "assignedTo": null | "...", "classification": "...",
 *                    "tags": ["a", ...]            (as a set),
 *                    "comments": N | ["text", ...] (count, or the texts oldest first),
 *                    "alerts": ["a1", ...]         (as a set; order is an invariant below),
 *                    "alert_count": N}, ...],
 *     "count": N,            number of incidents of the tenant; when absent and "incidents" is
 *                            given, "incidents" must list every incident of the tenant
 *     "unchanged": [ID, ...] | "all"   byte-identical to the previous snapshot of the tenant
 *     "bumped": [ID, ...]              lastUpdateTime strictly later than in that snapshot
 *     "alert": {"a1": {alert keys..., "correlation": {...}}}
 *                            store_alert_get: every given key must match (objects recursively
 *                            as subsets, arrays element by element, scalars equal)
 *   }
 *
 * Incident ids: a fresh store numbers a tenant's incidents 1, 2, ... in creation order.
 *
 * Invariants checked after every step for the step's tenant, expectations or not: every alert
 * carries its incident's id and appears in one incident only; alerts are ordered by
 * creationTime then alertId; a Redirected incident has no alerts and points at an existing
 * incident that is not Redirected (chains collapse); others have redirectIncidentId null and
 * severity = the highest alert severity; lastUpdateTime >= createdTime and never goes back; an
 * incident whose document changed has a later lastUpdateTime, later than every lastUpdateTime
 * of the previous step (the store clock of storage.md), as is a new incident's createdTime; no
 * incident and no alert is lost; each ingest result names the incident that holds the alert
 * after the commit; store_incident_get returns the same document as the list.
 */
#include "common.h"
#include "alert.h"
#include "buf.h"
#include "correlate.h"
#include "incident.h"
#include "model.h"
#include "odata.h"
#include "store.h"
#include "tests.h"
#include "ts.h"
#include "xmalloc.h"
#include <dirent.h>
#include <jansson.h>

#define SCN_MAX_FILES   256
#define SCN_NAME_MAX    256
#define SCN_MAX_ERRORS  20
#define SCN_DEFAULT_NOW "2026-03-01T00:00:00Z"

static char scn_files[SCN_MAX_FILES][SCN_NAME_MAX];
static int scn_nfiles;

struct scn {
    const char *file;
    int step; /* 1-based; 0 while loading */
    json_t *root;
    char *dir;
    struct store *st;
    struct corr_options opts;
    const char *tenant;
    int64_t now;
    json_t *alert_defaults; /* borrowed from root; NULL when absent */
    json_t *snaps;          /* tenant -> snapshot {"docs": {id: text}, "incs": {id: incident}} */
    struct buf errors;
    int nerrors;
};

ATTR_PRINTF(2, 3) static void scn_fail(struct scn *s, const char *fmt, ...)
{
    if (++s->nerrors > SCN_MAX_ERRORS)
        return;
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s->step)
        buf_appendf(&s->errors, "%s step %d: %s\n", s->file, s->step, msg);
    else
        buf_appendf(&s->errors, "%s: %s\n", s->file, msg);
}

/* Compact JSON text of v for messages, at most ~300 bytes; caller frees. */
static char *show(json_t *v)
{
    if (!v)
        return xstrdup("(missing)");
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!t)
        return xstrdup("(unprintable)");
    if (strlen(t) > 300) {
        char *c = xasprintf("%.300s...", t);
        free(t);
        return c;
    }
    return t;
}

static bool keys_allowed(struct scn *s, json_t *obj, const char *what, const char *const *allowed)
{
    if (!json_is_object(obj)) {
        scn_fail(s, "%s: expected an object", what);
        return false;
    }
    bool ok = true;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        (void)v;
        bool found = false;
        for (const char *const *a = allowed; *a; a++)
            found = found || strcmp(*a, k) == 0;
        if (!found) {
            scn_fail(s, "%s: unknown key '%s'", what, k);
            ok = false;
        }
    }
    return ok;
}

static bool ts_of(json_t *v, int64_t *out)
{
    if (!json_is_string(v))
        return false;
    return ts_parse(json_string_value(v), json_string_length(v), 0, out, NULL) == ERR_OK;
}

static const char *id_key(int64_t id, char out[24])
{
    snprintf(out, 24, "%" PRId64, id);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static bool parse_options(struct scn *s, json_t *o, struct corr_options *out)
{
    static const char *const allowed[] = {"keys", "window", "resolved", NULL};
    if (!o)
        return true;
    if (!keys_allowed(s, o, "options", allowed))
        return false;
    struct err_info ei;
    json_t *v;
    if ((v = json_object_get(o, "keys"))) {
        err_clear(&ei);
        if (!json_is_string(v) || corr_keys_parse(json_string_value(v), &out->keys, &ei)) {
            scn_fail(s, "options.keys: %s", ei.msg);
            return false;
        }
    }
    if ((v = json_object_get(o, "window"))) {
        err_clear(&ei);
        if (!json_is_string(v) || corr_window_parse(json_string_value(v), &out->window, &ei)) {
            scn_fail(s, "options.window: %s", ei.msg);
            return false;
        }
    }
    if ((v = json_object_get(o, "resolved"))) {
        err_clear(&ei);
        if (!json_is_string(v) || corr_resolved_parse(json_string_value(v), &out->resolved, &ei)) {
            scn_fail(s, "options.resolved: %s", ei.msg);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading incidents back                                                                    */
/* ------------------------------------------------------------------------------------------ */

struct rows {
    struct scn *s;
    json_t *docs; /* id -> doc text */
    json_t *incs; /* id -> parsed incident */
};

/* Parses a stored doc ("redirectIncidentId"... without the opening brace); NULL on error. */
static json_t *parse_doc(const char *doc, size_t len)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    buf_putc(&b, '{');
    buf_append(&b, doc, len);
    json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
    buf_release(&b);
    return j;
}

static enum err collect_row(void *ctx, int64_t id, const char *doc, size_t len)
{
    struct rows *r = ctx;
    char k[24];
    id_key(id, k);
    json_t *inc = parse_doc(doc, len);
    if (!json_is_object(inc)) {
        scn_fail(r->s, "incident %" PRId64 ": stored document is not a JSON object", id);
        json_decref(inc);
        return ERR_OK;
    }
    if (json_object_get(r->incs, k))
        scn_fail(r->s, "incident %" PRId64 " listed twice", id);
    json_object_set_new(r->docs, k, json_stringn(doc, len));
    json_object_set_new(r->incs, k, inc);
    return ERR_OK;
}

/* Every incident of the tenant, by incidentId: {"docs": {...}, "incs": {...}}; NULL on error. */
static json_t *snapshot(struct scn *s, const char *tenant)
{
    struct rows r = {s, json_object(), json_object()};
    struct odata_query q;
    odata_query_init(&q);
    q.top = 1000000;
    q.order[0].field = ODATA_FIELD_INCIDENT_ID;
    q.order[0].desc = false;
    q.norder = 1;
    bool more = false;
    struct err_info ei;
    err_clear(&ei);
    enum err rc = store_incident_list(s->st, STORE_TENANT(tenant), &q, collect_row, &r, &more, &ei);
    odata_query_release(&q);
    if (rc != ERR_OK) {
        scn_fail(s, "store_incident_list: %s: %s", err_str(rc), ei.msg);
        json_decref(r.docs);
        json_decref(r.incs);
        return NULL;
    }
    json_t *snap = json_object();
    json_object_set_new(snap, "docs", r.docs);
    json_object_set_new(snap, "incs", r.incs);
    return snap;
}

struct one_doc {
    struct buf text;
    int calls;
};

static enum err one_row(void *ctx, int64_t id, const char *doc, size_t len)
{
    (void)id;
    struct one_doc *o = ctx;
    o->calls++;
    buf_reset(&o->text);
    return buf_append(&o->text, doc, len);
}

static enum err ignore_row(void *ctx, int64_t id, const char *doc, size_t len)
{
    (void)ctx, (void)id, (void)doc, (void)len;
    return ERR_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Invariants                                                                                */
/* ------------------------------------------------------------------------------------------ */

static enum severity severity_of(json_t *v)
{
    enum severity sev = SEVERITY_UNSPECIFIED;
    if (json_is_string(v))
        severity_parse(json_string_value(v), json_string_length(v), &sev);
    return sev;
}

static void check_incident_invariants(struct scn *s, int64_t id, json_t *inc, json_t *incs,
                                      json_t *seen_alerts)
{
    json_t *alerts = json_object_get(inc, "alerts");
    const char *status = json_string_value(json_object_get(inc, "status"));
    json_t *redirect = json_object_get(inc, "redirectIncidentId");
    int64_t created, updated;
    if (!json_is_array(alerts) || !status || !redirect) {
        scn_fail(s, "incident %" PRId64 ": alerts, status or redirectIncidentId missing", id);
        return;
    }
    if (!ts_of(json_object_get(inc, "createdTime"), &created) ||
        !ts_of(json_object_get(inc, "lastUpdateTime"), &updated))
        scn_fail(s, "incident %" PRId64 ": createdTime or lastUpdateTime not a timestamp", id);
    else if (updated < created)
        scn_fail(s, "incident %" PRId64 ": lastUpdateTime before createdTime", id);

    if (strcmp(status, "Redirected") == 0) {
        char k[24];
        json_t *target = json_is_integer(redirect)
                             ? json_object_get(incs, id_key(json_integer_value(redirect), k))
                             : NULL;
        if (json_array_size(alerts) != 0)
            scn_fail(s, "incident %" PRId64 ": Redirected but holds %zu alerts", id,
                     json_array_size(alerts));
        if (!target)
            scn_fail(s, "incident %" PRId64 ": Redirected to a missing incident", id);
        else if (strcmp(json_string_value(json_object_get(target, "status")), "Redirected") == 0)
            scn_fail(s,
                     "incident %" PRId64 ": redirects to %" PRId64
                     ", itself Redirected (chains must collapse)",
                     id, (int64_t)json_integer_value(redirect));
        return;
    }
    if (!json_is_null(redirect))
        scn_fail(s, "incident %" PRId64 ": status %s with redirectIncidentId set", id, status);

    enum severity max = SEVERITY_UNSPECIFIED;
    int64_t prev_ct = INT64_MIN;
    const char *prev_id = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        const char *aid = json_string_value(json_object_get(a, "alertId"));
        int64_t ct;
        if (!aid || !ts_of(json_object_get(a, "creationTime"), &ct)) {
            scn_fail(s, "incident %" PRId64 ": alert %zu lacks alertId or creationTime", id, i);
            continue;
        }
        json_t *owner = json_object_get(a, "incidentId");
        if (!json_is_integer(owner) || json_integer_value(owner) != id)
            scn_fail(s, "incident %" PRId64 ": alert %s has incidentId %s", id, aid,
                     json_is_integer(owner) ? "of another incident" : "not an integer");
        if (json_object_get(seen_alerts, aid))
            scn_fail(s, "alert %s is in incident %" PRId64 " and in incident %" PRId64, aid,
                     (int64_t)json_integer_value(json_object_get(seen_alerts, aid)), id);
        json_object_set_new(seen_alerts, aid, json_integer(id));
        if (prev_id && (ct < prev_ct || (ct == prev_ct && strcmp(prev_id, aid) > 0)))
            scn_fail(s,
                     "incident %" PRId64 ": alerts not ordered by creationTime, alertId (%s, %s)",
                     id, prev_id, aid);
        prev_ct = ct;
        prev_id = aid;
        enum severity sev = severity_of(json_object_get(a, "severity"));
        if (sev > max)
            max = sev;
    }
    enum severity got = severity_of(json_object_get(inc, "severity"));
    if (json_array_size(alerts) > 0 && got != max)
        scn_fail(s, "incident %" PRId64 ": severity %s, but its highest alert severity is %s", id,
                 severity_name(got), severity_name(max));
}

/* Highest lastUpdateTime of a snapshot (0 when empty). */
static int64_t snapshot_high(json_t *snap)
{
    int64_t high = 0, t;
    const char *k;
    json_t *inc;
    json_object_foreach(json_object_get(snap, "incs"), k, inc)
    {
        if (ts_of(json_object_get(inc, "lastUpdateTime"), &t) && t > high)
            high = t;
    }
    return high;
}

/* `ingested`: alertId -> the incident store_alert_ingest reported for it, or NULL. */
static void check_invariants(struct scn *s, json_t *cur, json_t *prev, json_t *ingested)
{
    json_t *incs = json_object_get(cur, "incs"), *docs = json_object_get(cur, "docs");
    json_t *seen_alerts = json_object();
    const char *k;
    json_t *inc;
    json_object_foreach(incs, k, inc)
    {
        check_incident_invariants(s, strtoll(k, NULL, 10), inc, incs, seen_alerts);
    }
    /* Results are sent after the commit: each names the incident now holding the alert. */
    json_t *v;
    json_object_foreach(ingested, k, v)
    {
        json_t *holder = json_object_get(seen_alerts, k);
        if (!json_equal(holder, v))
            scn_fail(s,
                     "alert %s: store_alert_ingest reported incident %" JSON_INTEGER_FORMAT
                     ", but it is in %s",
                     k, json_integer_value(v), holder ? "another incident" : "no incident");
    }
    /* What this step wrote: new incidents and changed documents. The store clock
     * (storage.md) makes every write later than everything the previous snapshot holds; an
     * ingested batch shares one lastUpdateTime (correlation.md), which is also the createdTime
     * of the incidents it creates (CONTRACT §9). */
    int64_t high = prev ? snapshot_high(prev) : INT64_MIN, batch_time = 0;
    const char *batch_first = NULL;
    json_object_foreach(incs, k, inc)
    {
        json_t *pdoc = json_object_get(json_object_get(prev, "docs"), k);
        int64_t created = 0, updated = 0;
        if (pdoc && json_equal(pdoc, json_object_get(docs, k)))
            continue;
        ts_of(json_object_get(inc, "createdTime"), &created);
        ts_of(json_object_get(inc, "lastUpdateTime"), &updated);
        if ((pdoc ? updated : created) <= high)
            scn_fail(s,
                     "incident %s: %s is not later than the previous step's latest "
                     "lastUpdateTime",
                     k, pdoc ? "its new lastUpdateTime" : "its createdTime");
        if (!ingested)
            continue;
        if (!pdoc && created != updated)
            scn_fail(s,
                     "incident %s: created by ingestion with createdTime %s != lastUpdateTime %s",
                     k, json_string_value(json_object_get(inc, "createdTime")),
                     json_string_value(json_object_get(inc, "lastUpdateTime")));
        if (!batch_first) {
            batch_first = k;
            batch_time = updated;
        } else if (updated != batch_time) {
            scn_fail(s, "incidents %s and %s, written by one batch, have different lastUpdateTimes",
                     batch_first, k);
        }
    }
    if (prev) {
        json_t *pincs = json_object_get(prev, "incs"), *pdocs = json_object_get(prev, "docs");
        json_object_foreach(pincs, k, inc)
        {
            json_t *now_inc = json_object_get(incs, k);
            if (!now_inc) {
                scn_fail(s, "incident %s disappeared", k);
                continue;
            }
            int64_t before = 0, after = 0;
            ts_of(json_object_get(inc, "lastUpdateTime"), &before);
            ts_of(json_object_get(now_inc, "lastUpdateTime"), &after);
            if (after < before)
                scn_fail(s, "incident %s: lastUpdateTime went back", k);
            else if (after == before &&
                     !json_equal(json_object_get(pdocs, k), json_object_get(docs, k)))
                scn_fail(s, "incident %s changed without a new lastUpdateTime", k);
            size_t i;
            json_t *a;
            json_array_foreach(json_object_get(inc, "alerts"), i, a)
            {
                const char *aid = json_string_value(json_object_get(a, "alertId"));
                if (aid && !json_object_get(seen_alerts, aid))
                    scn_fail(s, "alert %s (was in incident %s) is lost", aid, k);
            }
        }
    }
    json_decref(seen_alerts);
}

/* ------------------------------------------------------------------------------------------ */
/* Expectations                                                                              */
/* ------------------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted copy of the strings of `arr` (elements taken from `field` of objects when non-NULL);
 * returns the count; caller frees the array (not the strings). */
static size_t sorted_strings(json_t *arr, const char *field, const char ***out)
{
    size_t n = json_array_size(arr), m = 0;
    const char **v = xcalloc(n ? n : 1, sizeof(*v));
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *str = json_string_value(field ? json_object_get(e, field) : e);
        v[m++] = str ? str : "(null)";
    }
    qsort(v, m, sizeof(*v), cmp_str);
    *out = v;
    return m;
}

static void expect_set(struct scn *s, int64_t id, const char *what, json_t *exp, json_t *got,
                       const char *field)
{
    const char **a, **b;
    size_t na = sorted_strings(exp, NULL, &a), nb = sorted_strings(got, field, &b);
    bool eq = na == nb;
    for (size_t i = 0; eq && i < na; i++)
        eq = strcmp(a[i], b[i]) == 0;
    if (!eq) {
        struct buf t;
        buf_init(&t, BUF_UNLIMITED);
        for (size_t i = 0; i < nb && t.len < 400; i++)
            buf_appendf(&t, "%s%s", i ? "," : "", b[i]);
        char *e = show(exp);
        scn_fail(s, "incident %" PRId64 ": %s: expected %s, got %zu: [%s%s]", id, what, e, nb,
                 t.data ? t.data : "", t.len >= 400 ? ",..." : "");
        free(e);
        buf_release(&t);
    }
    free(a);
    free(b);
}

static void expect_value(struct scn *s, int64_t id, const char *what, json_t *exp, json_t *got)
{
    if (json_equal(exp, got) || (json_is_null(exp) && json_is_null(got)))
        return;
    char *e = show(exp), *g = show(got);
    scn_fail(s, "incident %" PRId64 ": %s: expected %s, got %s", id, what, e, g);
    free(e);
    free(g);
}

static void expect_incident(struct scn *s, json_t *exp, json_t *incs, json_t *docs,
                            const char *tenant)
{
    static const char *const allowed[] = {"id",     "status",      "severity",       "redirect",
                                          "name",   "assignedTo",  "tags",           "comments",
                                          "alerts", "alert_count", "classification", NULL};
    if (!keys_allowed(s, exp, "expect.incidents[]", allowed))
        return;
    json_t *jid = json_object_get(exp, "id");
    if (!json_is_integer(jid)) {
        scn_fail(s, "expect.incidents[]: \"id\" must be an integer");
        return;
    }
    int64_t id = json_integer_value(jid);
    char k[24];
    json_t *inc = json_object_get(incs, id_key(id, k));
    if (!inc) {
        scn_fail(s, "incident %" PRId64 ": expected, but the tenant has no such incident", id);
        return;
    }
    /* The single-incident read must serve the same document as the list. */
    struct one_doc od = {.calls = 0};
    buf_init(&od.text, BUF_UNLIMITED);
    struct err_info ei;
    err_clear(&ei);
    enum err rc = store_incident_get(s->st, STORE_TENANT(tenant), id, one_row, &od, &ei);
    const char *listed = json_string_value(json_object_get(docs, k));
    if (rc != ERR_OK)
        scn_fail(s, "incident %" PRId64 ": store_incident_get: %s: %s", id, err_str(rc), ei.msg);
    else if (od.calls != 1 || !listed || od.text.len != strlen(listed) ||
             memcmp(od.text.data, listed, od.text.len) != 0)
        scn_fail(s, "incident %" PRId64 ": store_incident_get differs from the list", id);
    buf_release(&od.text);

    static const struct {
        const char *exp, *got;
    } scalars[] = {
        {"status", "status"},
        {"severity", "severity"},
        {"redirect", "redirectIncidentId"},
        {"name", "incidentName"},
        {"assignedTo", "assignedTo"},
        {"classification", "classification"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(scalars); i++) {
        json_t *e = json_object_get(exp, scalars[i].exp);
        if (e)
            expect_value(s, id, scalars[i].exp, e, json_object_get(inc, scalars[i].got));
    }
    json_t *e;
    if ((e = json_object_get(exp, "tags")))
        expect_set(s, id, "tags", e, json_object_get(inc, "tags"), NULL);
    if ((e = json_object_get(exp, "alerts")))
        expect_set(s, id, "alerts", e, json_object_get(inc, "alerts"), "alertId");
    if ((e = json_object_get(exp, "alert_count")) &&
        (json_int_t)json_array_size(json_object_get(inc, "alerts")) != json_integer_value(e))
        scn_fail(s, "incident %" PRId64 ": expected %" JSON_INTEGER_FORMAT " alerts, got %zu", id,
                 json_integer_value(e), json_array_size(json_object_get(inc, "alerts")));
    if ((e = json_object_get(exp, "comments"))) {
        json_t *got = json_object_get(inc, "comments");
        if (json_is_integer(e)) {
            if ((json_int_t)json_array_size(got) != json_integer_value(e))
                scn_fail(
                    s, "incident %" PRId64 ": expected %" JSON_INTEGER_FORMAT " comments, got %zu",
                    id, json_integer_value(e), json_array_size(got));
        } else {
            json_t *texts = json_array();
            size_t i;
            json_t *c;
            json_array_foreach(got, i, c)
            {
                json_array_append(texts, json_object_get(c, "comment"));
            }
            expect_value(s, id, "comments (oldest first)", e, texts);
            json_decref(texts);
        }
    }
}

/* Every key of exp matches in got: objects as subsets, arrays element by element. */
static bool subset(json_t *exp, json_t *got)
{
    if (json_is_object(exp)) {
        if (!json_is_object(got))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach(exp, k, v)
        {
            if (!subset(v, json_object_get(got, k)))
                return false;
        }
        return true;
    }
    if (json_is_array(exp)) {
        if (!json_is_array(got) || json_array_size(exp) != json_array_size(got))
            return false;
        for (size_t i = 0; i < json_array_size(exp); i++)
            if (!subset(json_array_get(exp, i), json_array_get(got, i)))
                return false;
        return true;
    }
    return got && json_equal(exp, got);
}

static void expect_alerts(struct scn *s, json_t *exp, const char *tenant)
{
    const char *aid;
    json_t *want;
    json_object_foreach(exp, aid, want)
    {
        json_t *alert = NULL, *corr = NULL;
        struct err_info ei;
        err_clear(&ei);
        enum err rc = store_alert_get(s->st, STORE_TENANT(tenant), aid, &alert, &corr, &ei);
        if (rc != ERR_OK) {
            scn_fail(s, "alert %s: store_alert_get: %s: %s", aid, err_str(rc), ei.msg);
            continue;
        }
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            json_t *got = strcmp(k, "correlation") == 0 ? corr : json_object_get(alert, k);
            if (!subset(v, got)) {
                char *e = show(v), *g = show(got);
                scn_fail(s, "alert %s: %s: expected %s, got %s", aid, k, e, g);
                free(e);
                free(g);
            }
        }
        json_decref(alert);
        json_decref(corr);
    }
}

static void expect_same_or_bumped(struct scn *s, json_t *list, json_t *cur, json_t *prev,
                                  bool bumped)
{
    const char *what = bumped ? "bumped" : "unchanged";
    if (!prev) {
        scn_fail(s, "expect.%s: no previous snapshot of this tenant", what);
        return;
    }
    json_t *ids = list;
    json_t *owned = NULL;
    if (json_is_string(list) && strcmp(json_string_value(list), "all") == 0 && !bumped) {
        owned = ids = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(prev, "incs"), k, v)
        {
            (void)v;
            json_array_append_new(ids, json_integer(strtoll(k, NULL, 10)));
        }
    } else if (!json_is_array(list)) {
        scn_fail(s, "expect.%s: expected an array of incident ids%s", what,
                 bumped ? "" : " or \"all\"");
        return;
    }
    size_t i;
    json_t *jid;
    json_array_foreach(ids, i, jid)
    {
        char k[24];
        id_key(json_integer_value(jid), k);
        json_t *pd = json_object_get(json_object_get(prev, "docs"), k);
        json_t *cd = json_object_get(json_object_get(cur, "docs"), k);
        if (!pd || !cd) {
            scn_fail(s, "expect.%s: incident %s missing %s", what, k, pd ? "now" : "before");
            continue;
        }
        if (!bumped) {
            if (!json_equal(pd, cd)) {
                json_t *a = json_object_get(json_object_get(prev, "incs"), k);
                json_t *b = json_object_get(json_object_get(cur, "incs"), k);
                scn_fail(s,
                         "incident %s: expected unchanged, but it was rewritten "
                         "(lastUpdateTime %s -> %s)",
                         k, json_string_value(json_object_get(a, "lastUpdateTime")),
                         json_string_value(json_object_get(b, "lastUpdateTime")));
            }
            continue;
        }
        int64_t before = 0, after = 0;
        ts_of(json_object_get(json_object_get(json_object_get(prev, "incs"), k), "lastUpdateTime"),
              &before);
        ts_of(json_object_get(json_object_get(json_object_get(cur, "incs"), k), "lastUpdateTime"),
              &after);
        if (after <= before)
            scn_fail(s, "incident %s: expected a new lastUpdateTime, it kept the old one", k);
    }
    json_decref(owned);
}

static void check_expect(struct scn *s, json_t *exp, json_t *cur, json_t *prev, const char *tenant)
{
    static const char *const allowed[] = {"incidents", "count", "unchanged",
                                          "bumped",    "alert", NULL};
    if (!keys_allowed(s, exp, "expect", allowed))
        return;
    json_t *incs = json_object_get(cur, "incs"), *docs = json_object_get(cur, "docs");
    json_t *list = json_object_get(exp, "incidents");
    json_t *count = json_object_get(exp, "count");
    if (list && !json_is_array(list))
        scn_fail(s, "expect.incidents: expected an array");
    if (count && !json_is_integer(count))
        scn_fail(s, "expect.count: expected an integer");
    size_t want_n = count ? (size_t)json_integer_value(count) : json_array_size(list);
    if ((count || list) && json_object_size(incs) != want_n) {
        struct buf t;
        buf_init(&t, BUF_UNLIMITED);
        const char *k;
        json_t *v;
        json_object_foreach(incs, k, v)
        {
            if (t.len < 200)
                buf_appendf(&t, "%s%s", t.len ? "," : "", k);
        }
        scn_fail(s, "expected %zu incidents, the tenant has %zu [%s%s]", want_n,
                 json_object_size(incs), t.data ? t.data : "", t.len >= 200 ? ",..." : "");
        buf_release(&t);
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        expect_incident(s, e, incs, docs, tenant);
    }
    if ((e = json_object_get(exp, "unchanged")))
        expect_same_or_bumped(s, e, cur, prev, false);
    if ((e = json_object_get(exp, "bumped")))
        expect_same_or_bumped(s, e, cur, prev, true);
    if ((e = json_object_get(exp, "alert"))) {
        if (json_is_object(e))
            expect_alerts(s, e, tenant);
        else
            scn_fail(s, "expect.alert: expected an object");
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Actions                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Deep copy of v with "{i}" in its strings replaced by i, "{i+K}" by i + K, "{K-i}" by K - i. */
static json_t *subst(json_t *v, long i)
{
    if (json_is_string(v)) {
        const char *p = json_string_value(v), *q;
        struct buf b;
        buf_init(&b, BUF_UNLIMITED);
        while ((q = strchr(p, '{'))) {
            /* "{i}", "{i+K}" or "{K-i}"; anything else is copied as it is */
            const char *end = NULL;
            char *e;
            long val = 0;
            if (q[1] == 'i' && q[2] == '}') {
                end = q + 2;
                val = i;
            } else if (q[1] == 'i' && q[2] == '+' && q[3] >= '0' && q[3] <= '9') {
                val = i + strtol(q + 3, &e, 10);
                end = e;
            } else if (q[1] >= '0' && q[1] <= '9') {
                val = strtol(q + 1, &e, 10) - i;
                end = e[0] == '-' && e[1] == 'i' ? e + 2 : NULL;
            }
            if (!end || *end != '}') {
                buf_append(&b, p, (size_t)(q - p) + 1);
                p = q + 1;
                continue;
            }
            buf_append(&b, p, (size_t)(q - p));
            buf_appendf(&b, "%ld", val);
            p = end + 1;
        }
        buf_puts(&b, p);
        json_t *r = json_string(b.data ? b.data : "");
        buf_release(&b);
        return r;
    }
    if (json_is_object(v)) {
        json_t *r = json_object();
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            json_object_set_new(r, k, subst(e, i));
        }
        return r;
    }
    if (json_is_array(v)) {
        json_t *r = json_array();
        size_t j;
        json_t *e;
        json_array_foreach(v, j, e)
        {
            json_array_append_new(r, subst(e, i));
        }
        return r;
    }
    return json_deep_copy(v);
}

static json_t *with_defaults(struct scn *s, json_t *alert)
{
    json_t *a = json_deep_copy(alert);
    if (s->alert_defaults && json_is_object(a))
        json_object_update_missing(a, s->alert_defaults);
    return a;
}

/* The batch a step sends, or NULL (error recorded) when malformed. */
static json_t *build_batch(struct scn *s, json_t *step)
{
    json_t *batch = json_array();
    json_t *list = json_object_get(step, "ingest");
    json_t *rep = json_object_get(step, "ingest_repeat");
    if (list) {
        if (!json_is_array(list)) {
            scn_fail(s, "ingest: expected an array of alerts");
            json_decref(batch);
            return NULL;
        }
        size_t i;
        json_t *a;
        json_array_foreach(list, i, a)
        {
            json_array_append_new(batch, with_defaults(s, a));
        }
        return batch;
    }
    static const char *const allowed[] = {"count", "template", NULL};
    if (!keys_allowed(s, rep, "ingest_repeat", allowed) ||
        !json_is_integer(json_object_get(rep, "count")) ||
        !json_is_object(json_object_get(rep, "template"))) {
        scn_fail(s, "ingest_repeat: needs an integer count and an object template");
        json_decref(batch);
        return NULL;
    }
    long n = (long)json_integer_value(json_object_get(rep, "count"));
    for (long i = 0; i < n; i++) {
        json_t *a = subst(json_object_get(rep, "template"), i);
        json_array_append_new(batch, with_defaults(s, a));
        json_decref(a);
    }
    return batch;
}

static void check_result(struct scn *s, size_t i, json_t *want, const struct store_ingested *got)
{
    json_t *result = json_is_object(want) ? json_object_get(want, "result") : want;
    json_t *inc = json_is_object(want) ? json_object_get(want, "incident") : NULL;
    const char *name = store_ingest_result_name(got->result);
    if (!json_is_string(result)) {
        scn_fail(s, "results[%zu]: expected a string or {\"result\", \"incident\"}", i);
        return;
    }
    if (strcmp(json_string_value(result), name) != 0)
        scn_fail(s, "results[%zu]: expected \"%s\", got \"%s\" (incident %" PRId64 ")", i,
                 json_string_value(result), name, got->incident_id);
    if (inc && json_integer_value(inc) != got->incident_id)
        scn_fail(s, "results[%zu]: expected incident %" JSON_INTEGER_FORMAT ", got %" PRId64, i,
                 json_integer_value(inc), got->incident_id);
}

/* Returns alertId -> reported incident id for a stored batch, else NULL. */
static json_t *do_ingest(struct scn *s, json_t *step, const char *tenant,
                         const struct corr_options *o)
{
    json_t *ingested = NULL;
    json_t *batch = build_batch(s, step);
    if (!batch)
        return NULL;
    json_t *body = json_pack("{s:o}", "value", batch);
    struct alert_in *alerts = NULL;
    size_t n = 0;
    struct err_info ei;
    err_clear(&ei);
    enum err rc = alert_parse_batch(body, ALERT_BATCH_MAX, s->now, &alerts, &n, &ei);
    json_t *reject = json_object_get(step, "reject");
    if (reject) {
        if (rc == ERR_OK)
            scn_fail(s, "expected the batch to be rejected (%s), alert_parse_batch accepted it",
                     json_string_value(reject));
        else if (rc != ERR_BODY || !json_is_string(reject) ||
                 !strstr(ei.msg, json_string_value(reject)))
            scn_fail(s, "expected rejection mentioning \"%s\", got %s: %s",
                     json_string_value(reject), err_str(rc), ei.msg);
        goto out;
    }
    if (rc != ERR_OK) {
        scn_fail(s, "alert_parse_batch: %s: %s", err_str(rc), ei.msg);
        goto out;
    }
    struct store_ingested *res = xcalloc(n ? n : 1, sizeof(*res));
    err_clear(&ei);
    rc = store_alert_ingest(s->st, tenant, o, alerts, n, res, &ei);
    if (rc != ERR_OK) {
        scn_fail(s, "store_alert_ingest: %s: %s", err_str(rc), ei.msg);
    } else {
        ingested = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(ingested, alerts[i].id, json_integer(res[i].incident_id));
        json_t *results = json_object_get(step, "results");
        json_t *all = json_object_get(step, "results_all");
        if (results && json_array_size(results) != n)
            scn_fail(s, "results: %zu given for a batch of %zu", json_array_size(results), n);
        else
            for (size_t i = 0; i < n && (results || all); i++)
                check_result(s, i, results ? json_array_get(results, i) : all, &res[i]);
    }
    free(res);
out:
    for (size_t i = 0; i < n; i++)
        alert_in_release(&alerts[i]);
    free(alerts);
    json_decref(body);
    return ingested;
}

static void do_patch(struct scn *s, json_t *patch, const char *tenant)
{
    static const char *const allowed[] = {"incident", "body", "author", "error", NULL};
    if (!keys_allowed(s, patch, "patch", allowed))
        return;
    json_t *id = json_object_get(patch, "incident"), *body = json_object_get(patch, "body");
    json_t *want_err = json_object_get(patch, "error");
    const char *author = json_string_value(json_object_get(patch, "author"));
    if (!json_is_integer(id) || !json_is_object(body)) {
        scn_fail(s, "patch: needs an integer incident and an object body");
        return;
    }
    struct incident_patch p;
    memset(&p, 0, sizeof(p));
    struct err_info ei;
    err_clear(&ei);
    enum err rc = incident_patch_parse(body, &p, &ei);
    if (rc == ERR_OK) {
        p.author = author ? author : "analyst@contoso.com";
        rc = store_incident_update(s->st, STORE_TENANT(tenant), json_integer_value(id), &p,
                                   ignore_row, NULL, &ei);
    }
    incident_patch_release(&p);
    if (want_err) {
        const char *code = json_string_value(want_err);
        if (rc == ERR_OK || !code || strcmp(err_api_code(rc), code) != 0)
            scn_fail(s, "patch of incident %" JSON_INTEGER_FORMAT ": expected %s, got %s (%s)",
                     json_integer_value(id), json_string_value(want_err),
                     rc == ERR_OK ? "success" : err_api_code(rc), ei.msg);
    } else if (rc != ERR_OK) {
        scn_fail(s, "patch of incident %" JSON_INTEGER_FORMAT ": %s: %s", json_integer_value(id),
                 err_str(rc), ei.msg);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Running a file                                                                            */
/* ------------------------------------------------------------------------------------------ */

static void run_step(struct scn *s, json_t *step)
{
    static const char *const allowed[] = {"comment",       "tenant", "options", "ingest",
                                          "ingest_repeat", "patch",  "reject",  "results",
                                          "results_all",   "expect", "now",     NULL};
    if (!keys_allowed(s, step, "step", allowed))
        return;
    /* A step may move the clock: defaults for absent times come from `now`, from here on. */
    const char *now = json_string_value(json_object_get(step, "now"));
    if (json_object_get(step, "now") &&
        (!now || ts_parse(now, strlen(now), 0, &s->now, NULL) != ERR_OK)) {
        scn_fail(s, "now: not a date-time");
        return;
    }
    json_t *tv = json_object_get(step, "tenant");
    const char *tenant = tv ? json_string_value(tv) : s->tenant;
    if (!tenant || !*tenant) {
        scn_fail(s, "tenant: expected a non-empty string");
        return;
    }
    struct corr_options o = s->opts;
    if (!parse_options(s, json_object_get(step, "options"), &o))
        return;
    int actions = !!json_object_get(step, "ingest") + !!json_object_get(step, "ingest_repeat") +
                  !!json_object_get(step, "patch");
    if (actions > 1) {
        scn_fail(s, "a step takes one of ingest, ingest_repeat, patch");
        return;
    }
    if ((json_object_get(step, "reject") || json_object_get(step, "results") ||
         json_object_get(step, "results_all")) &&
        !json_object_get(step, "ingest") && !json_object_get(step, "ingest_repeat")) {
        scn_fail(s, "reject/results/results_all need an ingest");
        return;
    }

    json_t *prev = json_object_get(s->snaps, tenant); /* borrowed until replaced below */
    json_incref(prev);
    json_t *ingested = NULL;
    if (json_object_get(step, "ingest") || json_object_get(step, "ingest_repeat"))
        ingested = do_ingest(s, step, tenant, &o);
    else if (json_object_get(step, "patch"))
        do_patch(s, json_object_get(step, "patch"), tenant);

    json_t *cur = snapshot(s, tenant);
    if (cur) {
        check_invariants(s, cur, prev, ingested);
        json_t *exp = json_object_get(step, "expect");
        if (exp)
            check_expect(s, exp, cur, prev, tenant);
        json_object_set_new(s->snaps, tenant, cur);
    }
    json_decref(ingested);
    json_decref(prev);
}

static void scn_run(struct scn *s, const char *name)
{
    memset(s, 0, sizeof(*s));
    s->file = name;
    buf_init(&s->errors, BUF_UNLIMITED);
    s->snaps = json_object();
    corr_options_init(&s->opts);

    char path[1024];
    snprintf(path, sizeof(path), "%s/correlation/%s", test_data_dir(), name);
    json_error_t jerr;
    s->root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!s->root) {
        scn_fail(s, "line %d: %s", jerr.line, jerr.text);
        return;
    }
    static const char *const allowed[] = {"description",    "options", "tenant", "now",
                                          "alert_defaults", "steps",   NULL};
    if (!keys_allowed(s, s->root, "scenario", allowed))
        return;
    if (!json_is_string(json_object_get(s->root, "description")))
        scn_fail(s, "\"description\" (a string) is required");
    json_t *tv = json_object_get(s->root, "tenant");
    s->tenant = tv ? json_string_value(tv) : "t1";
    const char *now = json_string_value(json_object_get(s->root, "now"));
    if (!now)
        now = SCN_DEFAULT_NOW;
    if (ts_parse(now, strlen(now), 0, &s->now, NULL) != ERR_OK)
        scn_fail(s, "\"now\": not a date-time");
    s->alert_defaults = json_object_get(s->root, "alert_defaults");
    if (s->alert_defaults && !json_is_object(s->alert_defaults))
        scn_fail(s, "\"alert_defaults\": expected an object");
    json_t *steps = json_object_get(s->root, "steps");
    if (!json_is_array(steps) || json_array_size(steps) == 0)
        scn_fail(s, "\"steps\": expected a non-empty array");
    parse_options(s, json_object_get(s->root, "options"), &s->opts);
    if (s->nerrors)
        return;

    s->dir = test_tmpdir();
    char dbpath[1024];
    snprintf(dbpath, sizeof(dbpath), "%s/t.db", s->dir ? s->dir : "/nonexistent");
    struct store_options so;
    store_options_init(&so, dbpath);
    so.sync = STORE_SYNC_OFF;
    so.readers = 2;
    struct err_info ei;
    err_clear(&ei);
    if (store_open(&so, &s->st, &ei) != ERR_OK) {
        scn_fail(s, "store_open: %s", ei.msg);
        return;
    }
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step)
    {
        s->step = (int)i + 1;
        run_step(s, step);
        if (s->nerrors) /* later steps build on this one's state */
            break;
    }
}

static void scn_release(struct scn *s)
{
    store_free(s->st);
    if (s->dir) {
        char cmd[1100];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", s->dir);
        free(s->dir);
    }
    json_decref(s->snaps);
    json_decref(s->root);
    buf_release(&s->errors);
}

START_TEST(test_correlation_scenario)
{
    ck_assert_msg(_i < scn_nfiles, "no scenario %d", _i);
    struct scn s;
    scn_run(&s, scn_files[_i]);
    /* Check copies the message; keep it outside the heap so nothing leaks when it fails. */
    static char msg[4096];
    int nerrors = s.nerrors;
    snprintf(msg, sizeof(msg), "%s%s", s.errors.data ? s.errors.data : "",
             nerrors > SCN_MAX_ERRORS ? "(more errors not shown)\n" : "");
    if (nerrors && s.errors.len >= sizeof(msg))
        fprintf(stderr, "%s", s.errors.data); /* the whole text, when the message is cut */
    scn_release(&s);
    ck_assert_msg(nerrors == 0, "%s", msg);
}
END_TEST

START_TEST(test_correlation_no_scenarios)
{
    ck_abort_msg("no scenario files in %s/correlation", test_data_dir());
}
END_TEST

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

Suite *correlation_suite(void)
{
    Suite *su = suite_create("correlation");
    TCase *tc = tcase_create("scenarios");
    tcase_set_timeout(tc, 120);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/correlation", test_data_dir());
    scn_nfiles = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!has_suffix(de->d_name, ".json") || strlen(de->d_name) >= SCN_NAME_MAX ||
            scn_nfiles == SCN_MAX_FILES)
            continue;
        memcpy(scn_files[scn_nfiles++], de->d_name, strlen(de->d_name) + 1);
    }
    if (d)
        closedir(d);
    qsort(scn_files, (size_t)scn_nfiles, SCN_NAME_MAX, cmp_name);
    if (scn_nfiles)
        tcase_add_loop_test(tc, test_correlation_scenario, 0, scn_nfiles);
    else
        tcase_add_test(tc, test_correlation_no_scenarios);
    suite_add_tcase(su, tc);
    return su;
}
