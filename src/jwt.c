/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens (CONTRACT §8): RS256 minting and RS256/ES256 verification. The token header is
 * parsed and its algorithm pinned before any key is touched, so `none` and HMAC algorithms never
 * reach a verifier (libjwt 1.10's jwt_decode would accept both; see docs/internals/tokens.md).
 * Signatures are made and checked with OpenSSL EVP; JSON goes through jansson with duplicate
 * keys rejected, so two parsers can never disagree about which `alg` or `iss` a token has.
 */
#include "common.h"
#include "jwt.h"
#include "xmalloc.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

/* ES256 signatures are r || s, 32 bytes each (RFC 7518 §3.4). */
#define ES256_HALF_BYTES 32

/* Refuses encrypted PEM instead of letting OpenSSL prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    UNUSED(buf);
    UNUSED(size);
    UNUSED(rwflag);
    UNUSED(u);
    return -1;
}

/* True for a P-256 key. */
static bool is_p256(EVP_PKEY *pk)
{
    char group[64];
    size_t glen = 0;
    if (!EVP_PKEY_is_a(pk, "EC") ||
        EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1)
        return false;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

/* True when pk can be used with alg: RSA of KEYS_RSA_MIN_BITS or more for RS256 (plain RSA, not
 * RSA-PSS), a P-256 key for ES256. */
static bool key_fits(EVP_PKEY *pk, enum keys_alg alg)
{
    if (alg == KEYS_ALG_RS256)
        return EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_get_bits(pk) >= KEYS_RSA_MIN_BITS;
    return is_p256(pk);
}

/* ----- minting ----- */

static bool put_str(json_t *obj, const char *name, const char *val)
{
    json_t *s = json_string(val);
    return s && json_object_set_new(obj, name, s) == 0;
}

/* A random (version 4) GUID, lower-case, into out[37]. */
static bool random_guid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return false;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return true;
}

/* The payload object for c, or NULL with ei set. */
static json_t *claims_json(const struct jwt_claims *c, int64_t exp_s, struct err_info *ei)
{
    char jti[37];
    if (!random_guid(jti)) {
        ERR_clear_error();
        err_set(ei, ERR_INTERNAL, -1, "no random bytes for 'jti'");
        return NULL;
    }
    json_t *p = json_object();
    const char *bad = NULL;
    if (!put_str(p, "aud", c->aud))
        bad = "aud";
    else if (!put_str(p, "iss", c->iss))
        bad = "iss";
    json_object_set_new(p, "iat", json_integer(c->iat_s));
    json_object_set_new(p, "nbf", json_integer(c->iat_s));
    json_object_set_new(p, "exp", json_integer(exp_s));
    if (!bad && !put_str(p, "appid", c->appid))
        bad = "appid";
    if (!bad && !put_str(p, "azp", c->appid))
        bad = "azp";
    if (!bad && c->name && !put_str(p, "name", c->name))
        bad = "name";
    if (!bad && c->oid && !put_str(p, "oid", c->oid))
        bad = "oid";
    if (!bad && c->n_roles > 0) {
        json_t *roles = json_array();
        json_object_set_new(p, "roles", roles);
        for (size_t i = 0; i < c->n_roles && !bad; i++) {
            json_t *r = c->roles[i] ? json_string(c->roles[i]) : NULL;
            if (!r || json_array_append_new(roles, r) != 0)
                bad = "roles";
        }
    }
    if (!bad && c->scp && !put_str(p, "scp", c->scp))
        bad = "scp";
    if (!bad && !put_str(p, "sub", c->sub))
        bad = "sub";
    if (!bad && !put_str(p, "tid", c->tid))
        bad = "tid";
    if (!bad && c->upn && !put_str(p, "upn", c->upn))
        bad = "upn";
    if (!bad && !put_str(p, "jti", jti))
        bad = "jti";
    if (bad) {
        json_decref(p);
        err_set(ei, ERR_INVALID, -1, "claim '%s' is not valid UTF-8", bad);
        return NULL;
    }
    return p;
}

/* base64url of the compact serialisation of a JSON value. */
static char *json_b64url(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        BUG("json_dumps failed");
    char *b = keys_b64url_encode((const unsigned char *)s, strlen(s));
    free(s);
    return b;
}

/* RS256 signature over msg with a private key PEM; *sig is malloc'd. */
static enum err sign_rs256(const char *private_pem, const char *msg, size_t len,
                           unsigned char **sig, size_t *siglen, struct err_info *ei)
{
    *sig = NULL;
    BIO *bio = BIO_new_mem_buf(private_pem, -1);
    EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    enum err rc = ERR_OK;
    if (!pk || !key_fits(pk, KEYS_ALG_RS256)) {
        rc = err_set(ei, ERR_INTERNAL, -1, "signing key is not a usable RSA private key");
        goto out;
    }
    if (!md || EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, pk, NULL) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_DigestSign(md, NULL, siglen, (const unsigned char *)msg, len) != 1) {
        rc = err_set(ei, ERR_INTERNAL, -1, "cannot sign token");
        goto out;
    }
    *sig = xmalloc(*siglen);
    if (EVP_DigestSign(md, *sig, siglen, (const unsigned char *)msg, len) != 1) {
        free(*sig);
        *sig = NULL;
        rc = err_set(ei, ERR_INTERNAL, -1, "cannot sign token");
    }
out:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    return rc;
}

