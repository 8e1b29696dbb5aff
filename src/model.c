/* SPDX-License-Identifier: MIT */
/* Enumeration tables of CONTRACT §2 and §6. */
#include "common.h"
#include "model.h"
#include <strings.h>

static const char *const severity_names[] = {"UnSpecified", "Informational", "Low", "Medium",
                                             "High"};
static const char *const status_names[] = {"Active", "InProgress", "Resolved", "Redirected"};
static const char *const classification_names[] = {
    "Unknown", "TruePositive", "InformationalExpectedActivity", "FalsePositive"};
static const char *const determination_names[] = {
    "NotAvailable",
    "MultiStagedAttack",
    "MaliciousUserActivity",
    "CompromisedAccount",
    "Malware",
    "Phishing",
    "UnwantedSoftware",
    "Other",
    "SecurityTesting",
    "LineOfBusinessApplication",
    "ConfirmedActivity",
    "NotMalicious",
    "NoEnoughDataToValidate",
    "Apt",
    "SecurityPersonnel",
};

static const struct {
    const char *name;
    enum determination value;
} determination_aliases[] = {
    {"CompromisedUser", DETERMINATION_COMPROMISED_ACCOUNT},
    {"ConfirmedUserActivity", DETERMINATION_CONFIRMED_ACTIVITY},
    {"Clean", DETERMINATION_NOT_MALICIOUS},
    {"InsufficientData", DETERMINATION_NO_ENOUGH_DATA_TO_VALIDATE},
};

_Static_assert(ARRAY_SIZE(severity_names) == SEVERITY__COUNT, "severity table");
_Static_assert(ARRAY_SIZE(status_names) == STATUS__COUNT, "status table");
_Static_assert(ARRAY_SIZE(classification_names) == CLASSIFICATION__COUNT, "classification table");
_Static_assert(ARRAY_SIZE(determination_names) == DETERMINATION__COUNT, "determination table");

static bool name_eq(const char *name, const char *s, size_t len)
{
    return strlen(name) == len && strncasecmp(name, s, len) == 0;
}

static int lookup(const char *const *names, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (name_eq(names[i], s, len))
            return (int)i;
    return -1;
}

const char *severity_name(enum severity v)
{
    return (size_t)v < SEVERITY__COUNT ? severity_names[v] : "UnSpecified";
}

const char *status_name(enum status v)
{
    return (size_t)v < STATUS__COUNT ? status_names[v] : "Active";
}

const char *classification_name(enum classification v)
{
    return (size_t)v < CLASSIFICATION__COUNT ? classification_names[v] : "Unknown";
}

const char *determination_name(enum determination v)
{
    return (size_t)v < DETERMINATION__COUNT ? determination_names[v] : "NotAvailable";
}

bool severity_parse(const char *s, size_t len, enum severity *out)
{
    int i = lookup(severity_names, SEVERITY__COUNT, s, len);
    if (i < 0)
        return false;
    *out = (enum severity)i;
    return true;
}

bool status_parse(const char *s, size_t len, enum status *out)
{
    int i = lookup(status_names, STATUS__COUNT, s, len);
    if (i < 0)
        return false;
    *out = (enum status)i;
    return true;
}

bool classification_parse(const char *s, size_t len, enum classification *out)
{
    int i = lookup(classification_names, CLASSIFICATION__COUNT, s, len);
    if (i < 0)
        return false;
    *out = (enum classification)i;
    return true;
}

bool determination_parse(const char *s, size_t len, unsigned flags, enum determination *out)
{
    int i = lookup(determination_names, DETERMINATION__COUNT, s, len);
    if (i >= 0) {
        if ((i == DETERMINATION_APT || i == DETERMINATION_SECURITY_PERSONNEL) &&
            !(flags & MODEL_ALLOW_DEPRECATED))
            return false;
        *out = (enum determination)i;
        return true;
    }
    for (size_t k = 0; k < ARRAY_SIZE(determination_aliases); k++) {
        if (name_eq(determination_aliases[k].name, s, len)) {
            *out = determination_aliases[k].value;
            return true;
        }
    }
    return false;
}

bool determination_allowed(enum classification c, enum determination d)
{
    if (d == DETERMINATION_NOT_AVAILABLE)
        return true;
    switch (c) {
    case CLASSIFICATION_TRUE_POSITIVE:
        return d == DETERMINATION_MULTI_STAGED_ATTACK ||
               d == DETERMINATION_MALICIOUS_USER_ACTIVITY ||
               d == DETERMINATION_COMPROMISED_ACCOUNT || d == DETERMINATION_MALWARE ||
               d == DETERMINATION_PHISHING || d == DETERMINATION_UNWANTED_SOFTWARE ||
               d == DETERMINATION_OTHER || d == DETERMINATION_APT ||
               d == DETERMINATION_SECURITY_PERSONNEL;
    case CLASSIFICATION_INFORMATIONAL_EXPECTED_ACTIVITY:
        return d == DETERMINATION_SECURITY_TESTING ||
               d == DETERMINATION_LINE_OF_BUSINESS_APPLICATION ||
               d == DETERMINATION_CONFIRMED_ACTIVITY || d == DETERMINATION_OTHER;
    case CLASSIFICATION_FALSE_POSITIVE:
        return d == DETERMINATION_NOT_MALICIOUS || d == DETERMINATION_NO_ENOUGH_DATA_TO_VALIDATE ||
               d == DETERMINATION_OTHER;
    case CLASSIFICATION_UNKNOWN:
    case CLASSIFICATION__COUNT:
        break;
    }
    return false;
}

const char *determination_list_for(enum classification c)
{
    switch (c) {
    case CLASSIFICATION_TRUE_POSITIVE:
        return "NotAvailable, MultiStagedAttack, MaliciousUserActivity, CompromisedAccount, "
               "Malware, Phishing, UnwantedSoftware, Other";
    case CLASSIFICATION_INFORMATIONAL_EXPECTED_ACTIVITY:
        return "NotAvailable, SecurityTesting, LineOfBusinessApplication, ConfirmedActivity, Other";
    case CLASSIFICATION_FALSE_POSITIVE:
        return "NotAvailable, NotMalicious, NoEnoughDataToValidate, Other";
    case CLASSIFICATION_UNKNOWN:
    case CLASSIFICATION__COUNT:
        break;
    }
    return "NotAvailable";
}
