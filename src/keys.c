/* SPDX-License-Identifier: MIT */
/*
 * Signing keys (CONTRACT §8): RSA key generation, key ids, PEM <-> JWK conversion. OpenSSL 3.0
 * EVP and OSSL_PARAM only (no deprecated RSA_* / EC_KEY_* calls); jansson for JSON. Every
 * OpenSSL failure clears the thread's error queue before returning so nothing leaks into a later
 * caller's diagnostics.
 */
#include "common.h"
#include "keys.h"
#include "log.h"
#include "xmalloc.h"

#include <limits.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* Bytes of SHA-256 kept for a kid: 128 bits is plenty to tell a handful of keys apart. */
#define KID_HASH_BYTES 16
/* P-256 coordinates are exactly this long (RFC 7518 §6.2.1.2). */
#define P256_COORD_BYTES 32
/* Largest RSA modulus and public exponent accepted from a JWKS, in bytes. */
#define RSA_MAX_N_BYTES (16384 / 8)
#define RSA_MAX_E_BYTES 8

/* Records an OpenSSL failure without its (possibly detailed) text and clears the queue. */
static enum err ossl_fail(struct err_info *ei, enum err code, const char *what)
{
    ERR_clear_error();
    return err_set(ei, code, -1, "%s", what);
}

char *keys_b64url_encode(const unsigned char *p, size_t n)
{
    if (n > (size_t)INT_MAX / 2)
        BUG("base64url input of %zu bytes", n);
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    int w = 0;
    for (int i = 0; i < len; i++) {
        char c = out[i];
        if (c == '=')
            break;
        out[w++] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[w] = '\0';
    return out;
}

static bool is_b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool keys_b64url_decode(const char *s, size_t len, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len % 4 == 1 || len > (size_t)INT_MAX / 2)
        return false;
    size_t pad = (4 - len % 4) % 4;
    char *std = xmalloc(len + pad + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_b64url_char(c)) {
            free(std);
            return false;
        }
        std[i] = c == '-' ? '+' : c == '_' ? '/' : (char)c;
    }
    for (size_t i = 0; i < pad; i++)
        std[len + i] = '=';
    std[len + pad] = '\0';
    size_t max = (len + pad) / 4 * 3;
    unsigned char *bin = xmalloc(max + 1);
    int got = EVP_DecodeBlock(bin, (const unsigned char *)std, (int)(len + pad));
    free(std);
    if (got < 0 || (size_t)got != max) {
        free(bin);
        return false;
    }
    size_t n = max - pad;
    bin[n] = '\0';
    /* Only the canonical encoding is accepted: unused low bits of the last character must be
     * zero, so every value has exactly one spelling and a token cannot be re-spelt. */
    char *again = keys_b64url_encode(bin, n);
    bool same = strlen(again) == len && memcmp(again, s, len) == 0;
    free(again);
    if (!same) {
        free(bin);
        return false;
    }
    *out = bin;
    *out_len = n;
    return true;
}

/* A malloc'd copy of a memory BIO's contents. */
static char *bio_strdup(BIO *bio)
{
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    return n > 0 && p ? xstrndup(p, (size_t)n) : NULL;
}

/* Refuses encrypted PEM instead of letting OpenSSL prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    UNUSED(buf);
    UNUSED(size);
    UNUSED(rwflag);
    UNUSED(u);
    return -1;
}

static EVP_PKEY *pubkey_from_pem(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio)
        return NULL;
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    return pk;
}

static char *pubkey_to_pem(EVP_PKEY *pk)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return NULL;
    char *pem = PEM_write_bio_PUBKEY(bio, pk) == 1 ? bio_strdup(bio) : NULL;
    BIO_free(bio);
    return pem;
}

/* The private key in PKCS#8 PEM, written through secure memory. */
static char *privkey_to_pem(EVP_PKEY *pk)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    if (!bio)
        return NULL;
    char *pem = NULL;
    if (PEM_write_bio_PKCS8PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) == 1)
        pem = bio_strdup(bio);
    BIO_free(bio);
    return pem;
}

static enum err kid_of(EVP_PKEY *pk, char out[48], struct err_info *ei)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pk, &der);
    if (n <= 0)
        return ossl_fail(ei, ERR_INTERNAL, "cannot encode public key");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (ok != 1 || mdlen < KID_HASH_BYTES)
        return ossl_fail(ei, ERR_INTERNAL, "cannot hash public key");
    char *kid = keys_b64url_encode(md, KID_HASH_BYTES);
    snprintf(out, 48, "%s", kid);
    free(kid);
    return ERR_OK;
}

