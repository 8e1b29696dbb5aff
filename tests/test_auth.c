/* SPDX-License-Identifier: MIT */
/*
 * Black-box tests of access control (issue 3; CONTRACT §1, §7, §8) against the real binary: every
 * 401 and 403 case over HTTP, the clock-skew edges, the Entra-shaped token service, tenant
 * isolation, device-group scoping with paging, key rotation while serving, the app/user/token
 * commands, and that no secret or token is ever stored or logged in clear.
 *
 * Each test gets its own server (checked fixture, on a copy of a database made once) and asserts
 * that it exits 0. Tokens that the built-in endpoint would never sign (expired, wrong audience,
 * another issuer, ES256...) are made with keys generated once per run (unchecked fixture) and
 * trusted by the server through a `trusted_issuers_file`, the way a tenant's Entra ID keys are
 * configured; no key is written anywhere but that run's temporary directory.
 */
#include "common.h"
#include "e2e.h"
#include "jwt.h"
#include "keys.h"
#include "tests.h"
#include "tokens.h"
#include "xmalloc.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TENANT_A           "aaaaaaaa-0000-4000-8000-00000000000a"
#define TENANT_B           "bbbbbbbb-0000-4000-8000-00000000000b"
#define TENANT_UNK         "12345678-1234-4234-8234-123456789abc"
#define TENANT_OTHER_KNOWN "22222222-2222-4222-8222-222222222222"
#define ISS_UNK            "https://sts.windows.net/" TENANT_UNK "/" /* trusts key X too */
#define OWN_ISS            "https://login.incidentd.local/" TEST_TENANT "/v2.0"
#define ISS_X              "https://sts.windows.net/" TEST_TENANT "/" /* trusts key X and the EC key */
#define ISS_Y              "https://idp.example.test/" TEST_TENANT "/v2.0" /* trusts key Y */
#define EC_KID             "ext-ec-p256"
#define AUD                "https://api.security.microsoft.com"
#define AUD_MTP            "https://security.microsoft.com/mtp"
#define AUD_GUID           "8ee8fdad-f234-4243-8f3b-15c294843740"
#define EXT_APPID          "5b0c6a1e-9d7f-4c2b-8e3a-1f2d3c4b5a69"
#define FORM               "application/x-www-form-urlencoded"
#define SCOPE_API          "https%3A%2F%2Fapi.security.microsoft.com%2F.default"

static struct test_server srv; /* this test's server */

/* Keys of the external issuers (made once; shared read-only by the forked tests). */
static char *ext_dir;
static char *ext_conf; /* --config file: trusted_issuers_file and a raised header limit */
static struct signing_key kx, ky;
static char *ec_pem; /* P-256 private key (PKCS#8) */

static const char *const no_auth[] = {"Authorization:", NULL};

/* ---------------------------------------------------------------------------------------------
 * Generic helpers
 */

/* True when the n bytes at hay (NULs allowed: database files) hold needle. */
static bool contains(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    if (!hay || m == 0 || m > n)
        return false;
    for (const char *p = hay, *end = hay + n - m + 1; p < end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (!p)
            return false;
        if (memcmp(p, needle, m) == 0)
            return true;
    }
    return false;
}

/* Fails when hay holds the credential, or any piece of it of 16+ characters between dots (a JWT
 * segment: the payload alone is as good as the token for reading its claims). */
static void assert_no_credential(const char *what, const char *hay, size_t n, const char *cred)
{
    ck_assert_msg(!contains(hay, n, cred), "%s contains a credential", what);
    for (const char *p = cred; *p;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len >= 16) {
            char *seg = xstrndup(p, len);
            bool has = contains(hay, n, seg);
            free(seg);
            ck_assert_msg(!has, "%s contains a segment of a credential", what);
        }
        p += len;
        if (*p)
            p++;
    }
}

/* The error message of an envelope (malloc'd). */
static char *error_message(const struct test_resp *r)
{
    json_t *j = test_json_body(r);
    const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    ck_assert(m != NULL);
    char *s = xstrdup(m);
    json_decref(j);
    return s;
}

/* One request to srv carrying `tok` (NULL: the server's own application token). */
static void http_as(const char *tok, const char *method, const char *path, const char *body,
                    struct test_resp *r)
{
    char *line = tok ? xasprintf("Authorization: Bearer %s", tok) : NULL;
    const char *hdrs[] = {line, NULL};
    ck_assert(test_http(&srv, method, path, body ? "application/json" : NULL, body,
                        line ? hdrs : NULL, r));
    free(line);
}

static long status_as(const char *tok, const char *method, const char *path, const char *body)
{
    struct test_resp r;
    http_as(tok, method, path, body, &r);
    long st = r.status;
    test_resp_free(&r);
    return st;
}

static json_t *json_as(const char *tok, const char *method, const char *path, const char *body,
                       long want)
{
    struct test_resp r;
    http_as(tok, method, path, body, &r);
    ck_assert_msg(r.status == want, "%s %s: %ld, want %ld: %.300s", method, path, r.status, want,
                  r.body);
    json_t *j = test_json_body(&r);
    test_resp_free(&r);
    return j;
}

/* Body of GET path as tok, expecting 200 (malloc'd). */
static char *body_as(const char *tok, const char *path)
{
    struct test_resp r;
    http_as(tok, "GET", path, NULL, &r);
    ck_assert_msg(r.status == 200, "GET %s: %ld %.300s", path, r.status, r.body);
    char *b = xstrdup(r.body);
    test_resp_free(&r);
    return b;
}

/*
 * Sends `authorization` (the header value; NULL: no header) and checks the 401 of CONTRACT §7:
 * envelope code Unauthorized, target = request-id, `WWW-Authenticate: Bearer` exactly when no
 * token was presented and `Bearer error="invalid_token"…` for a bad one, and that neither body
 * nor headers echo the credential.
 */
static void expect_401(const char *method, const char *path, const char *authorization,
                       bool bad_token)
{
    char *line =
        authorization ? xasprintf("Authorization: %s", authorization) : xstrdup("Authorization:");
    const char *hdrs[] = {line, NULL};
    bool patch = strcmp(method, "PATCH") == 0;
    struct test_resp r;
    ck_assert(test_http(&srv, method, path, patch ? "application/json" : NULL,
                        patch ? "{\"comment\":\"x\"}" : NULL, hdrs, &r));
    test_expect_error(&r, 401, "Unauthorized");
    char www[1024];
    ck_assert_msg(test_resp_header(&r, "WWW-Authenticate", www, sizeof(www)),
                  "401 without WWW-Authenticate: %s", r.headers);
    if (bad_token)
        ck_assert_msg(strncmp(www, "Bearer error=\"invalid_token\"", 28) == 0,
                      "WWW-Authenticate: %s", www);
    else
        ck_assert_str_eq(www, "Bearer");
    if (authorization) {
        const char *cred = strchr(authorization, ' ');
        cred = cred ? cred + 1 : authorization;
        while (*cred == ' ')
            cred++;
        if (strlen(cred) >= 8) {
            assert_no_credential("401 body", r.body, r.len, cred);
            assert_no_credential("401 headers", r.headers, strlen(r.headers), cred);
        }
    }
    test_resp_free(&r);
    free(line);
}

/* A bad bearer token: 401 invalid_token on the list, one incident and PATCH. */
static void expect_bad_token(const char *tok)
{
    char *v = xasprintf("Bearer %s", tok);
    expect_401("GET", "/api/incidents", v, true);
    expect_401("GET", "/api/incidents/1", v, true);
    expect_401("PATCH", "/api/incidents/1", v, true);
    free(v);
}

static void expect_good_token(const char *tok)
{
    struct test_resp r;
    http_as(tok, "GET", "/api/incidents", NULL, &r);
    ck_assert_msg(r.status == 200, "token refused: %ld %s", r.status, r.body);
    test_resp_free(&r);
}

/* Runs `incidentd args…`, asserts exit 0 and returns stdout (malloc'd). */
static char *cli_ok(const char *const *args)
{
    char *out = NULL, *err = NULL;
    int rc = test_run_cli(args, &out, &err);
    ck_assert_msg(rc == 0, "incidentd %s %s: exit %d: %s", args[0], args[1] ? args[1] : "", rc,
                  err);
    free(err);
    return out;
}

/* Exit status of `incidentd args…`; stderr into *err when non-NULL. */
static int cli_rc(const char *const *args, char **err)
{
    char *out = NULL, *e = NULL;
    int rc = test_run_cli(args, &out, &e);
    free(out);
    if (err)
        *err = e;
    else
        free(e);
    return rc;
}

static char *trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    return s;
}

/* `incidentd token` for a registered user of srv's database (the bare token, malloc'd). */
static char *user_token(const char *tenant, const char *upn, const char *scope)
{
    const char *a[] = {"token",  "--db", srv.db,    "--tenant", tenant,
                       "--user", upn,    "--scope", scope,      NULL};
    return trim(cli_ok(a));
}

static void user_create(const char *tenant, const char *upn, const char *g1, const char *g2)
{
    const char *a[16] = {"user", "create", "--db", srv.db, "--tenant", tenant, "--upn", upn};
    int k = 8;
    if (g1) {
        a[k++] = "--device-group";
        a[k++] = g1;
    }
    if (g2) {
        a[k++] = "--device-group";
        a[k++] = g2;
    }
    a[k] = NULL;
    /* It prints what it stored, as `user list` does. */
    char *out = cli_ok(a);
    json_t *u = json_loads(out, 0, NULL);
    ck_assert_msg(json_is_object(u), "user create printed: %s", out);
    ck_assert_str_eq(json_string_value(json_object_get(u, "upn")), upn);
    ck_assert_str_eq(json_string_value(json_object_get(u, "tenant_id")), tenant);
    ck_assert_uint_eq(json_array_size(json_object_get(u, "device_groups")),
                      (g1 != NULL) + (g2 != NULL));
    json_decref(u);
    free(out);
}

static void demo(const char *tenant, int n, const char *seed)
{
    char num[16];
    snprintf(num, sizeof(num), "%d", n);
    const char *a[] = {"demo", "--db",   srv.db, "--incidents",
                       num,    "--seed", seed,   tenant ? "--tenant" : NULL,
                       tenant, NULL};
    free(cli_ok(a));
}

/* Writes `doc` (stolen) to a file beside the database and imports it into `tenant`. */
static void import_doc(const char *tenant, json_t *doc)
{
    static int seq;
    char path[600];
    snprintf(path, sizeof(path), "%s/import-%d.json", srv.dir, seq++);
    ck_assert_int_eq(json_dump_file(doc, path, JSON_COMPACT), 0);
    json_decref(doc);
    const char *a[] = {"import", "--db", srv.db, "--tenant", tenant, path, NULL};
    free(cli_ok(a));
}

static json_t *alert_json(const char *alert_id, int64_t incident_id, json_t *devices)
{
    json_t *a =
        json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:o}", "alertId", alert_id, "incidentId",
                  (json_int_t)incident_id, "serviceSource", "MicrosoftDefenderForEndpoint",
                  "creationTime", "2024-05-01T09:00:00Z", "title", "Suspicious process", "status",
                  "New", "severity", "Medium", "devices", devices ? devices : json_array());
    ck_assert(a != NULL);
    return a;
}

/* An incident (alerts stolen); lastUpdateTime grows with the id so the default order is fixed. */
static json_t *incident_json(int64_t id, const char *name, json_t *alerts)
{
    char updated[40];
    snprintf(updated, sizeof(updated), "2024-05-02T%02d:%02d:00Z", (int)(id / 60 % 24),
             (int)(id % 60));
    json_t *j =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:[], s:[], s:o}", "incidentId", (json_int_t)id,
                  "incidentName", name, "createdTime", "2024-05-01T08:00:00Z", "lastUpdateTime",
                  updated, "status", "Active", "severity", "Medium", "tags", "comments", "alerts",
                  alerts ? alerts : json_array());
    ck_assert(j != NULL);
    return j;
}

/* Imports incidents 1..n (Active, one alert each, no device group) into the default tenant. */
static void import_plain(int n)
{
    json_t *value = json_array();
    for (int i = 1; i <= n; i++) {
        char aid[32], name[32];
        snprintf(aid, sizeof(aid), "plain-%d", i);
        snprintf(name, sizeof(name), "plain %d", i);
        json_array_append_new(value,
                              incident_json(i, name, json_pack("[o]", alert_json(aid, i, NULL))));
    }
    import_doc(TEST_TENANT, json_pack("{s:o}", "value", value));
}

/* Creates an application in srv's database; client id and secret are 64-byte buffers. */
static void app_create(const char *tenant, const char *name, const char *const *roles,
                       char *client_id, char *secret)
{
    ck_assert(test_create_app(srv.db, tenant, name, roles, client_id, secret, 64));
}

/* A token from the v2 endpoint for a client (malloc'd). */
static char *fetch_token(const char *tenant, const char *client_id, const char *secret)
{
    char *buf = xmalloc(8192);
    ck_assert(test_fetch_token(&srv, tenant, client_id, secret, buf, 8192));
    return buf;
}

/* Decoded JSON of a JWT's header (0) or payload (1). */
static json_t *jwt_part(const char *tok, int part)
{
    const char *p = tok;
    for (int i = 0; i < part; i++) {
        p = strchr(p, '.');
        ck_assert_msg(p != NULL, "not a JWT: %.60s", tok);
        p++;
    }
    const char *end = strchr(p, '.');
    ck_assert_msg(end != NULL, "not a JWT: %.60s", tok);
    unsigned char *raw = NULL;
    size_t n = 0;
    ck_assert_msg(keys_b64url_decode(p, (size_t)(end - p), &raw, &n),
                  "JWT segment %d is not base64url", part);
    json_t *j = json_loadb((const char *)raw, n, 0, NULL);
    free(raw);
    ck_assert_msg(j != NULL, "JWT segment %d is not JSON", part);
    return j;
}

/* The kid of a token's header (static buffer). */
static const char *kid_of(const char *tok)
{
    static char kid[64];
    json_t *h = jwt_part(tok, 0);
    const char *k = json_string_value(json_object_get(h, "kid"));
    ck_assert(k != NULL);
    snprintf(kid, sizeof(kid), "%s", k);
    json_decref(h);
    return kid;
}

/* JWT segment `part` (0-2) of tok, malloc'd. */
static char *jwt_segment(const char *tok, int part)
{
    const char *p = tok;
    for (int i = 0; i < part; i++) {
        p = strchr(p, '.');
        ck_assert(p != NULL);
        p++;
    }
    const char *end = strchr(p, '.');
    return xstrndup(p, end ? (size_t)(end - p) : strlen(p));
}

/* Follows nextLink verbatim from `path` as tok; fills ids (cap entries) and returns how many.
 * Every page has at most page_max rows; the last page has no nextLink. */
