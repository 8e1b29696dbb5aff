/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens (CONTRACT §8): minting RS256 access tokens shaped like Entra ID's, and verifying
 * RS256/ES256 tokens from the built-in issuer or a configured external one into a principal.
 * Signing and verification are OpenSSL EVP calls; JSON is jansson. See docs/internals/tokens.md
 * for the verification order and the clock rules. Thread-safe: no shared state.
 *
 * The include guard is not JWT_H on purpose: libjwt's <jwt.h> uses that guard, and with -Isrc
 * this file shadows <jwt.h>, which is why this module does not use libjwt (see tokens.md).
 */
#ifndef INCIDENTD_JWT_H
#define INCIDENTD_JWT_H

#include "common.h"
#include "err.h"
#include "keys.h"

/* Token lifetime when jwt_claims.lifetime_s is 0, and the largest accepted, in seconds. */
#define JWT_DEFAULT_LIFETIME_S 3600
#define JWT_MAX_LIFETIME_S     86400
/* Verification defaults set by jwt_verify_opts_init. */
#define JWT_DEFAULT_SKEW_S    300
#define JWT_DEFAULT_MAX_BYTES 16384

/*
 * Claims of a token to mint. All strings are borrowed for the call. Required: iss, aud, tid,
 * sub, appid (the client id, written as both `appid` (v1) and `azp` (v2)). Optional: oid.
 * Application tokens set roles/n_roles (written as a JSON array when n_roles > 0); delegated
 * tokens set scp (space-separated, written as one string), upn and name. iat_s is the issue time
 * in Unix seconds (nbf = iat); exp = iat_s + lifetime_s, where 0 means JWT_DEFAULT_LIFETIME_S.
 */
struct jwt_claims {
    const char *iss;
    const char *aud;
    const char *tid;
    const char *sub;
    const char *oid;
    const char *appid;
    const char *const *roles;
    size_t n_roles;
    const char *scp;
    const char *upn;
    const char *name;
    int64_t iat_s;
    int64_t lifetime_s;
};

/*
 * Signs an RS256 token for `c` with `key` (both borrowed). Header {"alg":"RS256","typ":"JWT",
 * "kid":key->kid}; payload as described at struct jwt_claims plus `jti`, a random GUID
 * (RAND_bytes). On success *token_out is a malloc'd NUL-terminated compact JWS (caller frees
 * with free()). ERR_INVALID when a required claim is missing or the lifetime is out of
 * (0, JWT_MAX_LIFETIME_S]; ERR_INTERNAL when the key does not load or OpenSSL fails.
 */
enum err jwt_mint(const struct signing_key *key, const struct jwt_claims *c, char **token_out,
                  struct err_info *ei);

/* A public key trusted for one issuer, as configured; all strings borrowed. */
struct jwt_trusted_key {
    const char *issuer;     /* exact `iss` value the key may sign for */
    const char *kid;        /* key id the token header must name */
    const char *public_pem; /* SubjectPublicKeyInfo PEM */
    enum keys_alg alg;      /* the only algorithm accepted with this key */
};

/*
 * The parsed, immutable set of trusted keys (opaque). Parsing a PEM key costs ~300 us with
 * OpenSSL 3.0, ten times an RS256 verification, so keys are parsed once here, not per request.
 * Safe to share between threads for jwt_verify once built.
 */
struct jwt_keyset;

/*
 * Builds a key set from n trusted keys (borrowed; everything is copied or parsed). Each key must
 * have a non-empty issuer and kid and a PEM public key that fits its algorithm (RSA of
 * KEYS_RSA_MIN_BITS or more for RS256, P-256 for ES256); an (issuer, kid) pair may occur once.
 * n may be 0 (a set that trusts nothing). On success *out is caller-owned (jwt_keyset_free);
 * otherwise ERR_INVALID naming the key's index and issuer in ei->msg (never key material).
 */
enum err jwt_keyset_new(const struct jwt_trusted_key *keys, size_t n, struct jwt_keyset **out,
                        struct err_info *ei);

/* Frees a key set (NULL-safe). No jwt_verify may be using it. */
void jwt_keyset_free(struct jwt_keyset *ks);

/* Verification inputs; everything borrowed for the call. Initialise with jwt_verify_opts_init,
 * then set keys, audiences and now_s. */
struct jwt_verify_opts {
    const struct jwt_keyset *keys; /* NULL trusts nothing */
    const char *const *audiences;  /* accepted `aud` values, compared exactly */
    size_t n_audiences;
    int64_t now_s;    /* current time, Unix seconds; jwt_verify never reads the clock */
    int64_t skew_s;   /* clock tolerance in seconds, 0..86400 (default 300, CONTRACT §8) */
    size_t max_bytes; /* longer tokens are rejected unparsed (default 16384) */
};

/* Sets defaults: no key set, no audiences, now_s 0, skew_s 300, max_bytes 16384. */
void jwt_verify_opts_init(struct jwt_verify_opts *o);

/*
 * The caller a verified token describes. Every string is malloc'd and owned by the struct
 * (release with jwt_principal_release); optional ones are NULL when absent.
 *   tid, iss    always set
 *   appid       `appid`, else `azp` (the client id)
 *   oid         `oid`, else `sub`
 *   sub         `sub`
 *   upn         `upn`, else `preferred_username`, else `unique_name`
 *   name        `name`
 *   roles       the `roles` array (n_roles entries)
 *   scp         `scp` split on spaces (n_scp entries, empty pieces dropped)
 *   delegated   true when the token has an `scp` claim (a user token), CONTRACT §8
 *   exp_s       expiry, Unix seconds
 */
struct jwt_principal {
    char *tid;
    char *iss;
    char *appid;
    char *oid;
    char *sub;
    char *upn;
    char *name;
    char **roles;
    size_t n_roles;
    char **scp;
    size_t n_scp;
    bool delegated;
    int64_t exp_s;
};

/*
 * Verifies a compact JWS of len bytes (borrowed; need not be NUL-terminated) against `o` and
 * fills *out (zeroed first, also on failure). Order: size, shape, header (alg must be RS256 or
 * ES256 and the key's algorithm, kid required), key chosen by (iss, kid), signature, then the
 * time window and audience and tid. Time rules with t = o->now_s and s = o->skew_s: rejected
 * when t - s >= exp ("token expired"), when t + s < nbf ("token not yet valid") and when
 * t + s < iat ("token issued in the future"); so with s = 300, exp = t - 299 passes and
 * exp = t - 300 fails, nbf = t + 300 passes and nbf = t + 301 fails.
 * Every rejection is ERR_UNAUTHORIZED (HTTP 401, CONTRACT §7) with a short reason in ei->msg
 * that never contains key material, signatures or claim values other than the `alg` name.
 */
enum err jwt_verify(const char *token, size_t len, const struct jwt_verify_opts *o,
                    struct jwt_principal *out, struct err_info *ei);

/* Frees the principal's contents and zeroes it (NULL-safe). */
void jwt_principal_release(struct jwt_principal *p);

#endif
