/* SPDX-License-Identifier: MIT */
/*
 * Private to the SQLite backend: the store struct and the helpers that store_sqlite.c (incidents,
 * access records) and store_sqlite_alerts.c (ingestion and correlation) share.
 */
#ifndef STORE_SQLITE_INT_H
#define STORE_SQLITE_INT_H

#include "store_int.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

enum wstmt {
    W_LOAD_INCIDENT,
    W_SAVE_INCIDENT,
    W_GROUPS_DEL,
    W_GROUPS_INS,
    W_KEYS_DEL,
    W_KEYS_INS,
    W_GET_ALERT,
    W_INS_ALERT,
    W_UPD_HASH,
    W_FIND,
    W_SET_STATE,
    W_MOVE_ALERTS,
    W_STUBS_OF,
    W_GET_SUMMARY,
    W_REPOINT,
    W_SET_DOC,
    W_TENANT_CLOCK,
    W_KEYS_MOVE,
    W_KEYS_DROP_INCIDENT,
    W__COUNT
};

/* Where the single writer's time goes (docs/benchmarks.md, "Where the ceiling is"): summed over
 * the store's life and logged when it closes. Ingestion throughput is bounded by how long each
 * batch holds write_lock and by how long the checkpoint thread holds it. Nanoseconds. */
struct sq_lock_stats {
    uint64_t batches;     /* ingestion transactions, those that changed nothing included */
    int64_t wait_ns;      /* waiting for write_lock before them */
    int64_t held_ns;      /* holding it, COMMIT included */
    int64_t cpu_ns;       /* of that, on CPU (the holding thread's CPU clock) */
    int64_t commit_ns;    /* of that, in COMMIT: writing the WAL frames, and a RESTART
                           * checkpoint when the WAL hook runs one (restarts below) */
    uint64_t ckpt_passes; /* checkpoint passes under write_lock */
    int64_t ckpt_held_ns; /* holding it for them */
};

struct sqlite_store {
    struct store base;
    sqlite3 *writer;
    /* Statements the writer runs for every alert or incident, prepared once (preparing the
     * incident upsert cost more than running it); guarded by write_lock like the writer. */
    sqlite3_stmt *wstmt[W__COUNT];
    pthread_mutex_t write_lock;
    /* Highest lastUpdateTime issued or seen; guarded by write_lock. */
    int64_t last_issued;

    /* WAL checkpoints run on their own connection and thread (store_sqlite.c, "Checkpoints"):
     * the writer's commit only signals that one is due. ckpt_due and ckpt_stop are guarded by
     * ckpt_lock. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_started;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_cond;
    bool ckpt_due, ckpt_stop;
    atomic_bool ckpt_running; /* the thread is checkpointing (read by the writer's WAL hook) */
    /* WAL frames from which the writer checkpoints itself in RESTART mode, and how many times
     * it tried; guarded by write_lock. */
    int restart_at;
    unsigned restart_tries;

    struct sq_lock_stats lock_stats; /* guarded by write_lock */
    bool lock_report;                /* store_options.lock_report */

    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    sqlite3 **readers;
    int nreaders;
    int nfree;
    sqlite3 **free_readers;
};

#define SQ(st) ((struct sqlite_store *)(st))

/* CLOCK_MONOTONIC, and the calling thread's CPU clock, in nanoseconds, for lock_stats. */
int64_t sq_mono_ns(void);
int64_t sq_thread_cpu_ns(void);
/* Logs the connection's error and maps it to a code (busy → unavailable, constraint → conflict,
 * else storage); the raw message never reaches clients. */
enum err sq_fail(sqlite3 *db, const char *what, struct err_info *ei);
/* Runs SQL without results. */
enum err sq_exec(sqlite3 *db, const char *sql, struct err_info *ei);
/* Prepares one statement; *out owned by the caller (sqlite3_finalize). */
enum err sq_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, struct err_info *ei);
/* The writer's cached statement `id` for `sql` (always the same text for an id), reset and with
 * its bindings cleared. Owned by the store: never finalize it. Caller holds write_lock. */
enum err sq_wstmt(struct sqlite_store *st, enum wstmt id, const char *sql, sqlite3_stmt **out,
                  struct err_info *ei);