enum err jwt_mint(const struct signing_key *key, const struct jwt_claims *c, char **token_out,
                  struct err_info *ei)
{
    *token_out = NULL;
    const char *missing = !c->iss     ? "iss"
                          : !c->aud   ? "aud"
                          : !c->tid   ? "tid"
                          : !c->sub   ? "sub"
                          : !c->appid ? "appid"
                                      : NULL;
    if (missing)
        return err_set(ei, ERR_INVALID, -1, "claim '%s' is required", missing);
    if (!key->private_pem || !key->kid[0])
        return err_set(ei, ERR_INVALID, -1, "signing key has no private key or kid");
    int64_t lifetime_s = c->lifetime_s ? c->lifetime_s : JWT_DEFAULT_LIFETIME_S;
    if (lifetime_s < 0 || lifetime_s > JWT_MAX_LIFETIME_S)
        return err_set(ei, ERR_INVALID, -1, "token lifetime must be 1..%d seconds",
                       JWT_MAX_LIFETIME_S);
    if (c->iat_s <= 0 || c->iat_s > INT64_MAX - lifetime_s)
        return err_set(ei, ERR_INVALID, -1, "issue time out of range");

    json_t *payload = claims_json(c, c->iat_s + lifetime_s, ei);
    if (!payload)
        return ei ? ei->code : ERR_INVALID;
    json_t *header = json_object();
    put_str(header, "alg", "RS256");
    put_str(header, "typ", "JWT");
    if (!put_str(header, "kid", key->kid)) {
        json_decref(header);
        json_decref(payload);
        return err_set(ei, ERR_INVALID, -1, "kid is not valid UTF-8");
    }
    char *h = json_b64url(header), *p = json_b64url(payload);
    json_decref(header);
    json_decref(payload);
    char *input = xasprintf("%s.%s", h, p);
    free(h);
    free(p);

    unsigned char *sig = NULL;
    size_t siglen = 0;
    enum err rc = sign_rs256(key->private_pem, input, strlen(input), &sig, &siglen, ei);
    if (rc == ERR_OK) {
        char *s = keys_b64url_encode(sig, siglen);
        *token_out = xasprintf("%s.%s", input, s);
        free(s);
        free(sig);
    }
    free(input);
    return rc;
}

/* ----- trusted keys ----- */

struct jwt_key {
    char *issuer;
    char *kid;
    EVP_PKEY *pk;
    enum keys_alg alg;
};

struct jwt_keyset {
    struct jwt_key *keys;
    size_t n;
};

void jwt_keyset_free(struct jwt_keyset *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->keys[i].issuer);
        free(ks->keys[i].kid);
        EVP_PKEY_free(ks->keys[i].pk);
    }
    free(ks->keys);
    free(ks);
}

