/* SPDX-License-Identifier: MIT */
/*
 * Storage conformance: the behaviour every backend must share (docs/internals/storage.md), run
 * on a fresh SQLite file per test.
 */
#include "common.h"
#include "buf.h"
#include "odata.h"
#include "store.h"
#include "store_sqlite_int.h"
#include "tests.h"
#include <sqlite3.h>
#include "ts.h"
#include <sys/stat.h>
#include <unistd.h>

static char *dir;
static struct store *st;
static char dbpath[512];

static void setup(void)
{
    dir = test_tmpdir();
    snprintf(dbpath, sizeof(dbpath), "%s/t.db", dir);
    struct store_options o;
    store_options_init(&o, dbpath);
    o.sync = STORE_SYNC_NORMAL;
    o.readers = 2;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(store_open(&o, &st, &ei) == ERR_OK, "%s", ei.msg);
}

static void teardown(void)
{
    store_free(st);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

/* Imports incident `id` with `nalerts` alerts whose ids are prefixed by `alert_prefix`. */
static void put(const char *tenant, int64_t id, const char *updated, int nalerts,
                const char *alert_prefix, const char *status)
{
    char text[8192];
    int n = snprintf(text, sizeof(text),
                     "{\"incidentId\":%" PRId64 ",\"incidentName\":\"i%" PRId64 "\","
                     "\"createdTime\":\"2020-01-01T00:00:00Z\",\"lastUpdateTime\":\"%s\","
                     "\"status\":\"%s\",\"alerts\":[",
                     id, id, updated, status);
    for (int i = 0; i < nalerts; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      "%s{\"alertId\":\"%s%d\",\"creationTime\":\"2020-01-01T00:00:0%dZ\"}",
                      i ? "," : "", alert_prefix, i, i % 10);
    snprintf(text + n, sizeof(text) - (size_t)n, "]}");
    json_t *j = json_loads(text, 0, NULL);
    ck_assert(j != NULL);
    struct incident inc;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(incident_from_json(j, INCIDENT_IMPORT, &inc, &ei) == ERR_OK, "%s", ei.msg);
    struct incident *p = &inc;
    ck_assert_msg(store_incident_import(st, tenant, &p, 1, &ei) == ERR_OK, "%s", ei.msg);
    incident_release(&inc);
    json_decref(j);
}

struct collect {
    int64_t ids[256];
    size_t n;
    struct buf last;
};

static enum err collect_row(void *ctx, int64_t id, const char *doc, size_t len)
{
    struct collect *c = ctx;
    if (c->n < ARRAY_SIZE(c->ids))
        c->ids[c->n++] = id;
    buf_reset(&c->last);
    return buf_append(&c->last, doc, len);
}

static size_t list(const char *tenant, const char *filter, int64_t top, int64_t skip,
                   struct collect *c, bool *more)
{
    struct odata_query q;
    odata_query_init(&q);
    struct err_info ei;
    err_clear(&ei);
    char topv[24], skipv[24];
    snprintf(topv, sizeof(topv), "%" PRId64, top);
    snprintf(skipv, sizeof(skipv), "%" PRId64, skip);
    struct odata_param params[3] = {
        {"$top", 4, topv, strlen(topv)},
        {"$skip", 5, skipv, strlen(skipv)},
        {"$filter", 7, filter ? filter : "", filter ? strlen(filter) : 0},
    };
    ck_assert_msg(odata_query_parse(&q, params, filter ? 3 : 2, &ei) == ERR_OK, "%s", ei.msg);
    c->n = 0;
    ck_assert_msg(store_incident_list(st, STORE_TENANT(tenant), &q, collect_row, c, more, &ei) ==
                      ERR_OK,
                  "%s", ei.msg);
    odata_query_release(&q);
    return c->n;
}

START_TEST(test_store_default_order_and_paging)
{
    put("t", 1, "2021-01-01T00:00:00Z", 1, "a", "Active");
    put("t", 2, "2021-01-03T00:00:00Z", 1, "b", "Active");
    put("t", 3, "2021-01-02T00:00:00Z", 1, "c", "Resolved");
    put("t", 4, "2021-01-03T00:00:00Z", 1, "d", "Active");
    put("other", 5, "2022-01-01T00:00:00Z", 1, "e", "Active");
    struct collect c = {0};
    buf_init(&c.last, BUF_UNLIMITED);
    bool more;
    /* lastUpdateTime desc, then incidentId asc; other tenants invisible. */
    ck_assert_int_eq(list("t", NULL, 100, 0, &c, &more), 4);
    ck_assert(!more);
    int64_t want[] = {2, 4, 3, 1};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(c.ids[i], want[i]);
    ck_assert_int_eq(list("t", NULL, 2, 0, &c, &more), 2);
    ck_assert(more);
    ck_assert_int_eq(list("t", NULL, 2, 2, &c, &more), 2);
    ck_assert(!more);
    ck_assert_int_eq(c.ids[0], 3);
    ck_assert_int_eq(list("t", "status eq 'active' and lastUpdateTime gt 2021-01-01T00:00:00Z", 100,
                          0, &c, &more),
                     2);
    ck_assert_int_eq(list("t", NULL, 0, 0, &c, &more), 0);
    ck_assert(!more);
    buf_release(&c.last);
}
END_TEST

static enum err ignore_row(void *ctx, int64_t id, const char *doc, size_t len)
{
    UNUSED(id);
    return buf_append(ctx, doc, len);
}

static enum err apply(int64_t id, const char *body, struct buf *out, struct err_info *ei)
{
    json_t *j = json_loads(body, 0, NULL);
    struct incident_patch p;
    err_clear(ei);
    enum err e = incident_patch_parse(j, &p, ei);
    if (!e) {
        p.author = "unit";
        buf_reset(out);
        e = store_incident_update(st, STORE_TENANT("t"), id, &p, ignore_row, out, ei);
    }
    incident_patch_release(&p);
    json_decref(j);
    return e;
}

START_TEST(test_store_update_rules)
{
    put("t", 1, "2021-01-01T00:00:00Z", 2, "a", "Active");
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct err_info ei;
    ck_assert_int_eq(apply(1, "{}", &out, &ei), ERR_OK);
    ck_assert(strstr(out.data, "\"lastUpdateTime\":\"2021-01-01T00:00:00Z\""));
    ck_assert_int_eq(apply(2, "{}", &out, &ei), ERR_NOT_FOUND);
    ck_assert_int_eq(apply(1, "{\"status\":\"Resolved\",\"comment\":\"done\"}", &out, &ei), ERR_OK);
    ck_assert(!strstr(out.data, "\"lastUpdateTime\":\"2021-01-01T00:00:00Z\""));
    ck_assert(strstr(out.data, "\"status\":\"Resolved\""));
    ck_assert(strstr(out.data, "\"createdBy\":\"unit\""));
    /* Both alerts resolved: the incident status once, the two alerts' statuses. */
    const char *p = out.data;
    int resolved = 0;
    while ((p = strstr(p, "\"status\":\"Resolved\"")) != NULL) {
        resolved++;
        p++;
    }
    ck_assert_int_eq(resolved, 3);
    /* A failed rule writes nothing. */
    struct buf before;
    buf_init(&before, BUF_UNLIMITED);
    struct collect c = {0};
    buf_init(&c.last, BUF_UNLIMITED);
    bool more;
    list("t", NULL, 1, 0, &c, &more);
    buf_append(&before, c.last.data, c.last.len);
    ck_assert_int_eq(apply(1, "{\"comment\":\"x\",\"determination\":\"Malware\"}", &out, &ei),
                     ERR_BODY);
    list("t", NULL, 1, 0, &c, &more);
    ck_assert_str_eq(before.data, c.last.data);
    buf_release(&before);
    buf_release(&c.last);
    buf_release(&out);
}
END_TEST

START_TEST(test_store_update_time_strictly_increases)
{
    /* An imported time slightly ahead of this clock (an exporter's clock may run fast; import
     * allows up to a day): the next write must still move forward, past it. */
    char ahead[TS_FORMAT_MAX], want[TS_FORMAT_MAX + 40];
    int64_t t = ts_now() + 3600 * TS_TICKS_PER_SEC + 1;
    ts_format(t, ahead);
    put("t", 1, ahead, 0, "a", "Active");
    put("t", 2, "2021-01-01T00:00:00Z", 0, "b", "Active");
    struct buf out;
    buf_init(&out, BUF_UNLIMITED);
    struct err_info ei;
    ck_assert_int_eq(apply(1, "{\"comment\":\"x\"}", &out, &ei), ERR_OK);
    ts_format(t + 1, ahead);
    snprintf(want, sizeof(want), "\"lastUpdateTime\":\"%s\"", ahead);
    ck_assert_msg(strstr(out.data, want), "%s not in %.300s", want, out.data);
    /* Store-wide: no later write gets an earlier time than one already issued. */
    ck_assert_int_eq(apply(2, "{\"comment\":\"y\"}", &out, &ei), ERR_OK);
    ts_format(t + 2, ahead);
    snprintf(want, sizeof(want), "\"lastUpdateTime\":\"%s\"", ahead);
    ck_assert_msg(strstr(out.data, want), "%s not in %.300s", want, out.data);
    buf_release(&out);
}
END_TEST

START_TEST(test_store_import_moves_alerts)
{
    put("t", 1, "2021-01-01T00:00:00Z", 2, "x", "Active");
    put("t", 2, "2021-01-02T00:00:00Z", 1, "x", "Active"); /* takes alert x0 */
    struct buf doc;
    buf_init(&doc, BUF_UNLIMITED);
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(store_incident_get(st, STORE_TENANT("t"), 1, ignore_row, &doc, &ei), ERR_OK);
    ck_assert(!strstr(doc.data, "\"x0\""));
    ck_assert(strstr(doc.data, "\"x1\""));
    buf_reset(&doc);
    ck_assert_int_eq(store_incident_get(st, STORE_TENANT("t"), 2, ignore_row, &doc, &ei), ERR_OK);
    ck_assert(strstr(doc.data, "\"x0\""));
    ck_assert_int_eq(store_incident_get(st, STORE_TENANT("other"), 2, ignore_row, &doc, &ei),
                     ERR_NOT_FOUND);
    buf_release(&doc);
}
END_TEST

START_TEST(test_store_reopen_keeps_data)
{
    put("t", 9, "2021-01-01T00:00:00Z", 1, "a", "Active");
    store_free(st);
    struct store_options o;
    store_options_init(&o, dbpath);
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(store_open(&o, &st, &ei), ERR_OK);
    int64_t n = 0;
    ck_assert_int_eq(store_incident_count(st, "t", &n, &ei), ERR_OK);
    ck_assert_int_eq(n, 1);
}
END_TEST

/* Ingests `body` (one alert or {"value":[...]}, stolen) for tenant t with the default
 * correlation settings; fills r (room for `cap` results) and returns how many alerts it held. */
static size_t ingest_body(json_t *body, struct store_ingested *r, size_t cap)
{
    struct alert_in *a;
    size_t n;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(alert_parse_batch(body, 0, 0, &a, &n, &ei) == ERR_OK, "%s", ei.msg);
    ck_assert_uint_le(n, cap);
    struct corr_options o;
    corr_options_init(&o);
    ck_assert_msg(store_alert_ingest(st, "t", &o, a, n, r, &ei) == ERR_OK, "%s", ei.msg);
    for (size_t i = 0; i < n; i++)
        alert_in_release(&a[i]);
    free(a);
    json_decref(body);
    return n;
}

/* Ingests one alert with `devices` (stolen) for tenant t; returns the incident it went to. */
static int64_t ingest_devices(const char *alert_id, json_t *devices)
{
    struct store_ingested r;
    ingest_body(json_pack("{sssssoss}", "alertId", alert_id, "title", "T", "devices", devices,
                          "firstActivity", "2021-01-01T00:00:00Z"),
                &r, 1);
    return r.incident_id;
}

static int64_t ingest_on(const char *alert_id, const char *dev)
{
    return ingest_devices(alert_id, json_pack("[{ss}]", "deviceDnsName", dev));
}

/* Imported alerts are indexed (on import, and once for databases from before schema 3) so
 * ingested alerts correlate with them; their explanation says they were imported. */
START_TEST(test_store_imported_alerts_correlate)
{
    json_t *j = json_loads("{\"incidentId\":5,\"incidentName\":\"i\",\"createdTime\":"
                           "\"2021-01-01T00:00:00Z\",\"lastUpdateTime\":\"2021-01-01T00:00:00Z\","
                           "\"alerts\":[{\"alertId\":\"imp1\",\"creationTime\":"
                           "\"2021-01-01T00:00:00Z\",\"devices\":[{\"deviceDnsName\":\"PC1\"}]}]}",
                           0, NULL);
    struct incident inc;
    struct err_info ei;
    err_clear(&ei);
    ck_assert(incident_from_json(j, INCIDENT_IMPORT, &inc, &ei) == ERR_OK);
    struct incident *p = &inc;
    ck_assert_msg(store_incident_import(st, "t", &p, 1, &ei) == ERR_OK, "%s", ei.msg);
    incident_release(&inc);
    json_decref(j);
    ck_assert_int_eq(ingest_on("new1", "pc1"), 5);
    json_t *alert, *why;
    ck_assert_int_eq(store_alert_get(st, STORE_TENANT("t"), "imp1", &alert, &why, &ei), ERR_OK);
    ck_assert_str_eq(json_string_value(json_object_get(why, "action")), "imported");
    ck_assert(json_is_null(json_object_get(why, "key")));
    ck_assert_int_eq(json_integer_value(json_object_get(alert, "incidentId")), 5);
    json_decref(alert);
    json_decref(why);
    ck_assert_int_eq(store_alert_get(st, STORE_TENANT("t"), "new1", &alert, &why, &ei), ERR_OK);
    ck_assert_str_eq(json_string_value(json_object_get(why, "matchedAlertId")), "imp1");
    json_decref(alert);
    json_decref(why);
    ck_assert_int_eq(store_alert_get(st, STORE_TENANT("other"), "new1", &alert, &why, &ei),
                     ERR_NOT_FOUND);

    /* A database from before the key index: the keys are rebuilt when it is next opened. */
    store_free(st);
    sqlite3 *db;
    ck_assert(sqlite3_open(dbpath, &db) == SQLITE_OK);
    ck_assert(
        sqlite3_exec(db, "DELETE FROM alert_keys; CREATE TABLE alert_keys_pending (done INTEGER);",
                     NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    struct store_options o;
    store_options_init(&o, dbpath);
    ck_assert_int_eq(store_open(&o, &st, &ei), ERR_OK);
    ck_assert_int_eq(ingest_on("new2", "PC1"), 5);
}
END_TEST

/* A merged-away incident stays visible, as a stub, to users limited to its device groups. */
/* Ingests `batches` batches of 50 alerts with `pad`-byte descriptions on 400 devices, so most
 * alerts join an incident that already has a summary and rewrite it. */
static void ingest_load(int batches, size_t pad_len)
{
    char *pad = malloc(pad_len + 1);
    memset(pad, 'x', pad_len);
    pad[pad_len] = '\0';
    for (int b = 0; b < batches; b++) {
        json_t *list = json_array();
        for (int i = 0; i < 50; i++) {
            char id[32], dev[32], file[80];
            snprintf(id, sizeof(id), "w%d_%d", b, i);
            snprintf(dev, sizeof(dev), "dev%d", (b * 50 + i) % 400);
            snprintf(file, sizeof(file), "%064d", b * 100 + i);
            json_array_append_new(list,
                                  json_pack("{sssssss[{ss}]s[{ssss}]}", "alertId", id, "title", "T",
                                            "description", pad, "devices", "deviceDnsName", dev,
                                            "entities", "entityType", "File", "sha256", file));
        }
        struct store_ingested r[50];
        ingest_body(json_pack("{so}", "value", list), r, 50);
    }
    free(pad);
}

struct commit_seen {
    int commits, busy, partial;
};

/* Runs where SQLite's own checkpoint and the store's overflow checkpoint run: inside COMMIT. */
static int check_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)frames;
    struct commit_seen *c = arg;
    c->commits++;
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s))
        c->busy += sqlite3_stmt_busy(s) != 0;
    int log = 0, done = 0;
    if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &log, &done) != SQLITE_OK ||
        log != done)
        c->partial++;
    return SQLITE_OK;
}

