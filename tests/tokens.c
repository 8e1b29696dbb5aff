/* SPDX-License-Identifier: MIT */
/* Hand-made JWS tokens for the token tests: any header, payload, algorithm and key, so tests
 * can build exactly the malformed or hostile tokens a verifier must refuse. */
#include "common.h"
#include "keys.h"
#include "tests.h"
#include "tokens.h"
#include "xmalloc.h"
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

EVP_PKEY *test_read_private(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ck_assert(pk);
    return pk;
}

/* A raw RS256 or ES256 signature over msg with a PEM private key; HS256 with `secret`. */
char *test_sign_b64(const char *alg, const char *key, const char *msg)
{
    unsigned char out[1024];
    size_t n = sizeof(out);
    if (strncmp(alg, "HS", 2) == 0) {
        const EVP_MD *md = strcmp(alg, "HS256") == 0   ? EVP_sha256()
                           : strcmp(alg, "HS384") == 0 ? EVP_sha384()
                                                       : EVP_sha512();
        unsigned int ml = 0;
        ck_assert(
            HMAC(md, key, (int)strlen(key), (const unsigned char *)msg, strlen(msg), out, &ml));
        return keys_b64url_encode(out, ml);
    }
    EVP_PKEY *pk = test_read_private(key);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ck_assert(EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, pk, NULL) == 1);
    ck_assert(EVP_DigestSign(md, out, &n, (const unsigned char *)msg, strlen(msg)) == 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    if (strcmp(alg, "ES256") == 0) { /* DER -> JOSE r || s */
        const unsigned char *p = out;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        ck_assert(es);
        unsigned char raw[64];
        ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32), 32);
        ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32), 32);
        ECDSA_SIG_free(es);
        return keys_b64url_encode(raw, sizeof(raw));
    }
    return keys_b64url_encode(out, n);
}

/* A token from literal header and payload JSON. alg "" leaves the signature empty; otherwise the
 * signature is made with `alg` and `key` (see sign_b64), whatever the header claims. */
char *test_craft_token(const char *header, const char *payload, const char *alg, const char *key)
{
    char *h = keys_b64url_encode((const unsigned char *)header, strlen(header));
    char *p = keys_b64url_encode((const unsigned char *)payload, strlen(payload));
    char *input = xasprintf("%s.%s", h, p);
    free(h);
    free(p);
    char *sig = *alg ? test_sign_b64(alg, key, input) : strdup("");
    size_t n = strlen(input) + strlen(sig) + 2;
    char *tok = malloc(n);
    snprintf(tok, n, "%s.%s", input, sig);
    free(input);
    free(sig);
    return tok;
}
