/* SPDX-License-Identifier: MIT */
/*
 * The incident enumerations of CONTRACT §2 and §6: canonical PascalCase names, case-insensitive
 * parsing with the documented aliases, and the classification/determination pair rule.
 */
#ifndef MODEL_H
#define MODEL_H

#include "common.h"

/* Ordered by rank so that "highest severity" is the numeric maximum. */
enum severity {
    SEVERITY_UNSPECIFIED,
    SEVERITY_INFORMATIONAL,
    SEVERITY_LOW,
    SEVERITY_MEDIUM,
    SEVERITY_HIGH,
    SEVERITY__COUNT,
};

enum status {
    STATUS_ACTIVE,
    STATUS_IN_PROGRESS,
    STATUS_RESOLVED,
    STATUS_REDIRECTED,
    STATUS__COUNT,
};

enum classification {
    CLASSIFICATION_UNKNOWN,
    CLASSIFICATION_TRUE_POSITIVE,
    CLASSIFICATION_INFORMATIONAL_EXPECTED_ACTIVITY,
    CLASSIFICATION_FALSE_POSITIVE,
    CLASSIFICATION__COUNT,
};

enum determination {
    DETERMINATION_NOT_AVAILABLE,
    DETERMINATION_MULTI_STAGED_ATTACK,
    DETERMINATION_MALICIOUS_USER_ACTIVITY,
    DETERMINATION_COMPROMISED_ACCOUNT,
    DETERMINATION_MALWARE,
    DETERMINATION_PHISHING,
    DETERMINATION_UNWANTED_SOFTWARE,
    DETERMINATION_OTHER,
    DETERMINATION_SECURITY_TESTING,
    DETERMINATION_LINE_OF_BUSINESS_APPLICATION,
    DETERMINATION_CONFIRMED_ACTIVITY,
    DETERMINATION_NOT_MALICIOUS,
    DETERMINATION_NO_ENOUGH_DATA_TO_VALIDATE,
    DETERMINATION_APT,                /* deprecated 2022: stored and returned, never accepted */
    DETERMINATION_SECURITY_PERSONNEL, /* deprecated 2022: likewise */
    DETERMINATION__COUNT,
};

enum model_parse_flags {
    /* Accept the deprecated determinations Apt and SecurityPersonnel (import only, §6). */
    MODEL_ALLOW_DEPRECATED = 1 << 0,
};

/* Canonical wire names; static storage. */
const char *severity_name(enum severity v);
const char *status_name(enum status v);
const char *classification_name(enum classification v);
const char *determination_name(enum determination v);

/*
 * Case-insensitive (ASCII) parse of s[0..len) into the enum; determinations also accept the
 * aliases of CONTRACT §6 (CompromisedUser, ConfirmedUserActivity, Clean, InsufficientData).
 * Return false when the text names no value (out is untouched).
 */
bool severity_parse(const char *s, size_t len, enum severity *out);
bool status_parse(const char *s, size_t len, enum status *out);
bool classification_parse(const char *s, size_t len, enum classification *out);
bool determination_parse(const char *s, size_t len, unsigned flags, enum determination *out);

/* True when the pair is valid per the table of CONTRACT §6 (NotAvailable goes with every
 * classification; Apt/SecurityPersonnel with TruePositive). */
bool determination_allowed(enum classification c, enum determination d);

/* Comma-separated list of the determinations valid for c, for error messages; static storage. */
const char *determination_list_for(enum classification c);

#endif