static size_t page_ids(const char *tok, const char *path, int64_t *ids, size_t cap, size_t page_max,
                       size_t *pages_out)
{
    size_t n = 0, pages = 0;
    char *next = xstrdup(path);
    while (next) {
        json_t *j = json_as(tok, "GET", next, NULL, 200);
        free(next);
        next = NULL;
        pages++;
        json_t *value = json_object_get(j, "value"), *v;
        ck_assert(json_is_array(value));
        ck_assert_msg(json_array_size(value) <= page_max, "page of %zu rows",
                      json_array_size(value));
        size_t i;
        json_array_foreach(value, i, v)
        {
            ck_assert(n < cap);
            ids[n++] = json_integer_value(json_object_get(v, "incidentId"));
        }
        const char *nl = json_string_value(json_object_get(j, "@odata.nextLink"));
        if (nl) {
            ck_assert_msg(json_array_size(value) > 0, "nextLink after an empty page");
            ck_assert_msg(strncmp(nl, srv.base, strlen(srv.base)) == 0, "nextLink %s", nl);
            next = xstrdup(nl + strlen(srv.base));
        }
        json_decref(j);
        ck_assert(pages < 100);
    }
    if (pages_out)
        *pages_out = pages;
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts ids and asserts they equal want (sorted, n entries), each once. */
static void assert_id_set(int64_t *ids, size_t n, const int64_t *want, size_t nwant)
{
    qsort(ids, n, sizeof(*ids), cmp_i64);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(ids[i] != ids[i - 1], "incident %" PRId64 " listed twice", ids[i]);
    ck_assert_msg(n == nwant, "listed %zu incidents, want %zu", n, nwant);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(ids[i] == want[i], "listed %" PRId64 " where %" PRId64 " was expected",
                      ids[i], want[i]);
}

static int64_t list_count(const char *tok, const char *path)
{
    json_t *j = json_as(tok, "GET", path, NULL, 200);
    int64_t n = (int64_t)json_array_size(json_object_get(j, "value"));
    json_decref(j);
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Token crafting (external issuers)
 */

/* What an external token is made of; ext_defaults() gives a valid application token of ISS_X. */
struct ext_tok {
    const char *alg, *kid, *key; /* signature: algorithm, header kid, private key PEM */
    const char *iss, *aud, *tid;
    int64_t iat, nbf, exp;
    const char *extra; /* more payload members, starting with ',' */
};

static struct ext_tok ext_defaults(void)
{
    int64_t now = (int64_t)time(NULL);
    return (struct ext_tok){"RS256",     kx.kid,   kx.private_pem, ISS_X,      AUD,
                            TEST_TENANT, now - 60, now - 60,       now + 3600, ""};
}

static char *ext_payload(const struct ext_tok *t)
{
    return xasprintf("{\"aud\":\"%s\",\"iss\":\"%s\",\"iat\":%" PRId64 ",\"nbf\":%" PRId64
                     ",\"exp\":%" PRId64 ",\"tid\":\"%s\",\"appid\":\"" EXT_APPID
                     "\",\"azp\":\"" EXT_APPID "\",\"sub\":\"ext-sp\",\"oid\":\"ext-sp\","
                     "\"roles\":[\"Incident.ReadWrite.All\"]%s}",
                     t->aud, t->iss, t->iat, t->nbf, t->exp, t->tid, t->extra);
}

static char *ext_token(const struct ext_tok *t)
{
    char *hdr = xasprintf("{\"typ\":\"JWT\",\"alg\":\"%s\",\"kid\":\"%s\"}", t->alg, t->kid);
    char *pay = ext_payload(t);
    char *tok = test_craft_token(hdr, pay, t->alg, t->key);
    free(hdr);
    free(pay);
    return tok;
}

static char *pem_of(EVP_PKEY *pk, bool private_key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    ck_assert(bio != NULL);
    ck_assert(private_key ? PEM_write_bio_PKCS8PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_bio_PUBKEY(bio, pk));
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    char *s = xstrndup(p, (size_t)n);
    BIO_free(bio);
    return s;
}

static json_t *jwk_of(const char *public_pem, const char *kid)
{
    json_t *jwk = NULL;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(keys_jwk(public_pem, kid, &jwk, &ei) == ERR_OK, "%s", ei.msg);
    return jwk;
}

/* Writes a JWKS whose keys carry Entra ID's extra members (x5t, x5c, issuer), which are
 * ignored. */
static void write_jwks(const char *path, json_t *keys /* stolen */)
{
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        json_object_set_new(k, "x5t", json_string("nOo3ZDrODXEK1jKWhXslHR_KXEg"));
        json_object_set_new(k, "x5c",
                            json_pack("[s]", "MIIDBTCCAe2gAwIBAgIQN33ROaIJ6bJBWDCxtmJEbjANBg"));
        json_object_set_new(k, "issuer", json_string(ISS_X));
    }
    json_t *doc = json_pack("{s:o}", "keys", keys);
    ck_assert_int_eq(json_dump_file(doc, path, JSON_COMPACT), 0);
    json_decref(doc);
}

static void template_ensure(void);

/* Unchecked fixture: keys X, Y (RSA) and an EC key, their JWKS files, the trusted issuers file
 * and a config file naming it. Runs once, before the tests fork. */
static void ext_keys_setup(void)
{
    template_ensure();
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(keys_generate(&kx, &ei), ERR_OK);
    ck_assert_int_eq(keys_generate(&ky, &ei), ERR_OK);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ck_assert(ec != NULL);
    ec_pem = pem_of(ec, true);
    char *ec_pub = pem_of(ec, false);
    EVP_PKEY_free(ec);

    ext_dir = test_tmpdir();
    ck_assert(ext_dir != NULL);
    char *jx = xasprintf("%s/jwks-x.json", ext_dir), *jy = xasprintf("%s/jwks-y.json", ext_dir);
    char *trusted = xasprintf("%s/trusted-issuers", ext_dir);
    write_jwks(jx, json_pack("[o,o]", jwk_of(kx.public_pem, kx.kid), jwk_of(ec_pub, EC_KID)));
    write_jwks(jy, json_pack("[o]", jwk_of(ky.public_pem, ky.kid)));
    free(ec_pub);
    char *text = xasprintf("# external issuers for the auth tests\n%s %s\n%s %s\n%s %s\n", ISS_X,
                           jx, ISS_Y, jy, ISS_UNK, jx);
    ck_assert(test_write_file(trusted, text));
    free(text);
    ext_conf = xasprintf("%s/incidentd.conf", ext_dir);
    /* Tokens up to and just past 16 KiB must reach the validator, not the header limit (431). */
    text = xasprintf("trusted_issuers_file = %s\nmax_header_bytes = 65536\n", trusted);
    ck_assert(test_write_file(ext_conf, text));
    free(text);
    free(jx);
    free(jy);
    free(trusted);
}

static void ext_keys_teardown(void)
{
    char *cmd = xasprintf("rm -rf '%s'", ext_dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(ext_dir);
    free(ext_conf);
    free(ec_pem);
    keys_release(&kx);
    keys_release(&ky);
}

/* ---------------------------------------------------------------------------------------------
 * Fixtures: one server per test, which must exit 0
 */

/*
 * A database made once per run (schema, the default tenant and its first signing key, made by
 * `incidentd keys rotate`) and copied for each test, so that each server start does not migrate
 * a schema and generate an RSA key again. The secrets test starts from an empty database, so
 * keys made on a server's first start are covered there.
 */
static char *tmpl_dir;
static pid_t tmpl_owner;
static char *db_dir; /* this test's copy */

static void template_cleanup(void)
{
    if (tmpl_dir && getpid() == tmpl_owner) {
        char *cmd = xasprintf("rm -rf '%s'", tmpl_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmpl_dir);
        free(cmd);
    }
}

/* Unchecked fixture of every test case: makes the template once per process. */
static void template_ensure(void)
{
    if (tmpl_dir)
        return;
    tmpl_dir = test_tmpdir();
    ck_assert(tmpl_dir != NULL);
    tmpl_owner = getpid();
    char *db = xasprintf("%s/incidentd.db", tmpl_dir);
    const char *a[] = {"keys", "rotate", "--db", db, NULL};
    free(cli_ok(a));
    free(db);
    atexit(template_cleanup);
}

static void template_none(void)
{
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    size_t len = 0;
    char *data = test_read_file(from, &len);
    if (!data)
        return;
    FILE *f = fopen(to, "wb");
    ck_assert(f != NULL);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(to, mode), 0);
    free(data);
}

/* Starts srv on a copy of the template with extra serve arguments (may be NULL). */
static void start_on_template(const char *const *args)
{
    db_dir = test_tmpdir();
    ck_assert(db_dir != NULL);
    const char *suffix[] = {"", "-wal", ".key"};
    for (size_t i = 0; i < ARRAY_SIZE(suffix); i++) {
        char *from = xasprintf("%s/incidentd.db%s", tmpl_dir, suffix[i]);
        char *to = xasprintf("%s/incidentd.db%s", db_dir, suffix[i]);
        copy_file(from, to, i == 2 ? 0600 : 0644);
        free(from);
        free(to);
    }
    char *db = xasprintf("%s/incidentd.db", db_dir);
    ck_assert(test_server_start(&srv, db, args));
    free(db);
}

static void server_setup(void)
{
    start_on_template(NULL);
}

static void ext_server_setup(void)
{
    const char *args[] = {"--config", ext_conf, NULL};
    start_on_template(args);
}

static void server_teardown(void)
{
    if (srv.pid > 0) /* a test may have stopped it itself */
        ck_assert_int_eq(test_server_stop(&srv, false), 0);
    if (db_dir) {
        char *cmd = xasprintf("rm -rf '%s'", db_dir);
        ck_assert_int_eq(system(cmd), 0);
        free(cmd);
        free(db_dir);
        db_dir = NULL;
    }
}

/* The server of the secrets test logs at debug level, so that no log line of any level may
 * hold a secret. */
static char *debug_conf_dir;

static void debug_server_setup(void)
{
    debug_conf_dir = test_tmpdir();
    ck_assert(debug_conf_dir != NULL);
    char *conf = xasprintf("%s/debug.conf", debug_conf_dir);
    ck_assert(test_write_file(conf, "log_level = debug\naccess_log = true\n"));
    const char *args[] = {"--config", conf, NULL};
    ck_assert(test_server_start(&srv, NULL, args));
    free(conf);
}

static void debug_server_teardown(void)
{
    if (srv.pid > 0)
        ck_assert_int_eq(test_server_stop(&srv, false), 0);
    char *cmd = xasprintf("rm -rf '%s'", debug_conf_dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(debug_conf_dir);
}

/* ---------------------------------------------------------------------------------------------
 * 401: no token, bad tokens (CONTRACT §7, §8)
 */

START_TEST(test_auth_no_token_401)
{
    /* 401 comes before routing to an incident: an empty database, yet not 404. */
    expect_401("GET", "/api/incidents", NULL, false);
    expect_401("GET", "/api/incidents/", NULL, false);
    expect_401("GET", "/api/incidents?$top=1", NULL, false);
    expect_401("GET", "/api/incidents/1", NULL, false);
    expect_401("PATCH", "/api/incidents/1", NULL, false);
    /* No token in the header is the same as no header. */
    expect_401("GET", "/api/incidents", "Bearer", false);
    expect_401("GET", "/api/incidents", "Bearer    ", false);
    expect_401("GET", "/api/incidents", "Basic dXNlcjpwYXNzd29yZA==", false);
    /* A token in the query string (RFC 6750 §2.3) is not accepted, nor echoed. */
    char *q = xasprintf("/api/incidents?access_token=%s", srv.token);
    expect_401("GET", q, NULL, false);
    struct test_resp qr;
    ck_assert(test_http(&srv, "GET", q, NULL, NULL, no_auth, &qr));
    ck_assert_int_eq(qr.status, 401);
    assert_no_credential("401 body", qr.body, qr.len, srv.token);
    test_resp_free(&qr);
    free(q);
    /* The scheme is case-insensitive (RFC 7235): the same token with "bearer" works. */
    char *v = xasprintf("Authorization: bearer %s", srv.token);
    const char *h[] = {v, NULL};
    struct test_resp r;
    ck_assert(test_http(&srv, "GET", "/api/incidents", NULL, NULL, h, &r));
    ck_assert_int_eq(r.status, 200);
    test_resp_free(&r);
    free(v);
}
END_TEST

START_TEST(test_auth_garbage_token_401)
{
    expect_bad_token("garbage");
    expect_bad_token("not-a-jwt-at-all-but-long-enough");
    expect_bad_token("a.b.c");
    expect_bad_token("...");
    expect_bad_token("eyJhbGciOiJSUzI1NiJ9.e30");
    /* The real token with a byte appended to the signature, or a fourth segment. */
    char *t = xasprintf("%sA", srv.token);
    expect_bad_token(t);
    free(t);
    t = xasprintf("%s.AAAA", srv.token);
    expect_bad_token(t);
    free(t);
    /* And the untouched token still works. */
    expect_good_token(srv.token);
}
END_TEST

START_TEST(test_auth_alg_none_401)
{
    char *payload_seg = jwt_segment(srv.token, 1);
    const char *kid = kid_of(srv.token);
    const char *headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"None\",\"typ\":\"JWT\"}",
        "{\"alg\":\"NONE\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(headers) + 1; i++) {
        char *hj = i < ARRAY_SIZE(headers)
                       ? xstrdup(headers[i])
                       : xasprintf("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
        char *h = keys_b64url_encode((const unsigned char *)hj, strlen(hj));
        /* The server's own, valid payload, unsigned. */
        char *t = xasprintf("%s.%s.", h, payload_seg);
        expect_bad_token(t);
        free(t);
        /* Two segments only. */
        t = xasprintf("%s.%s", h, payload_seg);
        expect_bad_token(t);
        free(t);
        /* alg none with the real signature kept. */
        char *sig = jwt_segment(srv.token, 2);
        t = xasprintf("%s.%s.%s", h, payload_seg, sig);
        expect_bad_token(t);
        free(t);
        free(sig);
        free(h);
        free(hj);
    }
    free(payload_seg);
}
END_TEST

START_TEST(test_auth_hmac_with_public_key_401)
{
    /* The server's public key as anyone gets it: JWKS -> PEM with OpenSSL. */
    struct test_resp r;
    ck_assert(
        test_http(&srv, "GET", "/" TEST_TENANT "/discovery/v2.0/keys", NULL, NULL, no_auth, &r));
    ck_assert_int_eq(r.status, 200);
    struct jwk_pem *v = NULL;
    size_t n = 0;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(keys_jwks_to_pem(r.body, r.len, &v, &n, &ei) == ERR_OK, "%s", ei.msg);
    test_resp_free(&r);
    char kid[64];
    snprintf(kid, sizeof(kid), "%s", kid_of(srv.token));
    const char *pem = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].kid, kid) == 0)
            pem = v[i].public_pem;
    ck_assert_msg(pem != NULL, "the token's kid is not in the JWKS");
    /* Exactly the server's key: the kid is the hash of its SubjectPublicKeyInfo. */
    char again[48];
    ck_assert_int_eq(keys_kid(pem, again, &ei), ERR_OK);
    ck_assert_str_eq(again, kid);

    json_t *payload = jwt_part(srv.token, 1);
    char *pj = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    char *hdr = xasprintf("{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"%s\"}", kid);
    /* HMAC keyed with the PEM text, with and without its final newline, and the kid left out. */
    char *pem_trim = xstrdup(pem);
    trim(pem_trim);
    const char *keys_to_try[] = {pem, pem_trim};
    for (size_t i = 0; i < ARRAY_SIZE(keys_to_try); i++) {
        char *t = test_craft_token(hdr, pj, "HS256", keys_to_try[i]);
        expect_bad_token(t);
        free(t);
        t = test_craft_token("{\"typ\":\"JWT\",\"alg\":\"HS256\"}", pj, "HS256", keys_to_try[i]);
        expect_bad_token(t);
        free(t);
    }
    free(pem_trim);
    free(hdr);
    free(pj);
    keys_jwk_pem_free(v, n);
    expect_good_token(srv.token);
}
END_TEST

START_TEST(test_auth_external_issuer_accepted)
{
    /* The controls for the cases below: a configured issuer's RS256 and ES256 tokens work. */
    struct ext_tok t = ext_defaults();
    char *tok = ext_token(&t);
    expect_good_token(tok);
    free(tok);
    t.alg = "ES256";
    t.kid = EC_KID;
    t.key = ec_pem;
    tok = ext_token(&t);
    expect_good_token(tok);
    /* An application token of an external issuer may write as its roles allow. */
    import_plain(2);
    json_t *j = json_as(tok, "PATCH", "/api/incidents/1", "{\"comment\":\"from ES256\"}", 200);
    json_decref(j);
    free(tok);
    /* The header must name the key's algorithm: ES256 with an RSA kid, RS256 with the EC kid. */
    t = ext_defaults();
    t.alg = "ES256";
    t.key = ec_pem;
    tok = ext_token(&t);
    expect_bad_token(tok);
    free(tok);
    char *hdr = xasprintf("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"%s\"}", EC_KID);
    t = ext_defaults();
    char *pay = ext_payload(&t);
    tok = test_craft_token(hdr, pay, "RS256", kx.private_pem);
    expect_bad_token(tok);
    free(tok);
    free(hdr);
    free(pay);
    /* Entra's header shape (x5t beside kid) and a v2-style token naming the client in azp only. */
    hdr = xasprintf("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5t\":\"%s\",\"kid\":\"%s\"}", kx.kid,
                    kx.kid);
    pay = xasprintf("{\"aud\":\"" AUD "\",\"iss\":\"" ISS_X "\",\"iat\":%" PRId64
                    ",\"nbf\":%" PRId64 ",\"exp\":%" PRId64 ",\"azp\":\"" EXT_APPID
                    "\",\"azpacr\":\"1\",\"oid\":\"x\",\"sub\":\"x\",\"tid\":\"" TEST_TENANT
                    "\",\"roles\":[\"Incident.Read.All\"],\"ver\":\"2.0\"}",
                    t.iat, t.nbf, t.exp);
    tok = test_craft_token(hdr, pay, "RS256", kx.private_pem);
    expect_good_token(tok);
    ck_assert_int_eq(status_as(tok, "PATCH", "/api/incidents/1", "{\"comment\":\"x\"}"), 403);
    free(tok);
    free(hdr);
    free(pay);
}
END_TEST