/* Fills a signing_key from a private EVP_PKEY (borrowed). */
static enum err signing_key_from(EVP_PKEY *pk, struct signing_key *out, struct err_info *ei)
{
    memset(out, 0, sizeof(*out));
    enum err rc = kid_of(pk, out->kid, ei);
    if (rc != ERR_OK)
        return rc;
    out->private_pem = privkey_to_pem(pk);
    out->public_pem = pubkey_to_pem(pk);
    if (!out->private_pem || !out->public_pem) {
        keys_release(out);
        return ossl_fail(ei, ERR_INTERNAL, "cannot encode key pair");
    }
    return ERR_OK;
}

enum err keys_generate(struct signing_key *out, struct err_info *ei)
{
    memset(out, 0, sizeof(*out));
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, KEYS_RSA_MIN_BITS) != 1 ||
        EVP_PKEY_keygen(ctx, &pk) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return ossl_fail(ei, ERR_INTERNAL, "cannot generate RSA key");
    }
    EVP_PKEY_CTX_free(ctx);
    enum err rc = signing_key_from(pk, out, ei);
    EVP_PKEY_free(pk);
    return rc;
}

enum err keys_load(const char *private_pem, struct signing_key *out, struct err_info *ei)
{
    memset(out, 0, sizeof(*out));
    BIO *bio = BIO_new_mem_buf(private_pem, -1);
    if (!bio)
        return ossl_fail(ei, ERR_INTERNAL, "cannot read private key");
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (!pk)
        return ossl_fail(ei, ERR_INVALID, "private key is not an unencrypted PEM key");
    enum err rc;
    if (!EVP_PKEY_is_a(pk, "RSA"))
        rc = err_set(ei, ERR_INVALID, -1, "private key is not an RSA key");
    else if (EVP_PKEY_get_bits(pk) < KEYS_RSA_MIN_BITS)
        rc = err_set(ei, ERR_INVALID, -1, "RSA key has fewer than %d bits", KEYS_RSA_MIN_BITS);
    else
        rc = signing_key_from(pk, out, ei);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    return rc;
}

void keys_release(struct signing_key *k)
{
    if (!k)
        return;
    if (k->private_pem) {
        OPENSSL_cleanse(k->private_pem, strlen(k->private_pem));
        free(k->private_pem);
    }
    free(k->public_pem);
    memset(k, 0, sizeof(*k));
}

enum err keys_kid(const char *public_pem, char out[48], struct err_info *ei)
{
    EVP_PKEY *pk = pubkey_from_pem(public_pem);
    if (!pk)
        return ossl_fail(ei, ERR_INVALID, "public key is not a PEM SubjectPublicKeyInfo");
    enum err rc = kid_of(pk, out, ei);
    EVP_PKEY_free(pk);
    return rc;
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

/* Sets key `name` of obj to the base64url of BIGNUM param `param` (big-endian; `pad` bytes wide
 * when nonzero, else minimal). */
static bool jwk_put_bn(json_t *obj, const char *name, EVP_PKEY *pk, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
        return false;
    int n = pad ? pad : BN_num_bytes(bn);
    unsigned char *bin = xmalloc((size_t)n + 1);
    bool ok = pad ? BN_bn2binpad(bn, bin, pad) == pad : BN_bn2bin(bn, bin) == n;
    BN_free(bn);
    if (ok) {
        char *s = keys_b64url_encode(bin, (size_t)n);
        json_object_set_new(obj, name, json_string(s));
        free(s);
    }
    free(bin);
    return ok;
}

enum err keys_jwk(const char *public_pem, const char *kid, json_t **out, struct err_info *ei)
{
    *out = NULL;
    EVP_PKEY *pk = pubkey_from_pem(public_pem);
    if (!pk)
        return ossl_fail(ei, ERR_INVALID, "public key is not a PEM SubjectPublicKeyInfo");
    json_t *jwk = json_object();
    bool ok;
    if (EVP_PKEY_is_a(pk, "RSA")) {
        json_object_set_new(jwk, "kty", json_string("RSA"));
        json_object_set_new(jwk, "use", json_string("sig"));
        json_object_set_new(jwk, "kid", json_string(kid));
        json_object_set_new(jwk, "alg", json_string("RS256"));
        ok = jwk_put_bn(jwk, "n", pk, OSSL_PKEY_PARAM_RSA_N, 0) &&
             jwk_put_bn(jwk, "e", pk, OSSL_PKEY_PARAM_RSA_E, 0);
    } else if (is_p256(pk)) {
        json_object_set_new(jwk, "kty", json_string("EC"));
        json_object_set_new(jwk, "use", json_string("sig"));
        json_object_set_new(jwk, "kid", json_string(kid));
        json_object_set_new(jwk, "alg", json_string("ES256"));
        json_object_set_new(jwk, "crv", json_string("P-256"));
        ok = jwk_put_bn(jwk, "x", pk, OSSL_PKEY_PARAM_EC_PUB_X, P256_COORD_BYTES) &&
             jwk_put_bn(jwk, "y", pk, OSSL_PKEY_PARAM_EC_PUB_Y, P256_COORD_BYTES);
    } else {
        EVP_PKEY_free(pk);
        json_decref(jwk);
        return err_set(ei, ERR_INVALID, -1, "key type has no JWK form here (RSA or P-256 only)");
    }
    EVP_PKEY_free(pk);
    if (!ok || !json_is_string(json_object_get(jwk, "kid"))) {
        json_decref(jwk);
        return ossl_fail(ei, ok ? ERR_INVALID : ERR_INTERNAL,
                         ok ? "kid is not valid UTF-8" : "cannot export public key");
    }
    *out = jwk;
    return ERR_OK;
}

/* Decodes base64url member `name` of a JWK into *bin (malloc'd). */
static enum err jwk_get_bytes(json_t *jwk, const char *name, size_t idx, unsigned char **bin,
                              size_t *n, struct err_info *ei)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (!s || !keys_b64url_decode(s, json_string_length(json_object_get(jwk, name)), bin, n) ||
        *n == 0)
        return err_set(ei, ERR_INVALID, -1, "JWKS key %zu: '%s' is not base64url", idx, name);
    return ERR_OK;
}

