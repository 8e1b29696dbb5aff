/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens (CONTRACT §8): minting and verifying, every rejection rule of jwt_verify with its
 * exact clock edges, JWK/JWKS conversion both ways, and that error messages never carry key
 * material. Keys are generated once per run (unchecked fixture) and never written to disk.
 */
#include "common.h"
#include "jwt.h"
#include "keys.h"
#include "tests.h"
#include "tokens.h"
#include "xmalloc.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#define NOW    INT64_C(1700000000)
#define TID    "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define ISS_A  "https://sts.windows.net/" TID "/"
#define ISS_B  "https://login.example.test/other/v2.0"
#define ISS_EC "https://ec-issuer.example.test/"
#define AUD    "https://api.security.microsoft.com"
#define APPID  "0f3a7b6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
#define EC_KID "ec-p256-1"

static struct signing_key key_a, key_b; /* RSA, trusted for ISS_A and ISS_B */
static char *ec_private_pem;            /* P-256 private key, signs ES256 test tokens */
static char *ec_public_pem;             /* the same key after JWK -> JWKS -> PEM */
static struct jwt_trusted_key trusted[3];
static struct jwt_keyset *keyset; /* built from trusted[] */
static const char *const audiences[] = {
    "https://api.security.microsoft.com",
    "https://security.microsoft.com/mtp",
    "8ee8fdad-f234-4243-8f3b-15c294843740",
};

static char *pem_of(EVP_PKEY *pk, bool private_key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    ck_assert(bio);
    ck_assert(private_key ? PEM_write_bio_PKCS8PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_bio_PUBKEY(bio, pk));
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(bio);
    return s;
}

static void setup(void)
{
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(keys_generate(&key_a, &ei), ERR_OK);
    ck_assert_int_eq(keys_generate(&key_b, &ei), ERR_OK);

    /* The EC key reaches the verifier the way an external issuer's key does: as a JWKS. */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ck_assert(ec);
    ec_private_pem = pem_of(ec, true);
    char *pub = pem_of(ec, false);
    EVP_PKEY_free(ec);
    json_t *jwk = NULL;
    ck_assert_int_eq(keys_jwk(pub, EC_KID, &jwk, &ei), ERR_OK);
    free(pub);
    json_t *doc = json_pack("{s:[o]}", "keys", jwk);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct jwk_pem *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(keys_jwks_to_pem(text, strlen(text), &v, &n, &ei), ERR_OK);
    free(text);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(v[0].alg, KEYS_ALG_ES256);
    ec_public_pem = strdup(v[0].public_pem);
    keys_jwk_pem_free(v, n);

    trusted[0] = (struct jwt_trusted_key){ISS_A, key_a.kid, key_a.public_pem, KEYS_ALG_RS256};
    trusted[1] = (struct jwt_trusted_key){ISS_B, key_b.kid, key_b.public_pem, KEYS_ALG_RS256};
    trusted[2] = (struct jwt_trusted_key){ISS_EC, EC_KID, ec_public_pem, KEYS_ALG_ES256};
    ck_assert_int_eq(jwt_keyset_new(trusted, ARRAY_SIZE(trusted), &keyset, &ei), ERR_OK);
}

static void teardown(void)
{
    jwt_keyset_free(keyset);
    keyset = NULL;
    keys_release(&key_a);
    keys_release(&key_b);
    free(ec_private_pem);
    free(ec_public_pem);
    ec_private_pem = ec_public_pem = NULL;
}

static struct jwt_verify_opts opts(void)
{
    struct jwt_verify_opts o;
    jwt_verify_opts_init(&o);
    o.keys = keyset;
    o.audiences = audiences;
    o.n_audiences = ARRAY_SIZE(audiences);
    o.now_s = NOW;
    return o;
}

static struct jwt_claims app_claims(const char *iss, int64_t iat_s)
{
    static const char *const roles[] = {"Incident.Read.All", "Incident.ReadWrite.All"};
    return (struct jwt_claims){
        .iss = iss,
        .aud = AUD,
        .tid = TID,
        .sub = "sp-object-id",
        .oid = "sp-object-id",
        .appid = APPID,
        .roles = roles,
        .n_roles = ARRAY_SIZE(roles),
        .iat_s = iat_s,
    };
}

static char *mint(const struct signing_key *k, const struct jwt_claims *c)
{
    char *tok = NULL;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(jwt_mint(k, c, &tok, &ei) == ERR_OK, "%s", ei.msg);
    return tok;
}

/* A valid payload for `iss` (malloc'd JSON text). */
static char *payload_for(const char *iss)
{
    return xasprintf("{\"aud\":\"" AUD "\",\"iss\":\"%s\",\"iat\":%" PRId64 ",\"nbf\":%" PRId64
                     ",\"exp\":%" PRId64 ",\"tid\":\"" TID "\",\"appid\":\"" APPID "\"}",
                     iss, NOW - 60, NOW - 60, NOW + 3600);
}

static char *payload_a(void)
{
    return payload_for(ISS_A);
}

/* tok with its payload replaced by the given JSON object, header and signature kept. */
static char *replace_payload(const char *tok, json_t *payload)
{
    char *text = json_dumps(payload, JSON_COMPACT);
    char *p64 = keys_b64url_encode((const unsigned char *)text, strlen(text));
    const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    char *out = xasprintf("%.*s.%s%s", (int)(d1 - tok), tok, p64, d2);
    free(text);
    free(p64);
    return out;
}