/* A delegated (scp, upn) token of the external issuer X for upn. */
static char *ext_user_token(const char *upn, const char *scp)
{
    struct ext_tok t = ext_defaults();
    char *hdr = xasprintf("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"%s\"}", kx.kid);
    char *pay =
        xasprintf("{\"aud\":\"" AUD "\",\"iss\":\"" ISS_X "\",\"iat\":%" PRId64 ",\"nbf\":%" PRId64
                  ",\"exp\":%" PRId64 ",\"appid\":\"" EXT_APPID "\",\"tid\":\"" TEST_TENANT
                  "\",\"oid\":\"u\",\"sub\":\"u\",\"scp\":\"%s\","
                  "\"upn\":\"%s\",\"unique_name\":\"%s\",\"name\":\"Some One\"}",
                  t.iat, t.nbf, t.exp, scp, upn, upn);
    char *tok = test_craft_token(hdr, pay, "RS256", kx.private_pem);
    free(hdr);
    free(pay);
    return tok;
}

START_TEST(test_auth_external_delegated_token)
{
    import_plain(3);
    /* Unregistered: a valid token, yet 403. */
    char *tok = ext_user_token("ext.user@contoso.com", "Incident.ReadWrite");
    struct test_resp r;
    http_as(tok, "GET", "/api/incidents", NULL, &r);
    test_expect_error(&r, 403, "Forbidden");
    test_resp_free(&r);
    /* Registered (UPNs compare without case, as in Entra ID): the user, as the comment author. */
    user_create(TEST_TENANT, "ext.user@contoso.com", NULL, NULL);
    free(tok);
    tok = ext_user_token("Ext.User@Contoso.com", "Incident.Read Incident.ReadWrite");
    ck_assert_int_eq(list_count(tok, "/api/incidents"), 3);
    json_t *j = json_as(tok, "PATCH", "/api/incidents/2", "{\"comment\":\"external user\"}", 200);
    json_t *c = json_array_get(json_object_get(j, "comments"), 0);
    const char *by = json_string_value(json_object_get(c, "createdBy"));
    ck_assert_msg(by && strcasecmp(by, "ext.user@contoso.com") == 0, "createdBy %s", by);
    json_decref(j);
    free(tok);
    /* Its scp decides: read only. */
    tok = ext_user_token("ext.user@contoso.com", "Incident.Read");
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/2", NULL), 200);
    ck_assert_int_eq(status_as(tok, "PATCH", "/api/incidents/2", "{\"comment\":\"x\"}"), 403);
    free(tok);
}
END_TEST

START_TEST(test_auth_unknown_kid_401)
{
    struct ext_tok t = ext_defaults();
    t.kid = "unknown-kid-0000000001";
    char *tok = ext_token(&t);
    expect_bad_token(tok);
    free(tok);
    /* No kid at all. */
    t = ext_defaults();
    char *pay = ext_payload(&t);
    tok = test_craft_token("{\"typ\":\"JWT\",\"alg\":\"RS256\"}", pay, "RS256", kx.private_pem);
    expect_bad_token(tok);
    free(tok);
    free(pay);
    /* The server's payload with a kid it never issued (signature left as is). */
    json_t *h = jwt_part(srv.token, 0);
    json_object_set_new(h, "kid", json_string("AAAAAAAAAAAAAAAAAAAAAA"));
    char *hj = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    char *h64 = keys_b64url_encode((const unsigned char *)hj, strlen(hj));
    const char *rest = strchr(srv.token, '.');
    tok = xasprintf("%s%s", h64, rest);
    expect_bad_token(tok);
    free(tok);
    free(h64);
    free(hj);
}
END_TEST

START_TEST(test_auth_wrong_issuer_401)
{
    struct ext_tok t = ext_defaults();
    const char *issuers[] = {
        "https://evil.example.test/",
        "https://sts.windows.net/" TEST_TENANT, /* ISS_X without its final slash */
        "HTTPS://STS.WINDOWS.NET/" TEST_TENANT "/",
        OWN_ISS, /* our own issuer: key X is not one of our keys */
        "",
    };
    for (size_t i = 0; i < ARRAY_SIZE(issuers); i++) {
        t.iss = issuers[i];
        char *tok = ext_token(&t);
        expect_bad_token(tok);
        free(tok);
    }
    /* No iss claim at all. */
    char *pay = xasprintf("{\"aud\":\"" AUD "\",\"iat\":%" PRId64 ",\"nbf\":%" PRId64
                          ",\"exp\":%" PRId64 ",\"tid\":\"" TEST_TENANT "\",\"appid\":\"" EXT_APPID
                          "\",\"roles\":[\"Incident.ReadWrite.All\"]}",
                          t.iat, t.nbf, t.exp);
    char *hdr = xasprintf("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"%s\"}", kx.kid);
    char *tok = test_craft_token(hdr, pay, "RS256", kx.private_pem);
    expect_bad_token(tok);
    free(tok);
    free(hdr);
    free(pay);
    t.iss = ISS_X;
    tok = ext_token(&t);
    expect_good_token(tok);
    free(tok);
}
END_TEST

START_TEST(test_auth_kid_of_other_issuer_401)
{
    /* Key Y is trusted, but for ISS_Y only: signed by Y, naming Y's kid, claiming ISS_X. */
    struct ext_tok t = ext_defaults();
    t.kid = ky.kid;
    t.key = ky.private_pem;
    char *tok = ext_token(&t);
    expect_bad_token(tok);
    free(tok);
    /* The EC key belongs to ISS_X: an ES256 token claiming ISS_Y. */
    t = ext_defaults();
    t.alg = "ES256";
    t.kid = EC_KID;
    t.key = ec_pem;
    t.iss = ISS_Y;
    tok = ext_token(&t);
    expect_bad_token(tok);
    free(tok);
    /* Control: Y's token claiming ISS_Y works. */
    t = ext_defaults();
    t.kid = ky.kid;
    t.key = ky.private_pem;
    t.iss = ISS_Y;
    tok = ext_token(&t);
    expect_good_token(tok);
    free(tok);
}
END_TEST

START_TEST(test_auth_tampered_payload_401)
{
    const char *d1 = strchr(srv.token, '.'), *d2 = strrchr(srv.token, '.');
    json_t *p = jwt_part(srv.token, 1);
    /* Every tampering keeps the original header and signature. */
    const char *edits[] = {"roles", "exp", "tid", "appid", "extra"};
    for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
        json_t *q = json_deep_copy(p);
        if (i == 0)
            json_object_set_new(q, "roles", json_pack("[s]", "Incident.ReadWrite.All"));
        else if (i == 1)
            json_object_set_new(
                q, "exp", json_integer(json_integer_value(json_object_get(q, "exp")) + 86400));
        else if (i == 2)
            json_object_set_new(q, "tid", json_string(TENANT_A));
        else if (i == 3)
            json_object_set_new(q, "appid", json_string(EXT_APPID));
        else
            json_object_set_new(q, "x", json_string("y"));
        char *text = json_dumps(q, JSON_COMPACT);
        char *p64 = keys_b64url_encode((const unsigned char *)text, strlen(text));
        char *tok = xasprintf("%.*s.%s%s", (int)(d1 - srv.token), srv.token, p64, d2);
        expect_bad_token(tok);
        free(tok);
        free(p64);
        free(text);
        json_decref(q);
    }
    json_decref(p);
    /* A flipped signature character (in the middle: the last one holds padding bits). */
    char *tok = xstrdup(srv.token);
    char *c = tok + (d2 - srv.token) + 100;
    *c = *c == 'A' ? 'B' : 'A';
    expect_bad_token(tok);
    free(tok);
    expect_good_token(srv.token);
}
END_TEST

/* A validly signed token of exactly `len` characters: a padding claim sized to fit, and the
 * header with or without typ (base64url never has a length of 4k+1, so one of the two fits). */
static char *token_of_length(size_t len)
{
    struct ext_tok t = ext_defaults();
    t.extra = ",\"pad\":\"\"";
    char *pay0 = ext_payload(&t);
    size_t base = strlen(pay0);
    free(pay0);
    for (int with_typ = 0; with_typ < 2; with_typ++) {
        char *hdr = with_typ
                        ? xasprintf("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"%s\"}", kx.kid)
                        : xasprintf("{\"alg\":\"RS256\",\"kid\":\"%s\"}", kx.kid);
        size_t h64 = (strlen(hdr) * 4 + 2) / 3;
        for (size_t pad = 0; pad < len; pad++) {
            /* header.payload.signature; an RS256-2048 signature is 342 characters. */
            size_t total = h64 + 1 + (4 * (base + pad) + 2) / 3 + 1 + 342;
            if (total > len)
                break;
            if (total < len)
                continue;
            char *extra = xmalloc(pad + 16);
            int k = snprintf(extra, pad + 16, ",\"pad\":\"");
            memset(extra + k, 'p', pad);
            snprintf(extra + k + pad, 3, "\"");
            t.extra = extra;
            char *pay = ext_payload(&t);
            char *tok = test_craft_token(hdr, pay, "RS256", kx.private_pem);
            free(pay);
            free(extra);
            free(hdr);
            ck_assert_uint_eq(strlen(tok), len);
            return tok;
        }
        free(hdr);
    }
    ck_abort_msg("cannot make a token of %zu characters", len);
    return NULL;
}

START_TEST(test_auth_token_size_limit)
{
    /* 16 KiB is the largest accepted; one character more is refused unparsed. */
    char *tok = token_of_length(16384);
    expect_good_token(tok);
    free(tok);
    tok = token_of_length(16385);
    expect_bad_token(tok);
    free(tok);
    tok = token_of_length(40000);
    expect_bad_token(tok);
    free(tok);
}
END_TEST

/*
 * With the default configuration (16 KiB header limit), an oversized token is still an invalid
 * token: 401 invalid_token in the error envelope, not the header-limit answer. Far beyond, the
 * server may refuse the headers instead (431), but every error body stays the CONTRACT §7
 * envelope with the request id.
 */
START_TEST(test_auth_oversized_token_default_limits)
{
    const size_t sizes[] = {16385, 20000, 40000};
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        char *tok = xmalloc(sizes[i] + 1);
        memset(tok, 'a', sizes[i]);
        tok[sizes[i]] = '\0';
        char *v = xasprintf("Bearer %s", tok);
        expect_401("GET", "/api/incidents", v, true);
        free(v);
        free(tok);
    }
    size_t huge = 70000;
    char *tok = xmalloc(huge + 1);
    memset(tok, 'a', huge);
    tok[huge] = '\0';
    char *line = xasprintf("Authorization: Bearer %s", tok);
    const char *h[] = {line, NULL};
    struct test_resp r;
    ck_assert(test_http(&srv, "GET", "/api/incidents", NULL, NULL, h, &r));
    ck_assert_msg(r.status == 401 || r.status == 431, "status %ld", r.status);
    ck_assert_msg(r.body[0] == '{', "%ld without the error envelope: %.200s", r.status, r.body);
    test_expect_error(&r, r.status, r.status == 401 ? "Unauthorized" : "BadRequest");
    test_resp_free(&r);
    free(line);
    free(tok);
}
END_TEST

/*
 * Clock edges, 5 minutes of skew (CONTRACT §8). The server reads its clock after the token is
 * made, by at most a few seconds under ASan, never before; the rule is "expired when
 * now - 300 >= exp" and "not yet valid when now + 300 < nbf". So each case keeps 10 s of margin
 * on the side the server's later clock could cross: exp = t-310 is expired whenever the server's
 * now >= t; exp = t-290 is valid while its now < t+10; nbf = t+310 is refused while now < t+10;
 * nbf = t+290 is valid whenever now >= t.
 */
START_TEST(test_auth_expiry_skew_edge)
{
    struct ext_tok t = ext_defaults();
    int64_t now = (int64_t)time(NULL);
    t.iat = t.nbf = now - 4000;
    t.exp = now - 310;
    char *expired = ext_token(&t);
    t.exp = now - 290;
    char *in_skew = ext_token(&t);
    expect_bad_token(expired);
    expect_good_token(in_skew);
    free(expired);
    free(in_skew);
}
END_TEST

START_TEST(test_auth_nbf_skew_edge)
{
    struct ext_tok t = ext_defaults();
    int64_t now = (int64_t)time(NULL);
    t.iat = now;
    t.exp = now + 3600;
    t.nbf = now + 310;
    char *early = ext_token(&t);
    t.nbf = now + 290;
    char *in_skew = ext_token(&t);
    expect_bad_token(early);
    expect_good_token(in_skew);
    free(early);
    free(in_skew);
}
END_TEST

START_TEST(test_auth_wrong_audience_401)
{
    struct ext_tok t = ext_defaults();
    const char *bad[] = {"https://graph.microsoft.com", AUD "/",
                         "https://API.security.microsoft.com",
                         "00000003-0000-0000-c000-000000000000", ""};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        t.aud = bad[i];
        char *tok = ext_token(&t);
        expect_bad_token(tok);
        free(tok);
    }
    const char *good[] = {AUD, AUD_MTP, AUD_GUID};
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        t.aud = good[i];
        char *tok = ext_token(&t);
        expect_good_token(tok);
        free(tok);
    }
}
END_TEST