/* A cached statement left on a row across COMMIT kept the writer's read transaction open: the
 * checkpoint run inside COMMIT failed (SQLITE_LOCKED) and the WAL was never restarted, so it grew
 * by every page written (2 GB in 30 s of the ingestion benchmark; storage.md, "Write-ahead log").
 * Every writer COMMIT now finds no statement on a row and can checkpoint everything. */
START_TEST(test_store_commit_leaves_no_statement_open)
{
    struct sqlite_store *sq = (struct sqlite_store *)st;
    struct commit_seen c = {0};
    pthread_mutex_lock(&sq->write_lock);
    sqlite3_wal_hook(sq->writer, check_commit, &c);
    pthread_mutex_unlock(&sq->write_lock);
    ingest_load(12, 100);
    ck_assert_int_eq(c.commits, 12);
    ck_assert_int_eq(c.busy, 0);
    ck_assert_int_eq(c.partial, 0);
}
END_TEST

/* Reads that overlap without a gap, like list queries from several clients: one of the two
 * connections always holds a snapshot. */
struct overlap {
    volatile bool stop;
    int offset_ms;
};

static void *overlapping_reads(void *arg)
{
    struct overlap *ov = arg;
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    usleep((useconds_t)ov->offset_ms * 1000);
    while (!ov->stop) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        sqlite3_exec(db, "SELECT count(*) FROM incidents", NULL, NULL, NULL);
        usleep(40000);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    sqlite3_close(db);
    return NULL;
}

