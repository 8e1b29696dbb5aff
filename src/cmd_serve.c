/* SPDX-License-Identifier: MIT */
/* `incidentd serve`: open the store, serve the API until SIGTERM/SIGINT, then drain and exit 0. */
#include "common.h"
#include "api.h"
#include "cli.h"
#include "http_server.h"
#include "log.h"
#include "store.h"
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

static const char serve_usage[] =
    "usage: incidentd serve --db PATH [--listen HOST:PORT] [--config FILE] [--public-url URL]\n"
    "\n"
    "Serves the Defender XDR incidents API from the database at PATH (created if missing).\n"
    "  --db PATH           SQLite database file (config key db)\n"
    "  --listen HOST:PORT  address to listen on, port 0 for any free port (default "
    "127.0.0.1:8080)\n"
    "  --config FILE       read settings from FILE (see docs/config.md)\n"
    "  --public-url URL    base URL clients use, for @odata.context and @odata.nextLink\n"
    "Settings also come from INCIDENTD_* environment variables; flags win.\n"
    "Prints 'incidentd: listening on http://HOST:PORT' once ready. SIGTERM or SIGINT stop it\n"
    "after in-flight requests finish.\n";

static bool valid_public_url(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return false;
    for (; *u; u++)
        if ((unsigned char)*u <= 0x20 || (unsigned char)*u >= 0x7f || strchr("\"\\<>?#", *u))
            return false;
    return true;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},     {"listen", required_argument, NULL, 'l'},
        {"config", required_argument, NULL, 'c'}, {"public-url", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *listen = NULL, *config_path = NULL, *public_url = NULL;
    int c;
    optind = 1;
    opterr = 0; /* our own message, in the incidentd: <what>: <why> form */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 'u':
            public_url = optarg;
            break;
        case 'h':
            fputs(serve_usage, stdout);
            return 0;
        default:
            cli_error("serve", "invalid option '%s' (unknown, or missing its value)",
                      argv[optind - 1]);
            fputs(serve_usage, stderr);
            return EX_USAGE_;
        }
    }
    if (optind < argc) {
        cli_error("serve", "unexpected argument '%s'", argv[optind]);
        return EX_USAGE_;
    }
    struct config cfg;
    int rc = cli_load_config(&cfg, config_path);
    if (rc) {
        config_release(&cfg);
        return rc;
    }
    struct err_info ei;
    err_clear(&ei);
    if ((db && config_set(&cfg, "db", db, "--db", &ei)) ||
        (listen && config_set(&cfg, "listen", listen, "--listen", &ei)) ||
        (public_url && config_set(&cfg, "public_url", public_url, "--public-url", &ei))) {
        cli_error("serve", "%s", ei.msg);
        config_release(&cfg);
        return EX_USAGE_;
    }
    if (cfg.public_url && !valid_public_url(cfg.public_url)) {
        cli_error("serve", "public URL '%s' must be an http(s) URL without quotes or spaces",
                  cfg.public_url);
        config_release(&cfg);
        return EX_CONFIG_;
    }
    if (cfg.log_file && log_open_file(cfg.log_file) != 0) {
        cli_error(cfg.log_file, "cannot open log file: %s", strerror(errno));
        config_release(&cfg);
        return EX_CANTCREAT_;
    }
    if ((rc = cli_ensure_parent_dir(cfg.db)) != 0) {
        config_release(&cfg);
        return rc;
    }

    /* Signals are taken synchronously by this thread; workers inherit the blocked mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cfg.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.threads = n < 1 ? 1 : n > 64 ? 64 : (int)n;
    }
    struct store_options so;
    store_options_init(&so, cfg.db);
    so.sync = (enum store_sync)cfg.db_sync;
    so.readers = cfg.db_readers;
    so.lock_report = true; /* docs/internals/storage.md, "Transactions and concurrency" */
    struct store *store = NULL;
    if (store_open(&so, &store, &ei)) {
        cli_error(cfg.db, "%s", ei.msg);
        config_release(&cfg);
        return cli_exit_code(ei.code);
    }
    struct auth *auth = NULL;
    if (store_tenant_ensure(store, cfg.tenant, &ei) || auth_new(&cfg, store, &auth, &ei) ||
        auth_ensure_key(auth, cfg.tenant, &ei)) {
        cli_error("serve", "%s", ei.msg);
        auth_free(auth);
        store_free(store);
        config_release(&cfg);
        return cli_exit_code(ei.code);
    }
    struct app app = {.cfg = &cfg, .store = store, .auth = auth};
    quota_defaults(&app.quotas);
    if (cfg.quota && quota_apply(&app.quotas, cfg.quota, &ei))
        cli_error("config", "quota: %s", ei.msg);
    else if (config_corr_options(&cfg, &app.corr, &ei))
        cli_error("config", "%s", ei.msg);
    if (ei.code) {
        auth_free(auth);
        store_free(store);
        config_release(&cfg);
        return EX_CONFIG_;
    }
    app.ratelimit = ratelimit_new((size_t)cfg.ratelimit_max_callers);
    struct http_server *srv = NULL;
    if (http_server_start(&app, &srv, &ei)) {
        cli_error("serve", "%s", ei.msg);
        ratelimit_free(app.ratelimit);
        auth_free(auth);
        store_free(store);
        config_release(&cfg);
        return ei.code == ERR_INVALID ? EX_USAGE_ : EX_UNAVAILABLE_;
    }
    char listen_base[300];
    char host[256];
    const char *colon = strrchr(cfg.listen, ':');
    snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg.listen), cfg.listen);
    snprintf(listen_base, sizeof(listen_base), "http://%s:%d", host, http_server_port(srv));
    app.listen_base = listen_base;
    printf("incidentd: listening on %s\n", listen_base);
    fflush(stdout);
    log_info("serving %s on %s with %d threads", cfg.db, listen_base, cfg.threads);

    int sig = 0;
    sigwait(&set, &sig);
    log_info("received signal %d: finishing in-flight requests", sig);
    http_server_stop(srv, cfg.shutdown_timeout_s);
    ratelimit_free(app.ratelimit);
    auth_free(auth);
    store_free(store);
    log_info("stopped");
    log_close();
    config_release(&cfg);
    return 0;
}
