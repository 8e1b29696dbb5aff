/* SPDX-License-Identifier: MIT */
/*
 * `incidentd app …` and `incidentd user …` (issue 3): register applications (client
 * credentials) and delegated users. Secrets are printed once and stored only as digests.
 */
#include "common.h"
#include "cli.h"
#include "quota.h"
#include "secret.h"
#include "store.h"
#include "ts.h"
#include "xmalloc.h"
#include <jansson.h>

static const char app_usage[] =
    "usage: incidentd app create --db PATH [--tenant TID] --name NAME --role ROLE...\n"
    "                            [--quota list=500/min,get=0,...]\n"
    "       incidentd app list --db PATH [--tenant TID]\n"
    "       incidentd app delete --db PATH --client-id ID\n"
    "       incidentd app reset-secret --db PATH --client-id ID\n"
    "\n"
    "Registers applications that get tokens with the client-credentials grant. create and\n"
    "reset-secret print {\"client_id\",\"client_secret\",\"tenant_id\"}: the secret is shown this\n"
    "once and stored only as a salted digest. Roles: Incident.Read.All, Incident.ReadWrite.All,\n"
    "Alert.ReadWrite.All (repeat --role). --tenant defaults to the configured tenant.\n"
    "--quota overrides this application's quotas per method (list, get, update, ingest, alert)\n"
    "and window (/min, /hour); 0 means unlimited. Default: the server's quotas (docs/config.md).\n";

static const char user_usage[] =
    "usage: incidentd user create --db PATH [--tenant TID] --upn UPN [--device-group NAME...]\n"
    "       incidentd user list --db PATH [--tenant TID]\n"
    "       incidentd user delete --db PATH [--tenant TID] --upn UPN\n"
    "\n"
    "Registers users for delegated tokens. A user with device groups sees only incidents with\n"
    "an alert on a device of one of those groups (rbacGroupName); without, every incident of\n"
    "the tenant.\n";

static const char *const known_roles[] = {"Incident.Read.All", "Incident.ReadWrite.All",
                                          "Alert.ReadWrite.All"};

/* Loads config, applies --db/--tenant and opens the store. */
static int open_for(struct cli_opts *o, struct config *cfg, struct store **st)
{
    int rc = cli_open_store(cfg, o->config, o->db, o->tenant, st);
    o->tenant = cfg->tenant;
    return rc;
}