/* The WAL stays bounded however much is ingested (storage.md, "Write-ahead log": ~32 MiB
 * plus one transaction), even while overlapping reads keep passive checkpoints from finishing:
 * ~90 MB are written here, rewriting incidents of 8 KB alerts. */
START_TEST(test_store_wal_stays_bounded)
{
    struct overlap ov[2] = {{false, 0}, {false, 20}};
    pthread_t readers[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&readers[i], NULL, overlapping_reads, &ov[i]);
    ingest_load(40, 8192);
    for (int i = 0; i < 2; i++) {
        ov[i].stop = true;
        pthread_join(readers[i], NULL);
    }
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", dbpath);
    struct stat sb;
    ck_assert_int_eq(stat(wal, &sb), 0);
    /* 8,000 frames of 4 KiB + 24 bytes, plus the batch that crossed them. */
    ck_assert_msg(sb.st_size < 40 * 1024 * 1024, "WAL is %lld bytes", (long long)sb.st_size);
}
END_TEST

/* Alerts arriving out of creationTime order (connectors send detections late) are spliced into
 * an incident's stored text when they sort among its last 64 alerts, and re-sorted in full when
 * they sort before those (correlation.md, "Storage"). 150 alerts on one device arrive in a
 * shuffled order, in batches of 1 to 7; after every batch the stored document holds every alert
 * once, in creationTime order, as valid JSON. */
