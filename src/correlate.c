/* SPDX-License-Identifier: MIT */
/*
 * Correlation rules that need no storage (CONTRACT §9, docs/internals/correlation.md): option
 * parsing, the keys an alert carries, and the severity and name an incident derives from its
 * alerts. Everything here is a pure function of its arguments so every backend groups and names
 * alerts identically.
 */
#include "common.h"
#include "correlate.h"
#include "buf.h"
#include "xmalloc.h"
#include <ctype.h>
#include <strings.h>

static const char *const key_names[CORR_KEY_TYPES] = {
    [CORR_DEVICE] = "device", [CORR_USER] = "user", [CORR_MAILBOX] = "mailbox",
    [CORR_FILE] = "file",     [CORR_MAIL] = "mail", [CORR_IP] = "ip",
    [CORR_URL] = "url",
};

#define KEY_NAME_LIST "device, user, mailbox, file, mail, ip, url"

void corr_options_init(struct corr_options *o)
{
    o->keys = CORR_KEYS_DEFAULT;
    o->window = CORR_WINDOW_DEFAULT;
    o->resolved = CORR_RESOLVED_NEW;
}

const char *corr_key_name(enum corr_key_type t)
{
    return (unsigned)t < CORR_KEY_TYPES ? key_names[t] : "unknown";
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char ascii_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_lower_or_digit(char c)
{
    return is_lower(c) || (c >= '0' && c <= '9');
}

/* Narrows [*b, *e) to exclude surrounding blanks. */
static void trim(const char **b, const char **e)
{
    while (*b < *e && is_blank(**b))
        (*b)++;
    while (*e > *b && is_blank((*e)[-1]))
        (*e)--;
}

enum err corr_keys_parse(const char *s, unsigned *out, struct err_info *ei)
{
    if (!s)
        s = "";
    const char *end = s + strlen(s), *b = s, *e = end;
    trim(&b, &e);
    if (b == e) { /* an empty list: correlation off */
        *out = 0;
        return ERR_OK;
    }
    unsigned keys = 0;
    for (const char *p = s;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *nb = p, *ne = comma ? comma : end;
        trim(&nb, &ne);
        size_t len = (size_t)(ne - nb);
        if (len == 0)
            return err_set(ei, ERR_INVALID, (int)(nb - s),
                           "empty name in correlation key list '%s' (valid: " KEY_NAME_LIST ")", s);
        int found = -1;
        for (int t = 0; t < CORR_KEY_TYPES && found < 0; t++)
            if (strlen(key_names[t]) == len && strncasecmp(nb, key_names[t], len) == 0)
                found = t;
        if (found < 0)
            return err_set(ei, ERR_INVALID, (int)(nb - s),
                           "unknown correlation key '%.*s' (valid: " KEY_NAME_LIST ")", (int)len,
                           nb);
        keys |= 1u << found;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = keys;
    return ERR_OK;
}

#define WINDOW_MAX_S (365LL * 86400)

enum err corr_window_parse(const char *s, int64_t *out, struct err_info *ei)
{
    if (!s)
        s = "";
    const char *b = s, *e = s + strlen(s);
    trim(&b, &e);
    const char *p = b;
    int64_t n = 0;
    bool big = false;
    while (p < e && *p >= '0' && *p <= '9') {
        n = n * 10 + (*p - '0');
        if (n > WINDOW_MAX_S) { /* clamp so the accumulator cannot overflow */
            n = WINDOW_MAX_S + 1;
            big = true;
        }
        p++;
    }
    if (p == b || p + 1 != e)
        return err_set(ei, ERR_INVALID, (int)(p - s),
                       "invalid correlation window '%s': expected a whole number followed by s, "
                       "m, h or d (e.g. '24h')",
                       s);
    int64_t unit_s;
    switch (ascii_lower(*p)) {
    case 's':
        unit_s = 1;
        break;
    case 'm':
        unit_s = 60;
        break;
    case 'h':
        unit_s = 3600;
        break;
    case 'd':
        unit_s = 86400;
        break;
    default:
        return err_set(ei, ERR_INVALID, (int)(p - s),
                       "invalid correlation window '%s': unknown unit '%c' (use s, m, h or d)", s,
                       *p);
    }
    if (big || n * unit_s > WINDOW_MAX_S)
        return err_set(ei, ERR_INVALID, (int)(b - s),
                       "correlation window '%s' is too long (at most 365d)", s);
    *out = n * unit_s * TS_TICKS_PER_SEC;
    return ERR_OK;
}

enum err corr_resolved_parse(const char *s, enum corr_resolved_policy *out, struct err_info *ei)
{
    if (!s)
        s = "";
    const char *b = s, *e = s + strlen(s);
    trim(&b, &e);
    size_t len = (size_t)(e - b);
    if (len == 3 && strncasecmp(b, "new", 3) == 0)
        *out = CORR_RESOLVED_NEW;
    else if (len == 6 && strncasecmp(b, "reopen", 6) == 0)
        *out = CORR_RESOLVED_REOPEN;
    else
        return err_set(ei, ERR_INVALID, (int)(b - s),
                       "invalid resolved-incident policy '%s': expected 'new' or 'reopen'", s);
    return ERR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Keys
 */

/* The member as a string, or NULL when it is missing, not a string or empty: such values never
 * make a key (a null id must not correlate everything that lacks one). */
static const char *str_field(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v && *v ? v : NULL;
}

static char *lower_dup(const char *s)
{
    char *r = xstrdup(s);
    for (char *p = r; *p; p++)
        *p = ascii_lower(*p);
    return r;
}

static bool entity_is(json_t *ent, const char *type)
{
    const char *t = json_string_value(json_object_get(ent, "entityType"));
    return t && strcasecmp(t, type) == 0;
}

static char *device_key(json_t *dev)
{
    const char *v = str_field(dev, "mdatpDeviceId");
    if (!v)
        v = str_field(dev, "deviceDnsName");
    return v ? lower_dup(v) : NULL;
}

static char *user_key(json_t *ent)
{
    if (!entity_is(ent, "User"))
        return NULL;
    static const char *const ids[] = {"aadUserId", "userSid", "userPrincipalName"};
    for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
        const char *v = str_field(ent, ids[i]);
        if (v)
            return lower_dup(v);
    }
    const char *acct = str_field(ent, "accountName");
    if (!acct)
        return NULL; /* a domain alone names no one */
    const char *dom = str_field(ent, "domainName");
    char *r = dom ? xasprintf("%s\\%s", dom, acct) : xstrdup(acct);
    for (char *p = r; *p; p++)
        *p = ascii_lower(*p);
    return r;
}

/* Mail keys are case-sensitive: RFC 5322 message ids and cluster values are opaque. A
 * MailCluster without clusterByValue gives no key: clusterBy alone only names the clustering
 * criteria ("Subject;P2SenderDomain;ContentType"), which unrelated clusters share. */
static char *mail_key(json_t *ent)
{
    if (entity_is(ent, "MailMessage")) {
        const char *v = str_field(ent, "internetMessageId");
        return v ? xstrdup(v) : NULL;
    }
    if (entity_is(ent, "MailCluster")) {
        const char *by = str_field(ent, "clusterBy");
        const char *val = str_field(ent, "clusterByValue");
        return by && val ? xasprintf("%s=%s", by, val) : NULL;
    }
    return NULL;
}

/* Lower-cases the scheme and host of a URL (case-insensitive per RFC 3986) and keeps the rest:
 * paths and queries are case-sensitive. Works with and without a scheme ("down.example.cn/x");
 * user information before '@' keeps its case. */
static char *url_key(json_t *ent)
{
    if (!entity_is(ent, "Url"))
        return NULL;
    const char *v = str_field(ent, "url");
    if (!v)
        return NULL;
    char *r = xstrdup(v);
    char *host = r;
    char *sep = strstr(r, "://");
    if (sep) {
        for (char *p = r; p < sep; p++)
            *p = ascii_lower(*p);
        host = sep + 3;
    }
    char *end = host + strcspn(host, "/?#");
    char *at = NULL;
    for (char *p = host; p < end; p++)
        if (*p == '@')
            at = p;
    for (char *p = at ? at + 1 : host; p < end; p++)
        *p = ascii_lower(*p);
    return r;
}

/* The key of type t carried by one entity, malloc'd and normalised, or NULL. */
static char *entity_key(json_t *ent, enum corr_key_type t)
{
    const char *v;
    switch (t) {
    case CORR_USER:
        return user_key(ent);
    case CORR_MAILBOX:
        v = str_field(ent, "mailboxAddress");
        return v ? lower_dup(v) : NULL;
    case CORR_FILE:
        v = str_field(ent, "sha256");
        if (!v)
            v = str_field(ent, "sha1");
        return v ? lower_dup(v) : NULL;
    case CORR_MAIL:
        return mail_key(ent);
    case CORR_IP:
        if (!entity_is(ent, "Ip"))
            return NULL;
        v = str_field(ent, "ipAddress");
        return v ? lower_dup(v) : NULL;
    case CORR_URL:
        return url_key(ent);
    default:
        return NULL;
    }
}

typedef void key_fn(void *ctx, enum corr_key_type t, char *value);

/* Calls fn with every key of type t in the alert (devices, then entities, in array order),
 * duplicates included; fn takes ownership of value. */
static void alert_keys_of_type(json_t *alert, enum corr_key_type t, key_fn *fn, void *ctx)
{
    size_t i;
    json_t *o;
    if (t == CORR_DEVICE) {
        json_array_foreach(json_object_get(alert, "devices"), i, o)
        {
            char *v = json_is_object(o) ? device_key(o) : NULL;
            if (v)
                fn(ctx, t, v);
        }
        return;
    }
    json_array_foreach(json_object_get(alert, "entities"), i, o)
    {
        char *v = json_is_object(o) ? entity_key(o, t) : NULL;
        if (v)
            fn(ctx, t, v);
    }
}

struct key_item {
    enum corr_key_type type;
    size_t seq; /* order of appearance */
    char *value;
};

struct key_list {
    struct key_item *v;
    size_t n, cap;
};

static void key_list_add(void *ctx, enum corr_key_type t, char *value)
{
    struct key_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n] = (struct key_item){.type = t, .seq = l->n, .value = value};
    l->n++;
}

static int cmp_type_value_seq(const void *pa, const void *pb)
{
    const struct key_item *a = pa, *b = pb;
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    int c = strcmp(a->value, b->value);
    if (c)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int cmp_seq(const void *pa, const void *pb)
{
    const struct key_item *a = pa, *b = pb;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

size_t corr_alert_keys(json_t *alert, struct corr_key **out)
{
    struct key_list l = {0};
    /* Collected type by type, so appearance order is already grouped by type. */
    for (int t = 0; t < CORR_KEY_TYPES; t++)
        alert_keys_of_type(alert, (enum corr_key_type)t, key_list_add, &l);
    *out = NULL;
    if (l.n == 0)
        return 0;
    /* Sorting then restoring the order keeps deduplication O(n log n) for alerts with very many
     * entities, and keeps the first appearance of each value. */
    qsort(l.v, l.n, sizeof(*l.v), cmp_type_value_seq);
    size_t m = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (m > 0 && l.v[m - 1].type == l.v[i].type && strcmp(l.v[m - 1].value, l.v[i].value) == 0)
            free(l.v[i].value);
        else
            l.v[m++] = l.v[i];
    }
    qsort(l.v, m, sizeof(*l.v), cmp_seq);
    struct corr_key *keys = xmalloc(m * sizeof(*keys));
    for (size_t i = 0; i < m; i++)
        keys[i] = (struct corr_key){.type = l.v[i].type, .value = l.v[i].value};
    free(l.v);
    *out = keys;
    return m;
}

void corr_keys_free(struct corr_key *keys, size_t n)
{
    if (!keys)
        return;
    for (size_t i = 0; i < n; i++)
        free(keys[i].value);
    free(keys);
}

/* ---------------------------------------------------------------------------------------------
 * Severity and name
 */

enum severity corr_incident_severity(json_t *alerts)
{
    enum severity best = SEVERITY_UNSPECIFIED;
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        json_t *s = json_object_get(a, "severity");
        enum severity v;
        if (json_is_string(s) && severity_parse(json_string_value(s), json_string_length(s), &v) &&
            v > best)
            best = v;
    }
    return best;
}

/* Counts distinct values up to 2 ("more than one"): the name needs no more, and stopping early
 * keeps it linear in the number of keys. */
struct distinct {
    char *first;
    int count;
};

static void distinct_add(void *ctx, enum corr_key_type t, char *value)
{
    struct distinct *d = ctx;
    UNUSED(t);
    if (d->count == 0) {
        d->first = value;
        d->count = 1;
        return;
    }
    if (d->count == 1 && strcmp(d->first, value) != 0)
        d->count = 2;
    free(value);
}

static int count_distinct(json_t *alerts, enum corr_key_type t)
{
    struct distinct d = {0};
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        alert_keys_of_type(a, t, distinct_add, &d);
        if (d.count > 1)
            break;
    }
    free(d.first);
    return d.count;
}

