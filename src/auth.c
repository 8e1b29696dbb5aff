/* SPDX-License-Identifier: MIT */
/*
 * Access control: sealed signing keys per tenant, token issuance and bearer validation
 * (issue 3, CONTRACT §7-§8). The trusted key set is parsed once and swapped under a
 * read-write lock; an unknown key id triggers at most one reload per second, so a key made
 * by `incidentd keys rotate` while the server runs is picked up without a restart.
 */
#include "common.h"
#include "auth.h"
#include "jwt.h"
#include "keys.h"
#include "log.h"
#include "secret.h"
#include "ts.h"
#include "xmalloc.h"
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_AUDIENCES 16
/* Validated tokens are remembered briefly: a connector sends the same token for an hour, and
 * an RS256 verification plus the tenant/application lookups cost more than the request. What
 * the database says (app name, user groups, tenant) is re-read at least every CACHE_TTL_S. */
#define CACHE_SLOTS 1024
#define CACHE_TTL_S 60

struct cache_entry {
    unsigned char key[32]; /* SHA-256 of the token */
    int64_t until_s;       /* 0: empty */
    struct auth_caller caller;
};

struct external_key {
    char *issuer;
    struct jwk_pem *keys;
    size_t n;
};

struct auth {
    struct store *store;
    char *issuer_base;
    char passphrase[65]; /* hex of the key file's 32 bytes; seals private keys */
    char *audiences[MAX_AUDIENCES];
    size_t naudiences;
    struct external_key *external;
    size_t nexternal;

    pthread_rwlock_t lock; /* guards keyset and kids */
    struct jwt_keyset *keyset;
    char **kids; /* key ids in keyset */
    size_t nkids;
    pthread_mutex_t reload_lock; /* one reload at a time */
    pthread_mutex_t mint_lock;   /* one key generation per tenant at a time */
    pthread_mutex_t cache_lock;
    struct cache_entry *cache; /* CACHE_SLOTS entries */
};

void auth_caller_release(struct auth_caller *c)
{
    free(c->tenant);
    free(c->name);
    free(c->client_id);
    free(c->upn);
    free(c->quota);
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i]);
    free(c->groups);
    memset(c, 0, sizeof(*c));
}

static void caller_copy(struct auth_caller *dst, const struct auth_caller *src)
{
    *dst = *src;
    dst->tenant = src->tenant ? xstrdup(src->tenant) : NULL;
    dst->name = src->name ? xstrdup(src->name) : NULL;
    dst->client_id = src->client_id ? xstrdup(src->client_id) : NULL;
    dst->upn = src->upn ? xstrdup(src->upn) : NULL;
    dst->quota = src->quota ? xstrdup(src->quota) : NULL;
    dst->groups = src->ngroups ? xcalloc(src->ngroups, sizeof(char *)) : NULL;
    for (size_t i = 0; i < src->ngroups; i++)
        dst->groups[i] = xstrdup(src->groups[i]);
}

void auth_issuer(const struct auth *a, const char *tenant, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s/v2.0", a->issuer_base, tenant);
}

bool auth_audience_ok(const struct auth *a, const char *aud)
{
    for (size_t i = 0; i < a->naudiences; i++)
        if (strcmp(a->audiences[i], aud) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Key file and sealing
 */

/* Reads the key file, or creates it with 32 random bytes (mode 0600) when missing. */
static enum err load_key_file(const char *path, char out[65], struct err_info *ei)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0 && errno == ENOENT) {
        unsigned char raw[32];
        if (RAND_bytes(raw, sizeof(raw)) != 1)
            return err_set(ei, ERR_INTERNAL, -1, "the random number generator failed");
        char hex[65];
        for (size_t i = 0; i < sizeof(raw); i++)
            snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        OPENSSL_cleanse(raw, sizeof(raw));
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd >= 0) {
            bool ok = write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
            close(fd);
            if (!ok)
                return err_set(ei, ERR_IO, -1, "%s: cannot write key file: %s", path,
                               strerror(errno));
            memcpy(out, hex, 65);
            OPENSSL_cleanse(hex, sizeof(hex));
            return ERR_OK;
        }
        if (errno != EEXIST)
            return err_set(ei, ERR_IO, -1, "%s: cannot create key file: %s", path, strerror(errno));
        fd = open(path, O_RDONLY); /* another process made it first */
    }
    if (fd < 0)
        return err_set(ei, ERR_IO, -1, "%s: cannot read key file: %s", path, strerror(errno));
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    size_t len = n > 0 ? (size_t)n : 0;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    if (len < 32 || len > 64)
        return err_set(ei, ERR_INVALID, -1, "%s: key file must hold 32-64 characters", path);
    memcpy(out, buf, len);
    out[len] = '\0';
    OPENSSL_cleanse(buf, sizeof(buf));
    return ERR_OK;
}