START_TEST(test_store_out_of_order_alerts_stay_sorted)
{
    enum { N = 150 };
    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    unsigned seed = 12345;
    for (int i = N - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (unsigned)(i + 1));
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    int sent = 0;
    for (int b = 0; sent < N; b++) {
        int size = 1 + b % 7;
        json_t *list = json_array();
        for (int k = 0; k < size && sent < N; k++, sent++) {
            char id[16], when[32];
            snprintf(id, sizeof(id), "o%03d", order[sent]);
            snprintf(when, sizeof(when), "2021-01-01T%02d:%02d:00Z", order[sent] / 60,
                     order[sent] % 60);
            json_array_append_new(list, json_pack("{sssssss[{ss}]}", "alertId", id, "title", "T",
                                                  "creationTime", when, "devices", "deviceDnsName",
                                                  "pc-shuffle"));
        }
        struct store_ingested r[8];
        size_t n = ingest_body(json_pack("{so}", "value", list), r, 8);
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(r[i].incident_id, 1);
        struct err_info ei;
        err_clear(&ei);

        struct buf doc;
        buf_init(&doc, BUF_UNLIMITED);
        buf_putc(&doc, '{'); /* the store keeps documents from the first field on */
        ck_assert_int_eq(store_incident_get(st, STORE_TENANT("t"), 1, ignore_row, &doc, &ei),
                         ERR_OK);
        json_t *inc = json_loadb(doc.data, doc.len, 0, NULL);
        ck_assert_msg(inc != NULL, "batch %d: stored document is not JSON", b);
        json_t *alerts = json_object_get(inc, "alerts");
        ck_assert_int_eq(json_array_size(alerts), sent);
        const char *prev = "";
        size_t i;
        json_t *al;
        json_array_foreach(alerts, i, al)
        {
            /* ids sort like creation times here, so order and uniqueness are one check */
            const char *aid = json_string_value(json_object_get(al, "alertId"));
            ck_assert_msg(aid && strcmp(prev, aid) < 0, "batch %d: %s after %s", b, aid, prev);
            ck_assert_int_eq(json_integer_value(json_object_get(al, "incidentId")), 1);
            prev = aid;
        }
        json_decref(inc);
        buf_release(&doc);
    }
}
END_TEST

