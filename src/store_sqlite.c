/* SPDX-License-Identifier: MIT */
/*
 * SQLite backend of store.h: WAL mode, one writer connection behind a mutex (so writers queue in
 * process instead of spinning on SQLITE_BUSY), a pool of read-only connections that see the last
 * committed snapshot, versioned migrations from schema/sqlite, bound parameters only.
 * See docs/internals/storage.md.
 */
#include "common.h"
#include "log.h"
#include "odata_sql.h"
#include "store_sqlite_int.h"
#include "ts.h"
#include "xmalloc.h"
#include <pthread.h>
#include <sqlite3.h>

extern const char *const schema_sqlite_migrations[];
extern const size_t schema_sqlite_count;

/* Logs the connection's error and maps it to a code: busy/locked → unavailable, constraint →
 * conflict, anything else → storage. Raw messages never reach clients (conventions §3.4). */
enum err sq_fail(sqlite3 *db, const char *what, struct err_info *ei)
{
    int rc = sqlite3_extended_errcode(db);
    log_error("sqlite: %s: %s (%d)", what, sqlite3_errmsg(db), rc);
    enum err e = ERR_STORAGE;
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        e = ERR_UNAVAILABLE;
    else if ((rc & 0xff) == SQLITE_CONSTRAINT)
        e = ERR_CONFLICT;
    return err_set(ei, e, -1, "storage error while %s", what);
}

enum err sq_exec(sqlite3 *db, const char *sql, struct err_info *ei)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("sqlite: exec: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return sq_fail(db, "executing a statement", ei);
    }
    return ERR_OK;
}

enum err sq_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, struct err_info *ei)
{
    if (sqlite3_prepare_v2(db, sql, -1, out, NULL) != SQLITE_OK)
        return sq_fail(db, "preparing a statement", ei);
    return ERR_OK;
}

static enum err sq_connect(const struct store_options *o, bool readonly, sqlite3 **out,
                           struct err_info *ei)
{
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(o->path, &db, flags, NULL) != SQLITE_OK) {
        err_set(ei, ERR_IO, -1, "cannot open database '%s': %s", o->path,
                db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return ERR_IO;
    }
    sqlite3_busy_timeout(db, o->busy_timeout_ms);
    static const char *const sync_sql[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                           "PRAGMA synchronous=FULL"};
    if ((!readonly && sq_exec(db, "PRAGMA journal_mode=WAL", ei)) ||
        sq_exec(db, sync_sql[o->sync], ei) || sq_exec(db, "PRAGMA foreign_keys=OFF", ei) ||
        /* Correlation groups candidates per incident; the sorter's scratch belongs in memory,
         * not in temporary files created and unlinked on every lookup. */
        sq_exec(db, "PRAGMA temp_store=MEMORY", ei)) {
        sqlite3_close(db);
        return ei ? ei->code : ERR_STORAGE;
    }
    *out = db;
    return ERR_OK;
}

static enum err sq_migrate(sqlite3 *db, struct err_info *ei)
{
    sqlite3_stmt *s;
    if (sq_prepare(db, "PRAGMA user_version", &s, ei))
        return ERR_STORAGE;
    int version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    if ((size_t)version > schema_sqlite_count)
        return err_set(ei, ERR_STORAGE, -1,
                       "database schema version %d is newer than this incidentd (%zu)", version,
                       schema_sqlite_count);
    for (size_t v = (size_t)version; v < schema_sqlite_count; v++) {
        char set[64];
        snprintf(set, sizeof(set), "PRAGMA user_version=%zu", v + 1);
        if (sq_exec(db, "BEGIN IMMEDIATE", ei))
            return ERR_STORAGE;
        if (sq_exec(db, schema_sqlite_migrations[v], ei) || sq_exec(db, set, ei)) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return ERR_STORAGE;
        }
        if (sq_exec(db, "COMMIT", ei))
            return ERR_STORAGE;
        log_info("database migrated to schema version %zu", v + 1);
    }
    return ERR_OK;
}

enum err sq_wstmt(struct sqlite_store *st, enum wstmt id, const char *sql, sqlite3_stmt **out,
                  struct err_info *ei)
{
    if (!st->wstmt[id]) {
        if (sqlite3_prepare_v3(st->writer, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->wstmt[id],
                               NULL) != SQLITE_OK)
            return sq_fail(st->writer, "preparing a statement", ei);
    } else {
        sqlite3_reset(st->wstmt[id]);
        sqlite3_clear_bindings(st->wstmt[id]);
    }
    *out = st->wstmt[id];
    return ERR_OK;
}

enum err sq_commit(struct sqlite_store *st, struct err_info *ei)
{
    for (size_t i = 0; i < W__COUNT; i++)
        if (st->wstmt[i])
            sqlite3_reset(st->wstmt[i]);
    return sq_exec(st->writer, "COMMIT", ei);
}

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL frames, on the
 * writer's thread, while every other writer waits: copying those pages into the database file and
 * syncing it took a fifth of the writer's time under ingestion (docs/benchmarks.md). Here the
 * writer's commit hook only signals a thread with its own connection, which copies the bulk
 * beside the writer and then, holding write_lock, the few frames appended meanwhile, so the WAL
 * is fully backfilled and the next transaction restarts it from the beginning (a passive
 * checkpoint alone would trail a busy writer forever and the WAL would keep growing).
 */

#define CKPT_FRAMES 1000 /* SQLite's default autocheckpoint threshold */
/*
 * Past this the writer checkpoints itself in RESTART mode. The thread's passive checkpoints
 * cannot copy frames newer than the snapshot of a read still running, so overlapping list
 * queries can keep them from ever finishing and the WAL from restarting (an adversarial run saw
 * 373 MB). RESTART waits (busy timeout) for the reads that started before the copy finished;
 * reads that start after it read the database file and do not hold the WAL. Ingestion stalls
 * for that moment instead of the WAL growing: it stays near 32 MiB plus one transaction, and
 * journal_size_limit gives back the space of a larger one when it restarts.
 */
#define CKPT_FRAMES_MAX 8000

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sqlite_store *st = arg;
    /* Runs inside the writer's COMMIT, so under write_lock like restart_at. */
    if (frames < CKPT_FRAMES_MAX)
        st->restart_at = CKPT_FRAMES_MAX; /* the WAL restarted */
    if (frames >= st->restart_at && !atomic_load(&st->ckpt_running)) {
        st->restart_tries++;
        /* BUSY: a read outlived the busy timeout (a client holding a transaction open), or the
         * thread started a checkpoint meanwhile (SQLite then refuses at once; the next commit
         * tries again). Waiting again at every commit for such a read would stall each one
         * for the whole timeout, so the next try waits for another CKPT_FRAMES_MAX frames. */
        if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL) == SQLITE_OK)
            st->restart_at = CKPT_FRAMES_MAX;
        else if (!atomic_load(&st->ckpt_running))
            st->restart_at = frames + CKPT_FRAMES_MAX;
    } else if (frames >= CKPT_FRAMES) {
        pthread_mutex_lock(&st->ckpt_lock);
        st->ckpt_due = true;
        pthread_cond_signal(&st->ckpt_cond);
        pthread_mutex_unlock(&st->ckpt_lock);
    }
    return SQLITE_OK;
}

