/* SPDX-License-Identifier: MIT */
/*
 * `incidentd ingest`: alerts from files into incidents, by the rules of POST /api/alerts
 * (CONTRACT §9, issue 5 point 1). Each file is read whole and every alert validated before any
 * is stored; then alerts go to store_alert_ingest in batches of ALERT_BATCH_MAX, each batch one
 * transaction. A file interrupted between batches keeps the batches already committed, and
 * because alerts are idempotent by alertId, running the command again finishes the job: what
 * was stored comes back `unchanged`.
 *
 * Input shapes are those of the API body (one alert, {"value":[...]}, a JSON array) plus NDJSON,
 * detected as import.c does: a valid first document followed by more text means one document
 * per line.
 */
#include "common.h"
#include "alert.h"
#include "buf.h"
#include "cli.h"
#include "correlate.h"
#include "store.h"
#include "ts.h"
#include "xmalloc.h"
#include <unistd.h>

/* Files with more alerts than this show a progress line (on a terminal). */
#define INGEST_PROGRESS_MIN 10000
#define INGEST_PROGRESS_MS  250
/* Retries, a second apart, of a batch refused because the database stayed locked. */
#define INGEST_BUSY_RETRIES 60

static const char ingest_usage[] =
    "usage: incidentd ingest --db PATH --tenant TID [--config FILE] [--keys LIST] [--window W]\n"
    "                        [--resolved new|reopen] FILE...\n"
    "\n"
    "Ingests alerts into the tenant's incidents exactly as POST /api/alerts does: each alert\n"
    "joins an incident by correlation, or starts one (docs/internals/correlation.md). A FILE\n"
    "holds one alert, {\"value\":[...]}, a JSON array of alerts, or NDJSON (one alert per line).\n"
    "\n"
    "Every alert of a file is validated before any is stored: on invalid input the command names\n"
    "the file (and the line, for NDJSON), the alert's index and the field, stores nothing from\n"
    "that file and exits 65. A valid file is stored in batches of 1000 alerts, each batch one\n"
    "transaction. Alerts are idempotent by alertId, so running the command again after an\n"
    "interruption is safe: alerts already stored are reported as unchanged. While another\n"
    "process (a running server) holds the database, a batch is retried for up to a minute.\n"
    "\n"
    "  --db PATH            SQLite database file\n"
    "  --tenant TID         tenant the alerts belong to\n"
    "  --config FILE        settings file; its correlation_* keys are the defaults below\n"
    "  --keys LIST          correlation keys, e.g. device,user,mailbox,file,mail,ip,url\n"
    "                       (setting correlation_keys; empty: no correlation)\n"
    "  --window W           correlation window: N followed by s, m, h or d (correlation_window)\n"
    "  --resolved POLICY    alerts matching only Resolved incidents: new or reopen\n"
    "                       (correlation_resolved)\n"
    "\n"
    "Prints '<file>: N alerts: C created, U updated, X unchanged' on stdout for each file. Files\n"
    "of more than 10000 alerts show their progress on stderr when it is a terminal.\n";

/* One alert found in a file: the JSON it arrived as (borrowed from the file's documents), the
 * NDJSON line it is on (0 for a JSON document) and its path for messages. */
struct item {
    json_t *src;
    int line;
    int list;     /* 0: the alert is the whole document; 1: in "value"; 2: in a top-level array */
    size_t index; /* position in its list */
};

struct input {
    json_t **docs; /* owned: one JSON document, or one per NDJSON line */
    size_t ndocs, docs_cap;
    struct item *items;
    size_t n, cap;
};

static void input_release(struct input *in)
{
    for (size_t i = 0; i < in->ndocs; i++)
        json_decref(in->docs[i]);
    free(in->docs);
    free(in->items);
    memset(in, 0, sizeof(*in));
}

static void push_item(struct input *in, json_t *src, int line, int list, size_t index)
{
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 64;
        in->items = xrealloc(in->items, in->cap * sizeof(*in->items));
    }
    in->items[in->n++] = (struct item){src, line, list, index};
}

