/* SPDX-License-Identifier: MIT */
/*
 * Alerts sent for ingestion (POST /api/alerts, `incidentd ingest`; issue 5, CONTRACT §9):
 * validation and the canonical form stored inside incidents (CONTRACT §2 key order, fidelity of
 * devices and entities, canonical timestamps).
 */
#ifndef ALERT_H
#define ALERT_H

#include "common.h"
#include "err.h"
#include <jansson.h>

#define ALERT_BATCH_MAX 1000        /* alerts per request, CONTRACT §9 */
#define ALERT_BODY_MAX  (16u << 20) /* bytes per request body, issue 5 */
#define ALERT_MAX_ID    256         /* characters of alertId */
#define ALERT_MAX_DEPTH 64          /* levels of arrays and objects inside one alert */

/* An ingested alert in canonical form plus what correlation needs, all owned. */
struct alert_in {
    json_t *alert;          /* canonical alert; incidentId null (the store sets it) */
    const char *id;         /* alertId, points into alert */
    int64_t creation_time;  /* ticks */
    int64_t first_activity; /* ticks; firstActivity, else creationTime */
    int64_t last_activity;  /* ticks; lastActivity, else firstActivity; >= first_activity */
    unsigned char hash[32]; /* SHA-256 of the canonical text: same hash = `unchanged` */
    unsigned defaulted;     /* enum alert_defaulted: times the sender left out */
};

/* Which timestamps alert_from_json filled in, and which triage fields the sender left out. An
 * update keeps the stored values of these rather than the defaults, so a connector re-sending an
 * enriched alert neither moves when it happened nor undoes an analyst's triage (status and
 * resolvedTime, assignedTo, classification with determination; correlation.md, idempotency). */
enum alert_defaulted {
    ALERT_DEFAULT_CREATION = 1 << 0,
    ALERT_DEFAULT_UPDATED = 1 << 1,
    ALERT_DEFAULT_FIRST = 1 << 2,
    ALERT_DEFAULT_LAST = 1 << 3,
    ALERT_OMIT_STATUS = 1 << 4,   /* status absent or null (stored as New) */
    ALERT_OMIT_RESOLVED = 1 << 5, /* resolvedTime absent */
    ALERT_OMIT_ASSIGNED = 1 << 6, /* assignedTo absent */
    ALERT_OMIT_VERDICT = 1 << 7,  /* classification and determination both absent */
};

void alert_in_release(struct alert_in *a);

/*
 * Validates one alert for ingestion and builds its canonical form. `src` is borrowed. `path` is
 * the prefix for error messages (e.g. "value[3]"; "" for a single alert). Rules: an object;
 * alertId a non-empty string of at most ALERT_MAX_ID characters; title a string; severity,
 * status, classification, determination (null allowed for the last two) valid enum names, the
 * pair allowed as for PATCH (CONTRACT §6; an absent classification counts as Unknown);
 * timestamps valid date-times (creationTime defaults to `now`, lastUpdatedTime to creationTime,
 * firstActivity to creationTime, or lastActivity when that is earlier, lastActivity to
 * firstActivity; status to New, severity to
 * UnSpecified), lastActivity not before
 * firstActivity; devices and entities arrays of objects; mitreTechniques an array of strings.
 * `incidentId` in the input is ignored (the server owns it). On error returns ERR_BODY with a
 * message naming the field ("value[3].devices[0]: expected an object") and leaves out released.
 */
enum err alert_from_json(json_t *src, const char *path, int64_t now, struct alert_in *out,
                         struct err_info *ei);

/*
 * Parses a request body or file: one alert object, `{"value":[...]}`, or a JSON array of
 * alerts (at most `max` alerts; 0: no limit). On success *out is a malloc'd array of *n
 * alerts owned by the caller (alert_in_release each, then free). The whole input is rejected on
 * the first invalid alert, naming its 0-based index and field. ERR_BODY on bad input.
 */
enum err alert_parse_batch(json_t *body, size_t max, int64_t now, struct alert_in **out, size_t *n,
                           struct err_info *ei);

#endif