/* Builds a public EVP_PKEY of type `name` from params and checks it (e.g. point on curve). */
static EVP_PKEY *pkey_from_params(const char *name, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pk = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    if (pk) {
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
        if (!chk || EVP_PKEY_public_check(chk) != 1) {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
        EVP_PKEY_CTX_free(chk);
    }
    ERR_clear_error();
    return pk;
}

/* RSA JWK → EVP_PKEY. *pk stays NULL without an error when the key is usable-looking but too
 * weak (skipped, not fatal). */
static enum err jwk_rsa(json_t *jwk, size_t idx, EVP_PKEY **pk, struct err_info *ei)
{
    unsigned char *n = NULL, *e = NULL;
    size_t nlen = 0, elen = 0;
    enum err rc = jwk_get_bytes(jwk, "n", idx, &n, &nlen, ei);
    if (rc == ERR_OK)
        rc = jwk_get_bytes(jwk, "e", idx, &e, &elen, ei);
    if (rc == ERR_OK && (nlen > RSA_MAX_N_BYTES || elen > RSA_MAX_E_BYTES))
        rc = err_set(ei, ERR_INVALID, -1, "JWKS key %zu: RSA key too large", idx);
    if (rc != ERR_OK)
        goto out;
    BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL);
    BIGNUM *bn_e = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
        *pk = pkey_from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    if (!*pk) {
        ERR_clear_error();
        rc = err_set(ei, ERR_INVALID, -1, "JWKS key %zu: RSA key is not valid", idx);
    } else if (EVP_PKEY_get_bits(*pk) < KEYS_RSA_MIN_BITS) {
        log_warn("jwks: skipping key %zu: RSA modulus of %d bits is below %d", idx,
                 EVP_PKEY_get_bits(*pk), KEYS_RSA_MIN_BITS);
        EVP_PKEY_free(*pk);
        *pk = NULL;
    }
out:
    free(n);
    free(e);
    return rc;
}

/* EC P-256 JWK → EVP_PKEY (point validated). */
static enum err jwk_ec(json_t *jwk, size_t idx, EVP_PKEY **pk, struct err_info *ei)
{
    unsigned char *x = NULL, *y = NULL;
    size_t xlen = 0, ylen = 0;
    enum err rc = jwk_get_bytes(jwk, "x", idx, &x, &xlen, ei);
    if (rc == ERR_OK)
        rc = jwk_get_bytes(jwk, "y", idx, &y, &ylen, ei);
    if (rc == ERR_OK && (xlen != P256_COORD_BYTES || ylen != P256_COORD_BYTES))
        rc = err_set(ei, ERR_INVALID, -1, "JWKS key %zu: P-256 coordinates must be 32 bytes", idx);
    if (rc != ERR_OK)
        goto out;
    unsigned char point[1 + 2 * P256_COORD_BYTES];
    point[0] = 0x04; /* uncompressed point (SEC 1 §2.3.3) */
    memcpy(point + 1, x, P256_COORD_BYTES);
    memcpy(point + 1 + P256_COORD_BYTES, y, P256_COORD_BYTES);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) == 1)
        *pk = pkey_from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    if (!*pk)
        rc = err_set(ei, ERR_INVALID, -1, "JWKS key %zu: EC point is not on P-256", idx);