START_TEST(test_auth_unknown_tenant_401)
{
    struct ext_tok t = ext_defaults();
    /* An issuer speaks for one tenant: X's issuer cannot vouch for another tenant, known or
     * not. */
    char oid[64], osecret[64];
    static const char *const oroles[] = {"Incident.Read.All", NULL};
    app_create(TENANT_OTHER_KNOWN, "other tenant", oroles, oid, osecret);
    t.tid = TENANT_OTHER_KNOWN;
    char *foreign = ext_token(&t);
    expect_bad_token(foreign);
    free(foreign);
    t.iss = ISS_UNK;
    t.tid = TENANT_UNK;
    char *tok = ext_token(&t);
    expect_bad_token(tok);
    free(tok);
    /* A tenant becomes known once something is created for it. */
    char id[64], secret[64];
    static const char *const roles[] = {"Incident.Read.All", NULL};
    app_create(TENANT_UNK, "newcomer", roles, id, secret);
    tok = ext_token(&t);
    expect_good_token(tok);
    free(tok);
    t.tid = "";
    tok = ext_token(&t);
    expect_bad_token(tok);
    free(tok);
    /* Known now, but still not X's tenant. */
    t.iss = ISS_X;
    t.tid = TENANT_UNK;
    tok = ext_token(&t);
    expect_bad_token(tok);
    free(tok);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * 403: valid token, missing permission
 */

static void expect_403(const char *tok, const char *method, const char *path, const char *perm,
                       const char *not_perm)
{
    struct test_resp r;
    http_as(tok, method, path, strcmp(method, "PATCH") == 0 ? "{\"comment\":\"no\"}" : NULL, &r);
    test_expect_error(&r, 403, "Forbidden");
    char *msg = error_message(&r);
    ck_assert_msg(strstr(msg, perm), "403 message does not name %s: %s", perm, msg);
    if (not_perm)
        ck_assert_msg(!strstr(msg, not_perm), "403 message names %s: %s", not_perm, msg);
    assert_no_credential("403 body", r.body, r.len, tok);
    free(msg);
    test_resp_free(&r);
}

START_TEST(test_auth_read_only_app_patch_403)
{
    import_plain(3);
    char id[64], secret[64];
    static const char *const roles[] = {"Incident.Read.All", NULL};
    app_create(TEST_TENANT, "reader", roles, id, secret);
    char *tok = fetch_token(TEST_TENANT, id, secret);
    char *before = body_as(NULL, "/api/incidents/1");
    ck_assert_int_eq(list_count(tok, "/api/incidents"), 3);
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/1", NULL), 200);
    expect_403(tok, "PATCH", "/api/incidents/1", "Incident.ReadWrite.All", NULL);
    /* Even an empty update needs the write permission, and nothing changed. */
    ck_assert_int_eq(status_as(tok, "PATCH", "/api/incidents/1", "{}"), 403);
    char *after = body_as(NULL, "/api/incidents/1");
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    free(tok);
}
END_TEST

START_TEST(test_auth_alert_only_app_read_403)
{
    import_plain(3);
    char id[64], secret[64];
    static const char *const roles[] = {"Alert.ReadWrite.All", NULL};
    app_create(TEST_TENANT, "alerts only", roles, id, secret);
    char *tok = fetch_token(TEST_TENANT, id, secret);
    expect_403(tok, "GET", "/api/incidents", "Incident.Read.All", NULL);
    expect_403(tok, "GET", "/api/incidents?$top=1", "Incident.Read.All", NULL);
    expect_403(tok, "GET", "/api/incidents/1", "Incident.Read.All", NULL);
    expect_403(tok, "PATCH", "/api/incidents/1", "Incident.ReadWrite.All", NULL);
    free(tok);
}
END_TEST

START_TEST(test_auth_delegated_read_scope_patch_403)
{
    import_plain(3);
    user_create(TEST_TENANT, "reader@contoso.com", NULL, NULL);
    char *tok = user_token(TEST_TENANT, "reader@contoso.com", "Incident.Read");
    json_t *p = jwt_part(tok, 1);
    ck_assert_str_eq(json_string_value(json_object_get(p, "scp")), "Incident.Read");
    ck_assert_str_eq(json_string_value(json_object_get(p, "upn")), "reader@contoso.com");
    json_decref(p);
    ck_assert_int_eq(list_count(tok, "/api/incidents"), 3);
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/2", NULL), 200);
    /* Delegated callers are told the scp they lack, not the application role. */
    expect_403(tok, "PATCH", "/api/incidents/2", "Incident.ReadWrite", "Incident.ReadWrite.All");
    free(tok);
    /* A delegated token with no incident scope cannot read either. */
    tok = user_token(TEST_TENANT, "reader@contoso.com", "Alert.ReadWrite");
    expect_403(tok, "GET", "/api/incidents", "Incident.Read", "Incident.Read.All");
    expect_403(tok, "GET", "/api/incidents/2", "Incident.Read", "Incident.Read.All");
    free(tok);
    /* Incident.ReadWrite may do both. */
    tok = user_token(TEST_TENANT, "reader@contoso.com", "Incident.Read Incident.ReadWrite");
    json_t *j = json_as(tok, "PATCH", "/api/incidents/2", "{\"comment\":\"ok\"}", 200);
    json_decref(j);
    free(tok);
}
END_TEST

START_TEST(test_auth_unregistered_user_403)
{
    import_plain(2);
    /* A token signed for a user who is then removed before ever using it. */
    user_create(TEST_TENANT, "gone@contoso.com", NULL, NULL);
    char *tok = user_token(TEST_TENANT, "gone@contoso.com", "Incident.ReadWrite");
    const char *del[] = {"user",  "delete",           "--db", srv.db, "--tenant", TEST_TENANT,
                         "--upn", "gone@contoso.com", NULL};
    free(cli_ok(del));
    /* A valid signature for a user the tenant does not have: 403, not 401. */
    struct test_resp r;
    http_as(tok, "GET", "/api/incidents", NULL, &r);
    test_expect_error(&r, 403, "Forbidden");
    assert_no_credential("403 body", r.body, r.len, tok);
    test_resp_free(&r);
    http_as(tok, "PATCH", "/api/incidents/1", "{\"comment\":\"x\"}", &r);
    test_expect_error(&r, 403, "Forbidden");
    test_resp_free(&r);
    http_as(tok, "GET", "/api/incidents/1", NULL, &r);
    test_expect_error(&r, 403, "Forbidden");
    test_resp_free(&r);
    /* The same user registered in another tenant does not make the token good. */
    user_create(TENANT_A, "gone@contoso.com", NULL, NULL);
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents", NULL), 403);
    free(tok);
}
END_TEST

/* Deleting a user takes effect on the next request, also for a token already in use: the
 * tenant no longer has the user, who must not see exactly what it may not see (issue 3). */
START_TEST(test_auth_deleted_user_refused_at_once)
{
    import_plain(2);
    user_create(TEST_TENANT, "leaver@contoso.com", NULL, NULL);
    char *tok = user_token(TEST_TENANT, "leaver@contoso.com", "Incident.ReadWrite");
    ck_assert_int_eq(list_count(tok, "/api/incidents"), 2);
    const char *del[] = {"user",     "delete",    "--db",  srv.db,
                         "--tenant", TEST_TENANT, "--upn", "leaver@contoso.com",
                         NULL};
    free(cli_ok(del));
    struct test_resp r;
    http_as(tok, "GET", "/api/incidents", NULL, &r);
    ck_assert_msg(r.status == 403,
                  "a deleted user's token that was used before the deletion still gets %ld",
                  r.status);
    test_expect_error(&r, 403, "Forbidden");
    test_resp_free(&r);
    ck_assert_int_eq(status_as(tok, "PATCH", "/api/incidents/1", "{\"comment\":\"x\"}"), 403);
    free(tok);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The token service (CONTRACT §8)
 */

static void token_post(const char *path, const char *ct, const char *body, const char *const *hdrs,
                       struct test_resp *r)
{
    ck_assert(test_http(&srv, "POST", path, ct, body, hdrs ? hdrs : no_auth, r));
}

/* An Entra-shaped error: status, `error`, and the rest of the body, never echoing a secret. */
static void expect_token_error(const struct test_resp *r, long status, const char *error)
{
    ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
    char ct[128];
    ck_assert(test_resp_header(r, "Content-Type", ct, sizeof(ct)));
    ck_assert_msg(strncmp(ct, "application/json", 16) == 0, "Content-Type %s", ct);
    json_t *j = test_json_body(r);
    const char *e = json_string_value(json_object_get(j, "error"));
    ck_assert_msg(e && strcmp(e, error) == 0, "error %s, want %s: %s", e, error, r->body);
    const char *d = json_string_value(json_object_get(j, "error_description"));
    ck_assert_msg(d && strncmp(d, "AADSTS", 6) == 0, "error_description: %s", r->body);
    ck_assert(json_is_array(json_object_get(j, "error_codes")));
    ck_assert(json_is_string(json_object_get(j, "timestamp")));
    ck_assert(json_is_string(json_object_get(j, "trace_id")));
    ck_assert(json_is_string(json_object_get(j, "correlation_id")));
    ck_assert(!json_object_get(j, "access_token"));
    assert_no_credential("token error", r->body, r->len, srv.client_secret);
    json_decref(j);
}

static char *form_v2(const char *id, const char *secret, const char *scope)
{
    return xasprintf("grant_type=client_credentials&client_id=%s&client_secret=%s&scope=%s", id,
                     secret, scope);
}

/* Percent-encodes every byte (RFC 6749 §2.3.1 form-encoding, taken to the extreme). */
static char *pct_all(const char *s)
{
    char *out = xmalloc(strlen(s) * 3 + 1), *o = out;
    for (; *s; s++)
        o += snprintf(o, 4, "%%%02X", (unsigned char)*s);
    *o = '\0';
    return out;
}

static char *basic_header(const char *id, const char *secret)
{
    char *raw = xasprintf("%s:%s", id, secret);
    unsigned char *b64 = xmalloc(strlen(raw) * 2 + 8);
    EVP_EncodeBlock(b64, (const unsigned char *)raw, (int)strlen(raw));
    char *h = xasprintf("Authorization: Basic %s", (char *)b64);
    free(raw);
    free(b64);
    return h;
}

/* Asserts a 200 token response and returns its access_token (malloc'd). */
static char *expect_token_ok(const struct test_resp *r)
{
    ck_assert_msg(r->status == 200, "token request: %ld %s", r->status, r->body);
    json_t *j = test_json_body(r);
    const char *t = json_string_value(json_object_get(j, "access_token"));
    ck_assert(t != NULL);
    char *tok = xstrdup(t);
    json_decref(j);
    return tok;
}

START_TEST(test_auth_token_v2_shape)
{
    char *body = form_v2(srv.client_id, srv.client_secret, SCOPE_API);
    struct test_resp r;
    token_post("/" TEST_TENANT "/oauth2/v2.0/token", FORM, body, NULL, &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    char h[256];
    ck_assert(test_resp_header(&r, "Content-Type", h, sizeof(h)));
    ck_assert_msg(strncmp(h, "application/json", 16) == 0, "%s", h);
    ck_assert(test_resp_header(&r, "Cache-Control", h, sizeof(h)));
    ck_assert_msg(strstr(h, "no-store"), "Cache-Control %s", h);
    json_t *j = test_json_body(&r);
    ck_assert_uint_eq(json_object_size(j), 4);
    ck_assert_str_eq(json_string_value(json_object_get(j, "token_type")), "Bearer");
    ck_assert(json_is_integer(json_object_get(j, "expires_in")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "expires_in")), 3599);
    ck_assert(json_is_integer(json_object_get(j, "ext_expires_in")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "ext_expires_in")), 3599);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    ck_assert(tok && strchr(tok, '.') && strchr(tok, '.') != strrchr(tok, '.'));
    expect_good_token(tok);
    json_decref(j);
    test_resp_free(&r);
    free(body);
    /* Any accepted resource works as the scope's base. */
    body = form_v2(srv.client_id, srv.client_secret, AUD_GUID "%2F.default");
    token_post("/" TEST_TENANT "/oauth2/v2.0/token", FORM, body, NULL, &r);
    char *t2 = expect_token_ok(&r);
    json_t *p = jwt_part(t2, 1);
    ck_assert_str_eq(json_string_value(json_object_get(p, "aud")), AUD_GUID);
    json_decref(p);
    expect_good_token(t2);
    free(t2);
    test_resp_free(&r);
    free(body);
}
END_TEST

START_TEST(test_auth_token_v1_shape)
{
    int64_t t0 = (int64_t)time(NULL);
    char *body = xasprintf("grant_type=client_credentials&client_id=%s&client_secret=%s&resource="
                           "https%%3A%%2F%%2Fsecurity.microsoft.com%%2Fmtp",
                           srv.client_id, srv.client_secret);
    struct test_resp r;
    token_post("/" TEST_TENANT "/oauth2/token", FORM, body, NULL, &r);
    int64_t t1 = (int64_t)time(NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    json_t *j = test_json_body(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "token_type")), "Bearer");
    /* Entra's v1 endpoint sends every number as a string. */
    ck_assert_str_eq(json_string_value(json_object_get(j, "expires_in")), "3599");
    ck_assert_str_eq(json_string_value(json_object_get(j, "ext_expires_in")), "3599");
    const char *eo = json_string_value(json_object_get(j, "expires_on"));
    const char *nb = json_string_value(json_object_get(j, "not_before"));
    ck_assert(eo && nb);
    int64_t expires_on = strtoll(eo, NULL, 10), not_before = strtoll(nb, NULL, 10);
    ck_assert_int_eq(expires_on - not_before, 3600);
    ck_assert_msg(not_before >= t0 - 1 && not_before <= t1 + 1, "not_before %s", nb);
    ck_assert_str_eq(json_string_value(json_object_get(j, "resource")), AUD_MTP);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    ck_assert(tok != NULL);
    json_t *p = jwt_part(tok, 1);
    ck_assert_str_eq(json_string_value(json_object_get(p, "aud")), AUD_MTP);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "exp")), expires_on);
    json_decref(p);
    expect_good_token(tok);
    json_decref(j);
    test_resp_free(&r);
    free(body);
}
END_TEST

START_TEST(test_auth_token_client_secret_basic)
{
    const char *path = "/" TEST_TENANT "/oauth2/v2.0/token";
    const char *body = "grant_type=client_credentials&scope=" SCOPE_API;
    /* Plain, then with every character of id and secret form-encoded (RFC 6749 §2.3.1). */
    char *enc_id = pct_all(srv.client_id), *enc_secret = pct_all(srv.client_secret);
    char *plain = basic_header(srv.client_id, srv.client_secret);
    char *encoded = basic_header(enc_id, enc_secret);
    const char *lines[] = {plain, encoded};
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
        const char *h[] = {lines[i], NULL};
        struct test_resp r;
        token_post(path, FORM, body, h, &r);
        char *tok = expect_token_ok(&r);
        expect_good_token(tok);
        free(tok);
        test_resp_free(&r);
    }
    /* v1 with Basic, and the body naming the same client id. */
    char *b1 = xasprintf("grant_type=client_credentials&client_id=%s&resource=" AUD, srv.client_id);
    const char *h1[] = {plain, NULL};
    struct test_resp r;
    token_post("/" TEST_TENANT "/oauth2/token", FORM, b1, h1, &r);
    char *tok = expect_token_ok(&r);
    free(tok);
    test_resp_free(&r);
    free(b1);
    /* A wrong secret in the header is refused like one in the body. */
    char *bad = basic_header(srv.client_id, "wrong-secret-value-000000000000000000000");
    const char *h2[] = {bad, NULL};
    token_post(path, FORM, body, h2, &r);
    expect_token_error(&r, 401, "invalid_client");
    test_resp_free(&r);
    free(bad);
    free(plain);
    free(encoded);
    free(enc_id);
    free(enc_secret);
}
END_TEST

START_TEST(test_auth_token_empty_bearer_ignored)
{
    char *body = form_v2(srv.client_id, srv.client_secret, SCOPE_API);
    const char *variants[] = {"Authorization: Bearer ", "Authorization: Bearer"};
    for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
        const char *h[] = {variants[i], NULL};
        struct test_resp r;
        token_post("/" TEST_TENANT "/oauth2/v2.0/token", FORM, body, h, &r);
        char *tok = expect_token_ok(&r);
        expect_good_token(tok);
        free(tok);
        test_resp_free(&r);
    }
    free(body);
}
END_TEST

START_TEST(test_auth_token_errors)
{
    const char *v2 = "/" TEST_TENANT "/oauth2/v2.0/token", *v1 = "/" TEST_TENANT "/oauth2/token";
    const char *id = srv.client_id, *sec = srv.client_secret;
    struct test_resp r;
    char *b;
    /* Bad secret: 401 invalid_client, and the wrong secret is not echoed either. */
    b = form_v2(id, "Wr0ngSecretValueThatIsLongEnough_1234567", SCOPE_API);
    token_post(v2, FORM, b, NULL, &r);
    expect_token_error(&r, 401, "invalid_client");
    ck_assert(!strstr(r.body, "Wr0ngSecretValueThatIsLongEnough_1234567"));
    test_resp_free(&r);
    free(b);
    /* No secret at all. */
    b = xasprintf("grant_type=client_credentials&client_id=%s&scope=%s", id, SCOPE_API);
    token_post(v2, FORM, b, NULL, &r);
    expect_token_error(&r, 401, "invalid_client");
    test_resp_free(&r);
    free(b);
    /* Unknown client. */
    b = form_v2("0b7c9e7a-4b0d-4c3e-9f3a-2d1e0c9b8a77", sec, SCOPE_API);
    token_post(v2, FORM, b, NULL, &r);
    expect_token_error(&r, 400, "unauthorized_client");
    test_resp_free(&r);
    free(b);
    /* A client of tenant A asking at the default tenant's endpoint, then at its own. */
    char aid[64], asec[64];
    static const char *const roles[] = {"Incident.Read.All", NULL};
    app_create(TENANT_A, "tenant A app", roles, aid, asec);
    b = form_v2(aid, asec, SCOPE_API);
    token_post(v2, FORM, b, NULL, &r);
    expect_token_error(&r, 400, "unauthorized_client");
    test_resp_free(&r);
    token_post("/" TENANT_A "/oauth2/v2.0/token", FORM, b, NULL, &r);
    free(expect_token_ok(&r));
    test_resp_free(&r);
    /* ... and the default tenant's client at tenant A's endpoint. */
    free(b);
    b = form_v2(id, sec, SCOPE_API);
    token_post("/" TENANT_A "/oauth2/v2.0/token", FORM, b, NULL, &r);
    expect_token_error(&r, 400, "unauthorized_client");
    test_resp_free(&r);
    free(b);
    /* Grants. */
    b = xasprintf("client_id=%s&client_secret=%s&scope=%s", id, sec, SCOPE_API);
    token_post(v2, FORM, b, NULL, &r);
    ck_assert_int_eq(r.status, 400);
    expect_token_error(&r, 400, "invalid_request");
    test_resp_free(&r);
    free(b);
    const char *grants[] = {"password", "authorization_code", "refresh_token", ""};
    for (size_t i = 0; i < ARRAY_SIZE(grants); i++) {
        b = xasprintf("grant_type=%s&client_id=%s&client_secret=%s&scope=%s", grants[i], id, sec,
                      SCOPE_API);
        token_post(v2, FORM, b, NULL, &r);
        ck_assert_msg(r.status == 400, "grant '%s': %ld %s", grants[i], r.status, r.body);
        ck_assert(!strstr(r.body, "access_token"));
        test_resp_free(&r);
        free(b);
    }
    b = xasprintf("grant_type=password&client_id=%s&client_secret=%s&scope=%s", id, sec, SCOPE_API);
    token_post(v2, FORM, b, NULL, &r);
    expect_token_error(&r, 400, "unsupported_grant_type");
    test_resp_free(&r);
    free(b);
    /* v2 scopes must be <resource>/.default. */
    const char *scopes[] = {"https%3A%2F%2Fapi.security.microsoft.com",
                            "https%3A%2F%2Fapi.security.microsoft.com%2FIncident.Read.All",
                            "%2F.default", SCOPE_API "+openid"};
    for (size_t i = 0; i < ARRAY_SIZE(scopes); i++) {
        b = form_v2(id, sec, scopes[i]);
        token_post(v2, FORM, b, NULL, &r);
        expect_token_error(&r, 400, "invalid_scope");
        test_resp_free(&r);
        free(b);
    }
    /* A resource we do not serve, v2 and v1: 400, no token. */
    b = form_v2(id, sec, "https%3A%2F%2Fgraph.microsoft.com%2F.default");
    token_post(v2, FORM, b, NULL, &r);
    ck_assert_msg(r.status == 400, "%ld %s", r.status, r.body);
    ck_assert(!strstr(r.body, "access_token"));
    test_resp_free(&r);
    free(b);
    b = xasprintf("grant_type=client_credentials&client_id=%s&client_secret=%s&resource="
                  "https%%3A%%2F%%2Fgraph.microsoft.com",
                  id, sec);
    token_post(v1, FORM, b, NULL, &r);
    ck_assert_msg(r.status == 400, "%ld %s", r.status, r.body);
    json_t *j = test_json_body(&r);
    ck_assert(json_string_length(json_object_get(j, "error")) > 0);
    json_decref(j);
    ck_assert(!strstr(r.body, "access_token"));
    test_resp_free(&r);
    free(b);
    /* v1 without resource. */
    b = xasprintf("grant_type=client_credentials&client_id=%s&client_secret=%s", id, sec);
    token_post(v1, FORM, b, NULL, &r);
    expect_token_error(&r, 400, "invalid_request");
    test_resp_free(&r);
    free(b);
    /* Wrong or missing Content-Type. */
    b = form_v2(id, sec, SCOPE_API);
    token_post(v2, "application/json", b, NULL, &r);
    expect_token_error(&r, 400, "invalid_request");
    test_resp_free(&r);
    token_post(v2, "text/plain", b, NULL, &r);
    expect_token_error(&r, 400, "invalid_request");
    test_resp_free(&r);
    token_post(v2, NULL, b, NULL, &r);
    expect_token_error(&r, 400, "invalid_request");
    test_resp_free(&r);
    /* Parameters on the content type are fine. */
    token_post(v2, FORM "; charset=utf-8", b, NULL, &r);
    free(expect_token_ok(&r));
    test_resp_free(&r);
    free(b);
    /* Only POST. */
    ck_assert(test_http(&srv, "GET", v2, NULL, NULL, no_auth, &r));
    test_expect_error(&r, 405, "MethodNotAllowed");
    test_resp_free(&r);
}
END_TEST

