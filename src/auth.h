/* SPDX-License-Identifier: MIT */
/*
 * Access control (issue 3, CONTRACT §7-§8): the signing keys of each tenant (made with OpenSSL,
 * kept sealed in the database, rotated), tokens for applications (client credentials) and, for
 * scripts, delegated users, and the validation of the bearer token on every API request into a
 * caller with permissions, a tenant and device-group scoping. See docs/auth.md.
 *
 * Thread safety: one struct auth serves every worker thread.
 */
#ifndef AUTH_H
#define AUTH_H

#include "common.h"
#include "config.h"
#include "err.h"
#include "store.h"
#include <jansson.h>

/* Lifetime of tokens we issue: Entra's default hour; expires_in reads 3599 like Entra's. */
#define AUTH_TOKEN_LIFETIME_S 3600

enum auth_perm {
    AUTH_INCIDENT_READ = 1 << 0,  /* Incident.Read(.All) or Incident.ReadWrite(.All) */
    AUTH_INCIDENT_WRITE = 1 << 1, /* Incident.ReadWrite(.All) */
    AUTH_ALERT_WRITE = 1 << 2,    /* Alert.ReadWrite(.All) */
};

/* The authenticated caller. Strings are owned; release with auth_caller_release. */
struct auth_caller {
    char *tenant;
    char *name;      /* comment author: the user's UPN or the application's display name */
    char *client_id; /* application (appid/azp) */
    char *upn;       /* delegated tokens */
    char *quota;     /* the application's quota overrides (quota.h syntax), or NULL */
    bool delegated;
    unsigned perms;  /* enum auth_perm */
    bool restricted; /* a delegated user limited to device groups */
    char **groups;
    size_t ngroups;
};

void auth_caller_release(struct auth_caller *c);

struct auth;

/*
 * Prepares access control for a server or a CLI command: the key file that seals private keys
 * (cfg->key_file, created with mode 0600 when missing), accepted audiences, our issuer and any
 * external issuers (cfg->trusted_issuers_file: lines "ISSUER JWKS_FILE"). Borrowed: cfg, st
 * (must outlive the auth). ERR_IO/ERR_INVALID with ei on failure.
 */
enum err auth_new(const struct config *cfg, struct store *st, struct auth **out,
                  struct err_info *ei);

/* Frees an auth; accepts NULL. */
void auth_free(struct auth *a);

/*
 * Validates an `Authorization` header value (NULL when absent) at time now_s (Unix seconds)
 * and fills *out. Errors: ERR_UNAUTHORIZED (no token: *had_token false; bad token: true, the
 * reason in ei->msg, never secret), ERR_FORBIDDEN when the token is valid but its user is not
 * registered in the tenant.
 */
enum err auth_authenticate(struct auth *a, const char *authorization, int64_t now_s,
                           struct auth_caller *out, bool *had_token, struct err_info *ei);

/* The issuer (`iss`) of tokens we sign for a tenant; writes at most cap bytes. */
void auth_issuer(const struct auth *a, const char *tenant, char *out, size_t cap);

/* True when `aud` is one of the accepted audiences (resource of a token request). */
bool auth_audience_ok(const struct auth *a, const char *aud);

/*
 * Client-credentials grant (CONTRACT §8): checks the application exists in `tenant` and the
 * secret matches, then signs an application token for `resource` with the tenant's active key
 * (made now if the tenant has none). Errors, for the Entra-shaped error body: ERR_NOT_FOUND
 * (unknown client in this tenant), ERR_UNAUTHORIZED (bad secret), ERR_INVALID (resource not
 * accepted). *token is malloc'd.
 */
enum err auth_client_credentials(struct auth *a, const char *tenant, const char *client_id,
                                 const char *secret, const char *resource, int64_t now_s,
                                 char **token, struct err_info *ei);

/* Signs an application token for a registered client without its secret (`incidentd token`). */
enum err auth_app_token(struct auth *a, const char *client_id, const char *resource, int64_t now_s,
                        char **token, struct err_info *ei);

/* Signs a delegated token for a registered user with the given space-separated scopes. */
enum err auth_user_token(struct auth *a, const char *tenant, const char *upn, const char *scopes,
                         const char *resource, int64_t now_s, char **token, struct err_info *ei);

/* Makes the tenant's first signing key unless it has an active one (server start). */
enum err auth_ensure_key(struct auth *a, const char *tenant, struct err_info *ei);

/* Makes a new signing key for a tenant; the previous one keeps verifying its tokens until
 * they expire. Writes the new kid (at most 47 characters). */
enum err auth_rotate(struct auth *a, const char *tenant, int64_t now_s, char kid[48],
                     struct err_info *ei);

/* The tenant's public keys still trusted at now_s, as a JWKS document (new reference). */
enum err auth_jwks(struct auth *a, const char *tenant, int64_t now_s, json_t **out,
                   struct err_info *ei);

#endif