static char *bio_string(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    return n > 0 ? xstrndup(data, (size_t)n) : NULL;
}

/* Encrypts a clear PEM private key as PKCS#8 with AES-256 under the passphrase. */
static char *seal_pem(const struct auth *a, const char *clear)
{
    BIO *in = BIO_new_mem_buf(clear, -1);
    EVP_PKEY *k = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
    BIO *out = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (k && out &&
        PEM_write_bio_PKCS8PrivateKey(out, k, EVP_aes_256_cbc(), NULL, 0, NULL,
                                      (void *)(uintptr_t)a->passphrase) == 1)
        s = bio_string(out);
    EVP_PKEY_free(k);
    BIO_free(in);
    BIO_free(out);
    ERR_clear_error();
    return s;
}

/* Decrypts a sealed key back to a clear PEM (caller cleanses and frees). */
static char *unseal_pem(const struct auth *a, const char *sealed)
{
    BIO *in = BIO_new_mem_buf(sealed, -1);
    EVP_PKEY *k =
        in ? PEM_read_bio_PrivateKey(in, NULL, NULL, (void *)(uintptr_t)a->passphrase) : NULL;
    BIO *out = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (k && out && PEM_write_bio_PrivateKey(out, k, NULL, NULL, 0, NULL, NULL) == 1)
        s = bio_string(out);
    EVP_PKEY_free(k);
    BIO_free(in);
    BIO_free_all(out);
    ERR_clear_error();
    return s;
}

static void free_clear(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Trusted keys
 */

struct key_collect {
    const struct auth *a;
    int64_t now_ticks;
    struct jwt_trusted_key *keys;
    char **issuers;
    size_t n, cap;
    /* For a tenant's active key lookup. */
    const char *want_tenant;
    struct store_key active;
    bool found;
};

/* A retired key still verifies the tokens it signed until they expire (plus skew). */
static bool key_trusted(const struct store_key *k, int64_t now_ticks)
{
    if (!k->retired_time)
        return true;
    int64_t grace = (int64_t)(AUTH_TOKEN_LIFETIME_S + JWT_DEFAULT_SKEW_S) * TS_TICKS_PER_SEC;
    return now_ticks < k->retired_time + grace;
}

static enum err collect_key(void *ctx, const struct store_key *k)
{
    struct key_collect *c = ctx;
    if (!key_trusted(k, c->now_ticks))
        return ERR_OK;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->keys = xrealloc(c->keys, c->cap * sizeof(*c->keys));
        c->issuers = xrealloc(c->issuers, c->cap * sizeof(*c->issuers));
    }
    char iss[512];
    auth_issuer(c->a, k->tenant, iss, sizeof(iss));
    c->issuers[c->n] = xstrdup(iss);
    c->keys[c->n] = (struct jwt_trusted_key){.issuer = c->issuers[c->n],
                                             .kid = xstrdup(k->kid),
                                             .public_pem = xstrdup(k->public_pem),
                                             .alg = KEYS_ALG_RS256};
    c->n++;
    return ERR_OK;
}