/* Finds the alerts of one document, with the shape rules of alert_parse_batch (alert.h). */
static enum err take_document(struct input *in, json_t *doc, int line, struct err_info *ei)
{
    if (in->ndocs == in->docs_cap) {
        in->docs_cap = in->docs_cap ? in->docs_cap * 2 : 16;
        in->docs = xrealloc(in->docs, in->docs_cap * sizeof(*in->docs));
    }
    in->docs[in->ndocs++] = doc;
    json_t *list = NULL;
    int kind = 2;
    if (json_is_array(doc)) {
        list = doc;
    } else if (json_is_object(doc) && json_object_get(doc, "value") &&
               !json_object_get(doc, "alertId")) {
        list = json_object_get(doc, "value");
        kind = 1;
        if (!json_is_array(list))
            return err_set(ei, ERR_INVALID, -1, "value: expected an array of alerts");
    } else if (!json_is_object(doc)) {
        return err_set(ei, ERR_INVALID, -1,
                       "expected an alert object, {\"value\":[alerts]} or an array of alerts");
    }
    if (!list) {
        push_item(in, doc, line, 0, 0);
        return ERR_OK;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        push_item(in, v, line, kind, i);
    }
    return ERR_OK;
}

/* Reads a whole file into b. */
static enum err read_file(const char *path, struct buf *b, struct err_info *ei)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(ei, ERR_IO, -1, "cannot open: %s", strerror(errno));
    enum err e = ERR_OK;
    for (;;) {
        char *p = buf_reserve(b, 1 << 16);
        if (!p) {
            e = err_set(ei, ERR_TOO_LARGE, -1, "too large");
            break;
        }
        size_t n = fread(p, 1, 1 << 16, f);
        buf_commit(b, n);
        if (n < 1 << 16) {
            if (ferror(f))
                e = err_set(ei, ERR_IO, -1, "cannot read: %s", strerror(errno));
            break;
        }
    }
    fclose(f);
    return e;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

#define INGEST_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/*
 * Parses a file's text into in: one JSON document, or NDJSON when a valid first document is
 * followed by more text. Errors (ERR_INVALID) carry `line L, column C: <why>`.
 */
static enum err parse_input(const char *data, size_t len, struct input *in, struct err_info *ei)
{
    if (len >= 2 && (((unsigned char)data[0] == 0xFF && (unsigned char)data[1] == 0xFE) ||
                     ((unsigned char)data[0] == 0xFE && (unsigned char)data[1] == 0xFF)))
        return err_set(ei, ERR_INVALID, -1,
                       "line 1, column 1: input is UTF-16 (byte order mark), convert it to UTF-8");
    size_t bom = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    if (blank(data + bom, len - bom))
        return err_set(ei, ERR_INVALID, -1,
                       "empty input, expected an alert, {\"value\":[...]}, an array or NDJSON");
    json_error_t je;
    json_t *doc = json_loadb(data + bom, len - bom, INGEST_JSON_FLAGS, &je);
    if (doc) {
        enum err e = take_document(in, doc, 0, ei);
        return e;
    }
    if (json_error_code(&je) != json_error_end_of_input_expected)
        return err_set(ei, ERR_INVALID, -1, "line %d, column %d: %s", je.line, je.column, je.text);
    /* NDJSON: one document per non-blank line; CRLF and blank lines allowed. */
    size_t i = bom;
    int line = 1;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t eol = nl ? (size_t)(nl - data) : len;
        if (!blank(data + i, eol - i)) {
            doc = json_loadb(data + i, eol - i, INGEST_JSON_FLAGS, &je);
            if (!doc)
                return err_set(ei, ERR_INVALID, -1, "line %d, column %d: %s%s", line, je.column,
                               je.text,
                               json_error_code(&je) == json_error_premature_end_of_input
                                   ? " (NDJSON needs one document per line)"
                                   : "");
            enum err e = take_document(in, doc, line, ei);
            if (e) {
                char why[sizeof(ei->msg)];
                snprintf(why, sizeof(why), "%s", ei->msg);
                err_clear(ei);
                return err_set(ei, e, -1, "line %d: %s", line, why);
            }
        }
        i = eol + 1;
        line++;
    }
    return ERR_OK;
}

/* The path alert_from_json prefixes its messages with: "value[3]", "[3]" or "". */
static void item_path(const struct item *it, char *out, size_t cap)
{
    if (it->list == 1)
        snprintf(out, cap, "value[%zu]", it->index);
    else if (it->list == 2)
        snprintf(out, cap, "[%zu]", it->index);
    else
        snprintf(out, cap, "%s", "");
}

