/* SPDX-License-Identifier: MIT */
/* Alerts sent for ingestion: validation and canonical form (issue 5, CONTRACT §2 and §9). */
#include "alert.h"
#include "common.h"
#include "incident.h"
#include "model.h"
#include "ts.h"
#include "xmalloc.h"
#include <openssl/evp.h>

void alert_in_release(struct alert_in *a)
{
    if (!a)
        return;
    json_decref(a->alert);
    memset(a, 0, sizeof(*a));
}

/* Alert statuses (reference §3.6): the documented set plus `Active`, which the doc prose uses. */
static const char *const alert_statuses[] = {"Unknown", "New", "InProgress", "Resolved", "Active"};

/* Keys that hold free text: a string or null. */
static const char *const alert_string_keys[] = {
    "providerAlertId", "serviceSource", "description", "category",  "investigationState",
    "detectionSource", "detectorId",    "assignedTo",  "actorName", "threatFamilyName",
};

/* Replaces an enum string with its canonical spelling so severity ranking, naming and clients
 * see one form; null stays null when `nullable`. */
static enum err canonical_enum(json_t *a, const char *key, bool nullable, const char *path,
                               const char *dot, struct err_info *ei)
{
    json_t *v = json_object_get(a, key);
    if (json_is_null(v)) {
        if (nullable || strcmp(key, "severity") == 0 || strcmp(key, "status") == 0)
            return ERR_OK;
        return err_set(ei, ERR_BODY, -1, "%s%s%s: expected a string", path, dot, key);
    }
    if (!json_is_string(v))
        return err_set(ei, ERR_BODY, -1, "%s%s%s: expected a string%s", path, dot, key,
                       nullable ? " or null" : "");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    const char *name = NULL;
    const char *expected = "";
    if (strcmp(key, "severity") == 0) {
        enum severity sv;
        if (severity_parse(s, len, &sv))
            name = severity_name(sv);
        expected = "UnSpecified, Informational, Low, Medium, High";
    } else if (strcmp(key, "status") == 0) {
        for (size_t i = 0; i < ARRAY_SIZE(alert_statuses); i++)
            if (strlen(alert_statuses[i]) == len && strncasecmp(s, alert_statuses[i], len) == 0)
                name = alert_statuses[i];
        expected = "Unknown, New, InProgress, Resolved";
    } else if (strcmp(key, "classification") == 0) {
        enum classification c;
        if (classification_parse(s, len, &c))
            name = classification_name(c);
        expected = "Unknown, TruePositive, InformationalExpectedActivity, FalsePositive";
    } else {
        enum determination d;
        /* Like PATCH (CONTRACT §6): the retired values are refused on input. */
        if (determination_parse(s, len, 0, &d))
            name = determination_name(d);
        expected = "NotAvailable, MultiStagedAttack, MaliciousUserActivity, CompromisedAccount, "
                   "Malware, Phishing, UnwantedSoftware, SecurityTesting, "
                   "LineOfBusinessApplication, ConfirmedActivity, Clean, "
                   "NoEnoughDataToValidate, Other";
    }
    if (!name)
        return err_set(ei, ERR_BODY, -1, "%s%s%s: unknown value '%.40s' (expected %s)", path, dot,
                       key, s, expected);
    json_object_set_new(a, key, json_string(name));
    return ERR_OK;
}

static enum err check_array(json_t *a, const char *key, bool objects, const char *path,
                            const char *dot, struct err_info *ei)
{
    json_t *arr = json_object_get(a, key);
    if (json_is_null(arr)) {
        json_object_set_new(a, key, json_array());
        return ERR_OK;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (objects ? !json_is_object(v) : !json_is_string(v))
            return err_set(ei, ERR_BODY, -1, "%s%s%s[%zu]: expected %s", path, dot, key, i,
                           objects ? "an object" : "a string");
    }
    return ERR_OK;
}

static int64_t time_of(json_t *a, const char *key)
{
    json_t *v = json_object_get(a, key);
    int64_t t;
    if (!json_is_string(v) ||
        ts_parse(json_string_value(v), json_string_length(v), 0, &t, NULL) != ERR_OK)
        return INT64_MIN;
    return t;
}

/* Sets a null timestamp key to `t` (canonical text). */
static void default_time(json_t *a, const char *key, int64_t t)
{
    if (!json_is_null(json_object_get(a, key)))
        return;
    char s[TS_FORMAT_MAX];
    ts_format(t, s);
    json_object_set_new(a, key, json_string(s));
}

/* True when v nests deeper than `left` more levels of arrays and objects. */
static bool too_deep(json_t *v, int left)
{
    if (!json_is_object(v) && !json_is_array(v))
        return false;
    if (left == 0)
        return true;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (too_deep(e, left - 1))
                return true;
        }
        return false;
    }
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e)
    {
        if (too_deep(e, left - 1))
            return true;
    }
    return false;
}

static void sha256(const char *s, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    if (EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) != 1)
        BUG("SHA-256 failed");
}