/* Rebuilds the key set from the database and the external issuers, and swaps it in. */
static enum err reload_keys(struct auth *a, struct err_info *ei)
{
    struct key_collect c = {.a = a, .now_ticks = ts_now()};
    enum err e = store_key_list(a->store, NULL, collect_key, &c, ei);
    for (size_t i = 0; !e && i < a->nexternal; i++) {
        for (size_t k = 0; k < a->external[i].n; k++) {
            if (c.n == c.cap) {
                c.cap = c.cap ? c.cap * 2 : 16;
                c.keys = xrealloc(c.keys, c.cap * sizeof(*c.keys));
                c.issuers = xrealloc(c.issuers, c.cap * sizeof(*c.issuers));
            }
            const struct jwk_pem *jp = &a->external[i].keys[k];
            c.issuers[c.n] = xstrdup(a->external[i].issuer);
            c.keys[c.n] = (struct jwt_trusted_key){.issuer = c.issuers[c.n],
                                                   .kid = xstrdup(jp->kid),
                                                   .public_pem = xstrdup(jp->public_pem),
                                                   .alg = jp->alg};
            c.n++;
        }
    }
    struct jwt_keyset *ks = NULL;
    if (!e)
        e = jwt_keyset_new(c.keys, c.n, &ks, ei);
    char **kids = xcalloc(c.n ? c.n : 1, sizeof(char *));
    for (size_t i = 0; i < c.n; i++) {
        free(c.issuers[i]);
        kids[i] = (char *)(uintptr_t)c.keys[i].kid; /* kept as the known-kid list */
        free((char *)(uintptr_t)c.keys[i].public_pem);
    }
    size_t nkids = c.n;
    free(c.issuers);
    free(c.keys);
    if (e) {
        for (size_t i = 0; i < nkids; i++)
            free(kids[i]);
        free(kids);
        return e;
    }
    pthread_rwlock_wrlock(&a->lock);
    struct jwt_keyset *old = a->keyset;
    char **old_kids = a->kids;
    size_t old_n = a->nkids;
    a->keyset = ks;
    a->kids = kids;
    a->nkids = nkids;
    pthread_rwlock_unlock(&a->lock);
    jwt_keyset_free(old);
    for (size_t i = 0; i < old_n; i++)
        free(old_kids[i]);
    free(old_kids);
    return ERR_OK;
}

/* Reads "ISSUER JWKS_FILE" lines and converts each JWKS to trusted keys. */
static enum err load_external(struct auth *a, const char *path, struct err_info *ei)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(ei, ERR_IO, -1, "%s: %s", path, strerror(errno));
    char line[2048];
    int lineno = 0;
    enum err e = ERR_OK;
    while (!e && fgets(line, sizeof(line), f)) {
        lineno++;
        char issuer[1024], file[1024];
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || !*p)
            continue;
        if (sscanf(p, "%1023s %1023s", issuer, file) != 2) {
            e = err_set(ei, ERR_INVALID, -1, "%s:%d: expected 'ISSUER_URL JWKS_FILE'", path,
                        lineno);
            break;
        }
        FILE *jf = fopen(file, "rb");
        if (!jf) {
            e = err_set(ei, ERR_IO, -1, "%s:%d: %s: %s", path, lineno, file, strerror(errno));
            break;
        }
        char *text = xmalloc(KEYS_JWKS_MAX_BYTES + 1);
        size_t n = fread(text, 1, KEYS_JWKS_MAX_BYTES + 1, jf);
        fclose(jf);
        struct external_key x = {.issuer = xstrdup(issuer)};
        struct err_info kei;
        err_clear(&kei);
        if (n > KEYS_JWKS_MAX_BYTES || keys_jwks_to_pem(text, n, &x.keys, &x.n, &kei) != ERR_OK) {
            e = err_set(ei, ERR_INVALID, -1, "%s:%d: %s: %s", path, lineno, file,
                        n > KEYS_JWKS_MAX_BYTES ? "JWKS file too large" : kei.msg);
            free(x.issuer);
        } else {
            a->external = xrealloc(a->external, (a->nexternal + 1) * sizeof(*a->external));
            a->external[a->nexternal++] = x;
        }
        free(text);
    }
    fclose(f);
    return e;
}

/* True when the loaded key set has this key id. */
static bool kid_known(struct auth *a, const char *kid)
{
    pthread_rwlock_rdlock(&a->lock);
    bool found = false;
    for (size_t i = 0; i < a->nkids && !found; i++)
        found = strcmp(a->kids[i], kid) == 0;
    pthread_rwlock_unlock(&a->lock);
    return found;
}

struct kid_probe {
    const char *kid;
    bool found;
};

static enum err probe_kid(void *ctx, const struct store_key *k)
{
    struct kid_probe *p = ctx;
    p->found |= strcmp(k->kid, p->kid) == 0;
    return ERR_OK;
}