/* Validates every alert of the input; the first failure names line (NDJSON), index and field. */
static enum err validate_all(const struct input *in, int64_t now, struct err_info *ei)
{
    for (size_t i = 0; i < in->n; i++) {
        const struct item *it = &in->items[i];
        char path[48];
        item_path(it, path, sizeof(path));
        struct alert_in a;
        struct err_info aei;
        err_clear(&aei);
        if (alert_from_json(it->src, path, now, &a, &aei) != ERR_OK) {
            /* The message already names the alert's position in its document. */
            if (it->line)
                return err_set(ei, ERR_INVALID, -1, "line %d: %s", it->line, aei.msg);
            return err_set(ei, ERR_INVALID, -1, "%s", aei.msg);
        }
        alert_in_release(&a);
    }
    return ERR_OK;
}

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

struct tally {
    size_t created, updated, unchanged;
};

/* Stores a validated input in batches; *stored counts the alerts committed. */
static enum err store_all(struct store *st, const char *tenant, const struct corr_options *o,
                          const char *path, const struct input *in, int64_t now, struct tally *t,
                          size_t *stored, struct err_info *ei)
{
    struct alert_in *batch = xcalloc(ALERT_BATCH_MAX, sizeof(*batch));
    struct store_ingested *res = xcalloc(ALERT_BATCH_MAX, sizeof(*res));
    bool progress = in->n > INGEST_PROGRESS_MIN && isatty(STDERR_FILENO);
    uint64_t shown_ms = 0;
    enum err e = ERR_OK;
    *stored = 0;
    for (size_t first = 0; !e && first < in->n; first += ALERT_BATCH_MAX) {
        size_t n = 0;
        for (size_t i = first; !e && i < in->n && n < ALERT_BATCH_MAX; i++, n++) {
            /* Validated already with the same `now`, so this cannot fail; if it somehow did,
             * stop without storing this batch. */
            e = alert_from_json(in->items[i].src, "", now, &batch[n], ei);
            if (e)
                break;
        }
        /* Another process (the server, another ingest) may hold the write lock past the busy
         * timeout while it works through a large batch: wait and try again rather than give
         * up on a file half stored. */
        for (int attempt = 0; !e; attempt++) {
            e = store_alert_ingest(st, tenant, o, batch, n, res, ei);
            if (e != ERR_UNAVAILABLE || attempt == INGEST_BUSY_RETRIES)
                break;
            err_clear(ei);
            e = ERR_OK;
            struct timespec pause = {1, 0};
            nanosleep(&pause, NULL);
        }
        if (!e) {
            for (size_t i = 0; i < n; i++) {
                t->created += res[i].result == STORE_ALERT_CREATED;
                t->updated += res[i].result == STORE_ALERT_UPDATED;
                t->unchanged += res[i].result == STORE_ALERT_UNCHANGED;
            }
            *stored += n;
        }
        for (size_t i = 0; i < n; i++)
            alert_in_release(&batch[i]);
        if (progress && (mono_ms() - shown_ms >= INGEST_PROGRESS_MS || *stored == in->n)) {
            shown_ms = mono_ms();
            fprintf(stderr, "\rincidentd: ingest: %s: %zu/%zu alerts", path, *stored, in->n);
            fflush(stderr);
        }
    }
    if (progress)
        fputc('\n', stderr);
    free(batch);
    free(res);
    return e;
}