static char *header_for(const char *alg, const char *kid)
{
    char *s = malloc(256);
    snprintf(s, 256, "{\"typ\":\"JWT\",\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid);
    return s;
}

/* True when some 12-byte run of msg occurs in secret. */
static bool shares_run(const char *msg, const char *secret)
{
    size_t n = strlen(msg);
    for (size_t i = 0; i + 12 <= n; i++) {
        char run[13];
        memcpy(run, msg + i, 12);
        run[12] = '\0';
        if (strstr(secret, run))
            return true;
    }
    return false;
}

/* Asserts a 401 whose reason contains `why`, an empty principal and no secrets in the text. */
static void assert_rejected_len(const char *tok, size_t len, const struct jwt_verify_opts *o,
                                const char *why)
{
    struct jwt_principal p;
    struct err_info ei;
    err_clear(&ei);
    enum err rc = jwt_verify(tok, len, o, &p, &ei);
    ck_assert_msg(rc == ERR_UNAUTHORIZED, "accepted (or wrong code %d), expected '%s'", rc, why);
    ck_assert_msg(strstr(ei.msg, why), "reason '%s', expected '%s'", ei.msg, why);
    ck_assert(p.tid == NULL && p.iss == NULL && p.roles == NULL && p.scp == NULL);
    ck_assert(!strstr(ei.msg, "BEGIN") && !strstr(ei.msg, "-----"));
    ck_assert_msg(!shares_run(ei.msg, key_a.private_pem) && !shares_run(ei.msg, key_b.private_pem),
                  "private key text in '%s'", ei.msg);
    ck_assert_msg(!shares_run(ei.msg, key_a.public_pem) && !shares_run(ei.msg, ec_private_pem),
                  "key text in '%s'", ei.msg);
    ck_assert_msg(!shares_run(ei.msg, tok), "token text in '%s'", ei.msg);
    ck_assert_uint_eq(ERR_peek_error(), 0); /* OpenSSL's queue is left clean */
}

static void assert_rejected(const char *tok, const struct jwt_verify_opts *o, const char *why)
{
    assert_rejected_len(tok, strlen(tok), o, why);
}

static void assert_accepted(const char *tok, const struct jwt_verify_opts *o,
                            struct jwt_principal *p)
{
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(jwt_verify(tok, strlen(tok), o, p, &ei) == ERR_OK, "rejected: %s", ei.msg);
}

static json_t *segment(const char *tok, int which)
{
    const char *start = tok;
    for (int i = 0; i < which; i++)
        start = strchr(start, '.') + 1;
    const char *end = strchr(start, '.');
    size_t len = end ? (size_t)(end - start) : strlen(start);
    unsigned char *bin = NULL;
    size_t n = 0;
    ck_assert(keys_b64url_decode(start, len, &bin, &n));
    json_t *v = json_loadb((const char *)bin, n, 0, NULL);
    free(bin);
    ck_assert(v);
    return v;
}

START_TEST(test_jwt_app_token_round_trip)
{
    struct jwt_claims c = app_claims(ISS_A, NOW - 10);
    char *tok = mint(&key_a, &c);
    json_t *h = segment(tok, 0), *pl = segment(tok, 1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "RS256");
    ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
    ck_assert_str_eq(json_string_value(json_object_get(h, "kid")), key_a.kid);
    ck_assert_int_eq(json_integer_value(json_object_get(pl, "exp")), NOW - 10 + 3600);
    ck_assert_int_eq(json_integer_value(json_object_get(pl, "nbf")), NOW - 10);
    ck_assert_str_eq(json_string_value(json_object_get(pl, "azp")), APPID);
    const char *jti = json_string_value(json_object_get(pl, "jti"));
    ck_assert(jti && strlen(jti) == 36 && jti[8] == '-' && jti[14] == '4');
    ck_assert(!json_object_get(pl, "scp"));
    json_decref(h);
    json_decref(pl);

    struct jwt_verify_opts o = opts();
    struct jwt_principal p;
    assert_accepted(tok, &o, &p);
    ck_assert_str_eq(p.tid, TID);
    ck_assert_str_eq(p.iss, ISS_A);
    ck_assert_str_eq(p.appid, APPID);
    ck_assert_str_eq(p.oid, "sp-object-id");
    ck_assert_str_eq(p.sub, "sp-object-id");
    ck_assert_ptr_null(p.upn);
    ck_assert(!p.delegated);
    ck_assert_uint_eq(p.n_roles, 2);
    ck_assert_str_eq(p.roles[0], "Incident.Read.All");
    ck_assert_str_eq(p.roles[1], "Incident.ReadWrite.All");
    ck_assert_uint_eq(p.n_scp, 0);
    ck_assert_int_eq(p.exp_s, NOW - 10 + 3600);
    jwt_principal_release(&p);
    ck_assert_ptr_null(p.tid);

    /* Two tokens for the same claims differ (jti). */
    char *tok2 = mint(&key_a, &c);
    ck_assert_str_ne(tok, tok2);
    free(tok);
    free(tok2);
}
END_TEST

START_TEST(test_jwt_delegated_token_round_trip)
{
    struct jwt_claims c = {
        .iss = ISS_B,
        .aud = "https://security.microsoft.com/mtp",
        .tid = TID,
        .sub = "user-sub",
        .appid = APPID,
        .scp = "Incident.Read  Incident.ReadWrite ",
        .upn = "alice@contoso.example",
        .name = "Alice Example",
        .iat_s = NOW,
        .lifetime_s = 600,
    };
    char *tok = mint(&key_b, &c);
    struct jwt_verify_opts o = opts();
    struct jwt_principal p;
    assert_accepted(tok, &o, &p);
    ck_assert(p.delegated);
    ck_assert_uint_eq(p.n_scp, 2);
    ck_assert_str_eq(p.scp[0], "Incident.Read");
    ck_assert_str_eq(p.scp[1], "Incident.ReadWrite");
    ck_assert_uint_eq(p.n_roles, 0);
    ck_assert_str_eq(p.upn, "alice@contoso.example");
    ck_assert_str_eq(p.name, "Alice Example");
    ck_assert_str_eq(p.oid, "user-sub"); /* no oid: falls back to sub */
    ck_assert_int_eq(p.exp_s, NOW + 600);
    jwt_principal_release(&p);
    free(tok);

    /* azp instead of appid and preferred_username instead of upn (v2.0 token shape). */
    char *pay = malloc(1024);
    snprintf(pay, 1024,
             "{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"exp\":%" PRId64 ",\"tid\":\"" TID
             "\",\"azp\":\"client-2\",\"preferred_username\":\"bob@contoso.example\","
             "\"scp\":\"Incident.Read\",\"oid\":\"bob-oid\",\"sub\":\"bob-sub\"}",
             NOW + 60);
    char *hdr = header_for("RS256", key_a.kid);
    tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
    assert_accepted(tok, &o, &p);
    ck_assert_str_eq(p.appid, "client-2");
    ck_assert_str_eq(p.upn, "bob@contoso.example");
    ck_assert_str_eq(p.oid, "bob-oid");
    ck_assert_str_eq(p.sub, "bob-sub");
    ck_assert(p.delegated);
    jwt_principal_release(&p);
    free(tok);
    free(hdr);
    free(pay);
}
END_TEST

START_TEST(test_jwt_rejects_alg_none)
{
    struct jwt_verify_opts o = opts();
    char *pay = payload_a();
    const char *hdrs[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}", NULL, NULL};
    char *h1 = header_for("none", key_a.kid), *h2 = header_for("None", key_a.kid);
    hdrs[1] = h1;
    hdrs[2] = h2;
    for (size_t i = 0; i < ARRAY_SIZE(hdrs); i++) {
        char *tok = test_craft_token(hdrs[i], pay, "", NULL); /* unsigned: empty third segment */
        assert_rejected(tok, &o,
                        i == 2 ? "algorithm 'None' not allowed" : "algorithm 'none' not allowed");
        free(tok);
    }
    /* alg none with a real RS256 signature attached is still refused by its header. */
    char *tok = test_craft_token(h1, pay, "RS256", key_a.private_pem);
    assert_rejected(tok, &o, "algorithm 'none' not allowed");
    free(tok);
    /* No alg at all, or a non-string one. */
    tok = test_craft_token("{\"kid\":\"x\"}", pay, "", NULL);
    assert_rejected(tok, &o, "missing algorithm");
    free(tok);
    tok = test_craft_token("{\"alg\":null,\"kid\":\"x\"}", pay, "", NULL);
    assert_rejected(tok, &o, "missing algorithm");
    free(tok);
    free(h1);
    free(h2);
    free(pay);
}
END_TEST

START_TEST(test_jwt_rejects_hmac_with_public_key)
{
    /* The classic confusion: HS256 keyed with the RSA public key PEM the server trusts. libjwt
     * 1.10's jwt_decode(token, public_pem) accepts exactly this token. */
    struct jwt_verify_opts o = opts();
    char *pay = payload_a();
    const char *algs[] = {"HS256", "HS384", "HS512"};
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
        char *hdr = header_for(algs[i], key_a.kid);
        char *tok = test_craft_token(hdr, pay, algs[i], key_a.public_pem);
        char want[64];
        snprintf(want, sizeof(want), "algorithm '%s' not allowed", algs[i]);
        assert_rejected(tok, &o, want);
        free(tok);
        free(hdr);
    }
    /* Other JOSE algorithms are refused too, and odd names are not echoed. */
    char *hdr = header_for("RS384", key_a.kid);
    char *tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
    assert_rejected(tok, &o, "algorithm 'RS384' not allowed");
    free(tok);
    free(hdr);
    tok = test_craft_token("{\"alg\":\"<script>alert(1)</script>\",\"kid\":\"k\"}", pay, "", NULL);
    assert_rejected(tok, &o, "algorithm not allowed");
    free(tok);
    free(pay);
}
END_TEST

