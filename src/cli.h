/* SPDX-License-Identifier: MIT */
/*
 * Subcommands of the one `incidentd` binary (git's builtin table style) and the helpers they
 * share. Each cmd_* returns a sysexits(3) code; errors are printed as `incidentd: <what>: <why>`.
 */
#ifndef CLI_H
#define CLI_H

#include "common.h"
#include "config.h"
#include "err.h"

#define INCIDENTD_VERSION "0.1.0"

#define EX_OK_          0
#define EX_USAGE_       64
#define EX_DATAERR_     65
#define EX_NOINPUT_     66
#define EX_UNAVAILABLE_ 69
#define EX_SOFTWARE_    70
#define EX_CANTCREAT_   73
#define EX_IOERR_       74
#define EX_CONFIG_      78

int cmd_serve(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_app(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_ingest(int argc, char **argv);

/* Prints `incidentd: <what>: <why>` to stderr. */
ATTR_PRINTF(2, 3) void cli_error(const char *what, const char *fmt, ...);

/* Maps an error code to a sysexits code. */
int cli_exit_code(enum err e);

/*
 * Loads defaults, then the --config file when given, then the environment, in that order
 * (flags are applied by the caller afterwards). Returns 0 or a sysexits code after printing.
 */
int cli_load_config(struct config *cfg, const char *config_path);

/* Creates the parent directory of a database path when missing (one level, like `make run`'s
 * var/). Returns 0 or a sysexits code after printing. */
int cli_ensure_parent_dir(const char *path);

struct store;

/* Options of the database subcommands (app, user, token, keys, import, demo, ingest); strings
 * borrowed from argv. */
struct cli_opts {
    const char *db, *tenant, *config, *name, *client_id, *upn, *quota, *scope, *resource;
    const char *incidents, *seed;              /* demo, as given */
    const char *corr_keys, *window, *resolved; /* ingest, as given */
    char **args;                               /* positional arguments (only with '*' accepted) */
    size_t nargs;
    const char *roles[8];
    size_t nroles;
    const char *groups[64];
    size_t ngroups;
};

/*
 * Parses argv (argv[0] names the command for messages) into o. `accepted` lists the option
 * letters this command takes: d db, t tenant, c config, n name, r role, i client-id,
 * u upn/user, g device-group, q quota, s scope, R resource, N incidents, S seed, K keys,
 * W window, P resolved, and '*' for positional arguments (o->args); others are usage errors.
 * Returns 0, -1 after printing --help, or a sysexits code after printing the error.
 */
int cli_parse(int argc, char **argv, const char *usage, const char *accepted, struct cli_opts *o);

/*
 * Checks argv[1] is one of `actions` (NULL-terminated) for commands of the form
 * `incidentd app create …`. Returns 0, -1 after printing usage for --help, or EX_USAGE_.
 */
int cli_action(int argc, char **argv, const char *usage, const char *const *actions);

/*
 * The common start of every command that works on a database: settings (defaults, --config
 * file, environment), then --db and --tenant when given (NULL: keep the setting), a check that
 * some database was named, its directory, and the store (one reader). On success *st is the
 * caller's (store_free) and cfg must be released with config_release either way. Returns 0 or
 * a sysexits code after printing the error.
 */
int cli_open_store(struct config *cfg, const char *config_path, const char *db, const char *tenant,
                   struct store **st);

#endif