static void checkpoint_once(struct sqlite_store *st)
{
    int rc = sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc == SQLITE_OK) {
        pthread_mutex_lock(&st->write_lock);
        int64_t t0 = sq_mono_ns();
        rc = sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        st->lock_stats.ckpt_passes++;
        st->lock_stats.ckpt_held_ns += sq_mono_ns() - t0;
        pthread_mutex_unlock(&st->write_lock);
    }
    /* BUSY: another process is checkpointing; the next commit signals again. */
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_warn("checkpoint failed: %s", sqlite3_errmsg(st->ckpt_db));
}

static void *checkpointer(void *arg)
{
    struct sqlite_store *st = arg;
    pthread_mutex_lock(&st->ckpt_lock);
    for (;;) {
        while (!st->ckpt_due && !st->ckpt_stop)
            pthread_cond_wait(&st->ckpt_cond, &st->ckpt_lock);
        if (st->ckpt_stop)
            break;
        st->ckpt_due = false;
        pthread_mutex_unlock(&st->ckpt_lock);
        atomic_store(&st->ckpt_running, true);
        checkpoint_once(st);
        atomic_store(&st->ckpt_running, false);
        pthread_mutex_lock(&st->ckpt_lock);
    }
    pthread_mutex_unlock(&st->ckpt_lock);
    return NULL;
}

static enum err checkpointer_start(struct sqlite_store *st, const struct store_options *o,
                                   struct err_info *ei)
{
    if (sq_connect(o, false, &st->ckpt_db, ei))
        return ERR_STORAGE;
    if (pthread_create(&st->ckpt_thread, NULL, checkpointer, st) != 0)
        return err_set(ei, ERR_STORAGE, -1, "cannot start the checkpoint thread");
    st->ckpt_started = true;
    st->restart_at = CKPT_FRAMES_MAX;
    sqlite3_wal_hook(st->writer, on_wal_commit, st);
    return ERR_OK;
}

static void checkpointer_stop(struct sqlite_store *st)
{
    if (st->writer)
        sqlite3_wal_hook(st->writer, NULL, NULL);
    if (st->ckpt_started) {
        pthread_mutex_lock(&st->ckpt_lock);
        st->ckpt_stop = true;
        pthread_cond_signal(&st->ckpt_cond);
        pthread_mutex_unlock(&st->ckpt_lock);
        pthread_join(st->ckpt_thread, NULL);
    }
    sqlite3_close(st->ckpt_db);
}