/*
 * Commits the writer's transaction. Every cached statement is reset first: one left on a row
 * keeps the connection's read transaction open past COMMIT, and then the automatic checkpoint
 * that COMMIT triggers fails (SQLITE_LOCKED) and the WAL is never restarted, so it grows
 * without bound (docs/internals/storage.md, "Write-ahead log"). Caller holds write_lock.
 */
enum err sq_commit(struct sqlite_store *st, struct err_info *ei);
/* Takes a read-only connection from the pool, waiting for one; give it back with release. */
sqlite3 *sq_reader_acquire(struct sqlite_store *st);
void sq_reader_release(struct sqlite_store *st, sqlite3 *db);
/* Appends the device-group condition of a restricted scope (nothing for a whole tenant) to a
 * query on `incidents`; sq_bind_scope binds its parameters from *idx on. */
enum err sq_append_scope(struct buf *sql, const struct store_scope *sc);
void sq_bind_scope(sqlite3_stmt *s, int *idx, const struct store_scope *sc);
/* Sets *ok when the scope may see incident id (caller holds a transaction). */
enum err sq_scope_allows(sqlite3 *db, const struct store_scope *sc, int64_t id, bool *ok,
                         struct err_info *ei);
/* Loads an incident's scalar state, tags and comments (text) plus its doc and alerts offset;
 * ERR_NOT_FOUND when absent. inc is initialised by the call and owned by the caller. */
enum err sq_load_incident(struct sqlite_store *st, const char *tenant, int64_t id,
                          struct incident *inc, struct buf *doc, size_t *alerts_off,
                          struct err_info *ei);
/* Inserts or replaces an incident row from inc and its built doc. `summary` is the alert
 * summary of store_sqlite_alerts.c, or NULL when the caller rewrote alerts without one (it is
 * then rebuilt from the alerts on the next ingestion). */
enum err sq_save_incident(struct sqlite_store *st, const char *tenant, const struct incident *inc,
                          const struct buf *doc, size_t alerts_off, const char *summary,
                          struct err_info *ei);
/* Raises st->last_issued to the tenant's highest stored lastUpdateTime: other processes
 * (import, ingest) write the same file with their own clocks. Caller holds write_lock and has
 * begun the write transaction, so no other writer can commit in between. */
enum err sq_sync_clock(struct sqlite_store *st, const char *tenant, struct err_info *ei);
/* The next lastUpdateTime: max(now, previous + 1, last issued + 1) (storage.md). Caller holds
 * write_lock and sets st->last_issued after its commit. */
int64_t sq_next_update_time(struct sqlite_store *st, int64_t previous);
/* Replaces the device groups recorded for an incident with those of its alerts. */
enum err sq_write_groups(struct sqlite_store *st, const char *tenant, int64_t id, json_t *alerts,
                         struct err_info *ei);
/* Records the device groups of `alerts` for an incident, first dropping its earlier ones when
 * `replace` (sq_write_groups), else adding to them (alerts joined an incident). */
enum err sq_add_groups(struct sqlite_store *st, const char *tenant, int64_t id, json_t *alerts,
                       bool replace, struct err_info *ei);
/* Indexes an alert's correlation keys (alert_keys) for `incident`, replacing earlier ones of
 * the same id.
 * first/last: its activity interval in ticks, or INT64_MIN to take it from the alert. */
enum err sq_index_alert(struct sqlite_store *st, const char *tenant, json_t *alert,
                        int64_t incident, int64_t first, int64_t last, struct err_info *ei);

enum err sqlite_alert_ingest(struct store *st, const char *tenant, const struct corr_options *o,
                             const struct alert_in *alerts, size_t n,
                             struct store_ingested *results, struct err_info *ei);
enum err sqlite_alert_get(struct store *st, const struct store_scope *scope, const char *alert_id,
                          json_t **alert_out, json_t **correlation_out, struct err_info *ei);
/* After migration 3: indexes the keys of every alert stored before it, once (the table
 * alert_keys_pending marks that it is due). */
enum err sq_index_pending(struct sqlite_store *st, struct err_info *ei);

#endif
