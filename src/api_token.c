/* SPDX-License-Identifier: MIT */
/*
 * The Entra-ID-shaped token service (issue 3, CONTRACT §8): POST /{tenant}/oauth2/token (v1,
 * `resource=`) and /{tenant}/oauth2/v2.0/token (v2, `scope=<resource>/.default`) with the
 * client-credentials grant, client_secret_post or client_secret_basic; the tenant's public keys
 * and an OpenID discovery document. Success and error bodies follow Entra's, so a client whose
 * authority points here needs no change.
 */
#include "common.h"
#include "api.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "ts.h"
#include "xmalloc.h"
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

/* Entra's error body: error, error_description, error_codes, timestamp, trace_id,
 * correlation_id. The AADSTS number is taken from the description when it has one. */
static void token_error(struct http_response *resp, const struct http_request *req, int status,
                        const char *error, const char *description)
{
    resp->status = status;
    resp->content_type = "application/json; charset=utf-8";
    buf_reset(&resp->body);
    long code = 0;
    if (strncmp(description, "AADSTS", 6) == 0)
        code = strtol(description + 6, NULL, 10);
    char now[TS_FORMAT_MAX];
    ts_format(ts_now(), now);
    char safe[512];
    snprintf(safe, sizeof(safe), "%s", description);
    utf8_sanitize(safe);
    json_t *j = json_pack("{sssss[i]ssssss}", "error", error, "error_description", safe,
                          "error_codes", (int)code, "timestamp", now, "trace_id", req->request_id,
                          "correlation_id", req->request_id);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!s)
        BUG("cannot serialise a token error");
    buf_puts(&resp->body, s);
    free(s);
    json_decref(j);
    http_response_header(resp, "Cache-Control", "no-store, no-cache");
    http_response_header(resp, "Pragma", "no-cache");
    if (status == 401)
        http_response_header(resp, "WWW-Authenticate", "Basic realm=\"incidentd\"");
}

static const char *param(const struct odata_param *p, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].key, key) == 0)
            return p[i].value;
    return NULL;
}

/* Decodes "Basic base64(urlencode(id):urlencode(secret))" (RFC 6749 §2.3.1) into two malloc'd
 * strings; false when the header is not Basic or malformed. */