/* The `kid` of a compact JWS's header, copied into out; false when there is none. */
static bool token_kid(const char *token, size_t len, char *out, size_t cap)
{
    const char *dot = memchr(token, '.', len);
    unsigned char *raw = NULL;
    size_t rl = 0;
    if (!dot || !keys_b64url_decode(token, (size_t)(dot - token), &raw, &rl))
        return false;
    json_t *h = json_loadb((const char *)raw, rl, 0, NULL);
    free(raw);
    const char *kid = json_string_value(json_object_get(h, "kid"));
    bool ok = kid && strlen(kid) < cap;
    if (ok)
        snprintf(out, cap, "%s", kid);
    json_decref(h);
    return ok;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    jwt_keyset_free(a->keyset);
    for (size_t i = 0; i < a->nkids; i++)
        free(a->kids[i]);
    free(a->kids);
    for (size_t i = 0; i < a->nexternal; i++) {
        free(a->external[i].issuer);
        keys_jwk_pem_free(a->external[i].keys, a->external[i].n);
    }
    free(a->external);
    for (size_t i = 0; i < a->naudiences; i++)
        free(a->audiences[i]);
    free(a->issuer_base);
    OPENSSL_cleanse(a->passphrase, sizeof(a->passphrase));
    for (size_t i = 0; a->cache && i < CACHE_SLOTS; i++)
        auth_caller_release(&a->cache[i].caller);
    free(a->cache);
    pthread_mutex_destroy(&a->cache_lock);
    pthread_rwlock_destroy(&a->lock);
    pthread_mutex_destroy(&a->reload_lock);
    pthread_mutex_destroy(&a->mint_lock);
    free(a);
}

enum err auth_new(const struct config *cfg, struct store *st, struct auth **out,
                  struct err_info *ei)
{
    struct auth *a = xcalloc(1, sizeof(*a));
    a->store = st;
    pthread_rwlock_init(&a->lock, NULL);
    pthread_mutex_init(&a->reload_lock, NULL);
    pthread_mutex_init(&a->mint_lock, NULL);
    pthread_mutex_init(&a->cache_lock, NULL);
    a->cache = xcalloc(CACHE_SLOTS, sizeof(*a->cache));
    a->issuer_base = xstrdup(cfg->token_issuer);
    size_t bl = strlen(a->issuer_base);
    while (bl && a->issuer_base[bl - 1] == '/')
        a->issuer_base[--bl] = '\0';
    const char *p = cfg->audiences;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && p[0] == ' ') {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        if (n && a->naudiences < MAX_AUDIENCES)
            a->audiences[a->naudiences++] = xstrndup(p, n);
        p = comma ? comma + 1 : NULL;
    }
    char *key_file = cfg->key_file ? xstrdup(cfg->key_file) : xasprintf("%s.key", cfg->db);
    enum err e = load_key_file(key_file, a->passphrase, ei);
    free(key_file);
    if (!e && cfg->trusted_issuers_file)
        e = load_external(a, cfg->trusted_issuers_file, ei);
    if (!e)
        e = reload_keys(a, ei);
    if (e) {
        auth_free(a);
        return e;
    }
    *out = a;
    return ERR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Signing
 */

static enum err find_active(void *ctx, const struct store_key *k)
{
    struct key_collect *c = ctx;
    if (!c->found && !k->retired_time) {
        c->found = true;
        c->active.kid = xstrdup(k->kid);
        c->active.private_pem = xstrdup(k->private_pem);
    }
    return ERR_OK;
}

/* Makes, seals and stores a new active key for a tenant. */
static enum err make_key(struct auth *a, const char *tenant, int64_t now_ticks, char kid[48],
                         struct err_info *ei)
{
    struct signing_key sk;
    enum err e = keys_generate(&sk, ei);
    if (e)
        return e;
    char *sealed = seal_pem(a, sk.private_pem);
    if (!sealed) {
        keys_release(&sk);
        return err_set(ei, ERR_INTERNAL, -1, "cannot seal a new signing key");
    }
    struct store_key k = {.kid = sk.kid,
                          .tenant = (char *)(uintptr_t)tenant,
                          .private_pem = sealed,
                          .public_pem = sk.public_pem,
                          .created_time = now_ticks};
    e = store_key_add(a->store, &k, now_ticks, ei);
    if (!e && kid)
        snprintf(kid, 48, "%s", sk.kid);
    free(sealed);
    keys_release(&sk);
    if (!e)
        e = reload_keys(a, ei);
    return e;
}