/* True when the string is a lowercase GUID. */
static bool is_guid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

START_TEST(test_auth_token_claims)
{
    char id[64], secret[64];
    static const char *const roles[] = {"Incident.Read.All", "Alert.ReadWrite.All", NULL};
    app_create(TEST_TENANT, "Claims App", roles, id, secret);
    int64_t t0 = (int64_t)time(NULL);
    char *body = form_v2(id, secret, "https%3A%2F%2Fsecurity.microsoft.com%2Fmtp%2F.default");
    struct test_resp r;
    token_post("/" TEST_TENANT "/oauth2/v2.0/token", FORM, body, NULL, &r);
    char *tok = expect_token_ok(&r);
    test_resp_free(&r);
    int64_t t1 = (int64_t)time(NULL);

    json_t *h = jwt_part(tok, 0);
    ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "RS256");
    ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
    const char *kid = json_string_value(json_object_get(h, "kid"));
    ck_assert(kid && *kid);
    json_t *jwks = json_as(NULL, "GET", "/" TEST_TENANT "/discovery/v2.0/keys", NULL, 200);
    bool found = false;
    json_t *k;
    size_t i;
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        found |= strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0;
    }
    ck_assert_msg(found, "kid %s not in the JWKS", kid);
    json_decref(jwks);
    json_decref(h);

    json_t *p = jwt_part(tok, 1);
    json_t *oidc =
        json_as(NULL, "GET", "/" TEST_TENANT "/v2.0/.well-known/openid-configuration", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(p, "iss")),
                     json_string_value(json_object_get(oidc, "issuer")));
    ck_assert_str_eq(json_string_value(json_object_get(p, "iss")), OWN_ISS);
    json_decref(oidc);
    ck_assert_str_eq(json_string_value(json_object_get(p, "aud")), AUD_MTP);
    ck_assert_str_eq(json_string_value(json_object_get(p, "tid")), TEST_TENANT);
    ck_assert_str_eq(json_string_value(json_object_get(p, "appid")), id);
    ck_assert_str_eq(json_string_value(json_object_get(p, "azp")), id);
    json_t *rl = json_object_get(p, "roles");
    ck_assert(json_is_array(rl));
    ck_assert_uint_eq(json_array_size(rl), 2);
    bool read = false, alert = false;
    json_t *v;
    json_array_foreach(rl, i, v)
    {
        read |= strcmp(json_string_value(v), "Incident.Read.All") == 0;
        alert |= strcmp(json_string_value(v), "Alert.ReadWrite.All") == 0;
    }
    ck_assert(read && alert);
    ck_assert(!json_object_get(p, "scp"));
    ck_assert(json_is_integer(json_object_get(p, "iat")));
    ck_assert(json_is_integer(json_object_get(p, "nbf")));
    ck_assert(json_is_integer(json_object_get(p, "exp")));
    int64_t iat = json_integer_value(json_object_get(p, "iat"));
    int64_t nbf = json_integer_value(json_object_get(p, "nbf"));
    int64_t exp = json_integer_value(json_object_get(p, "exp"));
    ck_assert_msg(iat >= t0 - 1 && iat <= t1 + 1,
                  "iat %" PRId64 " outside [%" PRId64 ", %" PRId64 "]", iat, t0, t1);
    ck_assert(nbf <= iat);
    ck_assert_int_eq(exp - iat, 3600);
    const char *jti = json_string_value(json_object_get(p, "jti"));
    ck_assert(jti && *jti);
    char *jti1 = xstrdup(jti);
    json_decref(p);

    /* A second token has another jti; the token works for reading. */
    token_post("/" TEST_TENANT "/oauth2/v2.0/token", FORM, body, NULL, &r);
    char *tok2 = expect_token_ok(&r);
    test_resp_free(&r);
    p = jwt_part(tok2, 1);
    ck_assert_str_ne(json_string_value(json_object_get(p, "jti")), jti1);
    json_decref(p);
    expect_good_token(tok2);
    free(jti1);
    free(tok2);
    free(tok);
    free(body);
}
END_TEST

START_TEST(test_auth_discovery_and_jwks)
{
    const char *paths[] = {"/" TEST_TENANT "/v2.0/.well-known/openid-configuration",
                           "/" TEST_TENANT "/.well-known/openid-configuration"};
    char want_te[256], want_jwks[256];
    snprintf(want_te, sizeof(want_te), "%s/" TEST_TENANT "/oauth2/v2.0/token", srv.base);
    snprintf(want_jwks, sizeof(want_jwks), "%s/" TEST_TENANT "/discovery/v2.0/keys", srv.base);
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        struct test_resp r;
        ck_assert(test_http(&srv, "GET", paths[i], NULL, NULL, no_auth, &r));
        ck_assert_msg(r.status == 200, "%s: %ld", paths[i], r.status);
        json_t *j = test_json_body(&r);
        ck_assert_str_eq(json_string_value(json_object_get(j, "token_endpoint")), want_te);
        ck_assert_str_eq(json_string_value(json_object_get(j, "jwks_uri")), want_jwks);
        ck_assert_str_eq(json_string_value(json_object_get(j, "issuer")), OWN_ISS);
        json_decref(j);
        test_resp_free(&r);
    }
    /* The token endpoint it names works as printed. */
    char *body = form_v2(srv.client_id, srv.client_secret, SCOPE_API);
    struct test_resp r;
    token_post(want_te + strlen(srv.base), FORM, body, NULL, &r);
    free(expect_token_ok(&r));
    test_resp_free(&r);
    free(body);

    /* JWKS: RSA signing keys, one of them the token's. */
    ck_assert(test_http(&srv, "GET", want_jwks + strlen(srv.base), NULL, NULL, no_auth, &r));
    ck_assert_int_eq(r.status, 200);
    json_t *jwks = test_json_body(&r);
    json_t *keys = json_object_get(jwks, "keys");
    ck_assert(json_is_array(keys));
    ck_assert_uint_ge(json_array_size(keys), 1);
    bool found = false;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        ck_assert_str_eq(json_string_value(json_object_get(k, "kty")), "RSA");
        ck_assert_str_eq(json_string_value(json_object_get(k, "use")), "sig");
        ck_assert_str_eq(json_string_value(json_object_get(k, "alg")), "RS256");
        ck_assert_str_eq(json_string_value(json_object_get(k, "e")), "AQAB");
        ck_assert(!json_object_get(k, "d") && !json_object_get(k, "p"));
        const char *n = json_string_value(json_object_get(k, "n"));
        unsigned char *raw = NULL;
        size_t len = 0;
        ck_assert(n && keys_b64url_decode(n, strlen(n), &raw, &len));
        ck_assert_uint_ge(len, 256);
        ck_assert(raw[0] != 0);
        free(raw);
        found |= strcmp(json_string_value(json_object_get(k, "kid")), kid_of(srv.token)) == 0;
    }
    ck_assert(found);
    /* It converts back to the keys, each kid being the hash of its key. */
    struct jwk_pem *v = NULL;
    size_t nk = 0;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(keys_jwks_to_pem(r.body, r.len, &v, &nk, &ei), ERR_OK);
    for (i = 0; i < nk; i++) {
        char kid[48];
        ck_assert_int_eq(keys_kid(v[i].public_pem, kid, &ei), ERR_OK);
        ck_assert_str_eq(kid, v[i].kid);
    }
    keys_jwk_pem_free(v, nk);
    json_decref(jwks);
    test_resp_free(&r);
    /* An unknown tenant has neither. */
    ck_assert(
        test_http(&srv, "GET", "/" TENANT_UNK "/discovery/v2.0/keys", NULL, NULL, no_auth, &r));
    ck_assert_int_eq(r.status, 404);
    test_resp_free(&r);
    ck_assert(test_http(&srv, "GET", "/" TENANT_UNK "/v2.0/.well-known/openid-configuration", NULL,
                        NULL, no_auth, &r));
    ck_assert_int_eq(r.status, 404);
    test_resp_free(&r);
}
END_TEST

/*
 * "Pointing their authority URL at incidentd must be enough" (issue 3): MSAL, which real clients
 * use (azure-identity among them), reads the tenant's v2.0 openid-configuration and refuses one
 * without authorization_endpoint, token_endpoint or issuer (MSAL Python: Authority reads
 * openid_config['authorization_endpoint']; MSAL Go and MSAL.NET: "authorize endpoint was not
 * found in the openid configuration"), even for the client-credentials flow. Entra's document
 * has all three. Then it posts the client-credentials form with its own extra parameter
 * (client_info) and x-client-* headers.
 */
START_TEST(test_auth_discovery_msal_fields)
{
    json_t *j =
        json_as(NULL, "GET", "/" TEST_TENANT "/v2.0/.well-known/openid-configuration", NULL, 200);
    const char *fields[] = {"token_endpoint", "issuer", "authorization_endpoint"};
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        const char *v = json_string_value(json_object_get(j, fields[i]));
        ck_assert_msg(v && *v, "openid-configuration has no %s: MSAL refuses it", fields[i]);
    }
    /* MSAL takes the tenant from the token endpoint's first path segment. */
    char want[256];
    snprintf(want, sizeof(want), "%s/" TEST_TENANT "/", srv.base);
    const char *te = json_string_value(json_object_get(j, "token_endpoint"));
    ck_assert_msg(strncmp(te, want, strlen(want)) == 0, "token_endpoint %s", te);
    json_decref(j);
}
END_TEST

START_TEST(test_auth_token_msal_request)
{
    char *body = xasprintf("client_id=%s&grant_type=client_credentials&client_info=1&scope=%s"
                           "&client_secret=%s",
                           srv.client_id, SCOPE_API, srv.client_secret);
    const char *h[] = {"Authorization:",
                       "x-client-sku: MSAL.Python",
                       "x-client-ver: 1.31.0",
                       "x-client-os: linux",
                       "x-ms-lib-capability: retry-after, h429",
                       "client-request-id: 2d9d1e2c-7a4f-4a53-9a55-3d8f0d6f2a11",
                       "return-client-request-id: true",
                       "x-client-current-telemetry: 4|730,2||,",
                       "Accept: application/json",
                       NULL};
    struct test_resp r;
    token_post("/" TEST_TENANT "/oauth2/v2.0/token", FORM, body, h, &r);
    char *tok = expect_token_ok(&r);
    json_t *j = test_json_body(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "token_type")), "Bearer");
    ck_assert(json_is_integer(json_object_get(j, "expires_in")));
    json_decref(j);
    expect_good_token(tok);
    free(tok);
    test_resp_free(&r);
    free(body);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Tenant isolation (issue 3 §4)
 */

struct two_tenants {
    char *tok_a, *tok_b;
};

/* Tenant A: demo 1..12 plus 901 ("tenant A 901") and 950; tenant B: demo 1..6 plus 901
 * ("tenant B 901"). An application with every incident role in each. */
static void two_tenants_setup(struct two_tenants *t)
{
    demo(TENANT_A, 12, "5");
    demo(TENANT_B, 6, "9");
    json_t *alpha = incident_json(950, "alpha only", NULL);
    json_object_set_new(alpha, "assignedTo", json_string("alpha@contoso.com"));
    json_t *a901 = incident_json(901, "tenant A 901", NULL);
    json_object_set_new(a901, "assignedTo", json_string("alpha@contoso.com"));
    import_doc(TENANT_A, json_pack("{s:[o,o]}", "value", a901, alpha));
    import_doc(TENANT_B, json_pack("{s:[o]}", "value", incident_json(901, "tenant B 901", NULL)));
    static const char *const roles[] = {"Incident.ReadWrite.All", NULL};
    char ida[64], seca[64], idb[64], secb[64];
    app_create(TENANT_A, "A app", roles, ida, seca);
    app_create(TENANT_B, "B app", roles, idb, secb);
    t->tok_a = fetch_token(TENANT_A, ida, seca);
    t->tok_b = fetch_token(TENANT_B, idb, secb);
}

