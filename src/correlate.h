/* SPDX-License-Identifier: MIT */
/*
 * The correlation rules of issue 5 / CONTRACT §9 that do not depend on storage: which
 * correlation keys an alert carries, the options that choose keys, window and the policy for
 * Resolved incidents, and the incident fields derived from its alerts (severity, name).
 * Backends call these inside their transactions so every backend groups alerts identically.
 * The rules are written out in docs/internals/correlation.md.
 */
#ifndef CORRELATE_H
#define CORRELATE_H

#include "common.h"
#include "err.h"
#include "model.h"
#include "ts.h"
#include <jansson.h>

/* Key types, in priority order: when an alert matches through several keys, the explanation
 * names the first type in this order. Values are stored in the database: append only. */
enum corr_key_type {
    CORR_DEVICE = 0,  /* devices[].mdatpDeviceId, else devices[].deviceDnsName */
    CORR_USER = 1,    /* User entity: aadUserId, else userSid, else userPrincipalName, else
                       * domainName\accountName */
    CORR_MAILBOX = 2, /* mailboxAddress of any entity */
    CORR_FILE = 3,    /* sha256, else sha1, of any entity */
    CORR_MAIL = 4,    /* MailMessage internetMessageId; MailCluster clusterBy + clusterByValue */
    CORR_IP = 5,      /* Ip entity ipAddress (weak, off by default) */
    CORR_URL = 6,     /* Url entity url (weak, off by default) */
    CORR_KEY_TYPES
};

#define CORR_KEYS_DEFAULT                                                                 \
    ((1u << CORR_DEVICE) | (1u << CORR_USER) | (1u << CORR_MAILBOX) | (1u << CORR_FILE) | \
     (1u << CORR_MAIL))
#define CORR_KEYS_ALL ((1u << CORR_KEY_TYPES) - 1)

#define CORR_WINDOW_DEFAULT (24 * 3600 * TS_TICKS_PER_SEC) /* ticks */

/* What happens to an alert whose only matches are Resolved incidents. */
enum corr_resolved_policy {
    CORR_RESOLVED_NEW = 0, /* default: it starts a new incident */
    CORR_RESOLVED_REOPEN, /* it joins the oldest matching Resolved incident, which becomes Active */
};

struct corr_options {
    unsigned keys;  /* bit set of 1u << enum corr_key_type */
    int64_t window; /* W in ticks (>= 0): activity intervals at most W apart correlate */
    enum corr_resolved_policy resolved;
};

/* Fills o with the defaults: CORR_KEYS_DEFAULT, 24 h, CORR_RESOLVED_NEW. */
void corr_options_init(struct corr_options *o);

/* Wire/config name of a key type ("device", "user", "mailbox", "file", "mail", "ip", "url");
 * static storage. */
const char *corr_key_name(enum corr_key_type t);

/*
 * Parses a comma-separated list of key type names (case-insensitive, spaces around names
 * allowed, e.g. "device, user,ip") into a bit set. An empty list is valid (no correlation: every
 * alert starts an incident). Unknown name: ERR_INVALID naming it and listing the valid names.
 */
enum err corr_keys_parse(const char *s, unsigned *out, struct err_info *ei);

/* Parses a window: a non-negative integer followed by s, m, h or d (e.g. "90m", "24h", "0s"),
 * at most 365d. ERR_INVALID otherwise. *out in ticks. */
enum err corr_window_parse(const char *s, int64_t *out, struct err_info *ei);

/* Parses "new" or "reopen" (case-insensitive). ERR_INVALID otherwise. */
enum err corr_resolved_parse(const char *s, enum corr_resolved_policy *out, struct err_info *ei);

struct corr_key {
    enum corr_key_type type;
    char *value; /* normalised: ASCII letters lower-cased for the case-insensitive keys */
};

/*
 * Extracts every correlation key of an alert (canonical form, alert.h), of every type (storage
 * indexes all of them so changing the enabled set needs no re-index). Duplicates (same type and
 * value) appear once. Sets *out to a malloc'd array (NULL when none) owned by the caller
 * (corr_keys_free) and returns its length. Empty strings and non-string values give no key.
 */
size_t corr_alert_keys(json_t *alert, struct corr_key **out);

void corr_keys_free(struct corr_key *keys, size_t n);

/* Highest severity among the alerts' `severity` (UnSpecified when none is set). */
enum severity corr_incident_severity(json_t *alerts);

/*
 * The incident name Defender would give an incident holding `alerts` (canonical alerts, any
 * order), following docs/internals/correlation.md: one distinct title → "<title> <scope>";
 * one category → "<Category> incident <scope>"; several → "Multi-stage incident involving A &
 * B <scope>" in kill-chain order; " reported by multiple sources" when serviceSources differ.
 * Returns a malloc'd string owned by the caller; never NULL. `alerts` empty → "".
 */
char *corr_incident_name(json_t *alerts);

/* A title as naming compares it: trimmed, inner whitespace runs collapsed to one space; "" for
 * NULL or blank. Malloc'd, owned by the caller. Storage uses it to keep what naming needs from
 * large incidents (correlation.md, "Storage"). */
char *corr_title_normalized(const char *title);

#endif