/* The "on one endpoint" part: devices first, then users, then mailboxes; NULL when the alerts
 * carry none of them. */
static const char *scope_suffix(json_t *alerts)
{
    static const struct {
        enum corr_key_type type;
        const char *one, *many;
    } scopes[] = {
        {CORR_DEVICE, "on one endpoint", "on multiple endpoints"},
        {CORR_USER, "involving one user", "involving multiple users"},
        {CORR_MAILBOX, "involving one mailbox", "involving multiple mailboxes"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(scopes); i++) {
        int n = count_distinct(alerts, scopes[i].type);
        if (n)
            return n == 1 ? scopes[i].one : scopes[i].many;
    }
    return NULL;
}

/* Appends s with surrounding whitespace dropped and inner runs of whitespace collapsed to one
 * space, so a title cannot put double spaces into the name. */
static void put_squeezed(struct buf *b, const char *s)
{
    bool space = false;
    size_t start = b->len;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
            space = true;
            continue;
        }
        if (space && b->len > start)
            buf_putc(b, ' ');
        space = false;
        buf_putc(b, *s);
    }
}

/* The title shared by every alert, whitespace-normalised and malloc'd, or NULL when titles
 * differ or one is missing or blank. */
char *corr_title_normalized(const char *title)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    if (title)
        put_squeezed(&b, title);
    char *norm = buf_detach(&b, NULL);
    return norm ? norm : xstrdup("");
}