START_TEST(test_auth_tenant_isolation)
{
    struct two_tenants t;
    two_tenants_setup(&t);
    int64_t ids[64];
    size_t n = page_ids(t.tok_b, "/api/incidents?$top=3", ids, 64, 3, NULL);
    static const int64_t want_b[] = {1, 2, 3, 4, 5, 6, 901};
    assert_id_set(ids, n, want_b, ARRAY_SIZE(want_b));
    n = page_ids(t.tok_a, "/api/incidents", ids, 64, 100, NULL);
    ck_assert_uint_eq(n, 14);
    /* The server's own tenant has none of them. */
    ck_assert_int_eq(list_count(NULL, "/api/incidents"), 0);

    /* Filters cannot reach A's rows from B. */
    const char *filters[] = {
        "/api/incidents?$filter=incidentId+eq+950",
        "/api/incidents?$filter=incidentId%20eq%2012",
        "/api/incidents?$filter=incidentId+ge+7+and+incidentId+le+900",
        "/api/incidents?$filter=assignedTo+eq+'alpha@contoso.com'",
        "/api/incidents?$filter=incidentId+eq+901+and+assignedTo+eq+'alpha@contoso.com'",
    };
    for (size_t i = 0; i < ARRAY_SIZE(filters); i++)
        ck_assert_msg(list_count(t.tok_b, filters[i]) == 0, "B sees rows with %s", filters[i]);
    json_t *j = json_as(t.tok_b, "GET",
                        "/api/incidents?$filter=incidentId+eq+950+or+incidentId+eq+1", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "value")), 1);
    json_decref(j);
    ck_assert_int_eq(list_count(t.tok_a, "/api/incidents?$filter=incidentId+eq+950"), 1);
    ck_assert_int_eq(
        list_count(t.tok_a, "/api/incidents?$filter=assignedTo+eq+'alpha@contoso.com'"), 2);

    /* GET and PATCH of A's incidents from B: 404 ResourceNotFound, A's data unchanged. */
    char *before950 = body_as(t.tok_a, "/api/incidents/950");
    char *before12 = body_as(t.tok_a, "/api/incidents/12");
    struct test_resp r;
    const char *paths[] = {"/api/incidents/950", "/api/incidents/12"};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        http_as(t.tok_b, "GET", paths[i], NULL, &r);
        test_expect_error(&r, 404, "ResourceNotFound");
        test_resp_free(&r);
        http_as(t.tok_b, "PATCH", paths[i],
                "{\"comment\":\"from B\",\"status\":\"Resolved\",\"assignedTo\":\"b@b.com\","
                "\"tags\":[\"B\"]}",
                &r);
        test_expect_error(&r, 404, "ResourceNotFound");
        test_resp_free(&r);
        http_as(t.tok_b, "PATCH", paths[i], "{}", &r);
        test_expect_error(&r, 404, "ResourceNotFound");
        test_resp_free(&r);
    }
    char *after950 = body_as(t.tok_a, "/api/incidents/950");
    char *after12 = body_as(t.tok_a, "/api/incidents/12");
    ck_assert_str_eq(before950, after950);
    ck_assert_str_eq(before12, after12);
    /* The server's own application cannot reach them either. */
    ck_assert_int_eq(status_as(NULL, "GET", "/api/incidents/950", NULL), 404);
    ck_assert_int_eq(status_as(NULL, "PATCH", "/api/incidents/950", "{\"comment\":\"x\"}"), 404);

    /* Each tenant's keys are its own. */
    json_t *ka = json_as(NULL, "GET", "/" TENANT_A "/discovery/v2.0/keys", NULL, 200);
    json_t *kb = json_as(NULL, "GET", "/" TENANT_B "/discovery/v2.0/keys", NULL, 200);
    size_t i, k;
    json_t *x, *y;
    json_array_foreach(json_object_get(ka, "keys"), i, x)
    {
        json_array_foreach(json_object_get(kb, "keys"), k, y)
        {
            ck_assert_str_ne(json_string_value(json_object_get(x, "kid")),
                             json_string_value(json_object_get(y, "kid")));
        }
    }
    char kid_a[64];
    snprintf(kid_a, sizeof(kid_a), "%s", kid_of(t.tok_a));
    ck_assert_str_ne(kid_a, kid_of(t.tok_b));
    json_decref(ka);
    json_decref(kb);
    free(before950);
    free(before12);
    free(after950);
    free(after12);
    free(t.tok_a);
    free(t.tok_b);
}
END_TEST

START_TEST(test_auth_tenant_same_ids_separate)
{
    struct two_tenants t;
    two_tenants_setup(&t);
    json_t *a = json_as(t.tok_a, "GET", "/api/incidents/901", NULL, 200);
    json_t *b = json_as(t.tok_b, "GET", "/api/incidents/901", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(a, "incidentName")), "tenant A 901");
    ck_assert_str_eq(json_string_value(json_object_get(b, "incidentName")), "tenant B 901");
    /* incidentUri names each caller's tenant. */
    ck_assert(strstr(json_string_value(json_object_get(a, "incidentUri")), TENANT_A));
    ck_assert(strstr(json_string_value(json_object_get(b, "incidentUri")), TENANT_B));
    json_decref(a);
    json_decref(b);
    char *a_before = body_as(t.tok_a, "/api/incidents/901");
    /* B changes its 901; A's is untouched. */
    json_t *j = json_as(t.tok_b, "PATCH", "/api/incidents/901",
                        "{\"comment\":\"B only\",\"status\":\"Resolved\",\"tags\":[\"b\"],"
                        "\"assignedTo\":\"b@contoso.com\"}",
                        200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "comments")), 1);
    json_decref(j);
    char *a_after = body_as(t.tok_a, "/api/incidents/901");
    ck_assert_str_eq(a_before, a_after);
    /* A's filters see only A's state. */
    ck_assert_int_eq(list_count(t.tok_a, "/api/incidents?$filter=status+eq+'Resolved'+and+"
                                         "incidentId+eq+901"),
                     0);
    ck_assert_int_eq(list_count(t.tok_b, "/api/incidents?$filter=status+eq+'Resolved'+and+"
                                         "incidentId+eq+901"),
                     1);
    ck_assert_int_eq(list_count(t.tok_a, "/api/incidents?$filter=assignedTo+eq+'b@contoso.com'"),
                     0);
    /* Alert ids are per tenant too: B importing an alert id A uses does not take it from A. */
    json_t *aa = json_pack("[o]", alert_json("shared-alert-1", 970, NULL));
    import_doc(TENANT_A, json_pack("{s:[o]}", "value", incident_json(970, "A 970", aa)));
    json_t *ab = json_pack("[o]", alert_json("shared-alert-1", 971, NULL));
    import_doc(TENANT_B, json_pack("{s:[o]}", "value", incident_json(971, "B 971", ab)));
    j = json_as(t.tok_a, "GET", "/api/incidents/970", NULL, 200);
    json_t *al = json_object_get(j, "alerts");
    ck_assert_uint_eq(json_array_size(al), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(al, 0), "alertId")),
                     "shared-alert-1");
    json_decref(j);
    j = json_as(t.tok_b, "GET", "/api/incidents/971", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "alerts")), 1);
    json_decref(j);
    ck_assert_int_eq(status_as(t.tok_b, "GET", "/api/incidents/970", NULL), 404);
    ck_assert_int_eq(status_as(t.tok_a, "GET", "/api/incidents/971", NULL), 404);
    /* demo without --tenant fills the configured default tenant. */
    demo(NULL, 2, "1");
    ck_assert_int_eq(list_count(NULL, "/api/incidents"), 2);
    ck_assert_int_eq(list_count(t.tok_a, "/api/incidents?$top=100"), 15);
    free(a_before);
    free(a_after);
    free(t.tok_a);
    free(t.tok_b);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Delegated scoping (issue 3 §5)
 */

#define SCOPE_N 30
enum { G1 = 1, G2 = 2, G10 = 4 };

/*
 * The device groups of incident i's alerts: i % 3 == 0 → G1 (9: a device in G2 and one in G1);
 * i % 3 == 1 → G2 (7: "G10", which is not G1); 4 and 16 also have a second alert with devices
 * in G2 and G1; i % 3 == 2 → no group (no devices, a device without rbacGroupName, or null).
 * So G1 sees 3, 6, ..., 30 and 4, 16: 12 incidents, three full pages of 4.
 */
static unsigned groups_of(int i)
{
    unsigned g = i % 3 == 0 ? G1 : i % 3 == 1 ? (i == 7 ? G10 : G2) : 0;
    if (i == 9 || i == 4 || i == 16)
        g |= G1 | G2;
    return g;
}

static json_t *device(const char *group)
{
    json_t *d = json_pack("{s:s, s:s}", "mdatpDeviceId", "0123456789abcdef0123456789abcdef01234567",
                          "deviceDnsName", "host.contoso.com");
    if (group)
        json_object_set_new(d, "rbacGroupName", json_string(group));
    return d;
}

static void import_scoped(void)
{
    json_t *value = json_array();
    for (int i = 1; i <= SCOPE_N; i++) {
        char aid[32], name[32];
        snprintf(aid, sizeof(aid), "da%d-1", i);
        snprintf(name, sizeof(name), "scoped %d", i);
        json_t *devs = json_array();
        if (i % 3 == 0) {
            if (i == 9)
                json_array_append_new(devs, device("G2"));
            json_array_append_new(devs, device("G1"));
        } else if (i % 3 == 1) {
            json_array_append_new(devs, device(i == 7 ? "G10" : "G2"));
        } else if (i % 2 == 1) {
            json_array_append_new(devs, device(NULL));
            json_t *d = device(NULL);
            json_object_set_new(d, "rbacGroupName", json_null());
            json_array_append_new(devs, d);
        }
        json_t *alerts = json_pack("[o]", alert_json(aid, i, devs));
        if (i == 4 || i == 16) {
            snprintf(aid, sizeof(aid), "da%d-2", i);
            json_array_append_new(
                alerts, alert_json(aid, i, json_pack("[o,o]", device("G2"), device("G1"))));
        }
        json_array_append_new(value, incident_json(i, name, alerts));
    }
    import_doc(TEST_TENANT, json_pack("{s:o}", "value", value));
}

/* The ids visible to groups mask m (0: unrestricted), ascending. */
static size_t visible_ids(unsigned m, int64_t *out)
{
    size_t n = 0;
    for (int i = 1; i <= SCOPE_N; i++)
        if (!m || (groups_of(i) & m))
            out[n++] = i;
    return n;
}

/* A hidden incident is 404 even to a scoped user who also lacks the write permission: a 403
 * would tell them it exists (issue 3: "404 on GET and PATCH, never 403"). A visible one is
 * the 403 naming the scp. Refused calls still count against the quota, so they carry the
 * RateLimit headers. */
START_TEST(test_auth_hidden_incident_404_before_403)
{
    import_scoped();
    user_create(TEST_TENANT, "g1.reader@contoso.com", "G1", NULL);
    char *tok = user_token(TEST_TENANT, "g1.reader@contoso.com", "Incident.Read");
    ck_assert_int_eq(status_as(tok, "PATCH", "/api/incidents/1", "{\"comment\":\"x\"}"), 404);
    expect_403(tok, "PATCH", "/api/incidents/3", "Incident.ReadWrite", "Incident.ReadWrite.All");
    char auth[4200];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *const h[] = {auth, NULL};
    struct test_resp r;
    ck_assert(test_http(&srv, "PATCH", "/api/incidents/3", "application/json", "{}", h, &r));
    ck_assert_int_eq(r.status, 403);
    char v[32];
    ck_assert(test_resp_header(&r, "RateLimit-Limit", v, sizeof(v)));
    ck_assert(test_resp_header(&r, "RateLimit-Remaining", v, sizeof(v)));
    test_resp_free(&r);
    free(tok);
}
END_TEST

/* `incidentd token` refuses to mint what the server would refuse. */
START_TEST(test_auth_cli_token_rejects_unknown_scope_and_resource)
{
    user_create(TEST_TENANT, "s@contoso.com", NULL, NULL);
    const char *a[] = {"token",  "--db",          srv.db,    "--tenant", TEST_TENANT,
                       "--user", "s@contoso.com", "--scope", "bogus",    NULL};
    char *err = NULL;
    ck_assert_int_eq(test_run_cli(a, NULL, &err), 64);
    ck_assert(strstr(err, "unknown scope 'bogus'"));
    free(err);
    const char *b[] = {"token",
                       "--db",
                       srv.db,
                       "--client-id",
                       srv.client_id,
                       "--resource",
                       "https://graph.microsoft.com",
                       NULL};
    ck_assert_int_eq(test_run_cli(b, NULL, &err), 64);
    ck_assert(strstr(err, "not an accepted audience"));
    free(err);
}
END_TEST

START_TEST(test_auth_delegated_scoping_paging)
{
    import_scoped();
    user_create(TEST_TENANT, "g1.analyst@contoso.com", "G1", NULL);
    char *tok = user_token(TEST_TENANT, "g1.analyst@contoso.com", "Incident.Read");
    int64_t want[SCOPE_N], ids[SCOPE_N + 8];
    size_t nwant = visible_ids(G1, want), pages = 0;
    ck_assert_uint_eq(nwant, 12);
    size_t n = page_ids(tok, "/api/incidents?$top=4", ids, ARRAY_SIZE(ids), 4, &pages);
    assert_id_set(ids, n, want, nwant);
    ck_assert_uint_eq(pages, 3); /* 12 rows: three full pages, the last without nextLink */
    n = page_ids(tok, "/api/incidents?$top=5", ids, ARRAY_SIZE(ids), 5, &pages);
    assert_id_set(ids, n, want, nwant);
    ck_assert_uint_eq(pages, 3);
    /* With a filter and another order, still exactly the G1 rows. */
    n = page_ids(tok, "/api/incidents?$top=4&$filter=status+eq+'Active'&$orderby=incidentId+asc",
                 ids, ARRAY_SIZE(ids), 4, &pages);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(ids[i], want[i]); /* ascending, as ordered */
    assert_id_set(ids, n, want, nwant);
    ck_assert_int_eq(list_count(tok, "/api/incidents?$filter=incidentId+eq+1"), 0);
    ck_assert_int_eq(list_count(tok, "/api/incidents?$filter=incidentId+eq+7"), 0);
    ck_assert_int_eq(list_count(tok, "/api/incidents?$filter=incidentId+eq+3"), 1);
    ck_assert_int_eq(list_count(tok, "/api/incidents?$skip=12"), 0);
    ck_assert_int_eq(list_count(tok, "/api/incidents?$skip=11"), 1);
    free(tok);
    /* Several groups: the union. */
    user_create(TEST_TENANT, "both@contoso.com", "G2", "G1");
    tok = user_token(TEST_TENANT, "both@contoso.com", "Incident.Read");
    nwant = visible_ids(G1 | G2, want);
    n = page_ids(tok, "/api/incidents?$top=4", ids, ARRAY_SIZE(ids), 4, NULL);
    assert_id_set(ids, n, want, nwant);
    free(tok);
    /* A group nobody has sees nothing, without a nextLink. */
    user_create(TEST_TENANT, "nobody@contoso.com", "G3", NULL);
    tok = user_token(TEST_TENANT, "nobody@contoso.com", "Incident.Read");
    n = page_ids(tok, "/api/incidents?$top=4", ids, ARRAY_SIZE(ids), 4, &pages);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(pages, 1);
    free(tok);
}
END_TEST

START_TEST(test_auth_delegated_invisible_404)
{
    import_scoped();
    user_create(TEST_TENANT, "g1.analyst@contoso.com", "G1", NULL);
    char *tok =
        user_token(TEST_TENANT, "g1.analyst@contoso.com", "Incident.Read Incident.ReadWrite");
    const int64_t hidden[] = {1, 2, 7, 28};
    for (size_t i = 0; i < ARRAY_SIZE(hidden); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/api/incidents/%" PRId64, hidden[i]);
        ck_assert(!(groups_of((int)hidden[i]) & G1));
        char *before = body_as(NULL, path);
        struct test_resp r;
        http_as(tok, "GET", path, NULL, &r);
        test_expect_error(&r, 404, "ResourceNotFound");
        test_resp_free(&r);
        http_as(tok, "PATCH", path, "{\"comment\":\"hidden\",\"status\":\"Resolved\"}", &r);
        test_expect_error(&r, 404, "ResourceNotFound");
        test_resp_free(&r);
        char *after = body_as(NULL, path);
        ck_assert_str_eq(before, after);
        free(before);
        free(after);
    }
    /* Indistinguishable from an id that does not exist. */
    struct test_resp r1, r2;
    http_as(tok, "GET", "/api/incidents/1", NULL, &r1);
    http_as(tok, "GET", "/api/incidents/99999", NULL, &r2);
    ck_assert_int_eq(r1.status, r2.status);
    char *m1 = error_message(&r1), *m2 = error_message(&r2);
    /* The messages may name the id; with it swapped they must be the same. */
    char *p2 = strstr(m2, "99999");
    char *m2_as_1 = p2 ? xasprintf("%.*s1%s", (int)(p2 - m2), m2, p2 + 5) : xstrdup(m2);
    ck_assert_str_eq(m1, m2_as_1);
    free(m2_as_1);
    free(m1);
    free(m2);
    test_resp_free(&r1);
    test_resp_free(&r2);
    /* Visible ones: read and write. */
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/4", NULL), 200);
    ck_assert_int_eq(status_as(tok, "PATCH", "/api/incidents/9", "{\"comment\":\"ok\"}"), 200);
    /* Re-importing 9 with its G1 device gone hides it; giving 1 a G1 device shows it. */
    json_t *a9 = json_pack("[o]", alert_json("da9-1", 9, json_pack("[o]", device("G2"))));
    json_t *a1 = json_pack("[o]", alert_json("da1-1", 1, json_pack("[o]", device("G1"))));
    import_doc(TEST_TENANT, json_pack("{s:[o,o]}", "value", incident_json(9, "scoped 9", a9),
                                      incident_json(1, "scoped 1", a1)));
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/9", NULL), 404);
    ck_assert_int_eq(list_count(tok, "/api/incidents?$filter=incidentId+eq+9"), 0);
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/1", NULL), 200);
    ck_assert_int_eq(list_count(tok, "/api/incidents?$top=100"), 12);
    free(tok);
}
END_TEST

