/* SPDX-License-Identifier: MIT */
/* Crafting JWS tokens in tests (tokens.c). Strings returned are malloc'd; callers free them. */
#ifndef TESTS_TOKENS_H
#define TESTS_TOKENS_H

#include <openssl/evp.h>

/* Parses a PEM private key; fails the test when it cannot. Caller frees with EVP_PKEY_free. */
EVP_PKEY *test_read_private(const char *pem);

/* base64url signature of msg: HS256/384/512 with `key` as the HMAC secret text, otherwise
 * RS256 or ES256 (JOSE r||s) with the PEM private key `key`. */
char *test_sign_b64(const char *alg, const char *key, const char *msg);

/* A compact JWS from literal header and payload JSON; alg "" leaves the signature empty,
 * otherwise it is made with alg and key whatever the header claims. */
char *test_craft_token(const char *header, const char *payload, const char *alg, const char *key);

#endif
