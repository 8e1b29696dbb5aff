/* SPDX-License-Identifier: MIT */
/* Quota tables and their text form (issue 4). */
#include "common.h"
#include "quota.h"
#include <strings.h>

static const char *const method_names[QUOTA__COUNT] = {"list", "get", "update", "ingest", "alert"};

const char *quota_method_name(enum quota_method m)
{
    return (size_t)m < QUOTA__COUNT ? method_names[m] : "?";
}

void quota_defaults(struct quota_table *t)
{
    t->m[QUOTA_LIST] = (struct quota_limits){50, 1500};
    t->m[QUOTA_GET] = (struct quota_limits){100, 1500};
    t->m[QUOTA_UPDATE] = (struct quota_limits){50, 1500};
    t->m[QUOTA_INGEST] = (struct quota_limits){300, 10000};
    t->m[QUOTA_ALERT] = (struct quota_limits){100, 1500};
}

enum err quota_apply(struct quota_table *t, const char *spec, struct err_info *ei)
{
    struct quota_table out = *t;
    const char *p = spec;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && p[len - 1] == ' ')
            len--;
        char item[64];
        if (len >= sizeof(item))
            return err_set(ei, ERR_INVALID, -1, "quota item '%.40s…' is too long", p);
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        int m = -1;
        if (eq) {
            *eq = '\0';
            for (int k = 0; k < QUOTA__COUNT; k++)
                if (strcasecmp(item, method_names[k]) == 0)
                    m = k;
            *eq = '=';
        }
        if (m < 0)
            return err_set(ei, ERR_INVALID, -1,
                           "quota item '%s': expected list=, get=, update=, ingest= or "
                           "alert= followed by N/min, N/hour or 0",
                           item);
        char *num = eq + 1, *slash;
        errno = 0;
        unsigned long n = strtoul(num, &slash, 10);
        if (slash == num || errno || n > 1000000000UL || *num == '-' || *num == '+')
            return err_set(ei, ERR_INVALID, -1,
                           "quota item '%s': expected a count from 0 to "
                           "1000000000",
                           item);
        if (*slash == '\0') {
            if (n != 0)
                return err_set(ei, ERR_INVALID, -1,
                               "quota item '%s': give the window (N/min or N/hour); only 0 "
                               "stands alone",
                               item);
            out.m[m] = (struct quota_limits){0, 0};
        } else if (!strcasecmp(slash, "/min") || !strcasecmp(slash, "/minute")) {
            out.m[m].per_minute = (uint32_t)n;
        } else if (!strcasecmp(slash, "/hour") || !strcasecmp(slash, "/h")) {
            out.m[m].per_hour = (uint32_t)n;
        } else {
            return err_set(ei, ERR_INVALID, -1,
                           "quota item '%s': the window must be /min or "
                           "/hour",
                           item);
        }
        p = end;
    }
    *t = out;
    return ERR_OK;
}