static char *common_title(json_t *alerts)
{
    char *common = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        const char *t = json_string_value(json_object_get(a, "title"));
        struct buf b;
        buf_init(&b, BUF_UNLIMITED);
        if (t)
            put_squeezed(&b, t);
        char *norm = buf_detach(&b, NULL);
        if (!*norm || (common && strcmp(common, norm) != 0)) {
            free(norm);
            free(common);
            return NULL;
        }
        if (common)
            free(norm);
        else
            common = norm;
    }
    return common;
}

/* MITRE ATT&CK tactics in kill-chain order: the order of "involving A & B". The two pre-attack
 * tactics come first as in ATT&CK. */
static const char *const kill_chain[] = {
    "Reconnaissance", "ResourceDevelopment",
    "InitialAccess",  "Execution",
    "Persistence",    "PrivilegeEscalation",
    "DefenseEvasion", "CredentialAccess",
    "Discovery",      "LateralMovement",
    "Collection",     "CommandAndControl",
    "Exfiltration",   "Impact",
};

/* Other categories Defender uses, only to give them their canonical spelling whatever case
 * they arrive in; they sort alphabetically after the kill chain like any unknown category. */
static const char *const other_categories[] = {
    "CredentialTheft",
    "DocumentExploit",
    "Exploit",
    "Malware",
    "NetworkPropagation",
    "Ransomware",
    "SuspiciousActivity",
    "SuspiciousNetworkTraffic",
    "ThreatManagement",
    "UnwantedSoftware",
};