static int64_t clock_ns(clockid_t clock)
{
    struct timespec t;
    if (clock_gettime(clock, &t) != 0)
        return 0;
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int64_t sq_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t sq_thread_cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* One line on where the writer's time went, for benchmarks (docs/benchmarks.md). */
static void log_lock_stats(struct sqlite_store *st)
{
    pthread_mutex_lock(&st->write_lock);
    struct sq_lock_stats k = st->lock_stats;
    unsigned restarts = st->restart_tries;
    pthread_mutex_unlock(&st->write_lock);
    if (k.batches == 0)
        return;
    double n = (double)k.batches;
    log_info("write lock: %" PRIu64 " ingestion transactions held it %.1f ms each (on CPU %.1f "
             "ms, in COMMIT %.1f ms) after waiting %.1f ms; checkpoints held it %" PRIu64
             " times, %.1f ms in all; RESTART checkpoint tries in COMMIT: %u",
             k.batches, (double)k.held_ns / n / 1e6, (double)k.cpu_ns / n / 1e6,
             (double)k.commit_ns / n / 1e6, (double)k.wait_ns / n / 1e6, k.ckpt_passes,
             (double)k.ckpt_held_ns / 1e6, restarts);
}

static void sqlite_free(struct store *base)
{
    struct sqlite_store *st = SQ(base);
    checkpointer_stop(st);
    if (st->lock_report)
        log_lock_stats(st);
    for (size_t i = 0; i < W__COUNT; i++)
        sqlite3_finalize(st->wstmt[i]);
    for (int i = 0; i < st->nreaders; i++)
        sqlite3_close(st->readers[i]);
    free(st->readers);
    free(st->free_readers);
    sqlite3_close(st->writer);
    pthread_mutex_destroy(&st->write_lock);
    pthread_mutex_destroy(&st->pool_lock);
    pthread_cond_destroy(&st->pool_cond);
    pthread_mutex_destroy(&st->ckpt_lock);
    pthread_cond_destroy(&st->ckpt_cond);
    free(st);
}

static enum err sqlite_open(const struct store_options *o, struct store **out, struct err_info *ei)
{
    struct sqlite_store *st = xcalloc(1, sizeof(*st));
    st->base.ops = &store_sqlite_ops;
    pthread_mutex_init(&st->write_lock, NULL);
    pthread_mutex_init(&st->pool_lock, NULL);
    pthread_cond_init(&st->pool_cond, NULL);
    pthread_mutex_init(&st->ckpt_lock, NULL);
    pthread_cond_init(&st->ckpt_cond, NULL);
    st->lock_report = o->lock_report;
    int n = o->readers < 1 ? 1 : o->readers;
    st->readers = xcalloc((size_t)n, sizeof(sqlite3 *));
    st->free_readers = xcalloc((size_t)n, sizeof(sqlite3 *));
    if (sq_connect(o, false, &st->writer, ei))
        goto fail;
    /* Ingestion touches pages all over the file (alert ids and keys are random): the writer
     * maps the file like the readers and keeps a larger cache, so a batch does not re-read and
     * spill pages through system calls (docs/benchmarks.md, alert ingestion). */
    sqlite3_exec(st->writer, "PRAGMA mmap_size=268435456", NULL, NULL, NULL);
    sqlite3_exec(st->writer, "PRAGMA cache_size=-65536", NULL, NULL, NULL);
    sqlite3_exec(st->writer, "PRAGMA journal_size_limit=67108864", NULL, NULL, NULL);
    if (sq_migrate(st->writer, ei) || sq_index_pending(st, ei) || checkpointer_start(st, o, ei))
        goto fail;
    for (int i = 0; i < n; i++) {
        if (sq_connect(o, true, &st->readers[i], ei))
            goto fail;
        sqlite3_exec(st->readers[i], "PRAGMA query_only=1", NULL, NULL, NULL);
        /* Reads map the file instead of copying pages through each connection's cache:
         * a list page is ~100 documents in overflow pages (measured: filtered page 2,185
         * req/s, p99 61 ms, against 1,770 req/s, p99 80 ms without, same machine state). */
        sqlite3_exec(st->readers[i], "PRAGMA mmap_size=268435456", NULL, NULL, NULL);
        st->nreaders++;
        st->free_readers[st->nfree++] = st->readers[i];
    }
    sqlite3_stmt *s;
    if (sq_prepare(st->writer, "SELECT COALESCE(MAX(last_update_time), 0) FROM incidents", &s, ei))
        goto fail;
    if (sqlite3_step(s) == SQLITE_ROW)
        st->last_issued = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    *out = &st->base;
    return ERR_OK;
fail:
    sqlite_free(&st->base);
    return ei && ei->code ? ei->code : ERR_STORAGE;
}

sqlite3 *sq_reader_acquire(struct sqlite_store *st)
{
    pthread_mutex_lock(&st->pool_lock);
    while (st->nfree == 0)
        pthread_cond_wait(&st->pool_cond, &st->pool_lock);
    sqlite3 *db = st->free_readers[--st->nfree];
    pthread_mutex_unlock(&st->pool_lock);
    return db;
}

void sq_reader_release(struct sqlite_store *st, sqlite3 *db)
{
    pthread_mutex_lock(&st->pool_lock);
    st->free_readers[st->nfree++] = db;
    pthread_cond_signal(&st->pool_cond);
    pthread_mutex_unlock(&st->pool_lock);
}

/* ---------------------------------------------------------------------------------------------
 * Reads
 */

/* Appends the delegated-scoping condition on `incidents` (nothing for an unrestricted scope). */
enum err sq_append_scope(struct buf *sql, const struct store_scope *sc)
{
    if (!sc->restricted)
        return ERR_OK;
    if (sc->ngroups == 0)
        return buf_puts(sql, " AND 0");
    enum err e = buf_puts(sql, " AND EXISTS (SELECT 1 FROM incident_groups g WHERE "
                               "g.tenant_id = incidents.tenant_id AND g.incident_id = "
                               "incidents.incident_id AND g.rbac_group IN (");
    for (size_t i = 0; i < sc->ngroups; i++)
        e = e ? e : buf_puts(sql, i ? ",?" : "?");
    return e ? e : buf_puts(sql, "))");
}

void sq_bind_scope(sqlite3_stmt *s, int *idx, const struct store_scope *sc)
{
    if (!sc->restricted)
        return;
    for (size_t i = 0; i < sc->ngroups; i++)
        sqlite3_bind_text(s, (*idx)++, sc->groups[i], -1, SQLITE_STATIC);
}

static enum err sqlite_incident_list(struct store *base, const struct store_scope *scope,
                                     const struct odata_query *q, store_row_fn *fn, void *ctx,
                                     bool *more, struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    *more = false;
    if (q->top == 0)
        return ERR_OK;
    struct buf sql;
    buf_init(&sql, BUF_UNLIMITED);
    struct odata_sql_params *params = xmalloc(sizeof(*params));
    params->n = 0;
    enum err e = buf_puts(&sql, "SELECT incident_id, doc FROM incidents WHERE tenant_id = ?");
    e |= sq_append_scope(&sql, scope);
    if (q->filter) {
        e |= buf_puts(&sql, " AND (");
        e |= odata_sql_where(q->filter, ODATA_DIALECT_SQLITE, 2, &sql, params);
        e |= buf_puts(&sql, ")");
    }
    e |= buf_puts(&sql, " ORDER BY ");
    e |= odata_sql_order(q, &sql);
    e |= buf_puts(&sql, " LIMIT ? OFFSET ?");
    if (e) {
        buf_release(&sql);
        free(params);
        return err_set(ei, ERR_ODATA, -1, "$filter is too complex");
    }

    sqlite3 *db = sq_reader_acquire(st);
    sqlite3_stmt *s = NULL;
    if (sq_prepare(db, sql.data, &s, ei)) {
        e = ERR_STORAGE;
        goto done;
    }
    int idx = 1;
    sqlite3_bind_text(s, idx++, scope->tenant, -1, SQLITE_STATIC);
    sq_bind_scope(s, &idx, scope);
    for (size_t i = 0; i < params->n; i++) {
        const struct odata_sql_param *p = &params->v[i];
        if (p->kind == ODATA_SQL_INT)
            sqlite3_bind_int64(s, idx++, p->i);
        else
            sqlite3_bind_text(s, idx++, p->s, (int)p->s_len, SQLITE_STATIC);
    }
    /* One extra row tells whether a nextLink is due. */
    sqlite3_bind_int64(s, idx++, q->top + 1);
    sqlite3_bind_int64(s, idx++, q->skip);
    int64_t rows = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (rows == q->top) {
            *more = true;
            break;
        }
        rows++;
        e = fn(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
               (size_t)sqlite3_column_bytes(s, 1));
        if (e)
            goto done;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        e = sq_fail(db, "listing incidents", ei);
done:
    sqlite3_finalize(s);
    sq_reader_release(st, db);
    buf_release(&sql);
    free(params);
    return e;
}

static enum err sqlite_incident_get(struct store *base, const struct store_scope *scope, int64_t id,
                                    store_row_fn *fn, void *ctx, struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    struct buf sql;
    buf_init(&sql, BUF_UNLIMITED);
    buf_puts(&sql, "SELECT doc FROM incidents WHERE tenant_id = ? AND incident_id = ?");
    sq_append_scope(&sql, scope);
    sqlite3 *db = sq_reader_acquire(st);
    sqlite3_stmt *s = NULL;
    enum err e = sq_prepare(db, sql.data, &s, ei);
    if (e)
        goto done;
    int idx = 1;
    sqlite3_bind_text(s, idx++, scope->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, idx++, id);
    sq_bind_scope(s, &idx, scope);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        e = fn(ctx, id, (const char *)sqlite3_column_text(s, 0),
               (size_t)sqlite3_column_bytes(s, 0));
    else if (rc == SQLITE_DONE)
        e = err_set(ei, ERR_NOT_FOUND, -1, "incident %" PRId64 " was not found", id);
    else
        e = sq_fail(db, "reading an incident", ei);
done:
    sqlite3_finalize(s);
    sq_reader_release(st, db);
    buf_release(&sql);
    return e;
}

static enum err sqlite_incident_count(struct store *base, const char *tenant, int64_t *out,
                                      struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    sqlite3 *db = sq_reader_acquire(st);
    sqlite3_stmt *s = NULL;
    enum err e = sq_prepare(db, "SELECT COUNT(*) FROM incidents WHERE tenant_id = ?", &s, ei);
    if (!e) {
        sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            *out = sqlite3_column_int64(s, 0);
        else
            e = sq_fail(db, "counting incidents", ei);
    }
    sqlite3_finalize(s);
    sq_reader_release(st, db);
    return e;
}

/* ---------------------------------------------------------------------------------------------
 * Writes (caller holds write_lock and an open transaction)
 */

/* Loads an incident's scalar state, tags and comments, plus its stored doc and alerts offset. */
enum err sq_load_incident(struct sqlite_store *st, const char *tenant, int64_t id,
                          struct incident *inc, struct buf *doc, size_t *alerts_off,
                          struct err_info *ei)
{
    sqlite3 *db = st->writer;
    sqlite3_stmt *s;
    if (sq_wstmt(st, W_LOAD_INCIDENT,
                 "SELECT redirect_incident_id, incident_name, created_time, last_update_time, "
                 "assigned_to, classification, determination, status, severity, tags, "
                 "comments, doc, alerts_off FROM incidents WHERE tenant_id = ? AND "
                 "incident_id = ?",
                 &s, ei))
        return ERR_STORAGE;
    sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, id);
    int rc = sqlite3_step(s);
    enum err e = ERR_OK;
    if (rc == SQLITE_DONE) {
        e = err_set(ei, ERR_NOT_FOUND, -1, "incident %" PRId64 " was not found", id);
    } else if (rc != SQLITE_ROW) {
        e = sq_fail(db, "reading an incident", ei);
    } else {
        incident_init(inc);
        inc->id = id;
        inc->redirect_id = sqlite3_column_int64(s, 0);
        inc->name = xstrdup((const char *)sqlite3_column_text(s, 1));
        inc->created_time = sqlite3_column_int64(s, 2);
        inc->last_update_time = sqlite3_column_int64(s, 3);
        if (sqlite3_column_type(s, 4) != SQLITE_NULL)
            inc->assigned_to = xstrdup((const char *)sqlite3_column_text(s, 4));
        inc->classification = (enum classification)sqlite3_column_int(s, 5);
        inc->determination = (enum determination)sqlite3_column_int(s, 6);
        inc->status = (enum status)sqlite3_column_int(s, 7);
        inc->severity = (enum severity)sqlite3_column_int(s, 8);
        inc->tags = json_loads((const char *)sqlite3_column_text(s, 9), 0, NULL);
        /* Comments stay text: a PATCH appends one without parsing the others. */
        const char *ct = (const char *)sqlite3_column_text(s, 10);
        size_t cl = (size_t)sqlite3_column_bytes(s, 10);
        if (ct && cl >= 2 && ct[0] == '[' && ct[cl - 1] == ']')
            buf_append(&inc->comments_text, ct, cl);
        if (!json_is_array(inc->tags) || inc->comments_text.len == 0) {
            incident_release(inc);
            e = err_set(ei, ERR_STORAGE, -1, "stored incident %" PRId64 " is corrupt", id);
        } else {
            buf_reset(doc);
            e = buf_append(doc, sqlite3_column_text(s, 11), (size_t)sqlite3_column_bytes(s, 11));
            *alerts_off = (size_t)sqlite3_column_int64(s, 12);
            if (*alerts_off > doc->len)
                e = err_set(ei, ERR_STORAGE, -1, "stored incident %" PRId64 " is corrupt", id);
        }
    }
    sqlite3_reset(s);
    return e;
}