START_TEST(test_jwt_rejects_unknown_kid)
{
    struct jwt_verify_opts o = opts();
    char *pay = payload_a();
    char *hdr = header_for("RS256", "no-such-kid");
    char *tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
    assert_rejected(tok, &o, "unknown key id");
    free(tok);
    free(hdr);
    tok = test_craft_token("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", pay, "RS256", key_a.private_pem);
    assert_rejected(tok, &o, "missing key id");
    free(tok);
    hdr = header_for("RS256", "");
    tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
    assert_rejected(tok, &o, "missing key id");
    free(tok);
    free(hdr);
    /* No key set, or an empty one, trusts nothing. */
    o.keys = NULL;
    struct jwt_claims c = app_claims(ISS_A, NOW);
    tok = mint(&key_a, &c);
    assert_rejected(tok, &o, "unknown key id");
    struct jwt_keyset *empty = NULL;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(jwt_keyset_new(NULL, 0, &empty, &ei), ERR_OK);
    o.keys = empty;
    assert_rejected(tok, &o, "unknown key id");
    jwt_keyset_free(empty);
    free(tok);
    free(pay);
}
END_TEST

START_TEST(test_jwt_rejects_kid_of_other_issuer)
{
    struct jwt_verify_opts o = opts();
    /* key_b is trusted, but only for ISS_B: a token claiming ISS_A signed by it must fail. */
    struct jwt_claims c = app_claims(ISS_A, NOW);
    char *tok = mint(&key_b, &c);
    assert_rejected(tok, &o, "key not trusted for issuer");
    free(tok);
    /* Claiming ISS_B with key_b's kid but a signature by key_a: bad signature. */
    char *pay = payload_a();
    char *pay_b = payload_for(ISS_B);
    char *hdr = header_for("RS256", key_b.kid);
    tok = test_craft_token(hdr, pay_b, "RS256", key_a.private_pem);
    assert_rejected(tok, &o, "bad signature");
    free(tok);
    /* The ES256 key's kid with an RSA issuer. */
    free(hdr);
    hdr = header_for("ES256", EC_KID);
    tok = test_craft_token(hdr, pay, "ES256", ec_private_pem);
    assert_rejected(tok, &o, "key not trusted for issuer");
    free(tok);
    free(hdr);
    free(pay_b);
    free(pay);
}
END_TEST

START_TEST(test_jwt_rejects_wrong_issuer)
{
    struct jwt_verify_opts o = opts();
    struct jwt_claims c = app_claims("https://sts.windows.net/evil/", NOW);
    char *tok = mint(&key_a, &c);
    assert_rejected(tok, &o, "key not trusted for issuer");
    free(tok);
    /* Issuers compare exactly: a missing trailing slash is another issuer. */
    c = app_claims("https://sts.windows.net/" TID, NOW);
    tok = mint(&key_a, &c);
    assert_rejected(tok, &o, "key not trusted for issuer");
    free(tok);
    /* No iss, or iss of the wrong type. */
    char *hdr = header_for("RS256", key_a.kid);
    char pay[512];
    snprintf(pay, sizeof(pay), "{\"aud\":\"" AUD "\",\"exp\":%" PRId64 ",\"tid\":\"" TID "\"}",
             NOW + 60);
    tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
    assert_rejected(tok, &o, "missing 'iss' claim");
    free(tok);
    snprintf(pay, sizeof(pay),
             "{\"aud\":\"" AUD "\",\"iss\":[\"" ISS_A "\"],\"exp\":%" PRId64 ",\"tid\":\"" TID
             "\"}",
             NOW + 60);
    tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
    assert_rejected(tok, &o, "missing 'iss' claim");
    free(tok);
    free(hdr);
}
END_TEST