/* Kill-chain position, or ARRAY_SIZE(kill_chain) for every other category. */
static size_t chain_rank(const char *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(kill_chain); i++)
        if (strcasecmp(c, kill_chain[i]) == 0)
            return i;
    return ARRAY_SIZE(kill_chain);
}

static const char *canonical_category(const char *c)
{
    size_t r = chain_rank(c);
    if (r < ARRAY_SIZE(kill_chain))
        return kill_chain[r];
    for (size_t i = 0; i < ARRAY_SIZE(other_categories); i++)
        if (strcasecmp(c, other_categories[i]) == 0)
            return other_categories[i];
    return c;
}

/* Kill-chain order, then wire names alphabetically (case-insensitively, then bytewise so the
 * result does not depend on the order of the alerts). */
static int cmp_category(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    size_t ra = chain_rank(a), rb = chain_rank(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    int c = strcasecmp(a, b);
    return c ? c : strcmp(a, b);
}

/* Distinct categories of the alerts, sorted by cmp_category, case-insensitively deduplicated
 * (the first of equal spellings in sorted order wins); the strings are borrowed from the alerts
 * or the tables above. Returns the count; *out is malloc'd (NULL when none). */
static size_t categories(json_t *alerts, const char ***out)
{
    size_t n = 0, i;
    json_t *a;
    const char **v = xmalloc((json_array_size(alerts) + 1) * sizeof(*v));
    json_array_foreach(alerts, i, a)
    {
        const char *c = str_field(a, "category");
        /* A category with no letter or digit ("  ", "__") would display as nothing. */
        bool named = false;
        for (const char *p = c; p && *p && !named; p++)
            named = isalnum((unsigned char)*p);
        if (named)
            v[n++] = canonical_category(c);
    }
    qsort(v, n, sizeof(*v), cmp_category);
    size_t m = 0;
    for (i = 0; i < n; i++)
        if (m == 0 || strcasecmp(v[m - 1], v[i]) != 0)
            v[m++] = v[i];
    if (m == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    return m;
}

/* Appends a category for display: CamelCase split into words, the first word capitalised, the
 * others lower-cased ("CommandAndControl" → "Command and control"); words in capitals stay as
 * they are ("DLPViolation" → "DLP violation"); '_' and whitespace separate words too. */
static void put_category(struct buf *b, const char *c)
{
    size_t len = strlen(c), i = 0;
    bool first = true;
    while (i < len) {
        while (i < len && (c[i] == '_' || c[i] == ' ' || c[i] == '\t'))
            i++;
        if (i == len)
            break;
        size_t start = i++;
        for (; i < len; i++) {
            if (c[i] == '_' || c[i] == ' ' || c[i] == '\t')
                break;
            /* "aB" starts a word, and so does the last capital of a run followed by a
             * lower-case letter ("DLPViolation": "DLP" | "Violation") */
            if (is_upper(c[i]) && (is_lower_or_digit(c[i - 1]) ||
                                   (is_upper(c[i - 1]) && i + 1 < len && is_lower(c[i + 1]))))
                break;
        }
        bool acronym = i - start >= 2;
        for (size_t k = start; k < i && acronym; k++)
            acronym = is_upper(c[k]) || (c[k] >= '0' && c[k] <= '9');
        if (!first)
            buf_putc(b, ' ');
        for (size_t k = start; k < i; k++) {
            char ch = c[k];
            if (!acronym)
                ch = first && k == start ? ascii_upper(ch) : ascii_lower(ch);
            buf_putc(b, ch);
        }
        first = false;
    }
}

/* True when the alerts name more than one serviceSource (case-insensitively; null and empty
 * values are ignored). */
static bool multiple_sources(json_t *alerts)
{
    const char *first = NULL;
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        const char *s = str_field(a, "serviceSource");
        if (!s)
            continue;
        if (!first)
            first = s;
        else if (strcasecmp(first, s) != 0)
            return true;
    }
    return false;
}

char *corr_incident_name(json_t *alerts)
{
    if (json_array_size(alerts) == 0)
        return xstrdup("");
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    char *title = common_title(alerts);
    if (title) {
        buf_puts(&b, title);
        free(title);
    } else {
        const char **cats;
        size_t n = categories(alerts, &cats);
        if (n == 0) {
            buf_puts(&b, "Incident");
        } else if (n == 1) {
            put_category(&b, cats[0]);
            buf_puts(&b, " incident");
        } else {
            buf_puts(&b, "Multi-stage incident involving ");
            for (size_t i = 0; i < n; i++) {
                if (i)
                    buf_puts(&b, " & ");
                put_category(&b, cats[i]);
            }
        }
        free(cats);
    }
    const char *scope = scope_suffix(alerts);
    if (scope) {
        buf_putc(&b, ' ');
        buf_puts(&b, scope);
    }
    if (multiple_sources(alerts))
        buf_puts(&b, " reported by multiple sources");
    return buf_detach(&b, NULL);
}