/* Loads the tenant's active signing key, making one on first use (issue 3: keys are made on
 * first start). */
static enum err active_key(struct auth *a, const char *tenant, struct signing_key *out,
                           struct err_info *ei)
{
    pthread_mutex_lock(&a->mint_lock);
    struct key_collect c = {.a = a};
    enum err e = store_key_list(a->store, tenant, find_active, &c, ei);
    if (!e && !c.found) {
        e = make_key(a, tenant, ts_now(), NULL, ei);
        if (!e)
            e = store_key_list(a->store, tenant, find_active, &c, ei);
        if (!e && !c.found)
            e = err_set(ei, ERR_INTERNAL, -1, "no signing key for tenant");
    }
    pthread_mutex_unlock(&a->mint_lock);
    /* A key made by another process (incidentd keys rotate): learn it before signing with it,
     * so the token we hand out verifies at once. */
    if (!e && !kid_known(a, c.active.kid))
        e = reload_keys(a, ei);
    if (!e) {
        char *clear = unseal_pem(a, c.active.private_pem);
        if (!clear)
            e = err_set(ei, ERR_INTERNAL, -1,
                        "cannot unseal the signing key (wrong or replaced key file?)");
        else
            e = keys_load(clear, out, ei);
        free_clear(clear);
    }
    free(c.active.kid);
    free(c.active.private_pem);
    return e;
}

static enum err sign(struct auth *a, const char *tenant, struct jwt_claims *claims, char **token,
                     struct err_info *ei)
{
    struct signing_key sk;
    enum err e = active_key(a, tenant, &sk, ei);
    if (e)
        return e;
    char iss[512];
    auth_issuer(a, tenant, iss, sizeof(iss));
    claims->iss = iss;
    claims->tid = tenant;
    claims->lifetime_s = AUTH_TOKEN_LIFETIME_S;
    e = jwt_mint(&sk, claims, token, ei);
    keys_release(&sk);
    return e;
}

/* Splits space-separated roles into an array of borrowed pointers into `buf`. */
static size_t split_roles(char *buf, const char **out, size_t max)
{
    size_t n = 0;
    for (char *p = buf; *p && n < max;) {
        while (*p == ' ')
            *p++ = '\0';
        if (!*p)
            break;
        out[n++] = p;
        while (*p && *p != ' ')
            p++;
    }
    return n;
}

static enum err sign_app(struct auth *a, const struct store_app *app, const char *resource,
                         int64_t now_s, char **token, struct err_info *ei)
{
    char *roles = xstrdup(app->roles);
    const char *list[16];
    size_t n = split_roles(roles, list, ARRAY_SIZE(list));
    struct jwt_claims c = {.aud = resource,
                           .sub = app->client_id,
                           .oid = app->client_id,
                           .appid = app->client_id,
                           .roles = list,
                           .n_roles = n,
                           .name = app->name,
                           .iat_s = now_s};
    enum err e = sign(a, app->tenant, &c, token, ei);
    free(roles);
    return e;
}

enum err auth_client_credentials(struct auth *a, const char *tenant, const char *client_id,
                                 const char *secret, const char *resource, int64_t now_s,
                                 char **token, struct err_info *ei)
{
    struct store_app app;
    struct err_info sei;
    err_clear(&sei);
    enum err e = store_app_get(a->store, client_id, &app, &sei);
    if (e == ERR_NOT_FOUND || (!e && strcmp(app.tenant, tenant) != 0)) {
        if (!e)
            store_app_release(&app);
        return err_set(ei, ERR_NOT_FOUND, -1,
                       "AADSTS700016: Application with identifier '%.40s' was not found in the "
                       "directory '%.40s'.",
                       client_id, tenant);
    }
    if (e)
        return err_set(ei, e, -1, "%s", sei.msg);
    if (!secret_verify(secret, strlen(secret), app.salt, app.hash)) {
        store_app_release(&app);
        return err_set(ei, ERR_UNAUTHORIZED, -1,
                       "AADSTS7000215: Invalid client secret provided. Ensure the secret being "
                       "sent in the request is the client secret value, not the client secret "
                       "ID.");
    }
    if (!auth_audience_ok(a, resource)) {
        store_app_release(&app);
        return err_set(ei, ERR_INVALID, -1,
                       "AADSTS500011: The resource principal named %.80s was not found in the "
                       "tenant named %.40s.",
                       resource, tenant);
    }
    e = sign_app(a, &app, resource, now_s, token, ei);
    store_app_release(&app);
    return e;
}

