/* SPDX-License-Identifier: MIT */
/* Table-driven configuration (conventions §3.8). */
#include "common.h"
#include "config.h"
#include "log.h"
#include "xmalloc.h"
#include <ctype.h>
#include <strings.h>

enum config_type {
    CFG_STRING,
    CFG_INT,
    CFG_BOOL,
    CFG_ENUM,
};

struct config_def {
    const char *name;
    enum config_type type;
    size_t off;
    const char *def; /* NULL: unset */
    long min, max;
    const char *const *choices; /* CFG_ENUM, NULL-terminated; value = index */
    const char *help;
};

static const char *const sync_choices[] = {"off", "normal", "full", NULL};
static const char *const level_choices[] = {"error", "warn", "info", "debug", NULL};

#define OFF(f) offsetof(struct config, f)
static const struct config_def defs[] = {
    {"db", CFG_STRING, OFF(db), "var/incidentd.db", 0, 0, NULL, "SQLite database file"},
    {"listen", CFG_STRING, OFF(listen), "127.0.0.1:8080", 0, 0, NULL,
     "address and port to serve on (HOST:PORT; port 0 picks a free one)"},
    {"public_url", CFG_STRING, OFF(public_url), NULL, 0, 0, NULL,
     "base URL clients use (for @odata.context and @odata.nextLink); default http://<Host>"},
    {"portal_url", CFG_STRING, OFF(portal_url), "https://security.microsoft.com", 0, 0, NULL,
     "base of each incident's incidentUri"},
    {"tenant", CFG_STRING, OFF(tenant), "00000000-0000-0000-0000-000000000000", 0, 0, NULL,
     "default tenant id"},
    {"threads", CFG_INT, OFF(threads), "0", 0, 256, NULL,
     "HTTP worker threads; 0 = one per CPU (measured best: more threads than cores only add "
     "tail latency, docs/benchmarks.md)"},
    {"max_connections", CFG_INT, OFF(max_connections), "1024", 1, 65536, NULL,
     "concurrent client connections; more are refused"},
    {"max_header_bytes", CFG_INT, OFF(max_header_bytes), "16384", 1024, 1048576, NULL,
     "largest request line plus headers"},
    {"max_body_bytes", CFG_INT, OFF(max_body_bytes), "1048576", 1024, 67108864, NULL,
     "largest request body (413 beyond)"},
    {"idle_timeout_s", CFG_INT, OFF(idle_timeout_s), "60", 1, 86400, NULL,
     "seconds an idle keep-alive connection stays open"},
    {"shutdown_timeout_s", CFG_INT, OFF(shutdown_timeout_s), "30", 0, 3600, NULL,
     "seconds SIGTERM waits for in-flight requests"},
    {"db_readers", CFG_INT, OFF(db_readers), "8", 1, 256, NULL, "read connections to the database"},
    {"db_sync", CFG_ENUM, OFF(db_sync), "full", 0, 0, sync_choices,
     "commit durability: full survives power loss, normal survives a crash of incidentd"},
    {"gzip_min_bytes", CFG_INT, OFF(gzip_min_bytes), "1024", 0, 1073741824, NULL,
     "responses below this size are sent uncompressed"},
    {"log_level", CFG_ENUM, OFF(log_level), "info", 0, 0, level_choices, "log verbosity"},
    {"access_log", CFG_BOOL, OFF(access_log), "true", 0, 0, NULL, "one log line per request"},
    {"log_file", CFG_STRING, OFF(log_file), NULL, 0, 0, NULL, "log to this file instead of stderr"},
    {"key_file", CFG_STRING, OFF(key_file), NULL, 0, 0, NULL,
     "file holding the key that seals signing keys in the database (default <db>.key, made "
     "with mode 0600 when missing)"},
    {"token_issuer", CFG_STRING, OFF(token_issuer), "https://login.incidentd.local", 0, 0, NULL,
     "base of the issuer of tokens incidentd signs: <token_issuer>/<tenant>/v2.0"},
    {"audiences", CFG_STRING, OFF(audiences),
     "https://api.security.microsoft.com,https://security.microsoft.com/mtp,"
     "8ee8fdad-f234-4243-8f3b-15c294843740",
     0, 0, NULL, "accepted token audiences (resources), comma-separated"},
    {"trusted_issuers_file", CFG_STRING, OFF(trusted_issuers_file), NULL, 0, 0, NULL,
     "external token issuers to trust: one 'ISSUER_URL JWKS_FILE' per line (e.g. Entra ID)"},
    {"quota", CFG_STRING, OFF(quota), NULL, 0, 0, NULL,
     "quotas per method over the real service's (list 50/min 1500/hour, get 100/min "
     "1500/hour, update 50/min 1500/hour; extensions: ingest 300/min 10000/hour, alert 100/min "
     "1500/hour), e.g. 'list=500/min,get=0'; 0 = unlimited"},
    {"ratelimit_max_callers", CFG_INT, OFF(ratelimit_max_callers), "10000", 1, 1000000, NULL,
     "callers (tenant, application or user, method) whose quota use is remembered; the least "
     "recently seen is forgotten beyond this"},
    {"correlation_keys", CFG_STRING, OFF(correlation_keys), "device,user,mailbox,file,mail", 0, 0,
     NULL,
     "what ingested alerts correlate on, comma-separated: device, user, mailbox, file, mail, and "
     "the weak ip, url; empty = every alert starts an incident (docs/internals/correlation.md)"},
    {"correlation_window", CFG_STRING, OFF(correlation_window), "24h", 0, 0, NULL,
     "alerts whose activity lies at most this far apart correlate: N followed by s, m, h or d, "
     "at most 365d"},
    {"correlation_resolved", CFG_STRING, OFF(correlation_resolved), "new", 0, 0, NULL,
     "an alert that matches only Resolved incidents starts a new incident (new) or reopens the "
     "oldest of them (reopen)"},
};

