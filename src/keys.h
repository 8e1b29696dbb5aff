/* SPDX-License-Identifier: MIT */
/*
 * Signing keys for bearer tokens (CONTRACT §8): RSA-2048 key pairs for the built-in token
 * endpoint, their public JWK form for a JWKS endpoint, and the reverse direction, a JWKS
 * document (e.g. a tenant's Entra ID keys) turned into PEM public keys that jwt_verify trusts.
 * Everything goes through OpenSSL 3.0 EVP/OSSL_PARAM and jansson; no key material is ever put
 * into an error message. Thread-safe: no shared state.
 */
#ifndef KEYS_H
#define KEYS_H

#include "common.h"
#include "err.h"
#include <jansson.h>

/* Signature algorithms a key may be used with; the token header's `alg` must name exactly the
 * algorithm of the key chosen for it. */
enum keys_alg {
    KEYS_ALG_RS256 = 1, /* RSASSA-PKCS1-v1_5 with SHA-256, RSA key of 2048 bits or more */
    KEYS_ALG_ES256,     /* ECDSA P-256 with SHA-256, signature as 64 bytes r || s */
};

/* Smallest RSA modulus accepted for signing or verification, in bits. */
#define KEYS_RSA_MIN_BITS 2048

/* Largest JWKS document keys_jwks_to_pem parses, in bytes. */
#define KEYS_JWKS_MAX_BYTES (1024 * 1024)

/*
 * A key pair owned by the token endpoint. Fields callers may read: kid (NUL-terminated, 22
 * base64url characters), private_pem (PKCS#8, unencrypted), public_pem (SubjectPublicKeyInfo).
 * Both PEM strings are malloc'd and owned by the struct; release with keys_release.
 */
struct signing_key {
    char kid[48];
    char *private_pem;
    char *public_pem;
};

/*
 * Generates a new RSA-2048 key pair into *out (overwritten; release with keys_release). The kid
 * is derived from the public key (keys_kid), so it is stable across restarts when the key is
 * persisted and reloaded with keys_load. ERR_INTERNAL when OpenSSL fails.
 */
enum err keys_generate(struct signing_key *out, struct err_info *ei);

/*
 * Rebuilds a signing_key from a persisted private key PEM (borrowed; PKCS#8 or traditional,
 * unencrypted): public_pem and kid are derived from it. Only RSA keys of KEYS_RSA_MIN_BITS or
 * more are accepted (ERR_INVALID otherwise). *out is overwritten; release with keys_release.
 */
enum err keys_load(const char *private_pem, struct signing_key *out, struct err_info *ei);

/* Frees the PEM strings and zeroes the struct (the private key is cleansed first). NULL-safe. */
void keys_release(struct signing_key *k);

/*
 * Writes the key id of a public key PEM (borrowed) into out: base64url without padding of the
 * first 16 bytes of SHA-256 over the DER SubjectPublicKeyInfo (22 characters and a NUL).
 * ERR_INVALID when the PEM does not parse.
 */
enum err keys_kid(const char *public_pem, char out[48], struct err_info *ei);

/*
 * The public JWK of a PEM public key (borrowed) with the given kid (borrowed), for a JWKS
 * endpoint: RSA keys become {"kty":"RSA","use":"sig","kid","alg":"RS256","n","e"} and P-256
 * keys {"kty":"EC","use":"sig","kid","alg":"ES256","crv":"P-256","x","y"}; numbers are
 * base64url without padding, big-endian, without leading zero bytes (x and y: 32 bytes each).
 * On success *out is a new reference (caller json_decref's it). ERR_INVALID for an unparsable
 * PEM or another key type.
 */
enum err keys_jwk(const char *public_pem, const char *kid, json_t **out, struct err_info *ei);

/* One key converted from a JWKS document; kid and public_pem are malloc'd. */
struct jwk_pem {
    char *kid;
    char *public_pem;
    enum keys_alg alg;
};

/*
 * Parses a JWKS document ({"keys":[...]}, len bytes, at most KEYS_JWKS_MAX_BYTES) and converts
 * every usable key to a PEM public key: kty "RSA" with n and e (modulus of KEYS_RSA_MIN_BITS or
 * more) and kty "EC" with crv "P-256", x and y (point checked to be on the curve). A key is
 * skipped when it has no kid, a `use` other than "sig", an `alg` other than RS256 (RSA) or ES256
 * (EC), another kty/curve, or an RSA modulus below KEYS_RSA_MIN_BITS (logged). Other members
 * (Entra ID's x5t, x5c, issuer) are ignored: certificates are not used. A document that is not
 * JSON, has no "keys" array, holds a malformed member of a usable key type, repeats a kid, or has
 * no usable key fails with ERR_INVALID and a reason in ei->msg. On success *out is a malloc'd array
 * of *n entries (caller frees with keys_jwk_pem_free).
 */
enum err keys_jwks_to_pem(const char *jwks_json, size_t len, struct jwk_pem **out, size_t *n,
                          struct err_info *ei);

/* Frees an array returned by keys_jwks_to_pem (NULL-safe). */
void keys_jwk_pem_free(struct jwk_pem *v, size_t n);

/*
 * base64url (RFC 4648 §5) without padding, shared by keys.c and jwt.c.
 * keys_b64url_encode returns a malloc'd NUL-terminated string (caller frees).
 * keys_b64url_decode accepts only the canonical unpadded encoding of len bytes and returns false
 * otherwise; on success *out is malloc'd (caller frees), NUL-terminated after *out_len bytes.
 */
char *keys_b64url_encode(const unsigned char *p, size_t n);
bool keys_b64url_decode(const char *s, size_t len, unsigned char **out, size_t *out_len);

#endif