START_TEST(test_auth_delegated_no_groups_sees_all)
{
    import_scoped();
    user_create(TEST_TENANT, "lead@contoso.com", NULL, NULL);
    char *tok = user_token(TEST_TENANT, "lead@contoso.com", "Incident.Read");
    int64_t want[SCOPE_N], ids[SCOPE_N + 8];
    size_t nwant = visible_ids(0, want), pages = 0;
    size_t n = page_ids(tok, "/api/incidents?$top=4", ids, ARRAY_SIZE(ids), 4, &pages);
    assert_id_set(ids, n, want, nwant);
    ck_assert_uint_eq(pages, 8);
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/1", NULL), 200);
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/7", NULL), 200);
    free(tok);
    /* Only the tenant's, though: another tenant's user without groups sees none of these. */
    user_create(TENANT_A, "lead@contoso.com", NULL, NULL);
    tok = user_token(TENANT_A, "lead@contoso.com", "Incident.Read");
    ck_assert_int_eq(list_count(tok, "/api/incidents"), 0);
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/1", NULL), 404);
    free(tok);
    user_create(TENANT_A, "g1@contoso.com", "G1", NULL);
    tok = user_token(TENANT_A, "g1@contoso.com", "Incident.Read");
    ck_assert_int_eq(list_count(tok, "/api/incidents"), 0);
    ck_assert_int_eq(status_as(tok, "GET", "/api/incidents/3", NULL), 404);
    free(tok);
}
END_TEST

/* The createdBy of the last comment of an incident after PATCHing a comment as tok. */
static char *comment_by(const char *tok, const char *path, const char *text)
{
    char *body = xasprintf("{\"comment\":\"%s\"}", text);
    json_t *j = json_as(tok, "PATCH", path, body, 200);
    json_t *comments = json_object_get(j, "comments");
    json_t *last = json_array_get(comments, json_array_size(comments) - 1);
    ck_assert_str_eq(json_string_value(json_object_get(last, "comment")), text);
    char *by = xstrdup(json_string_value(json_object_get(last, "createdBy")));
    json_decref(j);
    free(body);
    return by;
}

START_TEST(test_auth_comment_created_by)
{
    import_scoped();
    user_create(TEST_TENANT, "Analyst.One@Contoso.com", "G1", NULL);
    char *tok = user_token(TEST_TENANT, "Analyst.One@Contoso.com", "Incident.ReadWrite");
    char *by = comment_by(tok, "/api/incidents/3", "by the user");
    ck_assert_str_eq(by, "Analyst.One@Contoso.com");
    free(by);
    free(tok);
    /* An application: its registered display name. */
    char id[64], secret[64];
    static const char *const roles[] = {"Incident.ReadWrite.All", NULL};
    app_create(TEST_TENANT, "SOC Automation (prod)", roles, id, secret);
    tok = fetch_token(TEST_TENANT, id, secret);
    by = comment_by(tok, "/api/incidents/3", "by the app");
    ck_assert_str_eq(by, "SOC Automation (prod)");
    free(by);
    free(tok);
    by = comment_by(NULL, "/api/incidents/3", "by the e2e app");
    ck_assert_str_eq(by, "e2e tests");
    free(by);
    /* Both stay as written. */
    json_t *j = json_as(NULL, "GET", "/api/incidents/3", NULL, 200);
    json_t *c = json_object_get(j, "comments");
    ck_assert_uint_eq(json_array_size(c), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 0), "createdBy")),
                     "Analyst.One@Contoso.com");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 1), "createdBy")),
                     "SOC Automation (prod)");
    json_decref(j);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Key rotation while serving
 */

static json_t *jwks_kids(void)
{
    json_t *jwks = json_as(NULL, "GET", "/" TEST_TENANT "/discovery/v2.0/keys", NULL, 200);
    json_t *kids = json_array();
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        json_array_append(kids, json_object_get(k, "kid"));
    }
    json_decref(jwks);
    return kids;
}

static bool has_kid(json_t *kids, const char *kid)
{
    size_t i;
    json_t *k;
    json_array_foreach(kids, i, k)
    {
        if (strcmp(json_string_value(k), kid) == 0)
            return true;
    }
    return false;
}

START_TEST(test_auth_keys_rotate_while_serving)
{
    char *old_tok = xstrdup(srv.token);
    char kid1[64];
    snprintf(kid1, sizeof(kid1), "%s", kid_of(old_tok));
    json_t *kids = jwks_kids();
    ck_assert_uint_eq(json_array_size(kids), 1);
    ck_assert(has_kid(kids, kid1));
    json_decref(kids);

    const char *rot[] = {"keys", "rotate", "--db", srv.db, NULL};
    char *kid2 = trim(cli_ok(rot));
    ck_assert_uint_gt(strlen(kid2), 0);
    ck_assert_str_ne(kid2, kid1);

    /* The token signed before still works. */
    expect_good_token(old_tok);
    /* New tokens carry the new kid and work. */
    char *new_tok = fetch_token(TEST_TENANT, srv.client_id, srv.client_secret);
    ck_assert_str_eq(kid_of(new_tok), kid2);
    expect_good_token(new_tok);
    expect_good_token(old_tok);
    const char *cli[] = {"token", "--db", srv.db, "--client-id", srv.client_id, NULL};
    char *cli_tok = trim(cli_ok(cli));
    ck_assert_str_eq(kid_of(cli_tok), kid2);
    expect_good_token(cli_tok);
    /* JWKS lists both. */
    kids = jwks_kids();
    ck_assert_uint_eq(json_array_size(kids), 2);
    ck_assert(has_kid(kids, kid1));
    ck_assert(has_kid(kids, kid2));
    json_decref(kids);
    /* keys list: the old one retired, the new one active; no private key printed. */
    const char *list[] = {"keys", "list", "--db", srv.db, NULL};
    char *out = cli_ok(list);
    char *l1 = strstr(out, kid1), *l2 = strstr(out, kid2);
    ck_assert(l1 && l2);
    ck_assert_msg(!strncmp(l1 + strlen(kid1), "\tretired", 8), "%s", out);
    ck_assert_msg(!strncmp(l2 + strlen(kid2), "\tactive", 7), "%s", out);
    ck_assert(!strstr(out, "PRIVATE KEY"));
    free(out);
    free(cli_tok);
    free(new_tok);
    free(kid2);
    free(old_tok);
}
END_TEST

/* Sleeps until just after the wall clock's next whole second. */
static void wait_second_start(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec d = {0, 1000000000L - now.tv_nsec + 20000000L};
    if (d.tv_nsec >= 1000000000L) {
        d.tv_sec = 1;
        d.tv_nsec -= 1000000000L;
    }
    nanosleep(&d, NULL);
}

/*
 * A token that the server's own endpoint signed with a key `keys rotate` made a moment ago must
 * be accepted at once, even when the server reloaded its keys earlier in the same second (any
 * request naming an unknown kid makes it reload; such a request is sent first here, at the
 * start of a second, then the rotation, the token request and its use follow within it).
 */
START_TEST(test_auth_keys_rotated_token_works_at_once)
{
    /* The server's payload and signature under a kid nobody has: 401, and a key reload. */
    json_t *h = jwt_part(srv.token, 0);
    json_object_set_new(h, "kid", json_string("AAAAAAAAAAAAAAAAAAAAAA"));
    char *hj = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    char *h64 = keys_b64url_encode((const unsigned char *)hj, strlen(hj));
    char *unknown = xasprintf("%s%s", h64, strchr(srv.token, '.'));
    free(h64);
    free(hj);
    const char *rot[] = {"keys", "rotate", "--db", srv.db, NULL};
    for (int i = 0; i < 2; i++) {
        wait_second_start();
        ck_assert_int_eq(status_as(unknown, "GET", "/api/incidents", NULL), 401);
        char *kid = trim(cli_ok(rot));
        char *tok = fetch_token(TEST_TENANT, srv.client_id, srv.client_secret);
        ck_assert_str_eq(kid_of(tok), kid);
        struct test_resp r;
        http_as(tok, "GET", "/api/incidents", NULL, &r);
        ck_assert_msg(r.status == 200,
                      "round %d: a token just issued by the server's own token endpoint with the "
                      "newly rotated key is refused: %ld %s",
                      i, r.status, r.body);
        test_resp_free(&r);
        free(tok);
        free(kid);
    }
    free(unknown);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The app, user and token commands
 */

START_TEST(test_auth_cli_app_create_list)
{
    const char *create[] = {"app",    "create",
                            "--db",   srv.db,
                            "--name", "Sentinel connector",
                            "--role", "Incident.Read.All",
                            "--role", "Alert.ReadWrite.All",
                            NULL};
    char *out = cli_ok(create);
    /* One line of JSON: exactly client_id, client_secret, tenant_id. */
    ck_assert(strchr(out, '\n') == out + strlen(out) - 1);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_uint_eq(json_object_size(j), 3);
    const char *id = json_string_value(json_object_get(j, "client_id"));
    const char *secret = json_string_value(json_object_get(j, "client_secret"));
    ck_assert_msg(is_guid(id), "client_id %s", id);
    ck_assert(secret && strlen(secret) >= 32);
    /* --tenant defaults to the configured tenant. */
    ck_assert_str_eq(json_string_value(json_object_get(j, "tenant_id")), TEST_TENANT);
    free(out);
    char *tok = fetch_token(TEST_TENANT, id, secret);
    expect_good_token(tok);
    free(tok);

    const char *list[] = {"app", "list", "--db", srv.db, NULL};
    char *err = NULL;
    out = NULL;
    ck_assert_int_eq(test_run_cli(list, &out, &err), 0);
    ck_assert_msg(!strstr(out, secret) && !strstr(err, secret), "app list shows the secret");
    ck_assert_msg(!strstr(out, srv.client_secret), "app list shows a secret");
    ck_assert(!strstr(out, "secret") && !strstr(out, "hash") && !strstr(out, "salt"));
    json_t *arr = json_loads(out, 0, NULL);
    ck_assert(json_is_array(arr));
    ck_assert_uint_eq(json_array_size(arr), 2);
    bool found = false;
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "client_id")), id) != 0)
            continue;
        found = true;
        ck_assert_str_eq(json_string_value(json_object_get(a, "name")), "Sentinel connector");
        ck_assert_str_eq(json_string_value(json_object_get(a, "tenant_id")), TEST_TENANT);
        const char *roles = json_string_value(json_object_get(a, "roles"));
        ck_assert(roles && strstr(roles, "Incident.Read.All") &&
                  strstr(roles, "Alert.ReadWrite.All"));
    }
    ck_assert(found);
    json_decref(arr);
    free(out);
    free(err);
    /* --tenant narrows the list. */
    char aid[64], asec[64];
    static const char *const roles[] = {"Incident.Read.All", NULL};
    app_create(TENANT_A, "A only", roles, aid, asec);
    const char *list_a[] = {"app", "list", "--db", srv.db, "--tenant", TENANT_A, NULL};
    out = cli_ok(list_a);
    arr = json_loads(out, 0, NULL);
    ck_assert_uint_eq(json_array_size(arr), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "client_id")), aid);
    ck_assert(!strstr(out, asec));
    json_decref(arr);
    free(out);
    json_decref(j);
}
END_TEST

START_TEST(test_auth_cli_app_reset_secret)
{
    char id[64], old_secret[64];
    static const char *const roles[] = {"Incident.Read.All", NULL};
    app_create(TEST_TENANT, "rotating", roles, id, old_secret);
    char *tok = fetch_token(TEST_TENANT, id, old_secret);
    free(tok);
    const char *reset[] = {"app", "reset-secret", "--db", srv.db, "--client-id", id, NULL};
    char *out = cli_ok(reset);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "client_id")), id);
    ck_assert_str_eq(json_string_value(json_object_get(j, "tenant_id")), TEST_TENANT);
    const char *new_secret = json_string_value(json_object_get(j, "client_secret"));
    ck_assert(new_secret != NULL);
    ck_assert_str_ne(new_secret, old_secret);
    /* Old secret: invalid_client. New secret: a token that works. */
    char *b = form_v2(id, old_secret, SCOPE_API);
    struct test_resp r;
    token_post("/" TEST_TENANT "/oauth2/v2.0/token", FORM, b, NULL, &r);
    expect_token_error(&r, 401, "invalid_client");
    ck_assert(!strstr(r.body, old_secret) && !strstr(r.body, new_secret));
    test_resp_free(&r);
    free(b);
    tok = fetch_token(TEST_TENANT, id, new_secret);
    expect_good_token(tok);
    free(tok);
    json_decref(j);
    free(out);
    /* An unknown client id: exit 65. */
    const char *bad[] = {"app",  "reset-secret", "--db",
                         srv.db, "--client-id",  "0b7c9e7a-4b0d-4c3e-9f3a-2d1e0c9b8a77",
                         NULL};
    ck_assert_int_eq(cli_rc(bad, NULL), 65);
}
END_TEST

START_TEST(test_auth_cli_app_delete)
{
    char id[64], secret[64];
    static const char *const roles[] = {"Incident.ReadWrite.All", NULL};
    app_create(TEST_TENANT, "short-lived", roles, id, secret);
    char *tok = fetch_token(TEST_TENANT, id, secret);
    expect_good_token(tok);
    free(tok);
    const char *del[] = {"app", "delete", "--db", srv.db, "--client-id", id, NULL};
    free(cli_ok(del));
    char *b = form_v2(id, secret, SCOPE_API);
    struct test_resp r;
    token_post("/" TEST_TENANT "/oauth2/v2.0/token", FORM, b, NULL, &r);
    expect_token_error(&r, 400, "unauthorized_client");
    test_resp_free(&r);
    free(b);
    const char *list[] = {"app", "list", "--db", srv.db, NULL};
    char *out = cli_ok(list);
    ck_assert(!strstr(out, id));
    ck_assert(strstr(out, srv.client_id));
    free(out);
    ck_assert_int_eq(cli_rc(del, NULL), 65);
    /* The other application is unaffected. */
    expect_good_token(srv.token);
}
END_TEST

START_TEST(test_auth_cli_users)
{
    user_create(TEST_TENANT, "one@contoso.com", "G1", "G2");
    user_create(TEST_TENANT, "two@contoso.com", NULL, NULL);
    const char *list[] = {"user", "list", "--db", srv.db, NULL};
    char *out = cli_ok(list);
    json_t *arr = json_loads(out, 0, NULL);
    ck_assert_msg(json_is_array(arr), "%s", out);
    ck_assert_uint_eq(json_array_size(arr), 2);
    size_t i;
    json_t *u;
    int seen = 0;
    json_array_foreach(arr, i, u)
    {
        const char *upn = json_string_value(json_object_get(u, "upn"));
        json_t *g = json_object_get(u, "device_groups");
        ck_assert(json_is_array(g));
        ck_assert_str_eq(json_string_value(json_object_get(u, "tenant_id")), TEST_TENANT);
        if (strcmp(upn, "one@contoso.com") == 0) {
            ck_assert_uint_eq(json_array_size(g), 2);
            ck_assert_str_eq(json_string_value(json_array_get(g, 0)), "G1");
            ck_assert_str_eq(json_string_value(json_array_get(g, 1)), "G2");
            seen |= 1;
        } else {
            ck_assert_str_eq(upn, "two@contoso.com");
            ck_assert_uint_eq(json_array_size(g), 0);
            seen |= 2;
        }
    }
    ck_assert_int_eq(seen, 3);
    json_decref(arr);
    free(out);
    /* A duplicate is refused (65); another tenant may have the same UPN. */
    const char *dup[] = {"user", "create", "--db", srv.db, "--upn", "one@contoso.com", NULL};
    ck_assert_int_eq(cli_rc(dup, NULL), 65);
    const char *dup_case[] = {"user", "create", "--db", srv.db, "--upn", "ONE@Contoso.com", NULL};
    ck_assert_int_eq(cli_rc(dup_case, NULL), 65);
    user_create(TENANT_A, "one@contoso.com", NULL, NULL);
    const char *list_a[] = {"user", "list", "--db", srv.db, "--tenant", TENANT_A, NULL};
    out = cli_ok(list_a);
    arr = json_loads(out, 0, NULL);
    ck_assert_uint_eq(json_array_size(arr), 1);
    json_decref(arr);
    free(out);
    /* A token for a registered user works; delete; then no token can be made (65). */
    char *tok = user_token(TEST_TENANT, "two@contoso.com", "Incident.Read");
    expect_good_token(tok);
    free(tok);
    const char *del[] = {"user", "delete", "--db", srv.db, "--upn", "two@contoso.com", NULL};
    free(cli_ok(del));
    ck_assert_int_eq(cli_rc(del, NULL), 65);
    out = cli_ok(list);
    ck_assert(!strstr(out, "two@contoso.com"));
    ck_assert(strstr(out, "one@contoso.com"));
    free(out);
    const char *mint[] = {"token",           "--db",    srv.db,          "--user",
                          "two@contoso.com", "--scope", "Incident.Read", NULL};
    ck_assert_int_eq(cli_rc(mint, NULL), 65);
    /* Usage errors: 64. */
    const char *no_upn[] = {"user", "create", "--db", srv.db, NULL};
    ck_assert_int_eq(cli_rc(no_upn, NULL), 64);
    const char *empty_group[] = {"user",          "create",         "--db", srv.db, "--upn",
                                 "x@contoso.com", "--device-group", "",     NULL};
    ck_assert_int_eq(cli_rc(empty_group, NULL), 64);
}
END_TEST