enum err auth_app_token(struct auth *a, const char *client_id, const char *resource, int64_t now_s,
                        char **token, struct err_info *ei)
{
    struct store_app app;
    enum err e = store_app_get(a->store, client_id, &app, ei);
    if (e)
        return e;
    e = sign_app(a, &app, resource, now_s, token, ei);
    store_app_release(&app);
    return e;
}

enum err auth_user_token(struct auth *a, const char *tenant, const char *upn, const char *scopes,
                         const char *resource, int64_t now_s, char **token, struct err_info *ei)
{
    struct store_user u;
    enum err e = store_user_get(a->store, tenant, upn, &u, ei);
    if (e)
        return e;
    char oid[SECRET_GUID_LEN + 1];
    secret_guid(oid);
    struct jwt_claims c = {.aud = resource,
                           .sub = oid,
                           .oid = oid,
                           .appid = "incidentd-cli",
                           .scp = scopes,
                           .upn = u.upn,
                           .name = u.upn,
                           .iat_s = now_s};
    e = sign(a, tenant, &c, token, ei);
    store_user_release(&u);
    return e;
}

enum err auth_ensure_key(struct auth *a, const char *tenant, struct err_info *ei)
{
    struct signing_key sk;
    enum err e = active_key(a, tenant, &sk, ei);
    if (!e)
        keys_release(&sk);
    return e;
}

enum err auth_rotate(struct auth *a, const char *tenant, int64_t now_s, char kid[48],
                     struct err_info *ei)
{
    pthread_mutex_lock(&a->mint_lock);
    enum err e = make_key(a, tenant, now_s * TS_TICKS_PER_SEC, kid, ei);
    pthread_mutex_unlock(&a->mint_lock);
    return e;
}

struct jwks_ctx {
    json_t *keys;
    int64_t now_ticks;
    struct err_info *ei;
};

static enum err add_jwk(void *ctx, const struct store_key *k)
{
    struct jwks_ctx *c = ctx;
    if (!key_trusted(k, c->now_ticks))
        return ERR_OK;
    json_t *jwk;
    enum err e = keys_jwk(k->public_pem, k->kid, &jwk, c->ei);
    if (!e)
        json_array_append_new(c->keys, jwk);
    return e;
}

enum err auth_jwks(struct auth *a, const char *tenant, int64_t now_s, json_t **out,
                   struct err_info *ei)
{
    struct jwks_ctx c = {json_array(), now_s * TS_TICKS_PER_SEC, ei};
    enum err e = store_key_list(a->store, tenant, add_jwk, &c, ei);
    if (e) {
        json_decref(c.keys);
        return e;
    }
    *out = json_pack("{so}", "keys", c.keys);
    return ERR_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Validation
 */

static bool has(char **list, size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], want) == 0)
            return true;
    return false;
}

static enum err verify(struct auth *a, const char *token, size_t len, int64_t now_s,
                       struct jwt_principal *p, struct err_info *ei)
{
    struct jwt_verify_opts o;
    jwt_verify_opts_init(&o);
    o.audiences = (const char *const *)a->audiences;
    o.n_audiences = a->naudiences;
    o.now_s = now_s;
    pthread_rwlock_rdlock(&a->lock);
    o.keys = a->keyset;
    enum err e = jwt_verify(token, len, &o, p, ei);
    pthread_rwlock_unlock(&a->lock);
    return e;
}

/* (Re)loads a delegated caller's registration: UPN as registered, name, device groups.
 * ERR_FORBIDDEN when the user is not (or no longer) registered in the tenant. */