/* A reader that never ends its transaction (a client or shell holding one open) makes every
 * RESTART checkpoint wait for the whole busy timeout and fail. The writer then tries again only
 * after another 8,000 frames, not at every commit: 40 batches here cross 8,000 frames about
 * three times, so a handful of tries, each costing one busy timeout (100 ms here). */
START_TEST(test_store_stuck_reader_does_not_stall_every_commit)
{
    store_free(st);
    struct store_options o;
    store_options_init(&o, dbpath);
    o.sync = STORE_SYNC_NORMAL;
    o.readers = 2;
    o.busy_timeout_ms = 100;
    struct err_info ei;
    err_clear(&ei);
    ck_assert_msg(store_open(&o, &st, &ei) == ERR_OK, "%s", ei.msg);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN; SELECT count(*) FROM incidents", NULL, NULL, NULL),
                     SQLITE_OK);
    ingest_load(40, 8192);
    struct sqlite_store *sq = (struct sqlite_store *)st;
    pthread_mutex_lock(&sq->write_lock);
    unsigned tries = sq->restart_tries;
    pthread_mutex_unlock(&sq->write_lock);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    ck_assert_msg(tries >= 1 && tries <= 6, "%u RESTART checkpoints tried", tries);
}
END_TEST

START_TEST(test_store_stub_keeps_groups)
{
    ck_assert_int_eq(
        ingest_devices("a", json_pack("[{ssss}]", "deviceDnsName", "d1", "rbacGroupName", "G1")),
        1);
    ck_assert_int_eq(
        ingest_devices("b", json_pack("[{ssss}]", "deviceDnsName", "d2", "rbacGroupName", "G2")),
        2);
    ck_assert_int_eq(
        ingest_devices("c", json_pack("[{ss}{ss}]", "deviceDnsName", "d1", "deviceDnsName", "d2")),
        1);
    const char *const g2[] = {"G2"};
    struct store_scope only_g2 = {.tenant = "t", .restricted = true, .groups = g2, .ngroups = 1};
    struct buf doc;
    buf_init(&doc, BUF_UNLIMITED);
    struct err_info ei;
    err_clear(&ei);
    ck_assert_int_eq(store_incident_get(st, &only_g2, 2, ignore_row, &doc, &ei), ERR_OK);
    ck_assert_ptr_nonnull(strstr(doc.data, "\"redirectIncidentId\":1"));
    buf_reset(&doc);
    ck_assert_int_eq(store_incident_get(st, &only_g2, 1, ignore_row, &doc, &ei), ERR_OK);
    buf_release(&doc);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("sqlite");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_store_default_order_and_paging);
    tcase_add_test(tc, test_store_update_rules);
    tcase_add_test(tc, test_store_update_time_strictly_increases);
    tcase_add_test(tc, test_store_import_moves_alerts);
    tcase_add_test(tc, test_store_reopen_keeps_data);
    tcase_add_test(tc, test_store_imported_alerts_correlate);
    tcase_add_test(tc, test_store_stub_keeps_groups);
    tcase_add_test(tc, test_store_commit_leaves_no_statement_open);
    tcase_add_test(tc, test_store_wal_stays_bounded);
    tcase_add_test(tc, test_store_out_of_order_alerts_stay_sorted);
    tcase_add_test(tc, test_store_stuck_reader_does_not_stall_every_commit);
    suite_add_tcase(s, tc);
    return s;
}