START_TEST(test_auth_cli_token_client_id)
{
    const char *mint[] = {"token", "--db", srv.db, "--client-id", srv.client_id, NULL};
    char *out = cli_ok(mint);
    /* The bare token and a newline. */
    ck_assert(strchr(out, '\n') == out + strlen(out) - 1);
    trim(out);
    ck_assert(!strchr(out, ' ') && !strchr(out, '"'));
    json_t *p = jwt_part(out, 1);
    ck_assert_str_eq(json_string_value(json_object_get(p, "appid")), srv.client_id);
    ck_assert_str_eq(json_string_value(json_object_get(p, "aud")), AUD);
    ck_assert_str_eq(json_string_value(json_object_get(p, "iss")), OWN_ISS);
    json_decref(p);
    expect_good_token(out);
    ck_assert_int_eq(status_as(out, "PATCH", "/api/incidents/1", "{\"comment\":\"x\"}"), 404);
    free(out);
    /* --resource picks another accepted audience. */
    const char *mtp[] = {"token",       "--db",       srv.db,  "--client-id",
                         srv.client_id, "--resource", AUD_MTP, NULL};
    out = trim(cli_ok(mtp));
    p = jwt_part(out, 1);
    ck_assert_str_eq(json_string_value(json_object_get(p, "aud")), AUD_MTP);
    json_decref(p);
    expect_good_token(out);
    free(out);
    /* Unknown client: 65; neither or both of --client-id/--user: 64. */
    const char *unknown[] = {
        "token", "--db", srv.db, "--client-id", "0b7c9e7a-4b0d-4c3e-9f3a-2d1e0c9b8a77", NULL};
    ck_assert_int_eq(cli_rc(unknown, NULL), 65);
    const char *neither[] = {"token", "--db", srv.db, NULL};
    ck_assert_int_eq(cli_rc(neither, NULL), 64);
    const char *no_scope[] = {"token", "--db", srv.db, "--user", "x@contoso.com", NULL};
    ck_assert_int_eq(cli_rc(no_scope, NULL), 64);
}
END_TEST

START_TEST(test_auth_cli_bad_role_64)
{
    char *err = NULL;
    const char *bad[] = {"app",  "create", "--db",          srv.db, "--name",
                         "typo", "--role", "Incident.Read", NULL};
    ck_assert_int_eq(cli_rc(bad, &err), 64);
    ck_assert_msg(strstr(err, "Incident.Read"), "stderr does not name the role: %s", err);
    free(err);
    const char *mixed[] = {"app",    "create",
                           "--db",   srv.db,
                           "--name", "typo",
                           "--role", "Incident.Read.All",
                           "--role", "Machine.Isolate",
                           NULL};
    ck_assert_int_eq(cli_rc(mixed, NULL), 64);
    const char *none[] = {"app", "create", "--db", srv.db, "--name", "no roles", NULL};
    ck_assert_int_eq(cli_rc(none, NULL), 64);
    const char *noname[] = {"app", "create", "--db", srv.db, "--role", "Incident.Read.All", NULL};
    ck_assert_int_eq(cli_rc(noname, NULL), 64);
    const char *action[] = {"app", "rename", "--db", srv.db, NULL};
    ck_assert_int_eq(cli_rc(action, NULL), 64);
    /* Nothing was created. */
    const char *list[] = {"app", "list", "--db", srv.db, NULL};
    char *out = cli_ok(list);
    json_t *arr = json_loads(out, 0, NULL);
    ck_assert_uint_eq(json_array_size(arr), 1);
    json_decref(arr);
    free(out);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * No secret or token in clear (issue 3 §7)
 */

struct secrets {
    char *items[32];
    size_t n;
};

static void keep(struct secrets *s, const char *v)
{
    ck_assert(s->n < ARRAY_SIZE(s->items));
    s->items[s->n++] = xstrdup(v);
}

/* Fails when the file at path holds any kept secret or token (or a token's payload or
 * signature segment). A missing file passes. */
static void assert_file_clean(const char *path, const struct secrets *s)
{
    size_t len = 0;
    char *data = test_read_file(path, &len);
    if (!data)
        return;
    for (size_t i = 0; i < s->n; i++) {
        const char *v = s->items[i];
        ck_assert_msg(!contains(data, len, v), "%s holds secret/token #%zu in clear", path, i);
        if (strchr(v, '.')) {
            char *payload = jwt_segment(v, 1), *sig = jwt_segment(v, 2);
            ck_assert_msg(!contains(data, len, payload), "%s holds the payload of token #%zu", path,
                          i);
            ck_assert_msg(!contains(data, len, sig), "%s holds the signature of token #%zu", path,
                          i);
            free(payload);
            free(sig);
        }
    }
    free(data);
}

static void assert_db_keys_sealed(const char *db)
{
    size_t len = 0;
    bool sealed = false;
    const char *suffixes[] = {"", "-wal"};
    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        char *path = xasprintf("%s%s", db, suffixes[i]);
        char *data = test_read_file(path, &len);
        if (data) {
            ck_assert_msg(!contains(data, len, "BEGIN PRIVATE KEY"), "%s: clear private key", path);
            ck_assert_msg(!contains(data, len, "BEGIN RSA PRIVATE KEY"), "%s: clear RSA key", path);
            ck_assert_msg(!contains(data, len, "BEGIN EC PRIVATE KEY"), "%s: clear EC key", path);
            sealed |= contains(data, len, "BEGIN ENCRYPTED PRIVATE KEY");
        }
        free(data);
        free(path);
    }
    ck_assert_msg(sealed, "no sealed signing key in the database");
}

START_TEST(test_auth_no_secret_or_token_in_clear)
{
    struct secrets s = {0};
    keep(&s, srv.client_secret);
    keep(&s, srv.token);
    import_plain(3);
    char id[64], secret[64];
    static const char *const roles[] = {"Incident.ReadWrite.All", NULL};
    app_create(TEST_TENANT, "secretive", roles, id, secret);
    keep(&s, secret);
    /* Tokens from v2 (post), v1 (basic), the CLI (app and user). */
    char *t = fetch_token(TEST_TENANT, id, secret);
    keep(&s, t);
    ck_assert_int_eq(status_as(t, "PATCH", "/api/incidents/1", "{\"comment\":\"one\"}"), 200);
    free(t);
    char *basic = basic_header(id, secret);
    const char *h[] = {basic, NULL};
    struct test_resp r;
    token_post("/" TEST_TENANT "/oauth2/token", FORM, "grant_type=client_credentials&resource=" AUD,
               h, &r);
    t = expect_token_ok(&r);
    test_resp_free(&r);
    keep(&s, t);
    ck_assert_int_eq(status_as(t, "GET", "/api/incidents?$top=2", NULL), 200);
    free(t);
    free(basic);
    const char *mint[] = {"token", "--db", srv.db, "--client-id", id, NULL};
    t = trim(cli_ok(mint));
    keep(&s, t);
    ck_assert_int_eq(status_as(t, "GET", "/api/incidents/2", NULL), 200);
    free(t);
    user_create(TEST_TENANT, "secret.keeper@contoso.com", NULL, NULL);
    t = user_token(TEST_TENANT, "secret.keeper@contoso.com", "Incident.ReadWrite");
    keep(&s, t);
    ck_assert_int_eq(status_as(t, "PATCH", "/api/incidents/2", "{\"comment\":\"two\"}"), 200);
    free(t);
    /* Failures: a wrong secret and a bad token must not be logged either. */
    const char *wrong = "WrongSecretMarker_0123456789abcdefghijkl";
    keep(&s, wrong);
    char *b = form_v2(id, wrong, SCOPE_API);
    token_post("/" TEST_TENANT "/oauth2/v2.0/token", FORM, b, NULL, &r);
    ck_assert_int_eq(r.status, 401);
    test_resp_free(&r);
    free(b);
    const char *bad_tok = "eyJhbGciOiJub25lIn0.BadTokenMarkerPayload0123456789.";
    keep(&s, bad_tok);
    ck_assert_int_eq(status_as(bad_tok, "GET", "/api/incidents", NULL), 401);
    /* A reset secret. */
    const char *reset[] = {"app", "reset-secret", "--db", srv.db, "--client-id", id, NULL};
    char *out = cli_ok(reset);
    json_t *j = json_loads(out, 0, NULL);
    keep(&s, json_string_value(json_object_get(j, "client_secret")));
    json_decref(j);
    free(out);

    /* While serving: the database, its WAL and the log. */
    char *wal = xasprintf("%s-wal", srv.db), *shm = xasprintf("%s-shm", srv.db);
    char *keyfile = xasprintf("%s.key", srv.db);
    assert_file_clean(srv.db, &s);
    assert_file_clean(wal, &s);
    assert_file_clean(shm, &s);
    assert_file_clean(srv.log, &s);
    assert_db_keys_sealed(srv.db);
    /* The sealing key file: owner-only, and not itself in the database. */
    struct stat st;
    ck_assert_int_eq(stat(keyfile, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    char *kf = test_read_file(keyfile, NULL);
    ck_assert(kf != NULL);
    trim(kf);
    keep(&s, kf);
    free(kf);
    assert_file_clean(srv.db, &s);
    assert_file_clean(wal, &s);

    /* After a clean stop (which must be exit 0), everything the server wrote. */
    char *dir = xstrdup(srv.dir), *db = xstrdup(srv.db), *log = xstrdup(srv.log);
    ck_assert_int_eq(test_server_stop(&srv, true), 0);
    assert_file_clean(db, &s);
    assert_file_clean(wal, &s);
    assert_file_clean(log, &s);
    assert_db_keys_sealed(db);
    char *logtext = test_read_file(log, NULL);
    ck_assert(logtext != NULL);
    ck_assert_msg(strstr(logtext, "access "), "the log has no access lines: %s", logtext);
    ck_assert_msg(!strstr(logtext, "Bearer ") && !strstr(logtext, "Basic "),
                  "the log holds an Authorization header");
    free(logtext);
    char *cmd = xasprintf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(dir);
    free(db);
    free(log);
    free(wal);
    free(shm);
    free(keyfile);
    for (size_t i = 0; i < s.n; i++)
        free(s.items[i]);
}
END_TEST

Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");

    TCase *rej = tcase_create("reject");
    tcase_add_unchecked_fixture(rej, ext_keys_setup, ext_keys_teardown);
    tcase_add_checked_fixture(rej, ext_server_setup, server_teardown);
    tcase_set_timeout(rej, 60);
    tcase_add_test(rej, test_auth_no_token_401);
    tcase_add_test(rej, test_auth_garbage_token_401);
    tcase_add_test(rej, test_auth_alg_none_401);
    tcase_add_test(rej, test_auth_hmac_with_public_key_401);
    tcase_add_test(rej, test_auth_external_issuer_accepted);
    tcase_add_test(rej, test_auth_external_delegated_token);
    tcase_add_test(rej, test_auth_unknown_kid_401);
    tcase_add_test(rej, test_auth_wrong_issuer_401);
    tcase_add_test(rej, test_auth_kid_of_other_issuer_401);
    tcase_add_test(rej, test_auth_tampered_payload_401);
    tcase_add_test(rej, test_auth_token_size_limit);
    tcase_add_test(rej, test_auth_expiry_skew_edge);
    tcase_add_test(rej, test_auth_nbf_skew_edge);
    tcase_add_test(rej, test_auth_wrong_audience_401);
    tcase_add_test(rej, test_auth_unknown_tenant_401);
    suite_add_tcase(s, rej);

    TCase *lim = tcase_create("limits");
    tcase_add_unchecked_fixture(lim, template_ensure, template_none);
    tcase_add_checked_fixture(lim, server_setup, server_teardown);
    tcase_set_timeout(lim, 60);
    tcase_add_test(lim, test_auth_oversized_token_default_limits);
    suite_add_tcase(s, lim);

    TCase *forbid = tcase_create("forbid");
    tcase_add_unchecked_fixture(forbid, template_ensure, template_none);
    tcase_add_checked_fixture(forbid, server_setup, server_teardown);
    tcase_set_timeout(forbid, 60);
    tcase_add_test(forbid, test_auth_read_only_app_patch_403);
    tcase_add_test(forbid, test_auth_alert_only_app_read_403);
    tcase_add_test(forbid, test_auth_delegated_read_scope_patch_403);
    tcase_add_test(forbid, test_auth_unregistered_user_403);
    tcase_add_test(forbid, test_auth_deleted_user_refused_at_once);
    suite_add_tcase(s, forbid);

    TCase *tok = tcase_create("token");
    tcase_add_unchecked_fixture(tok, template_ensure, template_none);
    tcase_add_checked_fixture(tok, server_setup, server_teardown);
    tcase_set_timeout(tok, 60);
    tcase_add_test(tok, test_auth_token_v2_shape);
    tcase_add_test(tok, test_auth_token_v1_shape);
    tcase_add_test(tok, test_auth_token_client_secret_basic);
    tcase_add_test(tok, test_auth_token_empty_bearer_ignored);
    tcase_add_test(tok, test_auth_token_errors);
    tcase_add_test(tok, test_auth_token_claims);
    tcase_add_test(tok, test_auth_discovery_and_jwks);
    tcase_add_test(tok, test_auth_discovery_msal_fields);
    tcase_add_test(tok, test_auth_token_msal_request);
    suite_add_tcase(s, tok);

    TCase *ten = tcase_create("tenant");
    tcase_add_unchecked_fixture(ten, template_ensure, template_none);
    tcase_add_checked_fixture(ten, server_setup, server_teardown);
    tcase_set_timeout(ten, 60);
    tcase_add_test(ten, test_auth_tenant_isolation);
    tcase_add_test(ten, test_auth_tenant_same_ids_separate);
    suite_add_tcase(s, ten);

    TCase *sc = tcase_create("scope");
    tcase_add_test(sc, test_auth_hidden_incident_404_before_403);
    tcase_add_test(sc, test_auth_cli_token_rejects_unknown_scope_and_resource);
    tcase_add_unchecked_fixture(sc, template_ensure, template_none);
    tcase_add_checked_fixture(sc, server_setup, server_teardown);
    tcase_set_timeout(sc, 60);
    tcase_add_test(sc, test_auth_delegated_scoping_paging);
    tcase_add_test(sc, test_auth_delegated_invisible_404);
    tcase_add_test(sc, test_auth_delegated_no_groups_sees_all);
    tcase_add_test(sc, test_auth_comment_created_by);
    suite_add_tcase(s, sc);

    TCase *keys = tcase_create("keys");
    tcase_add_unchecked_fixture(keys, template_ensure, template_none);
    tcase_add_checked_fixture(keys, server_setup, server_teardown);
    tcase_set_timeout(keys, 60);
    tcase_add_test(keys, test_auth_keys_rotate_while_serving);
    tcase_add_test(keys, test_auth_keys_rotated_token_works_at_once);
    suite_add_tcase(s, keys);

    TCase *cli = tcase_create("cli");
    tcase_add_unchecked_fixture(cli, template_ensure, template_none);
    tcase_add_checked_fixture(cli, server_setup, server_teardown);
    tcase_set_timeout(cli, 60);
    tcase_add_test(cli, test_auth_cli_app_create_list);
    tcase_add_test(cli, test_auth_cli_app_reset_secret);
    tcase_add_test(cli, test_auth_cli_app_delete);
    tcase_add_test(cli, test_auth_cli_users);
    tcase_add_test(cli, test_auth_cli_token_client_id);
    tcase_add_test(cli, test_auth_cli_bad_role_64);
    suite_add_tcase(s, cli);

    TCase *sec = tcase_create("secrets");
    tcase_add_checked_fixture(sec, debug_server_setup, debug_server_teardown);
    tcase_set_timeout(sec, 60);
    tcase_add_test(sec, test_auth_no_secret_or_token_in_clear);
    suite_add_tcase(s, sec);
    return s;
}
