/* SPDX-License-Identifier: MIT */
/* incidentd: argv[1] selects a subcommand from one table (git.c commands[] style). */
#include "common.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "store.h"
#include <sys/stat.h>

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"serve", cmd_serve, "serve the incidents API"},
    {"import", cmd_import, "load incidents exported from Defender XDR (or compatible files)"},
    {"ingest", cmd_ingest, "ingest alerts from files; they correlate into incidents"},
    {"demo", cmd_demo, "generate realistic demo incidents"},
    {"config", cmd_config, "print the effective configuration or its reference"},
    {"app", cmd_app, "register applications (client credentials)"},
    {"user", cmd_user, "register users for delegated tokens"},
    {"token", cmd_token, "print an access token for an application or a user"},
    {"keys", cmd_keys, "rotate or list the token signing keys"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: incidentd <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(out,
            "\nRun 'incidentd <command> --help' for a command's options, 'incidentd --version'\n"
            "for the version.\n");
}

void cli_error(const char *what, const char *fmt, ...)
{
    fprintf(stderr, "incidentd: %s: ", what);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_exit_code(enum err e)
{
    switch (e) {
    case ERR_OK:
        return EX_OK_;
    case ERR_INVALID:
    case ERR_BODY:
    case ERR_INPUT:
        return EX_DATAERR_;
    case ERR_IO:
        return EX_IOERR_;
    case ERR_UNAVAILABLE:
        return EX_UNAVAILABLE_;
    default:
        return EX_SOFTWARE_;
    }
}

int cli_load_config(struct config *cfg, const char *config_path)
{
    struct err_info ei;
    err_clear(&ei);
    config_init(cfg);
    if (config_path && config_load_file(cfg, config_path, &ei)) {
        cli_error("config", "%s", ei.msg);
        return ei.code == ERR_IO ? EX_NOINPUT_ : EX_CONFIG_;
    }
    if (config_load_env(cfg, &ei)) {
        cli_error("config", "%s", ei.msg);
        return EX_CONFIG_;
    }
    log_max_level = (enum log_level)cfg->log_level;
    return 0;
}

int cli_ensure_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path || strstr(path, "://"))
        return 0;
    char dir[4096];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof(dir)) {
        cli_error(path, "path too long");
        return EX_USAGE_;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        cli_error(dir, "cannot create directory: %s", strerror(errno));
        return EX_CANTCREAT_;
    }
    return 0;
}

int cli_open_store(struct config *cfg, const char *config_path, const char *db, const char *tenant,
                   struct store **st)
{
    int rc = cli_load_config(cfg, config_path);
    if (rc)
        return rc;
    struct err_info ei;
    err_clear(&ei);
    if ((db && config_set(cfg, "db", db, "--db", &ei)) ||
        (tenant && config_set(cfg, "tenant", tenant, "--tenant", &ei))) {
        cli_error("config", "%s", ei.msg);
        return EX_USAGE_;
    }
    if (!db && !config_path && !getenv("INCIDENTD_DB")) {
        cli_error("db", "--db PATH is required");
        return EX_USAGE_;
    }
    if ((rc = cli_ensure_parent_dir(cfg->db)) != 0)
        return rc;
    struct store_options so;
    store_options_init(&so, cfg->db);
    so.sync = (enum store_sync)cfg->db_sync;
    so.readers = 1;
    if (store_open(&so, st, &ei)) {
        cli_error(cfg->db, "%s", ei.msg);
        return cli_exit_code(ei.code);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EX_USAGE_;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("incidentd %s\n", INCIDENTD_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    cli_error(argv[1], "unknown command (see 'incidentd --help')");
    return EX_USAGE_;
}
