/* SPDX-License-Identifier: MIT */
/* `incidentd config`: print the effective settings, or the Markdown reference of every key. */
#include "common.h"
#include "cli.h"
#include <getopt.h>

static const char config_usage[] =
    "usage: incidentd config [--config FILE] [--markdown]\n"
    "\n"
    "Prints the effective settings (defaults, then FILE, then INCIDENTD_* variables), one\n"
    "'key = value' per line; --markdown prints the reference table of every key instead.\n";

int cmd_config(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"markdown", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool markdown = false;
    int c;
    optind = 1;
    opterr = 0; /* our own message, in the incidentd: <what>: <why> form */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'm':
            markdown = true;
            break;
        case 'h':
            fputs(config_usage, stdout);
            return 0;
        default:
            cli_error("config", "invalid option '%s' (unknown, or missing its value)",
                      argv[optind - 1]);
            fputs(config_usage, stderr);
            return EX_USAGE_;
        }
    }
    if (markdown) {
        config_print_markdown(stdout);
        return 0;
    }
    struct config cfg;
    int rc = cli_load_config(&cfg, path);
    if (!rc)
        config_print(&cfg, stdout);
    config_release(&cfg);
    return rc;
}