START_TEST(test_jwt_audience_rules)
{
    struct jwt_verify_opts o = opts();
    struct jwt_claims c = app_claims(ISS_A, NOW);
    c.aud = "https://graph.microsoft.com";
    char *tok = mint(&key_a, &c);
    assert_rejected(tok, &o, "audience not accepted");
    free(tok);
    /* Each configured audience is accepted. */
    struct jwt_principal p;
    for (size_t i = 0; i < ARRAY_SIZE(audiences); i++) {
        c.aud = audiences[i];
        tok = mint(&key_a, &c);
        assert_accepted(tok, &o, &p);
        jwt_principal_release(&p);
        free(tok);
    }
    /* Arrays intersect; empty arrays, missing aud and non-strings do not. */
    char *hdr = header_for("RS256", key_a.kid);
    struct {
        const char *aud;
        bool ok;
    } cases[] = {
        {"\"aud\":[\"x\",\"8ee8fdad-f234-4243-8f3b-15c294843740\"]", true},
        {"\"aud\":[\"x\",\"y\"]", false},
        {"\"aud\":[]", false},
        {"\"aud\":42", false},
        {"\"aud\":[42]", false},
        {"\"aud\":\"HTTPS://API.SECURITY.MICROSOFT.COM\"", false},
        {"\"x\":1", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char pay[512];
        snprintf(pay, sizeof(pay),
                 "{%s,\"iss\":\"" ISS_A "\",\"exp\":%" PRId64 ",\"tid\":\"" TID "\"}", cases[i].aud,
                 NOW + 60);
        tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
        if (cases[i].ok) {
            assert_accepted(tok, &o, &p);
            jwt_principal_release(&p);
        } else {
            assert_rejected(tok, &o, "audience not accepted");
        }
        free(tok);
    }
    free(hdr);
    /* No accepted audiences configured: nothing passes. */
    o.n_audiences = 0;
    c.aud = AUD;
    tok = mint(&key_a, &c);
    assert_rejected(tok, &o, "audience not accepted");
    free(tok);
}
END_TEST

START_TEST(test_jwt_rejects_tampered_token)
{
    struct jwt_verify_opts o = opts();
    struct jwt_claims c = app_claims(ISS_A, NOW);
    char *tok = mint(&key_a, &c);
    const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    ck_assert_ptr_ne(d1, d2);

    /* Flip a claim (another tenant), re-encode, keep the old signature. */
    json_t *pl = segment(tok, 1);
    json_object_set_new(pl, "tid", json_string("00000000-0000-0000-0000-000000000000"));
    char *forged = replace_payload(tok, pl);
    json_decref(pl);
    assert_rejected(forged, &o, "bad signature");
    free(forged);
    /* Add a role instead. */
    pl = segment(tok, 1);
    json_array_append_new(json_object_get(pl, "roles"), json_string("Admin"));
    forged = replace_payload(tok, pl);
    json_decref(pl);
    assert_rejected(forged, &o, "bad signature");
    free(forged);

    /* Tampered header (an extra member), same payload and signature. */
    json_t *hj = segment(tok, 0);
    json_object_set_new(hj, "x5u", json_string("https://evil.example/keys"));
    char *text = json_dumps(hj, JSON_COMPACT);
    json_decref(hj);
    char *h = keys_b64url_encode((const unsigned char *)text, strlen(text));
    free(text);
    forged = xasprintf("%s%s", h, d1);
    assert_rejected(forged, &o, "bad signature");
    free(forged);
    free(h);

    /* One signature character changed; signature cut short; signature dropped. */
    forged = strdup(tok);
    char *last = forged + strlen(forged) - 5;
    *last = *last == 'A' ? 'B' : 'A';
    assert_rejected(forged, &o, "bad signature");
    forged[strlen(forged) - 4] = '\0';
    assert_rejected(forged, &o, "bad signature");
    forged[d2 - tok + 1] = '\0';
    assert_rejected(forged, &o, "missing signature");
    free(forged);
    free(tok);
}
END_TEST

START_TEST(test_jwt_rejects_malformed)
{
    struct jwt_verify_opts o = opts();
    struct jwt_claims c = app_claims(ISS_A, NOW);
    char *tok = mint(&key_a, &c);
    size_t len = strlen(tok);
    const char *d1 = strchr(tok, '.');

    assert_rejected_len("", 0, &o, "empty token");
    assert_rejected("garbage", &o, "malformed token");
    assert_rejected("a.b", &o, "malformed token");
    assert_rejected("a.b.c.d", &o, "malformed token");
    assert_rejected("..", &o, "malformed token");
    assert_rejected("eyJhbGciOiJSUzI1NiJ9..sig", &o, "malformed token");
    assert_rejected("Bearer x.y.z", &o, "malformed token");
    assert_rejected("e30.e30.e30=", &o, "malformed token");
    assert_rejected("!!!.e30.e30", &o, "malformed token");
    /* Truncated anywhere: inside the header, at the first dot, inside the payload. */
    assert_rejected_len(tok, 10, &o, "malformed token");
    assert_rejected_len(tok, (size_t)(d1 - tok) + 1, &o, "malformed token");
    assert_rejected_len(tok, (size_t)(d1 - tok) + 20, &o, "malformed token");
    /* A token followed by a space or a NUL within len. */
    char *sp = malloc(len + 2);
    memcpy(sp, tok, len);
    sp[len] = ' ';
    sp[len + 1] = '\0';
    assert_rejected_len(sp, len + 1, &o, "malformed token");
    sp[len] = '\0';
    assert_rejected_len(sp, len + 1, &o, "malformed token");
    free(sp);
    /* Segments that decode but are not JSON objects, or repeat a member. */
    char *pay = payload_a();
    const char *headers[] = {
        "not json",
        "[\"RS256\"]",
        "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"k\"}",
        "{\"alg\":\"RS256\",\"kid\":\"k\"",
    };
    for (size_t i = 0; i < ARRAY_SIZE(headers); i++) {
        char *t = test_craft_token(headers[i], pay, "RS256", key_a.private_pem);
        assert_rejected(t, &o, "malformed token header");
        free(t);
    }
    char *hdr = header_for("RS256", key_a.kid);
    const char *payloads[] = {
        "not json",
        "42",
        "{\"iss\":\"" ISS_A "\",\"iss\":\"" ISS_B "\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(payloads); i++) {
        char *t = test_craft_token(hdr, payloads[i], "RS256", key_a.private_pem);
        assert_rejected(t, &o, "malformed token payload");
        free(t);
    }
    /* A critical header extension we do not understand (RFC 7515 §4.1.11). */
    char *t = test_craft_token("{\"alg\":\"RS256\",\"kid\":\"x\",\"crit\":[\"exp\"],\"exp\":1}",
                               pay, "RS256", key_a.private_pem);
    assert_rejected(t, &o, "unsupported critical header");
    free(t);
    /* Non-canonical base64url (an unused low bit set in the last header character) is not
     * another spelling of the same token. */
    char hjson[256];
    for (int blanks = 0; blanks == 0 || strlen(hjson) % 3 == 0; blanks++) /* blanks are JSON */
        snprintf(hjson, sizeof(hjson), "%*s{\"alg\":\"RS256\",\"kid\":\"%s\"}", blanks, "",
                 key_a.kid);
    t = test_craft_token(hjson, pay, "RS256", key_a.private_pem);
    struct jwt_principal p;
    assert_accepted(t, &o, &p);
    jwt_principal_release(&p);
    char *last = strchr(t, '.') - 1;
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    *last = alpha[(strchr(alpha, *last) - alpha) ^ 1];
    assert_rejected(t, &o, "malformed token header");
    free(t);
    free(hdr);
    free(pay);
    free(tok);
}
END_TEST

START_TEST(test_jwt_rejects_oversize)
{
    struct jwt_verify_opts o = opts();
    ck_assert_uint_eq(o.max_bytes, 16384);
    /* 16 KiB + 1: refused by its length alone, whatever it holds. */
    size_t n = 16384 + 1;
    char *big = malloc(n + 1);
    memset(big, 'A', n);
    big[100] = '.';
    big[200] = '.';
    big[n] = '\0';
    assert_rejected_len(big, n, &o, "token too large");
    /* Exactly max_bytes is parsed (and here fails later, for a different reason). */
    assert_rejected_len(big, n - 1, &o, "malformed token header");
    free(big);
    /* The limit is inclusive for real tokens too. */
    struct jwt_claims c = app_claims(ISS_A, NOW);
    char *tok = mint(&key_a, &c);
    struct jwt_principal p;
    o.max_bytes = strlen(tok);
    assert_accepted(tok, &o, &p);
    jwt_principal_release(&p);
    o.max_bytes = strlen(tok) - 1;
    assert_rejected(tok, &o, "token too large");
    free(tok);
}
END_TEST

/* A token of key_a whose exp, nbf and iat are exactly the given values (INT64_MIN = absent). */
static char *timed(int64_t iat, int64_t nbf, int64_t exp)
{
    char pay[512], part[64];
    snprintf(pay, sizeof(pay), "{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"tid\":\"" TID "\"");
    if (iat != INT64_MIN) {
        snprintf(part, sizeof(part), ",\"iat\":%" PRId64, iat);
        strncat(pay, part, sizeof(pay) - strlen(pay) - 1);
    }
    if (nbf != INT64_MIN) {
        snprintf(part, sizeof(part), ",\"nbf\":%" PRId64, nbf);
        strncat(pay, part, sizeof(pay) - strlen(pay) - 1);
    }
    if (exp != INT64_MIN) {
        snprintf(part, sizeof(part), ",\"exp\":%" PRId64, exp);
        strncat(pay, part, sizeof(pay) - strlen(pay) - 1);
    }
    strncat(pay, "}", sizeof(pay) - strlen(pay) - 1);
    char *hdr = header_for("RS256", key_a.kid);
    char *tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
    free(hdr);
    return tok;
}

static void expect_time(int64_t iat, int64_t nbf, int64_t exp, const struct jwt_verify_opts *o,
                        const char *why)
{
    char *tok = timed(iat, nbf, exp);
    if (why) {
        assert_rejected(tok, o, why);
    } else {
        struct jwt_principal p;
        assert_accepted(tok, o, &p);
        jwt_principal_release(&p);
    }
    free(tok);
}

#define ABSENT INT64_MIN

START_TEST(test_jwt_expiry_at_skew_edges)
{
    /* Rule: rejected when now - skew >= exp. With skew 300: exp = now - 300 is expired,
     * exp = now - 299 is still accepted. */
    struct jwt_verify_opts o = opts();
    ck_assert_int_eq(o.skew_s, 300);
    expect_time(ABSENT, ABSENT, NOW - 300, &o, "token expired");
    expect_time(ABSENT, ABSENT, NOW - 299, &o, NULL);
    expect_time(ABSENT, ABSENT, NOW - 100000, &o, "token expired");
    /* The minted lifetime: iat = now - 3600 - 299 still passes, one second more does not. */
    struct jwt_claims c = app_claims(ISS_A, NOW - 3600 - 299);
    char *tok = mint(&key_a, &c);
    struct jwt_principal p;
    assert_accepted(tok, &o, &p);
    jwt_principal_release(&p);
    free(tok);
    c.iat_s--;
    tok = mint(&key_a, &c);
    assert_rejected(tok, &o, "token expired");
    free(tok);
    /* Without skew: exp = now is expired, exp = now + 1 is not. */
    o.skew_s = 0;
    expect_time(ABSENT, ABSENT, NOW, &o, "token expired");
    expect_time(ABSENT, ABSENT, NOW + 1, &o, NULL);
    /* exp is required and must be an integer. */
    o.skew_s = 300;
    expect_time(NOW, NOW, ABSENT, &o, "missing 'exp' claim");
    char *hdr = header_for("RS256", key_a.kid);
    const char *bad[] = {"\"1700003600\"", "1700003600.5", "null", "true"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char pay[512];
        snprintf(pay, sizeof(pay),
                 "{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"tid\":\"" TID "\",\"exp\":%s}",
                 bad[i]);
        tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
        assert_rejected(tok, &o, "invalid 'exp' claim");
        free(tok);
    }
    free(hdr);
}
END_TEST

START_TEST(test_jwt_not_before_at_skew_edges)
{
    /* Rule: rejected when now + skew < nbf (and likewise iat). With skew 300: nbf = now + 300 is
     * accepted, nbf = now + 301 is not yet valid. */
    struct jwt_verify_opts o = opts();
    expect_time(ABSENT, NOW + 300, NOW + 3600, &o, NULL);
    expect_time(ABSENT, NOW + 301, NOW + 3600, &o, "token not yet valid");
    expect_time(NOW + 300, ABSENT, NOW + 3600, &o, NULL);
    expect_time(NOW + 301, ABSENT, NOW + 3600, &o, "token issued in the future");
    expect_time(NOW + 300, NOW + 300, NOW + 3600, &o, NULL);
    /* A freshly minted token from a clock 5 minutes ahead passes; 5:01 ahead does not. */
    struct jwt_claims c = app_claims(ISS_A, NOW + 300);
    char *tok = mint(&key_a, &c);
    struct jwt_principal p;
    assert_accepted(tok, &o, &p);
    jwt_principal_release(&p);
    free(tok);
    c.iat_s++;
    tok = mint(&key_a, &c);
    assert_rejected(tok, &o, "token not yet valid");
    free(tok);
    /* Without skew: nbf = now passes, nbf = now + 1 does not. */
    o.skew_s = 0;
    expect_time(ABSENT, NOW, NOW + 10, &o, NULL);
    expect_time(ABSENT, NOW + 1, NOW + 10, &o, "token not yet valid");
    /* nbf and iat must be integers when present. */
    o.skew_s = 300;
    char *hdr = header_for("RS256", key_a.kid);
    char pay[512];
    snprintf(pay, sizeof(pay),
             "{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"tid\":\"" TID "\",\"exp\":%" PRId64
             ",\"nbf\":\"soon\"}",
             NOW + 60);
    tok = test_craft_token(hdr, pay, "RS256", key_a.private_pem);
    assert_rejected(tok, &o, "invalid 'nbf' claim");
    free(tok);
    free(hdr);
}
END_TEST

START_TEST(test_jwt_requires_tid_and_typed_claims)
{
    struct jwt_verify_opts o = opts();
    char *hdr = header_for("RS256", key_a.kid);
    struct {
        const char *extra_or_payload;
        const char *why;
    } cases[] = {
        {"{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"exp\":1800000000}", "missing 'tid' claim"},
        {"{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"exp\":1800000000,\"tid\":\"\"}",
         "missing 'tid' claim"},
        {"{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"exp\":1800000000,\"tid\":7}",
         "missing 'tid' claim"},
        {"{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"exp\":1800000000,\"tid\":\"t\","
         "\"roles\":\"Incident.Read.All\"}",
         "invalid 'roles' claim"},
        {"{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"exp\":1800000000,\"tid\":\"t\","
         "\"roles\":[\"a\",1]}",
         "invalid 'roles' claim"},
        {"{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"exp\":1800000000,\"tid\":\"t\","
         "\"scp\":[\"Incident.Read\"]}",
         "invalid 'scp' claim"},
        {"{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"exp\":1800000000,\"tid\":\"t\","
         "\"appid\":{}}",
         "invalid 'appid' claim"},
        {"{\"aud\":\"" AUD "\",\"iss\":\"" ISS_A "\",\"exp\":1800000000,\"tid\":\"t\","
         "\"upn\":false}",
         "invalid 'upn' claim"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *tok = test_craft_token(hdr, cases[i].extra_or_payload, "RS256", key_a.private_pem);
        assert_rejected(tok, &o, cases[i].why);
        free(tok);
    }
    free(hdr);
}
END_TEST

START_TEST(test_jwt_es256_via_jwks)
{
    struct jwt_verify_opts o = opts();
    char pay[512];
    snprintf(pay, sizeof(pay),
             "{\"aud\":\"" AUD "\",\"iss\":\"" ISS_EC "\",\"exp\":%" PRId64 ",\"tid\":\"" TID
             "\",\"azp\":\"ec-client\",\"roles\":[\"Incident.Read.All\"]}",
             NOW + 60);
    char *hdr = header_for("ES256", EC_KID);
    char *tok = test_craft_token(hdr, pay, "ES256", ec_private_pem);
    struct jwt_principal p;
    assert_accepted(tok, &o, &p);
    ck_assert_str_eq(p.iss, ISS_EC);
    ck_assert_str_eq(p.appid, "ec-client");
    ck_assert_uint_eq(p.n_roles, 1);
    jwt_principal_release(&p);

    /* Tampered payload, and an ES256 signature of the wrong length. */
    json_t *pl = segment(tok, 1);
    json_object_set_new(pl, "roles", json_pack("[s]", "Incident.ReadWrite.All"));
    char *forged = replace_payload(tok, pl);
    json_decref(pl);
    assert_rejected(forged, &o, "bad signature");
    free(forged);
    forged = strdup(tok);
    forged[strlen(forged) - 2] = '\0';
    assert_rejected(forged, &o, "bad signature");
    free(forged);
    free(tok);

    /* The header must name the key's algorithm: RS256 with the EC kid, ES256 with an RSA kid. */
    free(hdr);
    hdr = header_for("RS256", EC_KID);
    tok = test_craft_token(hdr, pay, "ES256", ec_private_pem);
    assert_rejected(tok, &o, "algorithm does not match key");
    free(tok);
    free(hdr);
    hdr = header_for("ES256", key_a.kid);
    char *pay_a = payload_a();
    tok = test_craft_token(hdr, pay_a, "ES256", ec_private_pem);
    assert_rejected(tok, &o, "algorithm does not match key");
    free(tok);
    free(pay_a);
    free(hdr);
}
END_TEST

START_TEST(test_jwt_jwks_rsa_round_trip)
{
    struct err_info ei;
    err_clear(&ei);
    json_t *jwk = NULL;
    ck_assert_int_eq(keys_jwk(key_a.public_pem, key_a.kid, &jwk, &ei), ERR_OK);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "RSA");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "RS256");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), key_a.kid);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "e")), "AQAB");
    const char *n64 = json_string_value(json_object_get(jwk, "n"));
    unsigned char *n = NULL;
    size_t nlen = 0;
    ck_assert(keys_b64url_decode(n64, strlen(n64), &n, &nlen));
    ck_assert_uint_eq(nlen, 256); /* 2048 bits, no leading zero byte */
    ck_assert(n[0] & 0x80);
    free(n);
    ck_assert_uint_eq(json_object_size(jwk), 6);

    /* JWK -> JWKS (beside keys that must be skipped) -> PEM, then verify a minted token. The
     * members Entra ID adds (x5t, x5c, issuer) are ignored. */
    json_object_set_new(jwk, "x5t", json_string("nOo3ZDrODXEK1jKWhXslHR_KXEg"));
    json_object_set_new(jwk, "x5c", json_pack("[s]", "MIIDBTCCAe2gAwIBAgIQ"));
    json_object_set_new(jwk, "issuer",
                        json_string("https://login.microsoftonline.com/{tenantid}/v2.0"));
    json_t *doc = json_pack("{s:[o,{s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s},{s:s,s:s}]}", "keys", jwk,
                            "kty", "oct", "kid", "hmac", "k", "c2VjcmV0", "kty", "RSA", "use",
                            "enc", "kid", "enc-key", "n", n64, "e", "AQAB", "kty", "RSA", "n", n64);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct jwk_pem *v = NULL;
    size_t cnt = 0;
    ck_assert_msg(keys_jwks_to_pem(text, strlen(text), &v, &cnt, &ei) == ERR_OK, "%s", ei.msg);
    free(text);
    ck_assert_uint_eq(cnt, 1);
    ck_assert_str_eq(v[0].kid, key_a.kid);
    ck_assert_int_eq(v[0].alg, KEYS_ALG_RS256);
    ck_assert_str_eq(v[0].public_pem, key_a.public_pem);

    struct jwt_trusted_key k = {"https://external.example/", v[0].kid, v[0].public_pem, v[0].alg};
    struct jwt_keyset *ks = NULL;
    ck_assert_int_eq(jwt_keyset_new(&k, 1, &ks, &ei), ERR_OK);
    struct jwt_verify_opts o = opts();
    o.keys = ks;
    struct jwt_claims c = app_claims("https://external.example/", NOW);
    char *tok = mint(&key_a, &c);
    struct jwt_principal p;
    assert_accepted(tok, &o, &p);
    jwt_principal_release(&p);
    free(tok);
    /* key_b's token under key_a's kid: bad signature. */
    struct signing_key impostor = key_b;
    snprintf(impostor.kid, sizeof(impostor.kid), "%s", key_a.kid);
    tok = mint(&impostor, &c);
    assert_rejected(tok, &o, "bad signature");
    free(tok);
    jwt_keyset_free(ks);
    keys_jwk_pem_free(v, cnt);
}
END_TEST

