/* SPDX-License-Identifier: MIT */
/* Backend-neutral incident rules: import validation, stored documents, PATCH (CONTRACT §2, §5-6).
 */
#include "common.h"
#include "incident.h"
#include "ts.h"
#include "xmalloc.h"

/* Documented alert keys in wire order (reference §3.3, CONTRACT §2). */
static const char *const alert_keys[] = {
    "alertId",        "providerAlertId", "incidentId",       "serviceSource",
    "creationTime",   "lastUpdatedTime", "resolvedTime",     "firstActivity",
    "lastActivity",   "title",           "description",      "category",
    "status",         "severity",        "investigationId",  "investigationState",
    "classification", "determination",   "detectionSource",  "detectorId",
    "assignedTo",     "actorName",       "threatFamilyName", "mitreTechniques",
    "devices",        "entities",
};

static const char *const alert_time_keys[] = {"creationTime", "lastUpdatedTime", "resolvedTime",
                                              "firstActivity", "lastActivity"};
/* Arrays a client iterates: [] rather than null when absent. */
static const char *const alert_array_keys[] = {"mitreTechniques", "devices", "entities"};

static bool in_list(const char *k, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, list[i]) == 0)
            return true;
    return false;
}

void incident_init(struct incident *inc)
{
    memset(inc, 0, sizeof(*inc));
    buf_init(&inc->comments_text, BUF_UNLIMITED);
    inc->status = STATUS_ACTIVE;
    inc->classification = CLASSIFICATION_UNKNOWN;
    inc->determination = DETERMINATION_NOT_AVAILABLE;
    inc->severity = SEVERITY_UNSPECIFIED;
}

void incident_release(struct incident *inc)
{
    free(inc->name);
    free(inc->assigned_to);
    json_decref(inc->tags);
    json_decref(inc->comments);
    json_decref(inc->alerts);
    buf_release(&inc->comments_text);
    incident_init(inc);
}

/* ---------------------------------------------------------------------------------------------
 * Import validation
 */

static enum err parse_time_value(json_t *v, const char *path, int64_t *out, struct err_info *ei)
{
    if (!json_is_string(v))
        return err_set(ei, ERR_INVALID, -1, "%s: expected a date-time string", path);
    struct err_info tei;
    err_clear(&tei);
    if (ts_parse(json_string_value(v), json_string_length(v), TS_LENIENT_FRACTION, out, &tei))
        return err_set(ei, ERR_INVALID, -1, "%s: invalid date-time '%.40s': %s", path,
                       json_string_value(v), tei.msg);
    return ERR_OK;
}

/* Rewrites a date-time string in canonical form; null stays null. */
static enum err canonical_time(json_t *obj, const char *key, const char *path, int64_t *ticks_out,
                               struct err_info *ei)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (ticks_out)
            *ticks_out = INT64_MIN;
        return ERR_OK;
    }
    int64_t t;
    if (parse_time_value(v, path, &t, ei))
        return ERR_INVALID;
    char s[TS_FORMAT_MAX];
    ts_format(t, s);
    json_object_set_new(obj, key, json_string(s));
    if (ticks_out)
        *ticks_out = t;
    return ERR_OK;
}

struct alert_sort {
    json_t *alert;
    int64_t creation;
    const char *id;
};

static int alert_cmp(const void *a, const void *b)
{
    const struct alert_sort *x = a, *y = b;
    if (x->creation != y->creation)
        return x->creation < y->creation ? -1 : 1;
    return strcmp(x->id, y->id);
}

int64_t incident_alert_sort_time(json_t *alert)
{
    json_t *ct = json_object_get(alert, "creationTime");
    int64_t t;
    if (json_is_string(ct) && ts_parse(json_string_value(ct), json_string_length(ct),
                                       TS_LENIENT_FRACTION, &t, NULL) == ERR_OK)
        return t;
    return INT64_MIN;
}