out:
    free(x);
    free(y);
    return rc;
}

/* Why a JWK is not a candidate (NULL when it is one); *alg gets its algorithm. */
static const char *jwk_skip_reason(json_t *jwk, enum keys_alg *alg)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const char *jalg = json_string_value(json_object_get(jwk, "alg"));
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    if (!kid || !*kid)
        return "no kid";
    if (json_object_get(jwk, "use") && (!use || strcmp(use, "sig") != 0))
        return "not a signing key";
    if (kty && strcmp(kty, "RSA") == 0) {
        *alg = KEYS_ALG_RS256;
        if (json_object_get(jwk, "alg") && (!jalg || strcmp(jalg, "RS256") != 0))
            return "alg is not RS256";
        if (!json_object_get(jwk, "n") || !json_object_get(jwk, "e"))
            return "no n or e";
        return NULL;
    }
    if (kty && strcmp(kty, "EC") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        *alg = KEYS_ALG_ES256;
        if (!crv || strcmp(crv, "P-256") != 0)
            return "curve is not P-256";
        if (json_object_get(jwk, "alg") && (!jalg || strcmp(jalg, "ES256") != 0))
            return "alg is not ES256";
        if (!json_object_get(jwk, "x") || !json_object_get(jwk, "y"))
            return "no x or y";
        return NULL;
    }
    return "kty is not RSA or EC";
}

void keys_jwk_pem_free(struct jwk_pem *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].kid);
        free(v[i].public_pem);
    }
    free(v);
}

enum err keys_jwks_to_pem(const char *jwks_json, size_t len, struct jwk_pem **out, size_t *n,
                          struct err_info *ei)
{
    *out = NULL;
    *n = 0;
    if (len > KEYS_JWKS_MAX_BYTES)
        return err_set(ei, ERR_INVALID, -1, "JWKS larger than %d bytes", KEYS_JWKS_MAX_BYTES);
    json_error_t jerr;
    json_t *doc = json_loadb(jwks_json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return err_set(ei, ERR_INVALID, jerr.position, "JWKS is not valid JSON: %s", jerr.text);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        json_decref(doc);
        return err_set(ei, ERR_INVALID, -1, "JWKS has no 'keys' array");
    }
    size_t cap = json_array_size(keys), used = 0;
    struct jwk_pem *v = xcalloc(cap ? cap : 1, sizeof(*v));
    enum err rc = ERR_OK;
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        enum keys_alg alg = KEYS_ALG_RS256;
        const char *why = json_is_object(jwk) ? jwk_skip_reason(jwk, &alg) : "not an object";
        if (why) {
            log_debug("jwks: skipping key %zu: %s", i, why);
            continue;
        }
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        for (size_t j = 0; j < used && rc == ERR_OK; j++)
            if (strcmp(v[j].kid, kid) == 0)
                rc = err_set(ei, ERR_INVALID, -1, "JWKS key %zu repeats a kid", i);
        if (rc != ERR_OK)
            break;
        EVP_PKEY *pk = NULL;
        rc = alg == KEYS_ALG_RS256 ? jwk_rsa(jwk, i, &pk, ei) : jwk_ec(jwk, i, &pk, ei);
        if (rc != ERR_OK)
            break;
        if (!pk)
            continue;
        char *pem = pubkey_to_pem(pk);
        EVP_PKEY_free(pk);
        if (!pem) {
            rc = ossl_fail(ei, ERR_INTERNAL, "cannot encode public key");
            break;
        }
        v[used].kid = xstrdup(kid);
        v[used].public_pem = pem;
        v[used].alg = alg;
        used++;
    }
    json_decref(doc);
    if (rc == ERR_OK && used == 0)
        rc = err_set(ei, ERR_INVALID, -1, "JWKS has no usable signing key (RSA or EC P-256)");
    if (rc != ERR_OK) {
        keys_jwk_pem_free(v, used);
        return rc;
    }
    *out = v;
    *n = used;
    return ERR_OK;
}
