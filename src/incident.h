/* SPDX-License-Identifier: MIT */
/*
 * The incident as the server keeps it, independent of the storage backend: validation of
 * imported incidents, the pre-serialised document every read serves, and the PATCH rules of
 * CONTRACT §5-§6. Backends call these inside their transactions so SQLite and PostgreSQL apply
 * identical rules (see docs/internals/storage.md).
 *
 * The stored document ("doc") is the incident's JSON object *without* its opening brace and the
 * two keys that depend on the deployment, `incidentId` and `incidentUri`: it starts at
 * `"redirectIncidentId":` and ends with the object's closing brace. A response is assembled as
 * `{` [`"@odata.context":…,`] `"incidentId":N,"incidentUri":"…",` doc. `alerts_off` is the byte
 * offset of the alerts array's `[` inside doc, so a change to the head re-uses the alerts bytes.
 */
#ifndef INCIDENT_H
#define INCIDENT_H

#include "buf.h"
#include "common.h"
#include "err.h"
#include "model.h"
#include <jansson.h>

#define INCIDENT_MAX_ASSIGNED_TO 256   /* characters, CONTRACT §5 */
#define INCIDENT_MAX_TAGS        100   /* CONTRACT §5 */
#define INCIDENT_MAX_TAG         256   /* characters */
#define INCIDENT_MAX_COMMENT     30000 /* characters */

struct incident {
    int64_t id;
    int64_t redirect_id; /* 0: null */
    char *name;
    int64_t created_time; /* ticks (ts.h) */
    int64_t last_update_time;
    char *assigned_to; /* NULL: unassigned */
    enum classification classification;
    enum determination determination;
    enum status status;
    enum severity severity;
    json_t *tags;     /* array of strings */
    json_t *comments; /* array of {comment, createdBy, createdTime} in canonical form, or NULL
                       * when comments_text holds them */
    struct buf comments_text; /* the same array as stored JSON text: appending a comment splices
                               * text instead of parsing every earlier comment (see
                               * incident_comments_json) */
    json_t *alerts; /* array of canonical alerts, or NULL when the stored alerts are reused */
};

/* Zeroes an incident (defaults: Active, Unknown, NotAvailable, UnSpecified, empty arrays are
 * NULL until set). */
void incident_init(struct incident *inc);

/* Frees what inc owns and re-initialises it. */
void incident_release(struct incident *inc);

enum incident_flags {
    /* Accept deprecated determinations (Apt, SecurityPersonnel), as stored data may hold them. */
    INCIDENT_IMPORT = 1 << 0,
};

/*
 * Validates an incident in wire shape (an export of the real service) and fills `out` in
 * canonical form (CONTRACT §2 fidelity): every alert gets the documented keys in order (null when
 * absent; devices, entities and mitreTechniques [] when absent), then its other keys in arrival
 * order; devices and entities are kept as they are; alert-level timestamps are rewritten in the
 * canonical form; alerts are sorted by creationTime, then alertId; `incidentId` on each alert is
 * set to the incident's. `incidentUri` and unknown incident-level keys are ignored (the server
 * owns the former; CONTRACT §2 fixes the incident's key set). Borrowed: src. On error returns
 * ERR_INVALID with a message naming the JSON path (`alerts[2].creationTime: …`) and leaves out
 * released.
 */
enum err incident_from_json(json_t *src, unsigned flags, struct incident *out, struct err_info *ei);

/*
 * Builds the canonical form of one alert (CONTRACT §2): the documented keys of reference §3.3 in
 * order (null when absent; devices, entities and mitreTechniques [] when absent), then the other
 * keys in arrival order; alert timestamps rewritten in canonical form; `incidentId` set to
 * incident_id. `where` prefixes error messages ("alerts[2]", "value[0]", or "" for none).
 * *creation receives creationTime in ticks (INT64_MIN when null). Returns a new reference, or
 * NULL with ERR_INVALID in ei. Borrowed: src.
 */
json_t *incident_alert_canonical(json_t *src, const char *where, int64_t incident_id,
                                 int64_t *creation, struct err_info *ei);

/*
 * Orders an array of canonical alerts by creationTime, then alertId (CONTRACT §2), and sets
 * each one's `incidentId` to incident_id. Alerts whose incidentId differs are replaced by
 * shallow copies, so objects shared with a request or another incident are never written.
 */
void incident_settle_alerts(json_t *alerts, int64_t incident_id);