static enum err refresh_user(struct auth *a, struct auth_caller *c, struct err_info *ei)
{
    struct store_user u;
    struct err_info uei;
    err_clear(&uei);
    enum err e = c->upn ? store_user_get(a->store, c->tenant, c->upn, &u, &uei) : ERR_NOT_FOUND;
    if (e == ERR_NOT_FOUND)
        return err_set(ei, ERR_FORBIDDEN, -1,
                       "the user of this token is not registered in the tenant");
    if (e)
        return err_set(ei, e, -1, "%s", uei.msg);
    free(c->upn);
    free(c->name);
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i]);
    free(c->groups);
    c->groups = NULL;
    c->ngroups = 0;
    c->restricted = false;
    c->upn = xstrdup(u.upn);
    c->name = xstrdup(u.upn);
    json_t *groups = json_loads(u.groups_json, 0, NULL);
    if (json_array_size(groups) > 0) {
        c->restricted = true;
        c->groups = xcalloc(json_array_size(groups), sizeof(char *));
        size_t i;
        json_t *g;
        json_array_foreach(groups, i, g)
        {
            if (json_is_string(g))
                c->groups[c->ngroups++] = xstrdup(json_string_value(g));
        }
    }
    json_decref(groups);
    store_user_release(&u);
    return ERR_OK;
}

static enum err authenticate(struct auth *a, const char *authorization, int64_t now_s,
                             struct auth_caller *out, bool *had_token, int64_t *exp_s,
                             struct err_info *ei)
{
    memset(out, 0, sizeof(*out));
    *had_token = false;
    if (!authorization)
        return err_set(ei, ERR_UNAUTHORIZED, -1,
                       "authorization required: send 'Authorization: Bearer <token>'");
    const char *p = authorization;
    while (*p == ' ')
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\0'))
        return err_set(ei, ERR_UNAUTHORIZED, -1,
                       "authorization required: the Authorization header must use the Bearer "
                       "scheme");
    p += 6;
    while (*p == ' ')
        p++;
    size_t len = strlen(p);
    while (len && p[len - 1] == ' ')
        len--;
    if (len == 0)
        return err_set(ei, ERR_UNAUTHORIZED, -1, "authorization required: empty bearer token");
    *had_token = true;

    struct jwt_principal jp;
    struct err_info vei;
    err_clear(&vei);
    enum err e = verify(a, p, len, now_s, &jp, &vei);
    if (e && strcmp(vei.msg, "unknown key id") == 0) {
        /* A key rotated by another process: reload only when the database really has that
         * kid, so made-up kids cannot make us reload. */
        char kid[64];
        struct kid_probe probe = {kid, false};
        if (token_kid(p, len, kid, sizeof(kid)) &&
            store_key_list(a->store, NULL, probe_kid, &probe, NULL) == ERR_OK && probe.found) {
            pthread_mutex_lock(&a->reload_lock);
            if (!kid_known(a, kid))
                reload_keys(a, NULL);
            pthread_mutex_unlock(&a->reload_lock);
            jwt_principal_release(&jp);
            err_clear(&vei);
            e = verify(a, p, len, now_s, &jp, &vei);
        }
    }
    if (e) {
        jwt_principal_release(&jp);
        return err_set(ei, ERR_UNAUTHORIZED, -1, "invalid token: %s", vei.msg);
    }
    *exp_s = jp.exp_s;
    /* An issuer speaks for one tenant: Entra's issuers (https://sts.windows.net/<tid>/,
     * https://login.microsoftonline.com/<tid>/v2.0) and ours (<base>/<tid>/v2.0) carry the
     * tenant in the URL, so a token whose tid is not its issuer's tenant is refused, even when
     * that other tenant exists here. */
    char seg[80];
    snprintf(seg, sizeof(seg), "/%s/", jp.tid);
    char iss_slash[600];
    snprintf(iss_slash, sizeof(iss_slash), "%s/", jp.iss);
    if (strlen(jp.tid) > 64 || !strstr(iss_slash, seg)) {
        jwt_principal_release(&jp);
        return err_set(ei, ERR_UNAUTHORIZED, -1, "invalid token: tenant does not match issuer");
    }
    bool known = false;
    if (store_tenant_exists(a->store, jp.tid, &known, ei) || !known) {
        jwt_principal_release(&jp);
        return err_set(ei, ERR_UNAUTHORIZED, -1, "invalid token: unknown tenant");
    }
    out->tenant = xstrdup(jp.tid);
    out->delegated = jp.delegated;
    out->client_id = jp.appid ? xstrdup(jp.appid) : NULL;
    if (jp.delegated) {
        if (has(jp.scp, jp.n_scp, "Incident.Read") || has(jp.scp, jp.n_scp, "Incident.ReadWrite"))
            out->perms |= AUTH_INCIDENT_READ;
        if (has(jp.scp, jp.n_scp, "Incident.ReadWrite"))
            out->perms |= AUTH_INCIDENT_WRITE;
        if (has(jp.scp, jp.n_scp, "Alert.ReadWrite"))
            out->perms |= AUTH_ALERT_WRITE;
        out->upn = jp.upn ? xstrdup(jp.upn) : NULL;
        e = refresh_user(a, out, ei);
        if (e) {
            jwt_principal_release(&jp);
            auth_caller_release(out);
            return e;
        }
    } else {
        if (has(jp.roles, jp.n_roles, "Incident.Read.All") ||
            has(jp.roles, jp.n_roles, "Incident.ReadWrite.All"))
            out->perms |= AUTH_INCIDENT_READ;
        if (has(jp.roles, jp.n_roles, "Incident.ReadWrite.All"))
            out->perms |= AUTH_INCIDENT_WRITE;
        if (has(jp.roles, jp.n_roles, "Alert.ReadWrite.All"))
            out->perms |= AUTH_ALERT_WRITE;
        /* Comments name the application: its registered display name, else the token's. */
        struct store_app app;
        struct err_info aei;
        err_clear(&aei);
        if (jp.appid && store_app_get(a->store, jp.appid, &app, &aei) == ERR_OK) {
            out->name = xstrdup(app.name);
            out->quota = app.quota ? xstrdup(app.quota) : NULL;
            store_app_release(&app);
        } else {
            out->name = xstrdup(jp.name ? jp.name : jp.appid ? jp.appid : "application");
        }
    }
    jwt_principal_release(&jp);
    return ERR_OK;
}