/* Writes an incident row (insert or replace by tenant and id). */
enum err sq_save_incident(struct sqlite_store *st, const char *tenant, const struct incident *inc,
                          const struct buf *doc, size_t alerts_off, const char *summary,
                          struct err_info *ei)
{
    sqlite3 *db = st->writer;
    sqlite3_stmt *s;
    if (sq_wstmt(st, W_SAVE_INCIDENT,
                 "INSERT INTO incidents (tenant_id, incident_id, redirect_incident_id, "
                 "incident_name, created_time, last_update_time, assigned_to, classification, "
                 "determination, status, severity, tags, comments, doc, alerts_off, alert_summary) "
                 "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (tenant_id, incident_id) DO "
                 "UPDATE SET redirect_incident_id = excluded.redirect_incident_id, "
                 "incident_name = excluded.incident_name, created_time = "
                 "excluded.created_time, last_update_time = excluded.last_update_time, "
                 "assigned_to = excluded.assigned_to, classification = "
                 "excluded.classification, determination = excluded.determination, status = "
                 "excluded.status, severity = excluded.severity, tags = excluded.tags, "
                 "comments = excluded.comments, doc = excluded.doc, alerts_off = "
                 "excluded.alerts_off, alert_summary = excluded.alert_summary",
                 &s, ei))
        return ERR_STORAGE;
    char *tags = json_dumps(inc->tags, JSON_COMPACT);
    struct buf comments;
    buf_init(&comments, BUF_UNLIMITED);
    incident_comments_json(inc, &comments);
    sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, inc->id);
    if (inc->redirect_id)
        sqlite3_bind_int64(s, 3, inc->redirect_id);
    else
        sqlite3_bind_null(s, 3);
    sqlite3_bind_text(s, 4, inc->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, inc->created_time);
    sqlite3_bind_int64(s, 6, inc->last_update_time);
    if (inc->assigned_to)
        sqlite3_bind_text(s, 7, inc->assigned_to, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 7);
    sqlite3_bind_int(s, 8, (int)inc->classification);
    sqlite3_bind_int(s, 9, (int)inc->determination);
    sqlite3_bind_int(s, 10, (int)inc->status);
    sqlite3_bind_int(s, 11, (int)inc->severity);
    sqlite3_bind_text(s, 12, tags, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 13, comments.data, (int)comments.len, SQLITE_STATIC);
    sqlite3_bind_text(s, 14, doc->data, (int)doc->len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 15, (int64_t)alerts_off);
    if (summary)
        sqlite3_bind_text(s, 16, summary, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 16);
    enum err e = ERR_OK;
    if (sqlite3_step(s) != SQLITE_DONE)
        e = sq_fail(db, "writing an incident", ei);
    sqlite3_reset(s);
    free(tags);
    buf_release(&comments);
    return e;
}

enum err sq_sync_clock(struct sqlite_store *st, const char *tenant, struct err_info *ei)
{
    sqlite3_stmt *s;
    if (sq_wstmt(st, W_TENANT_CLOCK,
                 "SELECT max(last_update_time) FROM incidents WHERE tenant_id = ?", &s, ei))
        return ERR_STORAGE;
    sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_int64(s, 0) > st->last_issued)
        st->last_issued = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? ERR_OK : sq_fail(st->writer, "reading", ei);
}

int64_t sq_next_update_time(struct sqlite_store *st, int64_t previous)
{
    int64_t now = ts_now();
    if (now <= st->last_issued)
        now = st->last_issued + 1;
    if (now <= previous)
        now = previous + 1;
    return now;
}

/* True when a restricted scope may see incident `id` (caller holds a transaction). */
enum err sq_scope_allows(sqlite3 *db, const struct store_scope *sc, int64_t id, bool *ok,
                         struct err_info *ei)
{
    *ok = !sc->restricted;
    if (*ok || sc->ngroups == 0)
        return ERR_OK;
    struct buf sql;
    buf_init(&sql, BUF_UNLIMITED);
    buf_puts(&sql, "SELECT 1 FROM incidents WHERE tenant_id = ? AND incident_id = ?");
    sq_append_scope(&sql, sc);
    sqlite3_stmt *s;
    enum err e = sq_prepare(db, sql.data, &s, ei);
    if (!e) {
        int idx = 1;
        sqlite3_bind_text(s, idx++, sc->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, idx++, id);
        sq_bind_scope(s, &idx, sc);
        *ok = sqlite3_step(s) == SQLITE_ROW;
        sqlite3_finalize(s);
    }
    buf_release(&sql);
    return e;
}