enum err alert_from_json(json_t *src, const char *path, int64_t now, struct alert_in *out,
                         struct err_info *ei)
{
    memset(out, 0, sizeof(*out));
    const char *dot = *path ? "." : "";
    /* Stored alerts are parsed again inside their incident's document, a few levels deeper
     * than in a request: without a bound well under the parser's (2,048), an accepted alert
     * could make its incident unreadable. */
    if (too_deep(src, ALERT_MAX_DEPTH))
        return err_set(ei, ERR_BODY, -1, "%s%snested more than %d levels deep", path,
                       *path ? ": " : "", ALERT_MAX_DEPTH);
    int64_t creation;
    json_t *a = incident_alert_canonical(src, path, 0, &creation, ei);
    if (!a) {
        if (ei)
            ei->code = ERR_BODY;
        return ERR_BODY;
    }
    enum err e = ERR_OK;
    json_t *id = json_object_get(a, "alertId");
    if (utf8_blank(json_string_value(id), json_string_length(id))) {
        e = err_set(ei, ERR_BODY, -1, "%s%salertId: expected a non-blank string", path, dot);
        goto fail;
    }
    if (utf8_chars(json_string_value(id), json_string_length(id)) > ALERT_MAX_ID) {
        e = err_set(ei, ERR_BODY, -1, "%s%salertId: longer than %d characters", path, dot,
                    ALERT_MAX_ID);
        goto fail;
    }
    if (!json_is_string(json_object_get(a, "title"))) {
        e = err_set(ei, ERR_BODY, -1, "%s%stitle: %s", path, dot,
                    json_object_get(src, "title") ? "expected a string" : "required (a string)");
        goto fail;
    }
    for (size_t i = 0; i < ARRAY_SIZE(alert_string_keys); i++) {
        json_t *v = json_object_get(a, alert_string_keys[i]);
        if (!json_is_null(v) && !json_is_string(v)) {
            e = err_set(ei, ERR_BODY, -1, "%s%s%s: expected a string or null", path, dot,
                        alert_string_keys[i]);
            goto fail;
        }
    }
    json_t *inv = json_object_get(a, "investigationId");
    if (!json_is_null(inv) && !json_is_integer(inv)) {
        e = err_set(ei, ERR_BODY, -1, "%s%sinvestigationId: expected an integer or null", path,
                    dot);
        goto fail;
    }
    if ((e = canonical_enum(a, "severity", false, path, dot, ei)) ||
        (e = canonical_enum(a, "status", false, path, dot, ei)) ||
        (e = canonical_enum(a, "classification", true, path, dot, ei)) ||
        (e = canonical_enum(a, "determination", true, path, dot, ei)) ||
        (e = check_array(a, "devices", true, path, dot, ei)) ||
        (e = check_array(a, "entities", true, path, dot, ei)) ||
        (e = check_array(a, "mitreTechniques", false, path, dot, ei)))
        goto fail;
    /* The pair rule PATCH enforces (CONTRACT §6), with an unset classification as Unknown. */
    const char *cs = json_string_value(json_object_get(a, "classification"));
    const char *ds = json_string_value(json_object_get(a, "determination"));
    if (ds) {
        enum classification c = CLASSIFICATION_UNKNOWN;
        enum determination d = DETERMINATION_NOT_AVAILABLE;
        if (cs)
            classification_parse(cs, strlen(cs), &c);
        determination_parse(ds, strlen(ds), 0, &d);
        if (!determination_allowed(c, d) && cs) {
            e = err_set(ei, ERR_BODY, -1,
                        "%s%sdetermination: '%s' is not valid with classification '%s' (allowed: "
                        "%s)",
                        path, dot, ds, cs, determination_list_for(c));
            goto fail;
        }
        if (!determination_allowed(c, d)) {
            e = err_set(ei, ERR_BODY, -1,
                        "%s%sdetermination: '%s' is not valid without a classification (an unset "
                        "classification is Unknown; allowed: %s)",
                        path, dot, ds, determination_list_for(c));
            goto fail;
        }
    }
    /* The server owns incidentId (CONTRACT §2); whatever the sender put there is not content. */
    json_object_set_new(a, "incidentId", json_null());

    /* PATCH reads an empty assignee as unassigned (CONTRACT §5); so does ingestion. */
    json_t *who = json_object_get(a, "assignedTo");
    if (json_is_string(who) && json_string_length(who) == 0)
        json_object_set_new(a, "assignedTo", json_null());

    /* The hash covers what the sender sent, before server defaults: an alert sent again without
     * creationTime must compare equal to its first copy, not differ by the arrival time. A
     * triage field sent as null (clear it) and one left out (keep the stored value) read the
     * same in the canonical form but not on an update, so which were sent as null is hashed
     * too; nothing is added when none was, so earlier hashes still compare equal. */
    static const char *const nullable_triage[] = {"resolvedTime", "assignedTo", "classification",
                                                  "determination"};
    unsigned sent_null = 0;
    for (size_t i = 0; i < ARRAY_SIZE(nullable_triage); i++) {
        json_t *v = json_object_get(src, nullable_triage[i]);
        if (v && (json_is_null(v) || json_is_null(json_object_get(a, nullable_triage[i]))))
            sent_null |= 1u << i;
    }
    char *text = json_dumps(a, JSON_COMPACT);
    if (!text) {
        e = err_set(ei, ERR_NOMEM, -1, "out of memory");
        goto fail;
    }
    if (sent_null) {
        size_t len = strlen(text);
        text = xrealloc(text, len + 24);
        snprintf(text + len, 24, "\n#null=%u", sent_null);
    }
    sha256(text, strlen(text), out->hash);
    free(text);