/* Finds the token's bearer value in an Authorization header; NULL when there is none. */
static const char *bearer_value(const char *h, size_t *len)
{
    if (!h)
        return NULL;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    while (n && h[n - 1] == ' ')
        n--;
    *len = n;
    return n ? h : NULL;
}

enum err auth_authenticate(struct auth *a, const char *authorization, int64_t now_s,
                           struct auth_caller *out, bool *had_token, struct err_info *ei)
{
    size_t len = 0;
    const char *token = bearer_value(authorization, &len);
    unsigned char key[32];
    struct cache_entry *slot = NULL;
    if (token && len <= 16384) {
        unsigned int n = 0;
        if (EVP_Digest(token, len, key, &n, EVP_sha256(), NULL) == 1) {
            slot = &a->cache[(key[0] | (unsigned)key[1] << 8) % CACHE_SLOTS];
            pthread_mutex_lock(&a->cache_lock);
            bool hit = slot->until_s > now_s && memcmp(slot->key, key, sizeof(key)) == 0;
            if (hit)
                caller_copy(out, &slot->caller);
            pthread_mutex_unlock(&a->cache_lock);
            if (hit) {
                *had_token = true;
                /* A user's registration and device groups are re-read on every request, so a
                 * deleted or narrowed user loses access at once. */
                if (out->delegated) {
                    enum err e = refresh_user(a, out, ei);
                    if (e)
                        auth_caller_release(out);
                    return e;
                }
                return ERR_OK;
            }
        }
    }
    int64_t exp_s = 0;
    enum err e = authenticate(a, authorization, now_s, out, had_token, &exp_s, ei);
    if (!e && slot) {
        /* Valid until exp plus the skew jwt_verify allows, and never longer than the TTL. */
        int64_t until = exp_s + JWT_DEFAULT_SKEW_S;
        if (until > now_s + CACHE_TTL_S)
            until = now_s + CACHE_TTL_S;
        pthread_mutex_lock(&a->cache_lock);
        auth_caller_release(&slot->caller);
        memcpy(slot->key, key, sizeof(key));
        slot->until_s = until;
        caller_copy(&slot->caller, out);
        pthread_mutex_unlock(&a->cache_lock);
    }
    return e;
}
