/* SPDX-License-Identifier: MIT */
/*
 * Client ids and secrets for applications (issue 3): random generation with OpenSSL's CSPRNG,
 * salted SHA-256 digests for storage, constant-time verification. A secret is shown once, at
 * creation or reset, and never stored or logged in clear (CONTRACT §8).
 */
#ifndef SECRET_H
#define SECRET_H

#include "common.h"
#include "err.h"
#include "store.h"

#define SECRET_GUID_LEN 36
#define SECRET_TEXT_LEN 40 /* 240 random bits, base64url */

/* Writes a random version-4 GUID (client ids). ERR_INTERNAL if the CSPRNG fails. */
enum err secret_guid(char out[SECRET_GUID_LEN + 1]);

/* Writes a new random client secret and its salt and digest. ERR_INTERNAL on CSPRNG failure. */
enum err secret_new(char out[SECRET_TEXT_LEN + 1], unsigned char salt[STORE_SECRET_SALT_BYTES],
                    unsigned char hash[STORE_SECRET_HASH_BYTES]);

/* Digest of a presented secret with a stored salt: SHA-256(salt || secret). */
void secret_hash(const char *secret, size_t len, const unsigned char salt[STORE_SECRET_SALT_BYTES],
                 unsigned char hash[STORE_SECRET_HASH_BYTES]);

/* True when `secret` matches the stored salt and digest; constant time in the digest compare. */
bool secret_verify(const char *secret, size_t len,
                   const unsigned char salt[STORE_SECRET_SALT_BYTES],
                   const unsigned char hash[STORE_SECRET_HASH_BYTES]);

#endif