static enum err sqlite_incident_update(struct store *base, const struct store_scope *scope,
                                       int64_t id, const struct incident_patch *p, store_row_fn *fn,
                                       void *ctx, struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    const char *tenant = scope->tenant;
    bool visible;
    struct incident inc;
    incident_init(&inc);
    struct buf doc, out;
    buf_init(&doc, BUF_UNLIMITED);
    buf_init(&out, BUF_UNLIMITED);
    size_t alerts_off = 0;
    bool changed = false, cas_status, cas_assign;
    int64_t now = 0;

    pthread_mutex_lock(&st->write_lock);
    enum err e = sq_exec(st->writer, "BEGIN IMMEDIATE", ei);
    if (e)
        goto unlock;
    /* Another process (incidentd import or ingest) may have written since: never issue a
     * time below what the tenant's pollers may already have seen. */
    e = sq_sync_clock(st, tenant, ei);
    if (e)
        goto rollback;
    e = sq_scope_allows(st->writer, scope, id, &visible, ei);
    if (!e && !visible)
        e = err_set(ei, ERR_NOT_FOUND, -1, "incident %" PRId64 " was not found", id);
    if (e)
        goto rollback;
    e = sq_load_incident(st, tenant, id, &inc, &doc, &alerts_off, ei);
    if (e)
        goto rollback;
    now = sq_next_update_time(st, inc.last_update_time);
    e = incident_patch_apply(&inc, p, now, &changed, &cas_status, &cas_assign, ei);
    if (e || !changed)
        goto rollback;
    e = incident_doc_head(&inc, &out);
    size_t new_off = out.len;
    if (!e && (cas_status || cas_assign))
        e = incident_alerts_cascade(doc.data + alerts_off, doc.len - alerts_off, &inc, cas_status,
                                    cas_assign, now, &out);
    else if (!e)
        e = buf_append(&out, doc.data + alerts_off, doc.len - alerts_off);
    if (e) {
        err_set(ei, e, -1, "cannot rebuild incident %" PRId64, id);
        goto rollback;
    }
    e = sq_save_incident(st, tenant, &inc, &out, new_off, NULL, ei);
    if (e)
        goto rollback;
    e = sq_commit(st, ei);
    if (e) {
        sqlite3_exec(st->writer, "ROLLBACK", NULL, NULL, NULL);
        goto unlock;
    }
    st->last_issued = now;
    goto unlock;
rollback:
    sqlite3_exec(st->writer, "ROLLBACK", NULL, NULL, NULL);
unlock:
    pthread_mutex_unlock(&st->write_lock);
    if (!e)
        e = changed ? fn(ctx, id, out.data, out.len) : fn(ctx, id, doc.data, doc.len);
    incident_release(&inc);
    buf_release(&doc);
    buf_release(&out);
    return e;
}

/* Replaces the device groups recorded for an incident with those of `alerts`
 * (alerts[].devices[].rbacGroupName), which delegated scoping filters on. */
enum err sq_write_groups(struct sqlite_store *st, const char *tenant, int64_t id, json_t *alerts,
                         struct err_info *ei)
{
    return sq_add_groups(st, tenant, id, alerts, true, ei);
}

enum err sq_add_groups(struct sqlite_store *st, const char *tenant, int64_t id, json_t *alerts,
                       bool replace, struct err_info *ei)
{
    sqlite3 *db = st->writer;
    sqlite3_stmt *del, *ins;
    if (replace) {
        if (sq_wstmt(st, W_GROUPS_DEL,
                     "DELETE FROM incident_groups WHERE tenant_id = ? AND incident_id = ?", &del,
                     ei))
            return ERR_STORAGE;
        sqlite3_bind_text(del, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(del, 2, id);
        int rc = sqlite3_step(del);
        sqlite3_reset(del);
        if (rc != SQLITE_DONE)
            return sq_fail(db, "recording device groups", ei);
    }
    if (sq_wstmt(st, W_GROUPS_INS,
                 "INSERT OR IGNORE INTO incident_groups (tenant_id, incident_id, rbac_group) "
                 "VALUES (?,?,?)",
                 &ins, ei))
        return ERR_STORAGE;
    enum err e = ERR_OK;
    size_t i, k;
    json_t *a, *d;
    json_array_foreach(alerts, i, a)
    {
        json_array_foreach(json_object_get(a, "devices"), k, d)
        {
            const char *g = json_string_value(json_object_get(d, "rbacGroupName"));
            if (!g || e)
                continue;
            sqlite3_reset(ins);
            sqlite3_bind_text(ins, 1, tenant, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 2, id);
            sqlite3_bind_text(ins, 3, g, -1, SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE)
                e = sq_fail(db, "recording device groups", ei);
        }
    }
    sqlite3_reset(ins);
    return e;
}

/* Removes from an incident's stored doc every alert that the alerts table assigns elsewhere
 * (after an import moved them). */
static enum err fixup_moved_alerts(struct sqlite_store *st, const char *tenant, int64_t id,
                                   struct err_info *ei)
{
    sqlite3 *db = st->writer;
    struct incident inc;
    struct buf doc, out;
    size_t off;
    buf_init(&doc, BUF_UNLIMITED);
    buf_init(&out, BUF_UNLIMITED);
    enum err e = sq_load_incident(st, tenant, id, &inc, &doc, &off, ei);
    if (e == ERR_NOT_FOUND)
        return ERR_OK;
    if (e)
        goto done;
    size_t len = doc.len - off;
    while (len > 0 && doc.data[off + len - 1] != '}')
        len--;
    json_t *alerts = len ? json_loadb(doc.data + off, len - 1, 0, NULL) : NULL;
    if (!json_is_array(alerts)) {
        json_decref(alerts);
        e = err_set(ei, ERR_STORAGE, -1, "stored incident %" PRId64 " is corrupt", id);
        goto release;
    }
    sqlite3_stmt *s;
    e = sq_prepare(db, "SELECT incident_id FROM alerts WHERE tenant_id = ? AND alert_id = ?", &s,
                   ei);
    for (size_t i = 0; !e && i < json_array_size(alerts);) {
        const char *aid = json_string_value(json_object_get(json_array_get(alerts, i), "alertId"));
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, aid ? aid : "", -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) != id)
            json_array_remove(alerts, i);
        else
            i++;
    }
    if (!e) {
        sqlite3_finalize(s);
        e = buf_append(&out, doc.data, off);
        e = e ? e : incident_doc_alerts(alerts, &out);
        e = e ? e : sq_save_incident(st, tenant, &inc, &out, off, NULL, ei);
        e = e ? e : sq_write_groups(st, tenant, id, alerts, ei);
    }
    json_decref(alerts);