static const struct config_def *find_def(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

static enum err set_value(struct config *c, const struct config_def *d, const char *value,
                          const char *source, struct err_info *ei)
{
    char *base = (char *)c + d->off;
    switch (d->type) {
    case CFG_STRING: {
        char **p = (char **)(void *)base;
        free(*p);
        *p = value ? xstrdup(value) : NULL;
        return ERR_OK;
    }
    case CFG_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < d->min || v > d->max)
            return err_set(ei, ERR_INVALID, -1, "%s: '%s' must be an integer from %ld to %ld",
                           source, d->name, d->min, d->max);
        *(int *)(void *)base = (int)v;
        return ERR_OK;
    }
    case CFG_BOOL:
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes") ||
            !strcasecmp(value, "on"))
            *(bool *)(void *)base = true;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no") ||
                 !strcasecmp(value, "off"))
            *(bool *)(void *)base = false;
        else
            return err_set(ei, ERR_INVALID, -1, "%s: '%s' must be true or false", source, d->name);
        return ERR_OK;
    case CFG_ENUM:
        for (int i = 0; d->choices[i]; i++) {
            if (!strcasecmp(value, d->choices[i])) {
                *(int *)(void *)base = i;
                return ERR_OK;
            }
        }
        return err_set(ei, ERR_INVALID, -1, "%s: '%s' must be one of %s%s%s%s%s", source, d->name,
                       d->choices[0], d->choices[1] ? ", " : "", d->choices[1] ? d->choices[1] : "",
                       d->choices[2] ? ", " : "", d->choices[2] ? d->choices[2] : "");
    }
    return ERR_INTERNAL;
}

void config_init(struct config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++)
        if (defs[i].def && set_value(c, &defs[i], defs[i].def, "default", NULL))
            BUG("bad default for %s", defs[i].name);
}

void config_release(struct config *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++) {
        if (defs[i].type == CFG_STRING) {
            char **p = (char **)(void *)((char *)c + defs[i].off);
            free(*p);
            *p = NULL;
        }
    }
}

/* Values that end up inside JSON strings and URLs (incidentUri, issuer, links) are limited
 * to characters that need no escaping there, so no setting can break a response. */
static bool url_text(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"\\<>{}|^`", ch))
            return false;
    }
    return true;
}

static bool tenant_text(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-._", *s))
            return false;
    return true;
}

/* Parses a correlation_* value with correlate.h's parser for it, only to validate it. */
static enum err corr_check(const char *key, const char *value, struct err_info *ei)
{
    struct corr_options o;
    corr_options_init(&o);
    if (!strcmp(key, "correlation_keys"))
        return corr_keys_parse(value, &o.keys, ei);
    if (!strcmp(key, "correlation_window"))
        return corr_window_parse(value, &o.window, ei);
    return corr_resolved_parse(value, &o.resolved, ei);
}