/* Ingests one file: parse, validate everything, then store in batches. */
static int ingest_file(struct store *st, const char *tenant, const struct corr_options *o,
                       const char *path)
{
    struct buf b;
    buf_init(&b, BUF_UNLIMITED);
    struct input in;
    memset(&in, 0, sizeof(in));
    struct err_info ei;
    err_clear(&ei);
    int64_t now = ts_now(); /* one instant per file: both passes default times alike */
    int rc = 0;
    if (read_file(path, &b, &ei)) {
        cli_error(path, "%s", ei.msg);
        rc = ei.code == ERR_IO ? EX_NOINPUT_ : EX_DATAERR_;
    } else if (parse_input(b.data ? b.data : "", b.len, &in, &ei) || validate_all(&in, now, &ei)) {
        cli_error(path, "%s", ei.msg);
        rc = EX_DATAERR_;
    }
    buf_release(&b);
    if (rc) {
        input_release(&in);
        return rc;
    }
    struct tally t = {0, 0, 0};
    size_t stored = 0;
    if (store_all(st, tenant, o, path, &in, now, &t, &stored, &ei)) {
        cli_error(path,
                  "%s (%zu of %zu alerts were stored before this; running the command again "
                  "is safe)",
                  ei.msg[0] ? ei.msg : err_str(ei.code), stored, in.n);
        rc = cli_exit_code(ei.code);
    } else {
        printf("%s: %zu alert%s: %zu created, %zu updated, %zu unchanged\n", path, in.n,
               in.n == 1 ? "" : "s", t.created, t.updated, t.unchanged);
        fflush(stdout);
    }
    input_release(&in);
    return rc;
}

/* Applies --keys, --window and --resolved on top of o; 0 or EX_USAGE_ after printing. */
static int apply_flags(const struct cli_opts *co, struct corr_options *o)
{
    struct err_info ei;
    err_clear(&ei);
    if (co->corr_keys && corr_keys_parse(co->corr_keys, &o->keys, &ei)) {
        cli_error("--keys", "%s", ei.msg);
        return EX_USAGE_;
    }
    if (co->window && corr_window_parse(co->window, &o->window, &ei)) {
        cli_error("--window", "%s", ei.msg);
        return EX_USAGE_;
    }
    if (co->resolved && corr_resolved_parse(co->resolved, &o->resolved, &ei)) {
        cli_error("--resolved", "%s", ei.msg);
        return EX_USAGE_;
    }
    return 0;
}

static enum err count_app(void *ctx, const struct store_app *a)
{
    (void)a;
    (*(size_t *)ctx)++;
    return ERR_OK;
}

static enum err count_user(void *ctx, const struct store_user *u)
{
    (void)u;
    (*(size_t *)ctx)++;
    return ERR_OK;
}

/* A mistyped --tenant or --db stores alerts that no connector will ever read: say so (the
 * alerts are still stored; a tenant may be filled before its applications are made). */
static void note_unreadable_tenant(struct store *st, const struct config *cfg)
{
    size_t readers = 0;
    struct err_info ei;
    err_clear(&ei);
    if (store_app_list(st, cfg->tenant, count_app, &readers, &ei) ||
        store_user_list(st, cfg->tenant, count_user, &readers, &ei) || readers > 0)
        return;
    fprintf(stderr,
            "incidentd: ingest: note: tenant '%s' has no application or user in %s, so nothing "
            "can read these alerts yet (incidentd app create --db %s --tenant %s ...)\n",
            cfg->tenant, cfg->db, cfg->db, cfg->tenant);
}

int cmd_ingest(int argc, char **argv)
{
    struct cli_opts co;
    int rc = cli_parse(argc, argv, ingest_usage, "dtcKWP*", &co);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!co.tenant) {
        cli_error("ingest", "--tenant TID is required");
        return EX_USAGE_;
    }
    if (co.nargs == 0) {
        cli_error("ingest", "no FILE given");
        return EX_USAGE_;
    }
    /* Flags are checked before anything is opened; they are applied over the settings below. */
    struct corr_options o;
    corr_options_init(&o);
    if ((rc = apply_flags(&co, &o)) != 0)
        return rc;
    struct config cfg;
    struct store *st = NULL;
    rc = cli_open_store(&cfg, co.config, co.db, co.tenant, &st);
    if (!rc) {
        struct err_info ei;
        err_clear(&ei);
        if (config_corr_options(&cfg, &o, &ei)) {
            cli_error("config", "%s", ei.msg);
            rc = EX_CONFIG_;
        } else {
            rc = apply_flags(&co, &o);
        }
    }
    int worst = rc;
    for (size_t i = 0; !rc && i < co.nargs; i++) {
        int frc = ingest_file(st, cfg.tenant, &o, co.args[i]);
        if (frc && !worst)
            worst = frc;
    }
    /* After the files, so a rejected file (nothing stored) does not get it. */
    if (!worst)
        note_unreadable_tenant(st, &cfg);
    store_free(st);
    config_release(&cfg);
    return worst;
}