release:
    incident_release(&inc);
done:
    buf_release(&doc);
    buf_release(&out);
    return e;
}

static enum err import_one(struct sqlite_store *st, const char *tenant, const struct incident *inc,
                           sqlite3_stmt *owner, sqlite3_stmt *del, sqlite3_stmt *ins,
                           const int64_t *batch_ids, size_t nbatch, int64_t **moved, size_t *nmoved,
                           struct err_info *ei)
{
    struct buf doc;
    buf_init(&doc, BUF_UNLIMITED);
    enum err e = incident_doc_head(inc, &doc);
    size_t off = doc.len;
    e = e ? e : incident_doc_alerts(inc->alerts, &doc);
    e = e ? e : sq_save_incident(st, tenant, inc, &doc, off, NULL, ei);
    e = e ? e : sq_write_groups(st, tenant, inc->id, inc->alerts, ei);
    buf_release(&doc);
    if (e)
        return e;
    /* The keys of the alerts the incident held go first: an alert the import drops must not
     * keep correlating into it (those it keeps are indexed again below). */
    sqlite3_stmt *dk;
    if (sq_wstmt(st, W_KEYS_DROP_INCIDENT,
                 "DELETE FROM alert_keys WHERE tenant_id = ?1 AND alert_id IN (SELECT alert_id "
                 "FROM alerts WHERE tenant_id = ?1 AND incident_id = ?2)",
                 &dk, ei))
        return ERR_STORAGE;
    sqlite3_bind_text(dk, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(dk, 2, inc->id);
    int rc = sqlite3_step(dk);
    sqlite3_reset(dk);
    if (rc != SQLITE_DONE)
        return sq_fail(st->writer, "importing alerts", ei);
    sqlite3_reset(del);
    sqlite3_bind_text(del, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(del, 2, inc->id);
    if (sqlite3_step(del) != SQLITE_DONE)
        return sq_fail(st->writer, "importing alerts", ei);
    size_t i;
    json_t *a;
    json_array_foreach(inc->alerts, i, a)
    {
        const char *aid = json_string_value(json_object_get(a, "alertId"));
        sqlite3_reset(owner);
        sqlite3_bind_text(owner, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(owner, 2, aid, -1, SQLITE_STATIC);
        if (sqlite3_step(owner) == SQLITE_ROW) {
            int64_t other = sqlite3_column_int64(owner, 0);
            for (size_t k = 0; k < nbatch; k++)
                if (batch_ids[k] == other && other != inc->id)
                    return err_set(ei, ERR_INVALID, -1,
                                   "alert '%.60s' appears in incidents %" PRId64 " and %" PRId64
                                   " of the same import",
                                   aid, other, inc->id);
            if (other != inc->id) {
                *moved = xrealloc(*moved, (*nmoved + 1) * sizeof(**moved));
                (*moved)[(*nmoved)++] = other;
            }
        }
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, aid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, inc->id);
        if (sqlite3_step(ins) != SQLITE_DONE)
            return sq_fail(st->writer, "importing alerts", ei);
        /* Imported alerts correlate with ingested ones (correlation.md). */
        e = sq_index_alert(st, tenant, a, inc->id, INT64_MIN, INT64_MIN, ei);
        if (e)
            return e;
    }
    return ERR_OK;
}

static enum err sqlite_incident_import(struct store *base, const char *tenant,
                                       struct incident *const *incs, size_t n, struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    sqlite3_stmt *owner = NULL, *del = NULL, *ins = NULL;
    int64_t *moved = NULL;
    size_t nmoved = 0;
    int64_t max_time = 0;

    pthread_mutex_lock(&st->write_lock);
    enum err e = sq_exec(st->writer, "BEGIN IMMEDIATE", ei);
    if (e)
        goto unlock;
    e = sq_prepare(st->writer,
                   "SELECT incident_id FROM alerts WHERE tenant_id = ? AND alert_id = ?", &owner,
                   ei);
    e = e ? e
          : sq_prepare(st->writer, "DELETE FROM alerts WHERE tenant_id = ? AND incident_id = ?",
                       &del, ei);
    e = e ? e
          : sq_prepare(st->writer,
                       "INSERT INTO alerts (tenant_id, alert_id, incident_id) VALUES (?,?,?) "
                       "ON CONFLICT (tenant_id, alert_id) DO UPDATE SET incident_id = "
                       "excluded.incident_id",
                       &ins, ei);
    if (!e) {
        sqlite3_stmt *t;
        e = sq_prepare(st->writer,
                       "INSERT OR IGNORE INTO tenants (tenant_id, created_time) VALUES (?, ?)", &t,
                       ei);
        if (!e) {
            sqlite3_bind_text(t, 1, tenant, -1, SQLITE_STATIC);
            sqlite3_bind_int64(t, 2, ts_now());
            if (sqlite3_step(t) != SQLITE_DONE)
                e = sq_fail(st->writer, "recording the tenant", ei);
            sqlite3_finalize(t);
        }
    }
    /* An alert already owned by an incident earlier in this batch is a conflict in the input,
     * not a move from an older export. */
    int64_t *batch_ids = xcalloc(n ? n : 1, sizeof(*batch_ids));
    for (size_t i = 0; i < n; i++)
        batch_ids[i] = incs[i]->id;
    for (size_t i = 0; !e && i < n; i++) {
        e = import_one(st, tenant, incs[i], owner, del, ins, batch_ids, i, &moved, &nmoved, ei);
        if (incs[i]->last_update_time > max_time)
            max_time = incs[i]->last_update_time;
    }
    free(batch_ids);
    for (size_t i = 0; !e && i < nmoved; i++)
        e = fixup_moved_alerts(st, tenant, moved[i], ei);
    sqlite3_finalize(owner);
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    if (!e)
        e = sq_commit(st, ei);
    if (e)
        sqlite3_exec(st->writer, "ROLLBACK", NULL, NULL, NULL);
    else if (max_time > st->last_issued)
        st->last_issued = max_time;
unlock:
    pthread_mutex_unlock(&st->write_lock);
    free(moved);
    return e;
}

/* ---------------------------------------------------------------------------------------------
 * Access control records (issue 3). Small tables, so every call prepares its statement.
 */

/*
 * Prepares `sql` on db and binds the variadic arguments by `fmt`: 't' text (const char *, NULL
 * binds NULL), 'i' int64_t, 'b' blob (const void *, size_t). Borrowed values must outlive the
 * statement.
 */
static enum err sq_bindv(sqlite3 *db, sqlite3_stmt **out, struct err_info *ei, const char *sql,
                         const char *fmt, va_list ap)
{
    if (sq_prepare(db, sql, out, ei))
        return ERR_STORAGE;
    int idx = 1;
    for (const char *f = fmt; *f; f++, idx++) {
        if (*f == 't') {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(*out, idx, v, -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(*out, idx);
        } else if (*f == 'i') {
            sqlite3_bind_int64(*out, idx, va_arg(ap, int64_t));
        } else if (*f == 'b') {
            const void *v = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            sqlite3_bind_blob(*out, idx, v, (int)n, SQLITE_STATIC);
        } else {
            BUG("bad bind format '%c'", *f);
        }
    }
    return ERR_OK;
}

static enum err sq_stmt(sqlite3 *db, sqlite3_stmt **out, struct err_info *ei, const char *sql,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum err e = sq_bindv(db, out, ei, sql, fmt, ap);
    va_end(ap);
    return e;
}

/* Runs one write statement on the writer under the write lock; *changes gets the row count. */
static enum err sq_write(struct sqlite_store *st, int *changes, struct err_info *ei,
                         const char *what, const char *sql, const char *fmt, ...)
{
    pthread_mutex_lock(&st->write_lock);
    sqlite3_stmt *s;
    va_list ap;
    va_start(ap, fmt);
    enum err e = sq_bindv(st->writer, &s, ei, sql, fmt, ap);
    va_end(ap);
    if (!e) {
        if (sqlite3_step(s) != SQLITE_DONE)
            e = sq_fail(st->writer, what, ei);
        else if (changes)
            *changes = sqlite3_changes(st->writer);
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&st->write_lock);
    return e;
}

static char *col_strdup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? xstrdup((const char *)t) : NULL;
}

static void col_blob(sqlite3_stmt *s, int i, unsigned char *out, size_t n)
{
    const void *b = sqlite3_column_blob(s, i);
    size_t len = (size_t)sqlite3_column_bytes(s, i);
    memset(out, 0, n);
    if (b)
        memcpy(out, b, len < n ? len : n);
}

static enum err sqlite_tenant_ensure(struct store *base, const char *tenant, struct err_info *ei)
{
    return sq_write(SQ(base), NULL, ei, "recording a tenant",
                    "INSERT OR IGNORE INTO tenants (tenant_id, created_time) VALUES (?, ?)", "ti",
                    tenant, ts_now());
}

static enum err sqlite_tenant_exists(struct store *base, const char *tenant, bool *exists,
                                     struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    sqlite3 *db = sq_reader_acquire(st);
    sqlite3_stmt *s;
    enum err e = sq_stmt(db, &s, ei, "SELECT 1 FROM tenants WHERE tenant_id = ?", "t", tenant);
    if (!e) {
        int rc = sqlite3_step(s);
        *exists = rc == SQLITE_ROW;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            e = sq_fail(db, "reading tenants", ei);
        sqlite3_finalize(s);
    }
    sq_reader_release(st, db);
    return e;
}

static enum err sqlite_app_create(struct store *base, const struct store_app *a,
                                  struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    if (sqlite_tenant_ensure(base, a->tenant, ei))
        return ERR_STORAGE;
    enum err e = sq_write(st, NULL, ei, "creating an application",
                          "INSERT INTO applications (client_id, tenant_id, name, roles, "
                          "secret_salt, secret_hash, quota, created_time) VALUES "
                          "(?,?,?,?,?,?,?,?)",
                          "ttttbbti", a->client_id, a->tenant, a->name, a->roles, a->salt,
                          sizeof(a->salt), a->hash, sizeof(a->hash), a->quota, a->created_time);
    if (e == ERR_CONFLICT) {
        if (ei)
            err_clear(ei);
        return err_set(ei, ERR_CONFLICT, -1, "client id '%s' already exists", a->client_id);
    }
    return e;
}

#define APP_COLUMNS \
    "client_id, tenant_id, name, roles, quota, secret_salt, secret_hash, created_time"

static void app_from_row(sqlite3_stmt *s, struct store_app *a)
{
    memset(a, 0, sizeof(*a));
    a->client_id = col_strdup(s, 0);
    a->tenant = col_strdup(s, 1);
    a->name = col_strdup(s, 2);
    a->roles = col_strdup(s, 3);
    a->quota = col_strdup(s, 4);
    col_blob(s, 5, a->salt, sizeof(a->salt));
    col_blob(s, 6, a->hash, sizeof(a->hash));
    a->created_time = sqlite3_column_int64(s, 7);
}

static enum err sqlite_app_get(struct store *base, const char *client_id, struct store_app *out,
                               struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    sqlite3 *db = sq_reader_acquire(st);
    sqlite3_stmt *s;
    enum err e = sq_stmt(db, &s, ei, "SELECT " APP_COLUMNS " FROM applications WHERE client_id = ?",
                         "t", client_id);
    if (!e) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            app_from_row(s, out);
        else if (rc == SQLITE_DONE)
            e = err_set(ei, ERR_NOT_FOUND, -1, "no application with client id '%.64s'", client_id);
        else
            e = sq_fail(db, "reading an application", ei);
        sqlite3_finalize(s);
    }
    sq_reader_release(st, db);
    return e;
}

static enum err sqlite_app_list(struct store *base, const char *tenant, store_app_fn *fn, void *ctx,
                                struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    sqlite3 *db = sq_reader_acquire(st);
    sqlite3_stmt *s;
    enum err e = sq_stmt(db, &s, ei,
                         "SELECT " APP_COLUMNS " FROM applications WHERE ?1 IS NULL OR "
                         "tenant_id = ?1 ORDER BY tenant_id, name, client_id",
                         "t", tenant);
    int rc = SQLITE_DONE;
    while (!e && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_app a;
        app_from_row(s, &a);
        e = fn(ctx, &a);
        store_app_release(&a);
    }
    if (!e && rc != SQLITE_DONE)
        e = sq_fail(db, "listing applications", ei);
    sqlite3_finalize(s);
    sq_reader_release(st, db);
    return e;
}

static enum err sqlite_app_delete(struct store *base, const char *client_id, struct err_info *ei)
{
    int n = 0;
    enum err e = sq_write(SQ(base), &n, ei, "deleting an application",
                          "DELETE FROM applications WHERE client_id = ?", "t", client_id);
    if (!e && n == 0)
        e = err_set(ei, ERR_NOT_FOUND, -1, "no application with client id '%.64s'", client_id);
    return e;
}

static enum err sqlite_app_set_secret(struct store *base, const char *client_id,
                                      const unsigned char *salt, const unsigned char *hash,
                                      struct err_info *ei)
{
    int n = 0;
    enum err e = sq_write(SQ(base), &n, ei, "replacing a secret",
                          "UPDATE applications SET secret_salt = ?, secret_hash = ? WHERE "
                          "client_id = ?",
                          "bbt", salt, (size_t)STORE_SECRET_SALT_BYTES, hash,
                          (size_t)STORE_SECRET_HASH_BYTES, client_id);
    if (!e && n == 0)
        e = err_set(ei, ERR_NOT_FOUND, -1, "no application with client id '%.64s'", client_id);
    return e;
}

static void user_from_row(sqlite3_stmt *s, struct store_user *u)
{
    u->tenant = col_strdup(s, 0);
    u->upn = col_strdup(s, 1);
    u->groups_json = col_strdup(s, 2);
    u->created_time = sqlite3_column_int64(s, 3);
}

static enum err sqlite_user_create(struct store *base, const struct store_user *u,
                                   struct err_info *ei)
{
    if (sqlite_tenant_ensure(base, u->tenant, ei))
        return ERR_STORAGE;
    enum err e = sq_write(SQ(base), NULL, ei, "creating a user",
                          "INSERT INTO users (tenant_id, upn, device_groups, created_time) "
                          "VALUES (?,?,?,?)",
                          "ttti", u->tenant, u->upn, u->groups_json, u->created_time);
    if (e == ERR_CONFLICT) {
        if (ei)
            err_clear(ei);
        return err_set(ei, ERR_CONFLICT, -1, "user '%.64s' already exists in tenant '%.64s'",
                       u->upn, u->tenant);
    }
    return e;
}

static enum err sqlite_user_get(struct store *base, const char *tenant, const char *upn,
                                struct store_user *out, struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    sqlite3 *db = sq_reader_acquire(st);
    sqlite3_stmt *s;
    enum err e = sq_stmt(db, &s, ei,
                         "SELECT tenant_id, upn, device_groups, created_time FROM users WHERE "
                         "tenant_id = ? AND upn = ?",
                         "tt", tenant, upn);
    if (!e) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            user_from_row(s, out);
        else if (rc == SQLITE_DONE)
            e = err_set(ei, ERR_NOT_FOUND, -1, "no user '%.64s' in tenant '%.64s'", upn, tenant);
        else
            e = sq_fail(db, "reading a user", ei);
        sqlite3_finalize(s);
    }
    sq_reader_release(st, db);
    return e;
}