enum err jwt_keyset_new(const struct jwt_trusted_key *keys, size_t n, struct jwt_keyset **out,
                        struct err_info *ei)
{
    *out = NULL;
    struct jwt_keyset *ks = xcalloc(1, sizeof(*ks));
    ks->keys = xcalloc(n ? n : 1, sizeof(*ks->keys));
    for (size_t i = 0; i < n; i++) {
        const struct jwt_trusted_key *t = &keys[i];
        if (!t->issuer || !*t->issuer || !t->kid || !*t->kid || !t->public_pem) {
            jwt_keyset_free(ks);
            return err_set(ei, ERR_INVALID, -1, "trusted key %zu: issuer, kid and key required", i);
        }
        if (t->alg != KEYS_ALG_RS256 && t->alg != KEYS_ALG_ES256) {
            jwt_keyset_free(ks);
            return err_set(ei, ERR_INVALID, -1, "trusted key %zu: unknown algorithm", i);
        }
        for (size_t j = 0; j < ks->n; j++) {
            if (strcmp(ks->keys[j].issuer, t->issuer) == 0 &&
                strcmp(ks->keys[j].kid, t->kid) == 0) {
                jwt_keyset_free(ks);
                return err_set(ei, ERR_INVALID, -1, "trusted key %zu: kid repeated for issuer '%s'",
                               i, t->issuer);
            }
        }
        BIO *bio = BIO_new_mem_buf(t->public_pem, -1);
        EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL) : NULL;
        BIO_free(bio);
        ERR_clear_error();
        if (!pk || !key_fits(pk, t->alg)) {
            EVP_PKEY_free(pk);
            jwt_keyset_free(ks);
            return err_set(ei, ERR_INVALID, -1,
                           "trusted key %zu for issuer '%s': not a PEM %s public key", i, t->issuer,
                           t->alg == KEYS_ALG_RS256 ? "RSA (2048 bits or more)" : "P-256");
        }
        struct jwt_key *k = &ks->keys[ks->n++];
        k->issuer = xstrdup(t->issuer);
        k->kid = xstrdup(t->kid);
        k->pk = pk;
        k->alg = t->alg;
    }
    *out = ks;
    return ERR_OK;
}

/* ----- verification ----- */

void jwt_verify_opts_init(struct jwt_verify_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->skew_s = JWT_DEFAULT_SKEW_S;
    o->max_bytes = JWT_DEFAULT_MAX_BYTES;
}

void jwt_principal_release(struct jwt_principal *p)
{
    if (!p)
        return;
    free(p->tid);
    free(p->iss);
    free(p->appid);
    free(p->oid);
    free(p->sub);
    free(p->upn);
    free(p->name);
    for (size_t i = 0; i < p->n_roles; i++)
        free(p->roles[i]);
    free(p->roles);
    for (size_t i = 0; i < p->n_scp; i++)
        free(p->scp[i]);
    free(p->scp);
    memset(p, 0, sizeof(*p));
}

/* Every verification failure: 401 with a fixed, non-secret reason. */
static enum err reject(struct err_info *ei, const char *why)
{
    ERR_clear_error();
    return err_set(ei, ERR_UNAUTHORIZED, -1, "%s", why);
}

/* Decodes one base64url segment holding a JSON object (duplicate keys rejected). */
static json_t *segment_json(const char *s, size_t len)
{
    unsigned char *bin = NULL;
    size_t n = 0;
    if (!keys_b64url_decode(s, len, &bin, &n))
        return NULL;
    json_t *v = json_loadb((const char *)bin, n, JSON_REJECT_DUPLICATES, NULL);
    free(bin);
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* Writes "algorithm 'X' not allowed" when X is a short token-ish name, else a generic text:
 * the value is attacker-chosen and ends up in a response body. */
static enum err reject_alg(struct err_info *ei, const char *alg)
{
    size_t n = strlen(alg);
    bool plain = n > 0 && n <= 16;
    for (size_t i = 0; i < n && plain; i++) {
        char c = alg[i];
        plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '+';
    }
    ERR_clear_error();
    if (!plain)
        return err_set(ei, ERR_UNAUTHORIZED, -1, "algorithm not allowed");
    return err_set(ei, ERR_UNAUTHORIZED, -1, "algorithm '%s' not allowed", alg);
}

/* Converts a JOSE ES256 signature (r || s) to the DER ECDSA-Sig-Value OpenSSL verifies;
 * *der is OPENSSL_malloc'd. */
static bool es256_to_der(const unsigned char *sig, size_t len, unsigned char **der, int *derlen)
{
    *der = NULL;
    if (len != 2 * ES256_HALF_BYTES)
        return false;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, ES256_HALF_BYTES, NULL);
    BIGNUM *s = BN_bin2bn(sig + ES256_HALF_BYTES, ES256_HALF_BYTES, NULL);
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return false;
    }
    *derlen = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);
    return *derlen > 0;
}

/* Checks sig over msg with the trusted key. Returns NULL when valid, else the reason. */
static const char *check_signature(const struct jwt_key *k, const char *msg, size_t msglen,
                                   const unsigned char *sig, size_t siglen)
{
    unsigned char *der = NULL;
    int derlen = 0;
    if (k->alg == KEYS_ALG_ES256) {
        if (!es256_to_der(sig, siglen, &der, &derlen)) {
            ERR_clear_error();
            return "bad signature";
        }
        sig = der;
        siglen = (size_t)derlen;
    } else if (siglen != (size_t)EVP_PKEY_get_size(k->pk)) {
        return "bad signature";
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok =
        md && EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, k->pk, NULL) == 1 &&
        (k->alg != KEYS_ALG_RS256 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1) &&
        EVP_DigestVerify(md, sig, siglen, (const unsigned char *)msg, msglen) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok ? NULL : "bad signature";
}

