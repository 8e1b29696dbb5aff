/* SPDX-License-Identifier: MIT */
/*
 * API quotas (issue 4, CONTRACT §1): per method class, a per-minute and a per-hour limit, with
 * the real service's defaults, overridden by the config file's `quota` setting and then by an
 * application's own quota (`incidentd app create … --quota list=500/min,get=0`).
 */
#ifndef QUOTA_H
#define QUOTA_H

#include "common.h"
#include "err.h"

enum quota_method {
    QUOTA_LIST,   /* GET /api/incidents */
    QUOTA_GET,    /* GET /api/incidents/{id} */
    QUOTA_UPDATE, /* PATCH /api/incidents/{id} */
    QUOTA_INGEST, /* POST /api/alerts (CONTRACT §9) */
    QUOTA_ALERT,  /* GET /api/alerts/{alertId} */
    QUOTA__COUNT,
};

struct quota_limits {
    uint32_t per_minute; /* 0: unlimited */
    uint32_t per_hour;   /* 0: unlimited */
};

struct quota_table {
    struct quota_limits m[QUOTA__COUNT];
};

/* The real service's limits: list and update 50/min and 1,500/h, get 100/min and 1,500/h; and
 * the extension's (CONTRACT §1): ingest 300/min and 10,000/h, alert 100/min and 1,500/h. */
void quota_defaults(struct quota_table *t);

/*
 * Applies a quota specification on top of t: comma-separated `METHOD=N/min`, `METHOD=N/hour`
 * or `METHOD=0` (unlimited in both windows), METHOD one of list, get, update, ingest, alert; N
 * from 0 to 1,000,000,000 (0 = unlimited for that window). Spaces around items are allowed. On
 * error returns ERR_INVALID naming the bad item, and t is unchanged.
 */
enum err quota_apply(struct quota_table *t, const char *spec, struct err_info *ei);

/* The method's name in specifications and messages ("list"). */
const char *quota_method_name(enum quota_method m);

#endif