enum err config_set(struct config *c, const char *key, const char *value, const char *source,
                    struct err_info *ei)
{
    const struct config_def *d = find_def(key);
    if (!d)
        return err_set(ei, ERR_INVALID, -1, "%s: unknown setting '%s'", source, key);
    if (!strcmp(key, "tenant") && value && !tenant_text(value))
        return err_set(ei, ERR_INVALID, -1,
                       "%s: 'tenant' must be 1-64 letters, digits, '-', '.' or '_' (a GUID or "
                       "a domain)",
                       source);
    if ((!strcmp(key, "portal_url") || !strcmp(key, "token_issuer") ||
         !strcmp(key, "public_url")) &&
        value &&
        (!url_text(value) || (strncmp(value, "http://", 7) && strncmp(value, "https://", 8))))
        return err_set(ei, ERR_INVALID, -1,
                       "%s: '%s' must be an http(s) URL without spaces, quotes or backslashes",
                       source, key);
    struct err_info pei;
    err_clear(&pei);
    if (!strncmp(key, "correlation_", 12) && value && corr_check(key, value, &pei))
        return err_set(ei, ERR_INVALID, -1, "%s: '%s': %s", source, key, pei.msg);
    return set_value(c, d, value, source, ei);
}

enum err config_corr_options(const struct config *c, struct corr_options *o, struct err_info *ei)
{
    corr_options_init(o);
    struct err_info pei;
    err_clear(&pei);
    if (c->correlation_keys && corr_keys_parse(c->correlation_keys, &o->keys, &pei))
        return err_set(ei, ERR_INVALID, -1, "'correlation_keys': %s", pei.msg);
    if (c->correlation_window && corr_window_parse(c->correlation_window, &o->window, &pei))
        return err_set(ei, ERR_INVALID, -1, "'correlation_window': %s", pei.msg);
    if (c->correlation_resolved && corr_resolved_parse(c->correlation_resolved, &o->resolved, &pei))
        return err_set(ei, ERR_INVALID, -1, "'correlation_resolved': %s", pei.msg);
    return ERR_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

enum err config_load_file(struct config *c, const char *path, struct err_info *ei)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(ei, ERR_IO, -1, "%s: %s", path, strerror(errno));
    char line[4096];
    int lineno = 0;
    enum err e = ERR_OK;
    while (!e && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        char source[300];
        snprintf(source, sizeof(source), "%s:%d", path, lineno);
        if (!eq) {
            e = err_set(ei, ERR_INVALID, -1, "%s: expected 'key = value'", source);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        e = config_set(c, key, value, source, ei);
    }
    fclose(f);
    return e;
}

enum err config_load_env(struct config *c, struct err_info *ei)
{
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++) {
        char env[64] = "INCIDENTD_";
        size_t n = strlen(env);
        for (const char *p = defs[i].name; *p && n < sizeof(env) - 1; p++)
            env[n++] = (char)toupper((unsigned char)*p);
        env[n] = '\0';
        const char *v = getenv(env);
        if (v && config_set(c, defs[i].name, v, env, ei))
            return ERR_INVALID;
    }
    return ERR_OK;
}

void config_print(const struct config *c, FILE *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++) {
        const char *base = (const char *)c + defs[i].off;
        fprintf(out, "%s = ", defs[i].name);
        switch (defs[i].type) {
        case CFG_STRING: {
            const char *s = *(const char *const *)(const void *)base;
            fprintf(out, "%s\n", s ? s : "");
            break;
        }
        case CFG_INT:
            fprintf(out, "%d\n", *(const int *)(const void *)base);
            break;
        case CFG_BOOL:
            fprintf(out, "%s\n", *(const bool *)(const void *)base ? "true" : "false");
            break;
        case CFG_ENUM:
            fprintf(out, "%s\n", defs[i].choices[*(const int *)(const void *)base]);
            break;
        }
    }
}

void config_print_markdown(FILE *out)
{
    fprintf(out, "| key | environment | default | allowed | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < ARRAY_SIZE(defs); i++) {
        const struct config_def *d = &defs[i];
        char env[64] = "INCIDENTD_";
        size_t n = strlen(env);
        for (const char *p = d->name; *p && n < sizeof(env) - 1; p++)
            env[n++] = (char)toupper((unsigned char)*p);
        env[n] = '\0';
        char allowed[128] = "text";
        if (d->type == CFG_INT)
            snprintf(allowed, sizeof(allowed), "%ld..%ld", d->min, d->max);
        else if (d->type == CFG_BOOL)
            snprintf(allowed, sizeof(allowed), "true, false");
        else if (d->type == CFG_ENUM) {
            allowed[0] = '\0';
            for (int k = 0; d->choices[k]; k++) {
                size_t l = strlen(allowed);
                snprintf(allowed + l, sizeof(allowed) - l, "%s%s", k ? ", " : "", d->choices[k]);
            }
        }
        fprintf(out, "| `%s` | `%s` | %s%s%s | %s | %s |\n", d->name, env, d->def ? "`" : "",
                d->def ? d->def : "(unset)", d->def ? "`" : "", allowed, d->help);
    }
}