static enum err sqlite_user_list(struct store *base, const char *tenant, store_user_fn *fn,
                                 void *ctx, struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    sqlite3 *db = sq_reader_acquire(st);
    sqlite3_stmt *s;
    enum err e = sq_stmt(db, &s, ei,
                         "SELECT tenant_id, upn, device_groups, created_time FROM users WHERE "
                         "?1 IS NULL OR tenant_id = ?1 ORDER BY tenant_id, upn",
                         "t", tenant);
    int rc = SQLITE_DONE;
    while (!e && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_user u = {0};
        user_from_row(s, &u);
        e = fn(ctx, &u);
        store_user_release(&u);
    }
    if (!e && rc != SQLITE_DONE)
        e = sq_fail(db, "listing users", ei);
    sqlite3_finalize(s);
    sq_reader_release(st, db);
    return e;
}

static enum err sqlite_user_delete(struct store *base, const char *tenant, const char *upn,
                                   struct err_info *ei)
{
    int n = 0;
    enum err e = sq_write(SQ(base), &n, ei, "deleting a user",
                          "DELETE FROM users WHERE tenant_id = ? AND upn = ?", "tt", tenant, upn);
    if (!e && n == 0)
        e = err_set(ei, ERR_NOT_FOUND, -1, "no user '%.64s' in tenant '%.64s'", upn, tenant);
    return e;
}