/* Reads an optional NumericDate claim. Returns false when present but not an integer. */
static bool get_time(json_t *payload, const char *name, bool *present, int64_t *v)
{
    json_t *j = json_object_get(payload, name);
    *present = j != NULL;
    if (!j)
        return true;
    if (!json_is_integer(j))
        return false;
    *v = (int64_t)json_integer_value(j);
    return true;
}

/* Copies an optional string claim into *dst (left alone when absent). False when the claim
 * exists but is not a string. */
static bool copy_str(json_t *payload, const char *name, char **dst)
{
    json_t *j = json_object_get(payload, name);
    if (!j)
        return true;
    if (!json_is_string(j))
        return false;
    if (!*dst)
        *dst = xstrdup(json_string_value(j));
    return true;
}

static bool audience_ok(json_t *aud, const struct jwt_verify_opts *o)
{
    size_t n = json_is_array(aud) ? json_array_size(aud) : 1;
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_is_array(aud) ? json_array_get(aud, i) : aud);
        for (size_t j = 0; a && j < o->n_audiences; j++)
            if (o->audiences[j] && strcmp(a, o->audiences[j]) == 0)
                return true;
    }
    return false;
}

/* Splits s on spaces into a malloc'd vector of malloc'd strings, dropping empty pieces. */
static char **split_spaces(const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ' ';
    char **v = xcalloc(cap, sizeof(*v));
    *n = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ' ')
            p++;
        if (p > start)
            v[(*n)++] = xstrndup(start, (size_t)(p - start));
    }
    return v;
}

/* Time window (see jwt.h). now_s and skew_s are sane here, so the sums cannot overflow. */
static const char *check_times(json_t *payload, const struct jwt_verify_opts *o, int64_t *exp_s)
{
    bool has_exp, has_nbf, has_iat;
    int64_t nbf = 0, iat = 0;
    if (!get_time(payload, "exp", &has_exp, exp_s))
        return "invalid 'exp' claim";
    if (!has_exp)
        return "missing 'exp' claim";
    if (!get_time(payload, "nbf", &has_nbf, &nbf))
        return "invalid 'nbf' claim";
    if (!get_time(payload, "iat", &has_iat, &iat))
        return "invalid 'iat' claim";
    if (o->now_s - o->skew_s >= *exp_s)
        return "token expired";
    if (has_nbf && o->now_s + o->skew_s < nbf)
        return "token not yet valid";
    if (has_iat && o->now_s + o->skew_s < iat)
        return "token issued in the future";
    return NULL;
}

/* Fills the principal from verified claims; NULL on success, else the reason. */
static const char *fill_principal(json_t *payload, struct jwt_principal *out)
{
    if (!copy_str(payload, "tid", &out->tid) || !out->tid || !*out->tid)
        return "missing 'tid' claim";
    if (!copy_str(payload, "iss", &out->iss))
        return "invalid 'iss' claim";
    if (!copy_str(payload, "appid", &out->appid) || !copy_str(payload, "azp", &out->appid))
        return "invalid 'appid' claim";
    if (!copy_str(payload, "oid", &out->oid) || !copy_str(payload, "sub", &out->sub))
        return "invalid 'oid' or 'sub' claim";
    if (!out->oid && out->sub)
        out->oid = xstrdup(out->sub);
    if (!copy_str(payload, "upn", &out->upn) ||
        !copy_str(payload, "preferred_username", &out->upn) ||
        !copy_str(payload, "unique_name", &out->upn))
        return "invalid 'upn' claim";
    if (!copy_str(payload, "name", &out->name))
        return "invalid 'name' claim";

    json_t *roles = json_object_get(payload, "roles");
    if (roles) {
        if (!json_is_array(roles))
            return "invalid 'roles' claim";
        out->roles = xcalloc(json_array_size(roles) + 1, sizeof(char *));
        size_t i;
        json_t *r;
        json_array_foreach(roles, i, r)
        {
            if (!json_is_string(r))
                return "invalid 'roles' claim";
            out->roles[out->n_roles++] = xstrdup(json_string_value(r));
        }
    }
    json_t *scp = json_object_get(payload, "scp");
    if (scp) {
        if (!json_is_string(scp))
            return "invalid 'scp' claim";
        out->scp = split_spaces(json_string_value(scp), &out->n_scp);
        out->delegated = true;
    }
    return NULL;
}