static void jwks_fails(const char *doc, const char *why)
{
    struct jwk_pem *v = (struct jwk_pem *)1;
    size_t n = 99;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(keys_jwks_to_pem(doc, strlen(doc), &v, &n, &ei) == ERR_INVALID, "accepted %s",
                  doc);
    ck_assert_msg(strstr(ei.msg, why), "reason '%s', expected '%s'", ei.msg, why);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(ERR_peek_error(), 0);
}

START_TEST(test_jwt_jwks_rejects_bad_documents)
{
    json_t *jwk = NULL;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(keys_jwk(key_a.public_pem, "k1", &jwk, &ei), ERR_OK);
    const char *n64 = json_string_value(json_object_get(jwk, "n"));

    jwks_fails("", "not valid JSON");
    jwks_fails("{\"keys\":{}}", "no 'keys' array");
    jwks_fails("[]", "no 'keys' array");
    jwks_fails("{\"keys\":[]}", "no usable signing key");
    jwks_fails("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"AA\"}]}", "no usable");
    jwks_fails("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"a\",\"x\":\"AA\","
               "\"y\":\"AA\"}]}",
               "no usable");
    jwks_fails("{\"keys\":[],\"keys\":[]}", "not valid JSON");
    char doc[2048];
    snprintf(doc, sizeof(doc),
             "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"kid\":\"a\","
             "\"n\":\"%s\",\"e\":\"AQAB\"}]}",
             n64);
    jwks_fails(doc, "no usable");
    snprintf(doc, sizeof(doc),
             "{\"keys\":[{\"kty\":\"RSA\",\"alg\":\"RS512\",\"kid\":\"a\","
             "\"n\":\"%s\",\"e\":\"AQAB\"}]}",
             n64);
    jwks_fails(doc, "no usable");
    snprintf(doc, sizeof(doc), "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}]}", n64);
    jwks_fails(doc, "no usable"); /* no kid: could never be selected */
    snprintf(doc, sizeof(doc),
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"%s\",\"e\":\"AQAB\"},"
             "{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"%s\",\"e\":\"AQAB\"}]}",
             n64, n64);
    jwks_fails(doc, "repeats a kid");
    jwks_fails("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"not base64!\",\"e\":\"AQAB\"}]}",
               "'n' is not base64url");
    jwks_fails("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"AQAB\",\"e\":7}]}",
               "'e' is not base64url");
    /* A point that is not on the curve (y off by one). */
    json_t *ec = NULL;
    EVP_PKEY *pk = test_read_private(ec_private_pem);
    char *pub = pem_of(pk, false);
    EVP_PKEY_free(pk);
    ck_assert_int_eq(keys_jwk(pub, "e1", &ec, &ei), ERR_OK);
    free(pub);
    unsigned char *y = NULL;
    size_t ylen = 0;
    const char *y64 = json_string_value(json_object_get(ec, "y"));
    ck_assert(keys_b64url_decode(y64, strlen(y64), &y, &ylen));
    ck_assert_uint_eq(ylen, 32);
    y[31] ^= 1;
    char *ybad = keys_b64url_encode(y, ylen);
    free(y);
    snprintf(doc, sizeof(doc),
             "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\",\"x\":\"%s\","
             "\"y\":\"%s\"}]}",
             json_string_value(json_object_get(ec, "x")), ybad);
    jwks_fails(doc, "not on P-256");
    free(ybad);
    json_decref(ec);
    /* A 1024-bit RSA key is skipped as too weak, leaving nothing usable. */
    EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    ck_assert(weak);
    pub = pem_of(weak, false);
    EVP_PKEY_free(weak);
    json_t *wj = NULL;
    ck_assert_int_eq(keys_jwk(pub, "weak", &wj, &ei), ERR_OK);
    free(pub);
    json_t *wdoc = json_pack("{s:[o]}", "keys", wj);
    char *wtext = json_dumps(wdoc, JSON_COMPACT);
    json_decref(wdoc);
    jwks_fails(wtext, "no usable");
    free(wtext);
    json_decref(jwk);
}
END_TEST