static void print_credentials(const char *client_id, const char *secret, const char *tenant)
{
    json_t *j =
        json_pack("{ssssss}", "client_id", client_id, "client_secret", secret, "tenant_id", tenant);
    char *s = json_dumps(j, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(j);
}

static enum err print_app(void *ctx, const struct store_app *a)
{
    json_t *arr = ctx;
    char created[TS_FORMAT_MAX];
    ts_format(a->created_time, created);
    json_array_append_new(arr, json_pack("{ssssssssssso}", "client_id", a->client_id, "tenant_id",
                                         a->tenant, "name", a->name, "roles", a->roles, "created",
                                         created, "quota",
                                         a->quota ? json_string(a->quota) : json_null()));
    return ERR_OK;
}

static int app_create(struct store *st, const struct cli_opts *o)
{
    if (!o->name || !*o->name || strlen(o->name) > 256) {
        cli_error("app create", "--name NAME (1-256 characters) is required");
        return EX_USAGE_;
    }
    if (o->nroles == 0) {
        cli_error("app create", "at least one --role is required (Incident.Read.All, "
                                "Incident.ReadWrite.All, Alert.ReadWrite.All)");
        return EX_USAGE_;
    }
    char roles[256] = "";
    for (size_t i = 0; i < o->nroles; i++) {
        bool known = false;
        for (size_t k = 0; k < ARRAY_SIZE(known_roles); k++)
            known |= strcmp(o->roles[i], known_roles[k]) == 0;
        if (!known) {
            cli_error("--role",
                      "unknown role '%s' (expected Incident.Read.All, "
                      "Incident.ReadWrite.All or Alert.ReadWrite.All)",
                      o->roles[i]);
            return EX_USAGE_;
        }
        size_t n = strlen(roles);
        snprintf(roles + n, sizeof(roles) - n, "%s%s", n ? " " : "", o->roles[i]);
    }
    if (o->quota) {
        struct quota_table scratch;
        struct err_info qei;
        err_clear(&qei);
        quota_defaults(&scratch);
        if (quota_apply(&scratch, o->quota, &qei)) {
            cli_error("--quota", "%s", qei.msg);
            return EX_USAGE_;
        }
    }
    char client_id[SECRET_GUID_LEN + 1], secret[SECRET_TEXT_LEN + 1];
    struct store_app a = {.quota = (char *)(uintptr_t)o->quota,
                          .tenant = (char *)(uintptr_t)o->tenant,
                          .name = (char *)(uintptr_t)o->name,
                          .roles = roles,
                          .client_id = client_id,
                          .created_time = ts_now()};
    if (secret_guid(client_id) || secret_new(secret, a.salt, a.hash)) {
        cli_error("app create", "the random number generator failed");
        return EX_SOFTWARE_;
    }
    struct err_info ei;
    err_clear(&ei);
    if (store_app_create(st, &a, &ei)) {
        cli_error("app create", "%s", ei.msg);
        return cli_exit_code(ei.code);
    }
    print_credentials(client_id, secret, o->tenant);
    return 0;
}

static int app_reset(struct store *st, const struct cli_opts *o)
{
    if (!o->client_id) {
        cli_error("app reset-secret", "--client-id ID is required");
        return EX_USAGE_;
    }
    struct err_info ei;
    err_clear(&ei);
    struct store_app a;
    if (store_app_get(st, o->client_id, &a, &ei)) {
        cli_error("app reset-secret", "%s", ei.msg);
        return ei.code == ERR_NOT_FOUND ? EX_DATAERR_ : cli_exit_code(ei.code);
    }
    char secret[SECRET_TEXT_LEN + 1];
    unsigned char salt[STORE_SECRET_SALT_BYTES], hash[STORE_SECRET_HASH_BYTES];
    int rc = 0;
    if (secret_new(secret, salt, hash)) {
        cli_error("app reset-secret", "the random number generator failed");
        rc = EX_SOFTWARE_;
    } else if (store_app_set_secret(st, o->client_id, salt, hash, &ei)) {
        cli_error("app reset-secret", "%s", ei.msg);
        rc = cli_exit_code(ei.code);
    } else {
        print_credentials(a.client_id, secret, a.tenant);
    }
    store_app_release(&a);
    return rc;
}

int cmd_app(int argc, char **argv)
{
    static const char *const actions[] = {"create", "list", "delete", "reset-secret", NULL};
    int rc = cli_action(argc, argv, app_usage, actions);
    if (rc)
        return rc < 0 ? 0 : rc;
    const char *action = argv[1];
    struct cli_opts o;
    static const char *const accepted[] = {"dtcnrq", "dtc", "dtci", "dtci"};
    size_t k = 0;
    while (strcmp(actions[k], action))
        k++;
    rc = cli_parse(argc - 1, argv + 1, app_usage, accepted[k], &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct config cfg;
    struct store *st = NULL;
    struct err_info ei;
    err_clear(&ei);
    rc = open_for(&o, &cfg, &st);
    if (rc) {
        /* nothing opened */
    } else if (!strcmp(action, "create")) {
        rc = app_create(st, &o);
    } else if (!strcmp(action, "reset-secret")) {
        rc = app_reset(st, &o);
    } else if (!strcmp(action, "delete")) {
        if (!o.client_id) {
            cli_error("app delete", "--client-id ID is required");
            rc = EX_USAGE_;
        } else if (store_app_delete(st, o.client_id, &ei)) {
            cli_error("app delete", "%s", ei.msg);
            rc = ei.code == ERR_NOT_FOUND ? EX_DATAERR_ : cli_exit_code(ei.code);
        }
    } else {
        json_t *arr = json_array();
        if (store_app_list(st, o.tenant ? o.tenant : NULL, print_app, arr, &ei)) {
            cli_error("app list", "%s", ei.msg);
            rc = cli_exit_code(ei.code);
        } else {
            char *s = json_dumps(arr, JSON_INDENT(2));
            printf("%s\n", s);
            free(s);
        }
        json_decref(arr);
    }
    store_free(st);
    config_release(&cfg);
    return rc;
}

static enum err print_user(void *ctx, const struct store_user *u)
{
    json_t *arr = ctx;
    char created[TS_FORMAT_MAX];
    ts_format(u->created_time, created);
    json_t *groups = json_loads(u->groups_json, 0, NULL);
    json_array_append_new(arr, json_pack("{sssssoss}", "tenant_id", u->tenant, "upn", u->upn,
                                         "device_groups", groups ? groups : json_array(), "created",
                                         created));
    return ERR_OK;
}

int cmd_user(int argc, char **argv)
{
    static const char *const actions[] = {"create", "list", "delete", NULL};
    int rc = cli_action(argc, argv, user_usage, actions);
    if (rc)
        return rc < 0 ? 0 : rc;
    const char *action = argv[1];
    struct cli_opts o;
    rc = cli_parse(argc - 1, argv + 1, user_usage,
                   !strcmp(action, "create") ? "dtcug"
                   : !strcmp(action, "list") ? "dtc"
                                             : "dtcu",
                   &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (strcmp(action, "list") && (!o.upn || !*o.upn || strlen(o.upn) > 256)) {
        cli_error(action, "--upn UPN (1-256 characters) is required");
        return EX_USAGE_;
    }
    struct config cfg;
    struct store *st = NULL;
    struct err_info ei;
    err_clear(&ei);
    rc = open_for(&o, &cfg, &st);
    if (rc) {
        /* nothing opened */
    } else if (!strcmp(action, "create")) {
        json_t *groups = json_array();
        for (size_t i = 0; i < o.ngroups; i++)
            json_array_append_new(groups, json_string(o.groups[i]));
        char *gj = json_dumps(groups, JSON_COMPACT);
        json_decref(groups);
        struct store_user u = {.tenant = (char *)(uintptr_t)o.tenant,
                               .upn = (char *)(uintptr_t)o.upn,
                               .groups_json = gj,
                               .created_time = ts_now()};
        if (store_user_create(st, &u, &ei)) {
            cli_error("user create", "%s", ei.msg);
            rc = ei.code == ERR_CONFLICT ? EX_DATAERR_ : cli_exit_code(ei.code);
        } else {
            /* Confirms what was stored, in the shape `user list` prints (as `app create`). */
            json_t *arr = json_array();
            print_user(arr, &u);
            char *s = json_dumps(json_array_get(arr, 0), JSON_COMPACT);
            printf("%s\n", s);
            free(s);
            json_decref(arr);
        }
        free(gj);
    } else if (!strcmp(action, "delete")) {
        if (store_user_delete(st, o.tenant, o.upn, &ei)) {
            cli_error("user delete", "%s", ei.msg);
            rc = ei.code == ERR_NOT_FOUND ? EX_DATAERR_ : cli_exit_code(ei.code);
        }
    } else {
        json_t *arr = json_array();
        if (store_user_list(st, o.tenant, print_user, arr, &ei)) {
            cli_error("user list", "%s", ei.msg);
            rc = cli_exit_code(ei.code);
        } else {
            char *s = json_dumps(arr, JSON_INDENT(2));
            printf("%s\n", s);
            free(s);
        }
        json_decref(arr);
    }
    store_free(st);
    config_release(&cfg);
    return rc;
}