enum err jwt_verify(const char *token, size_t len, const struct jwt_verify_opts *o,
                    struct jwt_principal *out, struct err_info *ei)
{
    memset(out, 0, sizeof(*out));
    if (o->skew_s < 0 || o->skew_s > JWT_MAX_LIFETIME_S || o->now_s < 0 || o->now_s > INT64_MAX / 2)
        BUG("jwt_verify: skew_s %" PRId64 " or now_s %" PRId64 " out of range", o->skew_s,
            o->now_s);
    if (len > o->max_bytes)
        return reject(ei, "token too large");
    if (len == 0 || !token)
        return reject(ei, "empty token");

    /* Shape: exactly three base64url segments; the signature may be empty only so that an
     * unsigned token is reported by its algorithm below. */
    size_t dots[2] = {0, 0}, ndots = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        if (c == '.') {
            if (ndots == 2)
                return reject(ei, "malformed token");
            dots[ndots++] = i;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_')) {
            return reject(ei, "malformed token");
        }
    }
    if (ndots != 2 || dots[0] == 0 || dots[1] == dots[0] + 1)
        return reject(ei, "malformed token");
    const char *sig_b64 = token + dots[1] + 1;
    size_t sig_b64_len = len - dots[1] - 1;

    enum err rc = ERR_OK;
    json_t *header = NULL, *payload = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;

    header = segment_json(token, dots[0]);
    if (!header) {
        rc = reject(ei, "malformed token header");
        goto out;
    }
    /* The algorithm is pinned before anything else looks at the token. */
    const char *alg = json_string_value(json_object_get(header, "alg"));
    if (!alg) {
        rc = reject(ei, "missing algorithm");
        goto out;
    }
    enum keys_alg want;
    if (strcmp(alg, "RS256") == 0) {
        want = KEYS_ALG_RS256;
    } else if (strcmp(alg, "ES256") == 0) {
        want = KEYS_ALG_ES256;
    } else {
        rc = reject_alg(ei, alg);
        goto out;
    }
    if (json_object_get(header, "crit")) {
        rc = reject(ei, "unsupported critical header");
        goto out;
    }
    const char *kid = json_string_value(json_object_get(header, "kid"));
    if (!kid || !*kid) {
        rc = reject(ei, "missing key id");
        goto out;
    }
    const struct jwt_key *keys = o->keys ? o->keys->keys : NULL;
    size_t n_keys = o->keys ? o->keys->n : 0;
    bool kid_known = false;
    for (size_t i = 0; i < n_keys && !kid_known; i++)
        kid_known = strcmp(keys[i].kid, kid) == 0;
    if (!kid_known) {
        rc = reject(ei, "unknown key id");
        goto out;
    }

    payload = segment_json(token + dots[0] + 1, dots[1] - dots[0] - 1);
    if (!payload) {
        rc = reject(ei, "malformed token payload");
        goto out;
    }
    const char *iss = json_string_value(json_object_get(payload, "iss"));
    if (!iss || !*iss) {
        rc = reject(ei, "missing 'iss' claim");
        goto out;
    }
    const struct jwt_key *key = NULL;
    for (size_t i = 0; i < n_keys && !key; i++)
        if (strcmp(keys[i].kid, kid) == 0 && strcmp(keys[i].issuer, iss) == 0)
            key = &keys[i];
    if (!key) {
        rc = reject(ei, "key not trusted for issuer");
        goto out;
    }
    if (key->alg != want) {
        rc = reject(ei, "algorithm does not match key");
        goto out;
    }
    if (sig_b64_len == 0) {
        rc = reject(ei, "missing signature");
        goto out;
    }
    if (!keys_b64url_decode(sig_b64, sig_b64_len, &sig, &siglen)) {
        rc = reject(ei, "bad signature");
        goto out;
    }
    const char *why = check_signature(key, token, dots[1], sig, siglen);
    if (!why)
        why = check_times(payload, o, &out->exp_s);
    if (!why && !audience_ok(json_object_get(payload, "aud"), o))
        why = "audience not accepted";
    if (!why)
        why = fill_principal(payload, out);
    if (why)
        rc = reject(ei, why);
out:
    if (rc != ERR_OK)
        jwt_principal_release(out);
    free(sig);
    json_decref(header);
    json_decref(payload);
    return rc;
}
