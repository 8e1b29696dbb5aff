/* SPDX-License-Identifier: MIT */
/* Client ids and secrets: generation, salted digests, verification. */
#include "common.h"
#include "secret.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

enum err secret_guid(char out[SECRET_GUID_LEN + 1])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return ERR_INTERNAL;
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, SECRET_GUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return ERR_OK;
}

void secret_hash(const char *secret, size_t len, const unsigned char salt[STORE_SECRET_SALT_BYTES],
                 unsigned char hash[STORE_SECRET_HASH_BYTES])
{
    /* The secret carries 240 random bits, so a fast digest is enough: a slow password hash
     * protects guessable passwords, which these are not. */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, salt, STORE_SECRET_SALT_BYTES) != 1 ||
        EVP_DigestUpdate(ctx, secret, len) != 1 || EVP_DigestFinal_ex(ctx, hash, &n) != 1)
        BUG("SHA-256 failed");
    EVP_MD_CTX_free(ctx);
}

enum err secret_new(char out[SECRET_TEXT_LEN + 1], unsigned char salt[STORE_SECRET_SALT_BYTES],
                    unsigned char hash[STORE_SECRET_HASH_BYTES])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[30];
    if (RAND_bytes(raw, sizeof(raw)) != 1 || RAND_bytes(salt, STORE_SECRET_SALT_BYTES) != 1)
        return ERR_INTERNAL;
    /* 30 bytes = 240 bits = 40 base64url characters, no padding. */
    for (size_t i = 0, o = 0; i < sizeof(raw); i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    out[SECRET_TEXT_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    secret_hash(out, SECRET_TEXT_LEN, salt, hash);
    return ERR_OK;
}

bool secret_verify(const char *secret, size_t len,
                   const unsigned char salt[STORE_SECRET_SALT_BYTES],
                   const unsigned char hash[STORE_SECRET_HASH_BYTES])
{
    unsigned char h[STORE_SECRET_HASH_BYTES];
    secret_hash(secret, len, salt, h);
    bool ok = CRYPTO_memcmp(h, hash, sizeof(h)) == 0;
    OPENSSL_cleanse(h, sizeof(h));
    return ok;
}