    /* Defender never serves an alert without a status or severity; fill them as it would. */
    if (json_is_null(json_object_get(a, "status"))) {
        json_object_set_new(a, "status", json_string("New"));
        out->defaulted |= ALERT_OMIT_STATUS;
    }
    if (!json_object_get(src, "resolvedTime"))
        out->defaulted |= ALERT_OMIT_RESOLVED;
    if (!json_object_get(src, "assignedTo"))
        out->defaulted |= ALERT_OMIT_ASSIGNED;
    if (!json_object_get(src, "classification") && !json_object_get(src, "determination"))
        out->defaulted |= ALERT_OMIT_VERDICT;
    if (json_is_null(json_object_get(a, "severity")))
        json_object_set_new(a, "severity", json_string("UnSpecified"));
    static const struct {
        const char *key;
        unsigned bit;
    } defaults[] = {{"creationTime", ALERT_DEFAULT_CREATION},
                    {"lastUpdatedTime", ALERT_DEFAULT_UPDATED},
                    {"firstActivity", ALERT_DEFAULT_FIRST},
                    {"lastActivity", ALERT_DEFAULT_LAST}};
    for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
        if (json_is_null(json_object_get(a, defaults[i].key)))
            out->defaulted |= defaults[i].bit;
    if (creation == INT64_MIN)
        creation = now;
    default_time(a, "creationTime", creation);
    default_time(a, "lastUpdatedTime", creation);
    /* Activity cannot start after it was last seen: with only lastActivity given, earlier than
     * the creation time, the activity starts there. */
    int64_t given_last = time_of(a, "lastActivity");
    default_time(a, "firstActivity",
                 given_last != INT64_MIN && given_last < creation ? given_last : creation);
    int64_t first = time_of(a, "firstActivity");
    default_time(a, "lastActivity", first);
    /* A Resolved alert says when (PATCH sets it on resolving); the sender's update time is the
     * closest fact. */
    if (json_is_null(json_object_get(a, "resolvedTime")) &&
        !strcmp(json_string_value(json_object_get(a, "status")), "Resolved"))
        json_object_set(a, "resolvedTime", json_object_get(a, "lastUpdatedTime"));
    int64_t last = time_of(a, "lastActivity");
    if (last < first) {
        e = err_set(ei, ERR_BODY, -1, "%s%slastActivity: earlier than firstActivity", path, dot);
        goto fail;
    }
    out->alert = a;
    out->id = json_string_value(json_object_get(a, "alertId"));
    out->creation_time = creation;
    out->first_activity = first;
    out->last_activity = last;
    return ERR_OK;
fail:
    json_decref(a);
    memset(out, 0, sizeof(*out));
    return e;
}

enum err alert_parse_batch(json_t *body, size_t max, int64_t now, struct alert_in **out, size_t *n,
                           struct err_info *ei)
{
    *out = NULL;
    *n = 0;
    json_t *list = NULL;
    if (json_is_array(body))
        list = body;
    else if (json_is_object(body) && json_object_get(body, "value") &&
             json_object_get(body, "alertId"))
        /* One alert with a `value` field, or a batch with a stray alertId? Neither is guessed. */
        return err_set(ei, ERR_BODY, -1,
                       "a body with both alertId and value is ambiguous: send one alert, or "
                       "{\"value\":[alerts]}");
    else if (json_is_object(body) && json_object_get(body, "value")) {
        list = json_object_get(body, "value");
        if (!json_is_array(list))
            return err_set(ei, ERR_BODY, -1, "value: expected an array of alerts");
    } else if (!json_is_object(body)) {
        return err_set(ei, ERR_BODY, -1, "expected an alert object or {\"value\":[alerts]}");
    }
    if (!list) {
        struct alert_in *one = xcalloc(1, sizeof(*one));
        enum err e = alert_from_json(body, "", now, one, ei);
        if (e) {
            free(one);
            return e;
        }
        *out = one;
        *n = 1;
        return ERR_OK;
    }
    size_t count = json_array_size(list);
    if (max && count > max)
        return err_set(ei, ERR_BODY, -1, "value: %zu alerts; at most %zu per request", count, max);
    struct alert_in *arr = xcalloc(count ? count : 1, sizeof(*arr));
    for (size_t i = 0; i < count; i++) {
        char path[32];
        snprintf(path, sizeof(path), "value[%zu]", i);
        enum err e = alert_from_json(json_array_get(list, i), path, now, &arr[i], ei);
        if (e) {
            for (size_t k = 0; k < i; k++)
                alert_in_release(&arr[k]);
            free(arr);
            return e;
        }
    }
    *out = arr;
    *n = count;
    return ERR_OK;
}