void incident_settle_alerts(json_t *alerts, int64_t incident_id)
{
    size_t n = json_array_size(alerts);
    struct alert_sort *s = xcalloc(n ? n : 1, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(alerts, i);
        s[i].alert = json_incref(a);
        s[i].creation = incident_alert_sort_time(a);
        const char *id = json_string_value(json_object_get(a, "alertId"));
        s[i].id = id ? id : "";
    }
    qsort(s, n, sizeof(*s), alert_cmp);
    json_array_clear(alerts);
    for (size_t i = 0; i < n; i++) {
        /* Alerts may be shared (a request's objects, another incident's array): copy before
         * writing the key the server owns. */
        json_t *iid = json_object_get(s[i].alert, "incidentId");
        json_t *c = json_is_integer(iid) && json_integer_value(iid) == incident_id
                        ? json_incref(s[i].alert)
                        : json_copy(s[i].alert);
        json_object_set_new(c, "incidentId", json_integer(incident_id));
        json_array_append_new(alerts, c);
        json_decref(s[i].alert);
    }
    free(s);
}

json_t *incident_alert_canonical(json_t *src, const char *where, int64_t incident_id,
                                 int64_t *creation, struct err_info *ei)
{
    char path[160];
    const char *dot = *where ? "." : "";
    if (!json_is_object(src)) {
        err_set(ei, ERR_INVALID, -1, "%s%sexpected an object", where, *where ? ": " : "");
        return NULL;
    }
    json_t *id = json_object_get(src, "alertId");
    if (!json_is_string(id) || json_string_length(id) == 0) {
        err_set(ei, ERR_INVALID, -1, "%s%salertId: expected a non-empty string", where, dot);
        return NULL;
    }
    json_t *a = json_object();
    for (size_t k = 0; k < ARRAY_SIZE(alert_keys); k++) {
        json_t *v = json_object_get(src, alert_keys[k]);
        if (!v)
            v = in_list(alert_keys[k], alert_array_keys, ARRAY_SIZE(alert_array_keys))
                    ? json_array()
                    : json_null();
        else
            json_incref(v);
        json_object_set_new(a, alert_keys[k], v);
    }
    const char *key;
    json_t *v;
    json_object_foreach(src, key, v)
    {
        if (!in_list(key, alert_keys, ARRAY_SIZE(alert_keys)))
            json_object_set(a, key, v);
    }
    json_object_set_new(a, "incidentId", json_integer(incident_id));
    for (size_t k = 0; k < ARRAY_SIZE(alert_time_keys); k++) {
        snprintf(path, sizeof(path), "%s%s%s", where, dot, alert_time_keys[k]);
        int64_t t;
        if (canonical_time(a, alert_time_keys[k], path, &t, ei)) {
            json_decref(a);
            return NULL;
        }
        if (k == 0)
            *creation = t;
    }
    for (size_t k = 0; k < ARRAY_SIZE(alert_array_keys); k++) {
        json_t *arr = json_object_get(a, alert_array_keys[k]);
        if (!json_is_array(arr) && !json_is_null(arr)) {
            err_set(ei, ERR_INVALID, -1, "%s%s%s: expected an array", where, dot,
                    alert_array_keys[k]);
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static enum err get_string(json_t *src, const char *key, bool nullable, char **out,
                           struct err_info *ei)
{
    json_t *v = json_object_get(src, key);
    if (!v || json_is_null(v)) {
        if (!nullable && !v)
            return ERR_OK;
        *out = NULL;
        if (!nullable)
            return err_set(ei, ERR_INVALID, -1, "%s: expected a string", key);
        return ERR_OK;
    }
    if (!json_is_string(v))
        return err_set(ei, ERR_INVALID, -1, "%s: expected a string%s", key,
                       nullable ? " or null" : "");
    *out = xstrndup(json_string_value(v), json_string_length(v));
    return ERR_OK;
}

#define ENUM_FIELD(key, parse_call, name_list)                                                   \
    do {                                                                                         \
        json_t *ev = json_object_get(src, key);                                                  \
        if (ev && !json_is_null(ev)) {                                                           \
            if (!json_is_string(ev)) {                                                           \
                err_set(ei, ERR_INVALID, -1, "%s: expected a string", key);                      \
                goto fail;                                                                       \
            }                                                                                    \
            const char *es = json_string_value(ev);                                              \
            size_t el = json_string_length(ev);                                                  \
            if (!(parse_call)) {                                                                 \
                err_set(ei, ERR_INVALID, -1, "%s: unknown value '%.40s' (expected %s)", key, es, \
                        name_list);                                                              \
                goto fail;                                                                       \
            }                                                                                    \
        }                                                                                        \
    } while (0)

enum err incident_from_json(json_t *src, unsigned flags, struct incident *out, struct err_info *ei)
{
    incident_init(out);
    if (!json_is_object(src))
        return err_set(ei, ERR_INVALID, -1, "expected an incident object");
    json_t *idv = json_object_get(src, "incidentId");
    if (!json_is_integer(idv) || json_integer_value(idv) <= 0)
        return err_set(ei, ERR_INVALID, -1, "incidentId: expected an integer > 0");
    out->id = json_integer_value(idv);

    json_t *rv = json_object_get(src, "redirectIncidentId");
    if (rv && !json_is_null(rv)) {
        if (!json_is_integer(rv) || json_integer_value(rv) <= 0) {
            err_set(ei, ERR_INVALID, -1, "redirectIncidentId: expected an integer > 0 or null");
            goto fail;
        }
        out->redirect_id = json_integer_value(rv);
    }
    if (get_string(src, "incidentName", false, &out->name, ei))
        goto fail;
    if (!out->name)
        out->name = xstrdup("");
    if (get_string(src, "assignedTo", true, &out->assigned_to, ei))
        goto fail;

    int64_t t;
    json_t *ct = json_object_get(src, "createdTime");
    json_t *lt = json_object_get(src, "lastUpdateTime");
    if (!ct || !lt) {
        err_set(ei, ERR_INVALID, -1, "%s: required", ct ? "lastUpdateTime" : "createdTime");
        goto fail;
    }
    if (parse_time_value(ct, "createdTime", &t, ei))
        goto fail;
    out->created_time = t;
    if (parse_time_value(lt, "lastUpdateTime", &t, ei))
        goto fail;
    out->last_update_time = t;
    /* lastUpdateTime orders every poll and seeds the store's clock (storage.md): a time far
     * in the future would make every later change look older than it. A day of slack covers
     * clock differences between the exporting service and this host. */
    if (out->last_update_time > ts_now() + 86400 * TS_TICKS_PER_SEC ||
        out->created_time > ts_now() + 86400 * TS_TICKS_PER_SEC) {
        err_set(ei, ERR_INVALID, -1, "%s: more than a day in the future",
                out->created_time > out->last_update_time ? "createdTime" : "lastUpdateTime");
        goto fail;
    }

    ENUM_FIELD("status", status_parse(es, el, &out->status),
               "Active, InProgress, Resolved, Redirected");
    ENUM_FIELD("severity", severity_parse(es, el, &out->severity),
               "UnSpecified, Informational, Low, Medium, High");
    ENUM_FIELD("classification", classification_parse(es, el, &out->classification),
               "Unknown, TruePositive, InformationalExpectedActivity, FalsePositive");
    ENUM_FIELD("determination",
               determination_parse(es, el, flags & INCIDENT_IMPORT ? MODEL_ALLOW_DEPRECATED : 0,
                                   &out->determination),
               "a determination of CONTRACT §6");

    /* Imported data obeys the rules PATCH enforces, or later PATCHes would fail on it. */
    if (!determination_allowed(out->classification, out->determination)) {
        err_set(ei, ERR_INVALID, -1,
                "determination '%s' is not valid with classification '%s' (CONTRACT §6)",
                determination_name(out->determination), classification_name(out->classification));
        goto fail;
    }
    if ((out->status == STATUS_REDIRECTED) != (out->redirect_id != 0)) {
        err_set(ei, ERR_INVALID, -1,
                "redirectIncidentId must be set exactly when status is Redirected");
        goto fail;
    }
    if (out->assigned_to &&
        utf8_chars(out->assigned_to, strlen(out->assigned_to)) > INCIDENT_MAX_ASSIGNED_TO) {
        err_set(ei, ERR_INVALID, -1, "assignedTo: longer than %d characters",
                INCIDENT_MAX_ASSIGNED_TO);
        goto fail;
    }
    json_t *tags = json_object_get(src, "tags");
    out->tags = json_array();
    if (tags && !json_is_null(tags)) {
        if (!json_is_array(tags)) {
            err_set(ei, ERR_INVALID, -1, "tags: expected an array of strings");
            goto fail;
        }
        size_t i;
        json_t *tv;
        json_array_foreach(tags, i, tv)
        {
            if (!json_is_string(tv)) {
                err_set(ei, ERR_INVALID, -1, "tags[%zu]: expected a string", i);
                goto fail;
            }
            if (i >= INCIDENT_MAX_TAGS ||
                utf8_chars(json_string_value(tv), json_string_length(tv)) > INCIDENT_MAX_TAG) {
                err_set(ei, ERR_INVALID, -1, "tags: at most %d tags of at most %d characters",
                        INCIDENT_MAX_TAGS, INCIDENT_MAX_TAG);
                goto fail;
            }
            json_array_append(out->tags, tv);
        }
    }

    json_t *comments = json_object_get(src, "comments");
    out->comments = json_array();
    if (comments && !json_is_null(comments)) {
        if (!json_is_array(comments)) {
            err_set(ei, ERR_INVALID, -1, "comments: expected an array");
            goto fail;
        }
        size_t i;
        json_t *cv;
        json_array_foreach(comments, i, cv)
        {
            char path[48];
            json_t *text = json_object_get(cv, "comment");
            json_t *by = json_object_get(cv, "createdBy");
            if (!json_is_object(cv) || !json_is_string(text) ||
                (by && !json_is_null(by) && !json_is_string(by))) {
                err_set(ei, ERR_INVALID, -1,
                        "comments[%zu]: expected {comment: string, createdBy, createdTime}", i);
                goto fail;
            }
            snprintf(path, sizeof(path), "comments[%zu].createdTime", i);
            if (parse_time_value(json_object_get(cv, "createdTime"), path, &t, ei))
                goto fail;
            char ts[TS_FORMAT_MAX];
            ts_format(t, ts);
            json_array_append_new(out->comments,
                                  json_pack("{sOsOss}", "comment", text, "createdBy",
                                            by ? by : json_null(), "createdTime", ts));
        }
    }

    json_t *alerts = json_object_get(src, "alerts");
    out->alerts = json_array();
    if (alerts && !json_is_null(alerts)) {
        if (!json_is_array(alerts)) {
            err_set(ei, ERR_INVALID, -1, "alerts: expected an array");
            goto fail;
        }
        size_t n = json_array_size(alerts);
        struct alert_sort *sorted = xcalloc(n ? n : 1, sizeof(*sorted));
        for (size_t i = 0; i < n; i++) {
            char where[32];
            snprintf(where, sizeof(where), "alerts[%zu]", i);
            json_t *a = incident_alert_canonical(json_array_get(alerts, i), where, out->id,
                                                 &sorted[i].creation, ei);
            if (!a) {
                for (size_t k = 0; k < i; k++)
                    json_decref(sorted[k].alert);
                free(sorted);
                goto fail;
            }
            sorted[i].alert = a;
            sorted[i].id = json_string_value(json_object_get(a, "alertId"));
        }
        qsort(sorted, n, sizeof(*sorted), alert_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && strcmp(sorted[i].id, sorted[i - 1].id) == 0) {
                err_set(ei, ERR_INVALID, -1, "alerts: duplicate alertId '%.60s'", sorted[i].id);
                for (size_t k = i; k < n; k++)
                    json_decref(sorted[k].alert);
                free(sorted);
                goto fail;
            }
            json_array_append_new(out->alerts, sorted[i].alert);
        }
        free(sorted);
    }
    return ERR_OK;
fail:
    incident_release(out);
    return ERR_INVALID;
}

/* ---------------------------------------------------------------------------------------------
 * Documents
 */

static enum err put_time(struct buf *b, const char *key, int64_t ticks)
{
    char s[TS_FORMAT_MAX];
    ts_format(ticks, s);
    return buf_appendf(b, "\"%s\":\"%s\",", key, s);
}

char *incident_alert_text(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static enum err put_json(struct buf *b, json_t *v)
{
    char *s = incident_alert_text(v);
    if (!s)
        return ERR_NOMEM;
    enum err e = buf_puts(b, s);
    free(s);
    return e;
}

enum err incident_comments_json(const struct incident *inc, struct buf *b)
{
    if (inc->comments)
        return put_json(b, inc->comments);
    if (inc->comments_text.len)
        return buf_append(b, inc->comments_text.data, inc->comments_text.len);
    return buf_puts(b, "[]");
}

enum err incident_doc_head(const struct incident *inc, struct buf *b)
{
    enum err e = ERR_OK;
    if (inc->redirect_id)
        e |= buf_appendf(b, "\"redirectIncidentId\":%" PRId64 ",", inc->redirect_id);
    else
        e |= buf_puts(b, "\"redirectIncidentId\":null,");
    e |= buf_puts(b, "\"incidentName\":");
    e |= buf_json_string(b, inc->name, strlen(inc->name));
    e |= buf_putc(b, ',');
    e |= put_time(b, "createdTime", inc->created_time);
    e |= put_time(b, "lastUpdateTime", inc->last_update_time);
    e |= buf_puts(b, "\"assignedTo\":");
    if (inc->assigned_to)
        e |= buf_json_string(b, inc->assigned_to, strlen(inc->assigned_to));
    else
        e |= buf_puts(b, "null");
    e |= buf_appendf(b,
                     ",\"classification\":\"%s\",\"determination\":\"%s\",\"status\":\"%s\","
                     "\"severity\":\"%s\",\"tags\":",
                     classification_name(inc->classification),
                     determination_name(inc->determination), status_name(inc->status),
                     severity_name(inc->severity));
    e |= put_json(b, inc->tags);
    e |= buf_puts(b, ",\"comments\":");
    e |= incident_comments_json(inc, b);
    e |= buf_puts(b, ",\"alerts\":");
    return e ? ERR_TOO_LARGE : ERR_OK;
}

enum err incident_doc_alerts_at(json_t *alerts, struct buf *b, size_t *ends)
{
    enum err e = buf_putc(b, '[');
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        if (i)
            e |= buf_putc(b, ',');
        e |= put_json(b, a);
        if (ends)
            ends[i] = b->len;
    }
    e |= buf_puts(b, "]}");
    return e ? ERR_TOO_LARGE : ERR_OK;
}

enum err incident_doc_alerts(json_t *alerts, struct buf *b)
{
    return incident_doc_alerts_at(alerts, b, NULL);
}

enum err incident_doc_prefix(struct buf *b, const char *context_base, int64_t id,
                             const char *portal_base, const char *tenant)
{
    enum err e = ERR_OK;
    if (context_base)
        e |= buf_appendf(b, "{\"@odata.context\":\"%s/api/$metadata#Incidents/$entity\",",
                         context_base);
    else
        e |= buf_putc(b, '{');
    e |= buf_appendf(
        b, "\"incidentId\":%" PRId64 ",\"incidentUri\":\"%s/incidents/%" PRId64 "?tid=%s\",", id,
        portal_base, id, tenant);
    return e ? ERR_TOO_LARGE : ERR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * PATCH
 */

void incident_patch_release(struct incident_patch *p)
{
    json_decref(p->tags);
    memset(p, 0, sizeof(*p));
}

static enum err patch_string(json_t *v, const char *key, size_t max_chars, size_t min_chars,
                             const char **out, struct err_info *ei)
{
    if (!json_is_string(v))
        return err_set(ei, ERR_BODY, -1, "property '%s' must be a string", key);
    size_t chars = utf8_chars(json_string_value(v), json_string_length(v));
    if (chars > max_chars)
        return err_set(ei, ERR_BODY, -1, "property '%s' is longer than %zu characters", key,
                       max_chars);
    if (chars < min_chars)
        return err_set(ei, ERR_BODY, -1, "property '%s' must not be empty", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return err_set(ei, ERR_BODY, -1, "property '%s' must not contain NUL characters", key);
    *out = json_string_value(v);
    return ERR_OK;
}

enum err incident_patch_parse(json_t *body, struct incident_patch *p, struct err_info *ei)
{
    memset(p, 0, sizeof(*p));
    if (!json_is_object(body))
        return err_set(ei, ERR_BODY, -1, "the request body must be a JSON object");
    const char *key;
    json_t *v;
    const char *s;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "status") == 0) {
            if (patch_string(v, key, 64, 1, &s, ei))
                goto fail;
            if (!status_parse(s, strlen(s), &p->status)) {
                err_set(ei, ERR_BODY, -1,
                        "invalid value '%.40s' for property 'status' (expected Active, "
                        "InProgress or Resolved)",
                        s);
                goto fail;
            }
            if (p->status == STATUS_REDIRECTED) {
                err_set(ei, ERR_INPUT, -1,
                        "status 'Redirected' cannot be set: incidents are redirected only by a "
                        "merge");
                goto fail;
            }
            p->fields |= PATCH_STATUS;
        } else if (strcmp(key, "assignedTo") == 0) {
            if (json_is_null(v)) {
                p->assigned_to = NULL;
            } else {
                if (patch_string(v, key, INCIDENT_MAX_ASSIGNED_TO, 0, &s, ei))
                    goto fail;
                p->assigned_to = *s ? s : NULL;
            }
            p->fields |= PATCH_ASSIGNED_TO;
        } else if (strcmp(key, "classification") == 0) {
            if (patch_string(v, key, 64, 1, &s, ei))
                goto fail;
            if (!classification_parse(s, strlen(s), &p->classification)) {
                err_set(ei, ERR_BODY, -1,
                        "invalid value '%.40s' for property 'classification' (expected "
                        "TruePositive, InformationalExpectedActivity, FalsePositive or Unknown)",
                        s);
                goto fail;
            }
            p->fields |= PATCH_CLASSIFICATION;
        } else if (strcmp(key, "determination") == 0) {
            if (patch_string(v, key, 64, 1, &s, ei))
                goto fail;
            if (!determination_parse(s, strlen(s), 0, &p->determination)) {
                err_set(ei, ERR_BODY, -1, "invalid value '%.40s' for property 'determination'", s);
                goto fail;
            }
            p->fields |= PATCH_DETERMINATION;
        } else if (strcmp(key, "tags") == 0) {
            if (!json_is_array(v)) {
                err_set(ei, ERR_BODY, -1, "property 'tags' must be an array of strings");
                goto fail;
            }
            if (json_array_size(v) > INCIDENT_MAX_TAGS) {
                err_set(ei, ERR_BODY, -1, "property 'tags' has more than %d items",
                        INCIDENT_MAX_TAGS);
                goto fail;
            }
            json_decref(p->tags);
            p->tags = json_array();
            size_t i;
            json_t *tv;
            json_array_foreach(v, i, tv)
            {
                if (!json_is_string(tv)) {
                    err_set(ei, ERR_BODY, -1, "property 'tags' must be an array of strings");
                    goto fail;
                }
                if (patch_string(tv, "tags", INCIDENT_MAX_TAG, 1, &s, ei))
                    goto fail;
                bool dup = false;
                for (size_t k = 0; k < json_array_size(p->tags) && !dup; k++)
                    dup = json_equal(json_array_get(p->tags, k), tv);
                if (!dup)
                    json_array_append(p->tags, tv);
            }
            p->fields |= PATCH_TAGS;
        } else if (strcmp(key, "comment") == 0) {
            if (patch_string(v, key, INCIDENT_MAX_COMMENT, 1, &p->comment, ei))
                goto fail;
            p->fields |= PATCH_COMMENT;
        } else {
            err_set(ei, ERR_BODY, -1,
                    "unknown property '%.60s' (expected status, assignedTo, classification, "
                    "determination, tags or comment)",
                    key);
            goto fail;
        }
    }
    return ERR_OK;
fail:
    incident_patch_release(p);
    return ei && ei->code ? ei->code : ERR_BODY;
}

static bool str_eq_nullable(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

enum err incident_patch_apply(struct incident *inc, const struct incident_patch *p, int64_t now,
                              bool *changed, bool *cascade_status, bool *cascade_assign,
                              struct err_info *ei)
{
    *changed = *cascade_status = *cascade_assign = false;
    if (inc->status == STATUS_REDIRECTED)
        return err_set(ei, ERR_INPUT, -1,
                       "incident %" PRId64 " was merged into incident %" PRId64
                       " and cannot be updated; update incident %" PRId64 " instead",
                       inc->id, inc->redirect_id, inc->redirect_id);

    enum classification c = inc->classification;
    enum determination d = inc->determination;
    if (p->fields & PATCH_CLASSIFICATION) {
        c = p->classification;
        /* §6: moving to Unknown resets the determination; any other change of classification
         * keeps the determination only if the pair stays valid or a new one is given. */
        if (c == CLASSIFICATION_UNKNOWN)
            d = DETERMINATION_NOT_AVAILABLE;
    }
    if (p->fields & PATCH_DETERMINATION)
        d = p->determination;
    if (!determination_allowed(c, d))
        return err_set(ei, ERR_BODY, -1,
                       "determination '%s' is not valid with classification '%s' (expected "
                       "one of %s)",
                       determination_name(d), classification_name(c), determination_list_for(c));

    bool any = false;
    if ((p->fields & PATCH_STATUS) && p->status != inc->status) {
        inc->status = p->status;
        *cascade_status = p->status == STATUS_RESOLVED;
        any = true;
    }
    if ((p->fields & PATCH_ASSIGNED_TO) && !str_eq_nullable(p->assigned_to, inc->assigned_to)) {
        free(inc->assigned_to);
        inc->assigned_to = p->assigned_to ? xstrdup(p->assigned_to) : NULL;
        *cascade_assign = true;
        any = true;
    }
    if (c != inc->classification || d != inc->determination) {
        inc->classification = c;
        inc->determination = d;
        any = true;
    }
    if ((p->fields & PATCH_TAGS) && !json_equal(p->tags, inc->tags)) {
        json_decref(inc->tags);
        inc->tags = json_deep_copy(p->tags);
        any = true;
    }
    if (p->fields & PATCH_COMMENT) {
        char ts[TS_FORMAT_MAX];
        ts_format(now, ts);
        if (inc->comments) {
            json_array_append_new(inc->comments,
                                  json_pack("{ssssss}", "comment", p->comment, "createdBy",
                                            p->author ? p->author : "", "createdTime", ts));
        } else {
            /* Splice the new object before the closing bracket of the stored text. */
            struct buf *t = &inc->comments_text;
            while (t->len && t->data[t->len - 1] != ']')
                t->len--;
            if (t->len)
                t->len--;
            else
                buf_putc(t, '[');
            bool empty = t->len == 1;
            const char *author = p->author ? p->author : "";
            buf_puts(t, empty ? "{\"comment\":" : ",{\"comment\":");
            buf_json_string(t, p->comment, strlen(p->comment));
            buf_puts(t, ",\"createdBy\":");
            buf_json_string(t, author, strlen(author));
            buf_appendf(t, ",\"createdTime\":\"%s\"}]", ts);
        }
        any = true;
    }
    if (any)
        inc->last_update_time = now;
    *changed = any;
    return ERR_OK;
}

enum err incident_alerts_cascade(const char *alerts_text, size_t len, const struct incident *inc,
                                 bool cascade_status, bool cascade_assign, int64_t now,
                                 struct buf *out)
{
    /* The stored text ends with the incident's closing brace after the array. */
    while (len > 0 && alerts_text[len - 1] != '}')
        len--;
    if (len == 0)
        return ERR_STORAGE;
    json_error_t jerr;
    json_t *alerts = json_loadb(alerts_text, len - 1, 0, &jerr);
    if (!json_is_array(alerts)) {
        json_decref(alerts);
        return ERR_STORAGE;
    }
    char ts[TS_FORMAT_MAX];
    ts_format(now, ts);
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        bool touched = false;
        if (cascade_status) {
            const char *st = json_string_value(json_object_get(a, "status"));
            if (!st || strcmp(st, "Resolved") != 0) {
                json_object_set_new(a, "status", json_string("Resolved"));
                json_object_set_new(a, "resolvedTime", json_string(ts));
                touched = true;
            }
        }
        if (cascade_assign) {
            json_t *cur = json_object_get(a, "assignedTo");
            json_t *want = inc->assigned_to ? json_string(inc->assigned_to) : json_null();
            if (!json_equal(cur, want)) {
                json_object_set(a, "assignedTo", want);
                touched = true;
            }
            json_decref(want);
        }
        if (touched)
            json_object_set_new(a, "lastUpdatedTime", json_string(ts));
    }
    enum err e = incident_doc_alerts(alerts, out);
    json_decref(alerts);
    return e;
}