static bool basic_credentials(const char *h, char **id, char **secret)
{
    *id = *secret = NULL;
    if (!h)
        return false;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Basic ", 6) != 0)
        return false;
    h += 6;
    while (*h == ' ')
        h++;
    size_t len = strlen(h);
    while (len && h[len - 1] == ' ')
        len--;
    if (len == 0 || len % 4 || len > 4096)
        return false;
    unsigned char *raw = xmalloc(len);
    int n = EVP_DecodeBlock(raw, (const unsigned char *)h, (int)len);
    if (n < 0) {
        free(raw);
        return false;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (len >= 1 && h[len - 1] == '=')
        n--;
    if (len >= 2 && h[len - 2] == '=')
        n--;
    unsigned char *colon = memchr(raw, ':', (size_t)n);
    bool ok = false;
    if (colon) {
        struct odata_param *p = NULL;
        size_t np = 0;
        char *text = NULL;
        /* Reuse the form decoder: "id=secret" with each side URL-decoded. */
        size_t idl = (size_t)(colon - raw), sl = (size_t)n - idl - 1;
        char *form = xmalloc(idl + sl + 2);
        memcpy(form, raw, idl);
        form[idl] = '=';
        memcpy(form + idl + 1, colon + 1, sl);
        if (!memchr(form, '&', idl + sl + 1) &&
            http_form_parse(form, idl + sl + 1, &p, &np, &text, NULL) == ERR_OK && np == 1) {
            *id = xstrdup(p[0].key);
            *secret = xstrdup(p[0].value);
            ok = true;
        }
        OPENSSL_cleanse(form, idl + sl + 1);
        free(form);
        if (text)
            OPENSSL_cleanse(text, idl + sl + 1 + idl + sl + 3);
        free(text);
        free(p);
    }
    OPENSSL_cleanse(raw, len);
    free(raw);
    return ok;
}

static bool is_form(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/x-www-form-urlencoded");
    return strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

void api_token(struct app *app, const char *tenant, bool v2, struct http_request *req,
               struct http_response *resp)
{
    if (!is_form(req->content_type)) {
        token_error(resp, req, 400, "invalid_request",
                    "AADSTS900144: The request body must be application/x-www-form-urlencoded.");
        return;
    }
    struct odata_param *p = NULL;
    size_t np = 0;
    char *text = NULL;
    if (http_form_parse(req->body.data ? req->body.data : "", req->body.len, &p, &np, &text,
                        NULL)) {
        token_error(resp, req, 400, "invalid_request",
                    "AADSTS900144: The request body is not a valid form.");
        goto done;
    }
    const char *grant = param(p, np, "grant_type");
    const char *client_id = param(p, np, "client_id");
    const char *secret = param(p, np, "client_secret");
    char *basic_id = NULL, *basic_secret = NULL;
    /* client_secret_basic; an empty "Bearer " header sent by some clients is ignored. */
    if (basic_credentials(req->authorization, &basic_id, &basic_secret)) {
        if (client_id && strcmp(client_id, basic_id) != 0) {
            token_error(resp, req, 401, "invalid_client",
                        "AADSTS50148: The client_id in the body does not match the one in the "
                        "Authorization header.");
            goto done_basic;
        }
        client_id = basic_id;
        secret = basic_secret;
    }
    char desc[512];
    if (!grant) {
        token_error(resp, req, 400, "invalid_request",
                    "AADSTS900144: The request body must contain the following parameter: "
                    "'grant_type'.");
    } else if (strcmp(grant, "client_credentials") != 0) {
        snprintf(desc, sizeof(desc),
                 "AADSTS70003: The app requested an unsupported grant type '%.64s'.", grant);
        token_error(resp, req, 400, "unsupported_grant_type", desc);
    } else if (!client_id || !*client_id) {
        token_error(resp, req, 400, "invalid_request",
                    "AADSTS900144: The request body must contain the following parameter: "
                    "'client_id'.");
    } else if (!secret || !*secret) {
        token_error(resp, req, 401, "invalid_client",
                    "AADSTS7000218: The request body must contain the following parameter: "
                    "'client_assertion' or 'client_secret'.");
    } else {
        char resource[512];
        const char *res = v2 ? param(p, np, "scope") : param(p, np, "resource");
        size_t rl = res ? strlen(res) : 0;
        const char *suffix = "/.default";
        if (!res || !*res) {
            snprintf(desc, sizeof(desc),
                     "AADSTS900144: The request body must contain the following parameter: "
                     "'%s'.",
                     v2 ? "scope" : "resource");
            token_error(resp, req, 400, "invalid_request", desc);
            goto done_basic;
        }
        if (v2 && (rl <= strlen(suffix) || strcmp(res + rl - strlen(suffix), suffix) != 0 ||
                   strchr(res, ' '))) {
            snprintf(desc, sizeof(desc),
                     "AADSTS1002012: The provided value for scope %.120s is not valid. Client "
                     "credential flows must have a scope value with /.default suffixed to the "
                     "resource identifier (application ID URI).",
                     res);
            token_error(resp, req, 400, "invalid_scope", desc);
            goto done_basic;
        }
        snprintf(resource, sizeof(resource), "%.*s", (int)(v2 ? rl - strlen(suffix) : rl), res);
        struct err_info ei;
        err_clear(&ei);
        char *token = NULL;
        int64_t now = ts_now() / TS_TICKS_PER_SEC;
        enum err e = auth_client_credentials(app->auth, tenant, client_id, secret, resource, now,
                                             &token, &ei);
        if (e == ERR_NOT_FOUND) {
            token_error(resp, req, 400, "unauthorized_client", ei.msg);
        } else if (e == ERR_UNAUTHORIZED) {
            token_error(resp, req, 401, "invalid_client", ei.msg);
        } else if (e == ERR_INVALID) {
            token_error(resp, req, 400, v2 ? "invalid_scope" : "invalid_resource", ei.msg);
        } else if (e) {
            log_error("token endpoint: %s", ei.msg);
            token_error(resp, req, 500, "temporarily_unavailable",
                        "AADSTS90033: A transient error has occurred. Please try again.");
        } else {
            json_t *j;
            int expires_in = AUTH_TOKEN_LIFETIME_S - 1;
            if (v2) {
                j = json_pack("{sssisiss}", "token_type", "Bearer", "expires_in", expires_in,
                              "ext_expires_in", expires_in, "access_token", token);
            } else {
                /* Entra's v1 endpoint sends its numbers as strings; clients expect that. */
                char ei_s[16], eo[24], nb[24];
                snprintf(ei_s, sizeof(ei_s), "%d", expires_in);
                snprintf(eo, sizeof(eo), "%" PRId64, now + AUTH_TOKEN_LIFETIME_S);
                snprintf(nb, sizeof(nb), "%" PRId64, now);
                j = json_pack("{ssssssssssssss}", "token_type", "Bearer", "expires_in", ei_s,
                              "ext_expires_in", ei_s, "expires_on", eo, "not_before", nb,
                              "resource", resource, "access_token", token);
            }
            char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
            if (!s)
                BUG("cannot serialise a token response");
            resp->status = 200;
            resp->content_type = "application/json; charset=utf-8";
            buf_reset(&resp->body);
            buf_puts(&resp->body, s);
            http_response_header(resp, "Cache-Control", "no-store, no-cache");
            http_response_header(resp, "Pragma", "no-cache");
            OPENSSL_cleanse(s, strlen(s));
            free(s);
            json_decref(j);
            OPENSSL_cleanse(token, strlen(token));
            free(token);
        }
    }
done_basic:
    if (basic_secret)
        OPENSSL_cleanse(basic_secret, strlen(basic_secret));
    free(basic_id);
    free(basic_secret);
done:
    if (text)
        OPENSSL_cleanse(text, req->body.len * 2 + 2); /* http_form_parse's allocation */
    free(text);
    free(p);
}

void api_jwks(struct app *app, const char *tenant, struct http_request *req,
              struct http_response *resp)
{
    struct err_info ei;
    err_clear(&ei);
    json_t *jwks = NULL;
    if (auth_jwks(app->auth, tenant, ts_now() / TS_TICKS_PER_SEC, &jwks, &ei)) {
        api_error(resp, req, &ei);
        return;
    }
    char *s = json_dumps(jwks, JSON_COMPACT);
    buf_puts(&resp->body, s);
    free(s);
    json_decref(jwks);
    resp->status = 200;
    resp->content_type = "application/json; charset=utf-8";
}

void api_openid_configuration(struct app *app, const char *tenant, struct http_request *req,
                              struct http_response *resp)
{
    char base[512], issuer[512], token_ep[1024], jwks[1024], authorize[1024];
    api_base_url(app, req, base, sizeof(base));
    auth_issuer(app->auth, tenant, issuer, sizeof(issuer));
    snprintf(token_ep, sizeof(token_ep), "%s/%s/oauth2/v2.0/token", base, tenant);
    /* MSAL refuses a discovery document without an authorization endpoint even for client
     * credentials; incidentd has no interactive sign-in, so requests there get 404. */
    snprintf(authorize, sizeof(authorize), "%s/%s/oauth2/v2.0/authorize", base, tenant);
    snprintf(jwks, sizeof(jwks), "%s/%s/discovery/v2.0/keys", base, tenant);
    json_t *j = json_pack("{sssssssss[ss]s[s]s[s]s[s]s[s]s[s]ss}", "token_endpoint", token_ep,
                          "authorization_endpoint", authorize, "jwks_uri", jwks, "issuer", issuer,
                          "token_endpoint_auth_methods_supported", "client_secret_post",
                          "client_secret_basic", "grant_types_supported", "client_credentials",
                          "response_types_supported", "token", "subject_types_supported",
                          "pairwise", "id_token_signing_alg_values_supported", "RS256",
                          "scopes_supported", "openid", "tenant_region_scope", "WW");
    char *s = json_dumps(j, JSON_COMPACT);
    buf_puts(&resp->body, s);
    free(s);
    json_decref(j);
    resp->status = 200;
    resp->content_type = "application/json; charset=utf-8";
}