static enum err sqlite_key_add(struct store *base, const struct store_key *k, int64_t now,
                               struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    if (sqlite_tenant_ensure(base, k->tenant, ei))
        return ERR_STORAGE;
    pthread_mutex_lock(&st->write_lock);
    enum err e = sq_exec(st->writer, "BEGIN IMMEDIATE", ei);
    sqlite3_stmt *s = NULL;
    if (!e)
        e = sq_stmt(st->writer, &s, ei,
                    "UPDATE signing_keys SET retired_time = ? WHERE tenant_id = ? AND "
                    "retired_time IS NULL",
                    "it", now, k->tenant);
    if (!e && sqlite3_step(s) != SQLITE_DONE)
        e = sq_fail(st->writer, "retiring a key", ei);
    sqlite3_finalize(s);
    s = NULL;
    if (!e)
        e = sq_stmt(st->writer, &s, ei,
                    "INSERT INTO signing_keys (kid, tenant_id, private_pem, public_pem, "
                    "created_time) VALUES (?,?,?,?,?)",
                    "tttti", k->kid, k->tenant, k->private_pem, k->public_pem, k->created_time);
    if (!e && sqlite3_step(s) != SQLITE_DONE)
        e = sq_fail(st->writer, "storing a key", ei);
    sqlite3_finalize(s);
    if (!e)
        e = sq_commit(st, ei);
    if (e)
        sqlite3_exec(st->writer, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&st->write_lock);
    return e;
}

static enum err sqlite_key_list(struct store *base, const char *tenant, store_key_fn *fn, void *ctx,
                                struct err_info *ei)
{
    struct sqlite_store *st = SQ(base);
    sqlite3 *db = sq_reader_acquire(st);
    sqlite3_stmt *s;
    enum err e = sq_stmt(db, &s, ei,
                         "SELECT kid, tenant_id, private_pem, public_pem, created_time, "
                         "COALESCE(retired_time, 0) FROM signing_keys WHERE ?1 IS NULL OR "
                         "tenant_id = ?1 ORDER BY created_time DESC, kid",
                         "t", tenant);
    int rc = SQLITE_DONE;
    while (!e && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_key k = {
            .kid = col_strdup(s, 0),
            .tenant = col_strdup(s, 1),
            .private_pem = col_strdup(s, 2),
            .public_pem = col_strdup(s, 3),
            .created_time = sqlite3_column_int64(s, 4),
            .retired_time = sqlite3_column_int64(s, 5),
        };
        e = fn(ctx, &k);
        store_key_release(&k);
    }
    if (!e && rc != SQLITE_DONE)
        e = sq_fail(db, "listing keys", ei);
    sqlite3_finalize(s);
    sq_reader_release(st, db);
    return e;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .free = sqlite_free,
    .incident_list = sqlite_incident_list,
    .incident_get = sqlite_incident_get,
    .incident_update = sqlite_incident_update,
    .incident_import = sqlite_incident_import,
    .incident_count = sqlite_incident_count,
    .tenant_ensure = sqlite_tenant_ensure,
    .tenant_exists = sqlite_tenant_exists,
    .app_create = sqlite_app_create,
    .app_get = sqlite_app_get,
    .app_list = sqlite_app_list,
    .app_delete = sqlite_app_delete,
    .app_set_secret = sqlite_app_set_secret,
    .user_create = sqlite_user_create,
    .user_get = sqlite_user_get,
    .user_list = sqlite_user_list,
    .user_delete = sqlite_user_delete,
    .key_add = sqlite_key_add,
    .key_list = sqlite_key_list,
    .alert_ingest = sqlite_alert_ingest,
    .alert_get = sqlite_alert_get,
};
