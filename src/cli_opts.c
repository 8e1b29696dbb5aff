/* SPDX-License-Identifier: MIT */
/*
 * The options shared by the database subcommands (app, user, token, keys, import, demo,
 * ingest): one getopt table, one error style, and a per-command list of the options it accepts,
 * so an option that makes no sense for a command is refused rather than ignored.
 */
#include "common.h"
#include "cli.h"
#include <getopt.h>

int cli_parse(int argc, char **argv, const char *usage, const char *accepted, struct cli_opts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"tenant", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'},
        {"client-id", required_argument, NULL, 'i'},
        {"upn", required_argument, NULL, 'u'},
        {"user", required_argument, NULL, 'u'},
        {"device-group", required_argument, NULL, 'g'},
        {"quota", required_argument, NULL, 'q'},
        {"scope", required_argument, NULL, 's'},
        {"resource", required_argument, NULL, 'R'},
        {"incidents", required_argument, NULL, 'N'},
        {"seed", required_argument, NULL, 'S'},
        {"keys", required_argument, NULL, 'K'},
        {"window", required_argument, NULL, 'W'},
        {"resolved", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    int c, idx = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        if (c != 'h' && c != '?' && !strchr(accepted, c)) {
            cli_error(argv[0], "option '--%s' does not apply here", opts[idx].name);
            fputs(usage, stderr);
            return EX_USAGE_;
        }
        switch (c) {
        case 'd':
            o->db = optarg;
            break;
        case 't':
            o->tenant = optarg;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'i':
            o->client_id = optarg;
            break;
        case 'u':
            o->upn = optarg;
            break;
        case 'q':
            o->quota = optarg;
            break;
        case 's':
            o->scope = optarg;
            break;
        case 'R':
            o->resource = optarg;
            break;
        case 'N':
            o->incidents = optarg;
            break;
        case 'S':
            o->seed = optarg;
            break;
        case 'K':
            o->corr_keys = optarg;
            break;
        case 'W':
            o->window = optarg;
            break;
        case 'P':
            o->resolved = optarg;
            break;
        case 'r':
            if (o->nroles == ARRAY_SIZE(o->roles)) {
                cli_error("--role", "too many roles");
                return EX_USAGE_;
            }
            o->roles[o->nroles++] = optarg;
            break;
        case 'g':
            if (o->ngroups == ARRAY_SIZE(o->groups)) {
                cli_error("--device-group", "at most %zu device groups", ARRAY_SIZE(o->groups));
                return EX_USAGE_;
            }
            if (!*optarg) {
                cli_error("--device-group", "a device group name cannot be empty");
                return EX_USAGE_;
            }
            o->groups[o->ngroups++] = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            cli_error(argv[0], "invalid option '%s' (unknown, or missing its value)",
                      argv[optind - 1]);
            fputs(usage, stderr);
            return EX_USAGE_;
        }
    }
    if (optind < argc && !strchr(accepted, '*')) {
        cli_error(argv[0], "unexpected argument '%s'", argv[optind]);
        return EX_USAGE_;
    }
    o->args = argv + optind;
    o->nargs = (size_t)(argc - optind);
    return 0;
}

int cli_action(int argc, char **argv, const char *usage, const char *const *actions)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EX_USAGE_ : -1;
    }
    char list[128] = "";
    for (size_t i = 0; actions[i]; i++) {
        if (strcmp(argv[1], actions[i]) == 0)
            return 0;
        size_t n = strlen(list);
        snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", actions[i]);
    }
    cli_error(argv[0], "unknown action '%s' (%s)", argv[1], list);
    return EX_USAGE_;
}
