/* SPDX-License-Identifier: MIT */
/*
 * `incidentd import` and `incidentd demo`: both turn wire-shaped incidents into stored ones
 * through incident_from_json and store_incident_import, so demo data obeys exactly the rules
 * imported data does.
 */
#include "common.h"
#include "cli.h"
#include "demo.h"
#include "import.h"
#include "incident.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"

static const char import_usage[] =
    "usage: incidentd import --db PATH [--tenant TID] [--config FILE] FILE...\n"
    "\n"
    "Loads incidents into the database, inserting or replacing each by incidentId. A FILE holds\n"
    "a list response ({\"value\":[...]}), a single incident, a JSON array of incidents, or NDJSON\n"
    "(one list response or incident per line). Each file is all or nothing: on invalid input\n"
    "the command names file, line and column, imports nothing from that file and exits 65.\n";

static const char demo_usage[] =
    "usage: incidentd demo --db PATH --incidents N [--seed S] [--tenant TID] [--config FILE]\n"
    "\n"
    "Writes N realistic demo incidents (ids 1..N, 1-5 alerts each) into the database; the same\n"
    "seed always gives the same incidents.\n";

struct common_opts {
    const char *db;
    const char *tenant;
    const char *config;
    long long incidents;
    unsigned long long seed;
    char **files; /* import: the FILE arguments */
    size_t nfiles;
};

static int open_store(struct config *cfg, const struct common_opts *o, struct store **st)
{
    return cli_open_store(cfg, o->config, o->db, o->tenant, st);
}

/* Validates and stores every incident of one file; all or nothing. */
static int import_file(struct store *st, const char *tenant, const char *path, size_t *count)
{
    struct import_set set;
    import_set_init(&set);
    struct err_info ei;
    err_clear(&ei);
    if (import_read_file(path, &set, &ei)) {
        cli_error(path, "%s", ei.msg);
        import_set_release(&set);
        return ei.code == ERR_IO ? EX_NOINPUT_ : EX_DATAERR_;
    }
    struct incident *incs = xcalloc(set.n ? set.n : 1, sizeof(*incs));
    struct incident **ptrs = xcalloc(set.n ? set.n : 1, sizeof(*ptrs));
    int rc = 0;
    size_t done = 0;
    for (; done < set.n; done++) {
        if (incident_from_json(set.items[done], INCIDENT_IMPORT, &incs[done], &ei)) {
            cli_error(path, "line %d, column %d: incident %zu: %s", set.lines[done], set.cols[done],
                      done + 1, ei.msg);
            rc = EX_DATAERR_;
            break;
        }
        ptrs[done] = &incs[done];
    }
    if (!rc && store_incident_import(st, tenant, ptrs, set.n, &ei)) {
        cli_error(path, "%s", ei.msg);
        rc = cli_exit_code(ei.code);
    }
    if (!rc)
        *count = set.n;
    for (size_t i = 0; i < done; i++)
        incident_release(&incs[i]);
    free(incs);
    free(ptrs);
    import_set_release(&set);
    return rc;
}

/* Parses the shared options, then what import and demo need of them. */
static int parse_opts(int argc, char **argv, bool demo, struct common_opts *o)
{
    struct cli_opts co;
    const char *usage = demo ? demo_usage : import_usage;
    int rc = cli_parse(argc, argv, usage, demo ? "dtcNS" : "dtc*", &co);
    if (rc)
        return rc;
    memset(o, 0, sizeof(*o));
    o->db = co.db;
    o->tenant = co.tenant;
    o->config = co.config;
    o->incidents = -1;
    o->seed = 1;
    o->files = co.args;
    o->nfiles = co.nargs;
    char *end;
    if (co.incidents) {
        errno = 0;
        o->incidents = strtoll(co.incidents, &end, 10);
        if (errno || *end || end == co.incidents || o->incidents < 0 || o->incidents > 100000000) {
            cli_error("--incidents", "expected a number from 0 to 100000000, got '%s'",
                      co.incidents);
            return EX_USAGE_;
        }
    }
    if (co.seed) {
        errno = 0;
        o->seed = strtoull(co.seed, &end, 10);
        /* strtoull takes "-1" as 2^64-1; a seed is written without a sign. */
        if (errno || *end || end == co.seed || co.seed[0] < '0' || co.seed[0] > '9') {
            cli_error("--seed", "expected a non-negative integer, got '%s'", co.seed);
            return EX_USAGE_;
        }
    }
    if (!o->db && !o->config && !getenv("INCIDENTD_DB")) {
        cli_error(demo ? "demo" : "import", "--db PATH is required");
        return EX_USAGE_;
    }
    if (demo && o->incidents < 0) {
        cli_error("demo", "--incidents N is required");
        return EX_USAGE_;
    }
    if (!demo && o->nfiles == 0) {
        cli_error("import", "no FILE given");
        return EX_USAGE_;
    }
    return 0;
}

int cmd_import(int argc, char **argv)
{
    struct common_opts o;
    int rc = parse_opts(argc, argv, false, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct config cfg;
    struct store *st = NULL;
    rc = open_store(&cfg, &o, &st);
    int worst = rc;
    for (size_t i = 0; !rc && i < o.nfiles; i++) {
        size_t n = 0;
        int frc = import_file(st, cfg.tenant, o.files[i], &n);
        if (frc)
            worst = worst ? worst : frc;
        else
            fprintf(stderr, "incidentd: import: %s: %zu incident%s\n", o.files[i], n,
                    n == 1 ? "" : "s");
    }
    store_free(st);
    config_release(&cfg);
    return worst;
}

int cmd_demo(int argc, char **argv)
{
    struct common_opts o;
    int rc = parse_opts(argc, argv, true, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct config cfg;
    struct store *st = NULL;
    rc = open_store(&cfg, &o, &st);
    enum { BATCH = 2000 };
    struct incident *incs = xcalloc(BATCH, sizeof(*incs));
    struct incident *ptrs[BATCH];
    struct err_info ei;
    err_clear(&ei);
    for (long long first = 1; !rc && first <= o.incidents; first += BATCH) {
        size_t n = 0;
        for (long long id = first; id < first + BATCH && id <= o.incidents; id++, n++) {
            json_t *j = demo_incident(o.seed, id);
            enum err e = incident_from_json(j, INCIDENT_IMPORT, &incs[n], &ei);
            json_decref(j);
            if (e)
                BUG("demo incident %lld is invalid: %s", id, ei.msg);
            ptrs[n] = &incs[n];
        }
        if (store_incident_import(st, cfg.tenant, ptrs, n, &ei)) {
            cli_error(cfg.db, "%s", ei.msg);
            rc = cli_exit_code(ei.code);
        }
        for (size_t i = 0; i < n; i++)
            incident_release(&incs[i]);
        if (o.incidents >= 20000 && (first / BATCH) % 10 == 0)
            fprintf(stderr, "incidentd: demo: %lld/%lld incidents\n", first + (long long)n - 1,
                    o.incidents);
    }
    free(incs);
    if (!rc)
        fprintf(stderr, "incidentd: demo: wrote %lld incidents (seed %llu) to %s\n", o.incidents,
                o.seed, cfg.db);
    store_free(st);
    config_release(&cfg);
    return rc;
}