START_TEST(test_jwt_key_ids_are_stable)
{
    struct err_info ei;
    err_clear(&ei);
    ck_assert_uint_eq(strlen(key_a.kid), 22);
    ck_assert_str_ne(key_a.kid, key_b.kid);
    char kid[48];
    ck_assert_int_eq(keys_kid(key_a.public_pem, kid, &ei), ERR_OK);
    ck_assert_str_eq(kid, key_a.kid);
    struct signing_key again;
    ck_assert_int_eq(keys_load(key_a.private_pem, &again, &ei), ERR_OK);
    ck_assert_str_eq(again.kid, key_a.kid);
    ck_assert_str_eq(again.public_pem, key_a.public_pem);
    ck_assert(strstr(key_a.private_pem, "-----BEGIN PRIVATE KEY-----"));
    ck_assert(strstr(key_a.public_pem, "-----BEGIN PUBLIC KEY-----"));
    keys_release(&again);
    ck_assert_ptr_null(again.private_pem);
    /* Not a key, not RSA, not parseable: refused without echoing the input. */
    err_clear(&ei);
    ck_assert_int_eq(
        keys_load("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", &again, &ei),
        ERR_INVALID);
    ck_assert(!strstr(ei.msg, "AAAA"));
    err_clear(&ei);
    ck_assert_int_eq(keys_load(ec_private_pem, &again, &ei), ERR_INVALID);
    ck_assert_str_eq(ei.msg, "private key is not an RSA key");
    err_clear(&ei);
    ck_assert_int_eq(keys_kid("nope", kid, &ei), ERR_INVALID);
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

static void keyset_fails(const struct jwt_trusted_key *k, size_t n, const char *why)
{
    struct jwt_keyset *ks = (struct jwt_keyset *)1;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(jwt_keyset_new(k, n, &ks, &ei), ERR_INVALID);
    ck_assert_ptr_null(ks);
    ck_assert_msg(strstr(ei.msg, why), "reason '%s', expected '%s'", ei.msg, why);
    ck_assert(!strstr(ei.msg, "BEGIN") &&
              !shares_run(ei.msg, k[n - 1].public_pem ? k[n - 1].public_pem : ""));
    ck_assert_uint_eq(ERR_peek_error(), 0);
}

START_TEST(test_jwt_keyset_rejects_bad_keys)
{
    struct jwt_trusted_key k[2] = {trusted[0], trusted[0]};
    keyset_fails(k, 2, "kid repeated for issuer");
    k[1].issuer = ISS_B; /* the same key for two issuers is fine (Entra shares keys by tenant) */
    struct jwt_keyset *ks = NULL;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(jwt_keyset_new(k, 2, &ks, &ei), ERR_OK);
    jwt_keyset_free(ks);
    k[1].issuer = "";
    keyset_fails(k, 2, "issuer, kid and key required");
    k[1] = trusted[0];
    k[1].kid = NULL;
    keyset_fails(k, 2, "issuer, kid and key required");
    k[1] = trusted[0];
    k[1].kid = "other";
    k[1].public_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    keyset_fails(k, 2, "trusted key 1 for issuer '" ISS_A "': not a PEM RSA");
    k[1].public_pem = ec_public_pem; /* EC key declared RS256 */
    keyset_fails(k, 2, "not a PEM RSA");
    k[1] = trusted[0];
    k[1].kid = "other";
    k[1].alg = KEYS_ALG_ES256; /* RSA key declared ES256 */
    keyset_fails(k, 2, "not a PEM P-256");
    /* An RSA key below 2048 bits is refused. */
    EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    char *pub = pem_of(weak, false);
    EVP_PKEY_free(weak);
    k[1] = (struct jwt_trusted_key){ISS_A, "weak", pub, KEYS_ALG_RS256};
    keyset_fails(k, 2, "2048 bits");
    free(pub);
}
END_TEST

START_TEST(test_jwt_mint_rejects_bad_claims)
{
    struct err_info ei;
    char *tok = (char *)1;
    struct jwt_claims c = app_claims(ISS_A, NOW);
    c.sub = NULL;
    err_clear(&ei);
    ck_assert_int_eq(jwt_mint(&key_a, &c, &tok, &ei), ERR_INVALID);
    ck_assert_str_eq(ei.msg, "claim 'sub' is required");
    ck_assert_ptr_null(tok);
    c = app_claims(ISS_A, NOW);
    c.lifetime_s = JWT_MAX_LIFETIME_S + 1;
    err_clear(&ei);
    ck_assert_int_eq(jwt_mint(&key_a, &c, &tok, &ei), ERR_INVALID);
    c.lifetime_s = -5;
    err_clear(&ei);
    ck_assert_int_eq(jwt_mint(&key_a, &c, &tok, &ei), ERR_INVALID);
    c = app_claims(ISS_A, NOW);
    c.upn = "bad \xff utf-8";
    err_clear(&ei);
    ck_assert_int_eq(jwt_mint(&key_a, &c, &tok, &ei), ERR_INVALID);
    ck_assert_str_eq(ei.msg, "claim 'upn' is not valid UTF-8");
    /* A signing key without its private half cannot mint. */
    struct signing_key pub_only = key_a;
    pub_only.private_pem = NULL;
    c = app_claims(ISS_A, NOW);
    err_clear(&ei);
    ck_assert_int_eq(jwt_mint(&pub_only, &c, &tok, &ei), ERR_INVALID);
}
END_TEST

START_TEST(test_jwt_b64url_is_strict)
{
    unsigned char *out = NULL;
    size_t n = 0;
    ck_assert(keys_b64url_decode("QQ", 2, &out, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(out[0], 'A');
    free(out);
    ck_assert(keys_b64url_decode("", 0, &out, &n));
    ck_assert_uint_eq(n, 0);
    free(out);
    ck_assert(!keys_b64url_decode("QR", 2, &out, &n)); /* unused bits set */
    ck_assert(!keys_b64url_decode("QQ==", 4, &out, &n));
    ck_assert(!keys_b64url_decode("Q", 1, &out, &n));
    ck_assert(!keys_b64url_decode("Q+/A", 4, &out, &n));
    ck_assert(!keys_b64url_decode("QQ A", 4, &out, &n));
    ck_assert_ptr_null(out);
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char *s = keys_b64url_encode(bytes, sizeof(bytes));
    ck_assert_str_eq(s, "-_-_");
    ck_assert(keys_b64url_decode(s, 4, &out, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(out, bytes, 3) == 0);
    free(out);
    free(s);
}
END_TEST

Suite *jwt_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("tokens");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60); /* RSA key generation under ASan */
    tcase_add_test(tc, test_jwt_app_token_round_trip);
    tcase_add_test(tc, test_jwt_delegated_token_round_trip);
    tcase_add_test(tc, test_jwt_rejects_alg_none);
    tcase_add_test(tc, test_jwt_rejects_hmac_with_public_key);
    tcase_add_test(tc, test_jwt_rejects_unknown_kid);
    tcase_add_test(tc, test_jwt_rejects_kid_of_other_issuer);
    tcase_add_test(tc, test_jwt_rejects_wrong_issuer);
    tcase_add_test(tc, test_jwt_audience_rules);
    tcase_add_test(tc, test_jwt_rejects_tampered_token);
    tcase_add_test(tc, test_jwt_rejects_malformed);
    tcase_add_test(tc, test_jwt_rejects_oversize);
    tcase_add_test(tc, test_jwt_expiry_at_skew_edges);
    tcase_add_test(tc, test_jwt_not_before_at_skew_edges);
    tcase_add_test(tc, test_jwt_requires_tid_and_typed_claims);
    tcase_add_test(tc, test_jwt_es256_via_jwks);
    tcase_add_test(tc, test_jwt_jwks_rsa_round_trip);
    tcase_add_test(tc, test_jwt_jwks_rejects_bad_documents);
    tcase_add_test(tc, test_jwt_key_ids_are_stable);
    tcase_add_test(tc, test_jwt_keyset_rejects_bad_keys);
    tcase_add_test(tc, test_jwt_mint_rejects_bad_claims);
    tcase_add_test(tc, test_jwt_b64url_is_strict);
    suite_add_tcase(s, tc);
    return s;
}