/* Where an alert sorts (CONTRACT §2): its creationTime in ticks, INT64_MIN when missing or
 * unreadable; ties go by alertId. The one definition settling and splicing both use, so a
 * spliced document is ordered exactly as a rebuilt one. */
int64_t incident_alert_sort_time(json_t *alert);

/* The text of an alert (or any JSON value) in stored documents: compact, keys in canonical
 * order, as incident_doc_alerts writes it. Owned by the caller (free); NULL when out of
 * memory. */
char *incident_alert_text(json_t *alert);

/* Appends the comments array as JSON text (from comments or comments_text). */
enum err incident_comments_json(const struct incident *inc, struct buf *out);

/* Appends the document head: from `"redirectIncidentId":` through `"alerts":` (exclusive of the
 * alerts array). inc->tags and the comments (either form) must be set. */
enum err incident_doc_head(const struct incident *inc, struct buf *out);

/* Appends `[alert,…]}`: the alerts array and the incident's closing brace. */
enum err incident_doc_alerts(json_t *alerts, struct buf *out);
/* The same, and when `ends` is not NULL (one slot per alert, caller-owned) records where each
 * alert's text ends, as an offset in `out` just past its closing brace. */
enum err incident_doc_alerts_at(json_t *alerts, struct buf *out, size_t *ends);

/* Appends `{"@odata.context":"<base>/api/$metadata#Incidents/$entity",` when base is non-NULL,
 * else `{`, then `"incidentId":N,"incidentUri":"<portal>/incidents/N?tid=<tenant>",`. */
enum err incident_doc_prefix(struct buf *out, const char *context_base, int64_t id,
                             const char *portal_base, const char *tenant);

enum incident_patch_fields {
    PATCH_STATUS = 1 << 0,
    PATCH_ASSIGNED_TO = 1 << 1,
    PATCH_CLASSIFICATION = 1 << 2,
    PATCH_DETERMINATION = 1 << 3,
    PATCH_TAGS = 1 << 4,
    PATCH_COMMENT = 1 << 5,
};

/* A validated PATCH body (CONTRACT §5). Strings are borrowed from the request. */
struct incident_patch {
    unsigned fields;
    enum status status;
    const char *assigned_to; /* NULL: unassign */
    enum classification classification;
    enum determination determination;
    json_t *tags; /* borrowed; array of strings, duplicates already dropped */
    const char *comment;
    const char *author; /* createdBy of the comment: UPN or application name */
};

/* Frees nothing the patch borrows; releases tags it owns (set by incident_patch_parse). */
void incident_patch_release(struct incident_patch *p);

/*
 * Validates a PATCH body (CONTRACT §5-§6): a JSON object with only the properties status,
 * assignedTo, classification, determination, tags, comment (case-sensitive names), each of the
 * right JSON type and within its limits; enum values case-insensitively with aliases. The pair
 * rule needs the stored values and is checked by incident_patch_apply. `body` is borrowed and
 * must outlive the patch (strings point into it). Errors: ERR_BODY naming the property, or
 * ERR_INPUT for `status: Redirected`.
 */
enum err incident_patch_parse(json_t *body, struct incident_patch *p, struct err_info *ei);

/*
 * Applies a patch to the stored incident `inc` (tags and comments set) at server time `now`
 * (ticks, already strictly greater than inc->last_update_time by the caller's clock rule).
 * Sets *changed when anything differs; then last_update_time = now. Sets *cascade_status /
 * *cascade_assign when the alerts must follow (resolve, assign). Errors (nothing changed):
 * ERR_INPUT when inc is Redirected (naming the survivor), ERR_BODY for an invalid
 * classification/determination pair.
 */
enum err incident_patch_apply(struct incident *inc, const struct incident_patch *p, int64_t now,
                              bool *changed, bool *cascade_status, bool *cascade_assign,
                              struct err_info *ei);

/*
 * Rewrites an alerts array (text from `[` to the end of the stored doc, i.e. including the
 * incident's closing brace) after a cascade: alerts of a resolved incident become Resolved with
 * resolvedTime = now (unless already resolved); an (un)assigned incident's alerts take its
 * assignedTo. Changed alerts get lastUpdatedTime = now. Appends `[...]}` to out.
 */
enum err incident_alerts_cascade(const char *alerts_text, size_t len, const struct incident *inc,
                                 bool cascade_status, bool cascade_assign, int64_t now,
                                 struct buf *out);

#endif
