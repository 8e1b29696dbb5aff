/* SPDX-License-Identifier: MIT */
/*
 * `incidentd token` (mint a token for scripts and tests without the HTTP round trip) and
 * `incidentd keys rotate|list` (issue 3).
 */
#include "common.h"
#include "auth.h"
#include "cli.h"
#include "store.h"
#include "ts.h"
#include <openssl/crypto.h>

static const char token_usage[] =
    "usage: incidentd token --db PATH --client-id ID [--resource URI]\n"
    "       incidentd token --db PATH [--tenant TID] --user UPN --scope \"SCOPE...\" "
    "[--resource URI]\n"
    "\n"
    "Prints a bare access token, valid for one hour: an application token with the\n"
    "application's roles, or a delegated token for a registered user with the given scopes\n"
    "(Incident.Read, Incident.ReadWrite, Alert.ReadWrite). The resource (audience) defaults to\n"
    "https://api.security.microsoft.com.\n";

static const char keys_usage[] =
    "usage: incidentd keys rotate --db PATH [--tenant TID]\n"
    "       incidentd keys list --db PATH [--tenant TID]\n"
    "\n"
    "rotate makes a new signing key for the tenant; tokens signed with the previous key stay\n"
    "valid until they expire. list prints the keys' ids, state and creation time (never the\n"
    "private keys).\n";

/* Opens config, store and auth for a command; returns 0 or a sysexits code. */
static int open_auth(const struct cli_opts *o, struct config *cfg, struct store **st,
                     struct auth **a)
{
    int rc = cli_open_store(cfg, o->config, o->db, o->tenant, st);
    if (rc)
        return rc;
    struct err_info ei;
    err_clear(&ei);
    if (auth_new(cfg, *st, a, &ei)) {
        cli_error(cfg->db, "%s", ei.msg);
        return cli_exit_code(ei.code);
    }
    return 0;
}

int cmd_token(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_parse(argc, argv, token_usage, "dtciusR", &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!o.client_id == !o.upn) {
        cli_error("token", "give either --client-id ID or --user UPN with --scope");
        return EX_USAGE_;
    }
    if (o.upn && (!o.scope || !*o.scope)) {
        cli_error("token", "--scope is required with --user (e.g. \"Incident.Read\")");
        return EX_USAGE_;
    }
    if (o.scope) {
        /* A token the server would refuse is no use: only scopes it knows (CONTRACT §1). */
        static const char *const known[] = {"Incident.Read", "Incident.ReadWrite",
                                            "Alert.ReadWrite"};
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", o.scope);
        for (char *tok = copy, *next; tok && *tok; tok = next) {
            next = strchr(tok, ' ');
            if (next)
                *next++ = '\0';
            if (!*tok)
                continue;
            bool ok = false;
            for (size_t k = 0; k < ARRAY_SIZE(known); k++)
                ok |= strcmp(tok, known[k]) == 0;
            if (!ok) {
                cli_error("--scope",
                          "unknown scope '%s' (expected Incident.Read, Incident.ReadWrite or "
                          "Alert.ReadWrite)",
                          tok);
                return EX_USAGE_;
            }
        }
    }
    struct config cfg;
    struct store *st = NULL;
    struct auth *a = NULL;
    rc = open_auth(&o, &cfg, &st, &a);
    if (!rc && o.resource && !auth_audience_ok(a, o.resource)) {
        cli_error("--resource",
                  "'%s' is not an accepted audience (see 'audiences' in docs/config.md)",
                  o.resource);
        rc = EX_USAGE_;
    }
    if (!rc) {
        const char *resource = o.resource ? o.resource : "https://api.security.microsoft.com";
        struct err_info ei;
        err_clear(&ei);
        char *token = NULL;
        int64_t now = ts_now() / TS_TICKS_PER_SEC;
        enum err e = o.client_id ? auth_app_token(a, o.client_id, resource, now, &token, &ei)
                                 : auth_user_token(a, cfg.tenant, o.upn, o.scope, resource, now,
                                                   &token, &ei);
        if (e) {
            cli_error("token", "%s", ei.msg);
            rc = e == ERR_NOT_FOUND ? EX_DATAERR_ : cli_exit_code(e);
        } else {
            printf("%s\n", token);
            OPENSSL_cleanse(token, strlen(token));
            free(token);
        }
    }
    auth_free(a);
    store_free(st);
    config_release(&cfg);
    return rc;
}

static enum err print_key(void *ctx, const struct store_key *k)
{
    UNUSED(ctx);
    char created[TS_FORMAT_MAX], retired[TS_FORMAT_MAX] = "";
    ts_format(k->created_time, created);
    if (k->retired_time)
        ts_format(k->retired_time, retired);
    printf("%s\t%s\t%s\tcreated %s%s%s\n", k->tenant, k->kid,
           k->retired_time ? "retired" : "active", created, k->retired_time ? "\tretired " : "",
           retired);
    return ERR_OK;
}

int cmd_keys(int argc, char **argv)
{
    static const char *const actions[] = {"rotate", "list", NULL};
    int rc = cli_action(argc, argv, keys_usage, actions);
    if (rc)
        return rc < 0 ? 0 : rc;
    const char *action = argv[1];
    struct cli_opts o;
    rc = cli_parse(argc - 1, argv + 1, keys_usage, "dtc", &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct config cfg;
    struct store *st = NULL;
    struct auth *a = NULL;
    rc = open_auth(&o, &cfg, &st, &a);
    struct err_info ei;
    err_clear(&ei);
    if (!rc && !strcmp(action, "rotate")) {
        char kid[48];
        if (store_tenant_ensure(st, cfg.tenant, &ei) ||
            auth_rotate(a, cfg.tenant, ts_now() / TS_TICKS_PER_SEC, kid, &ei)) {
            cli_error("keys rotate", "%s", ei.msg);
            rc = cli_exit_code(ei.code);
        } else {
            printf("%s\n", kid);
        }
    } else if (!rc && store_key_list(st, o.tenant ? cfg.tenant : NULL, print_key, NULL, &ei)) {
        cli_error("keys list", "%s", ei.msg);
        rc = cli_exit_code(ei.code);
    }
    auth_free(a);
    store_free(st);
    config_release(&cfg);
    return rc;
}
