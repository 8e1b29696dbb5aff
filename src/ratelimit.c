/* SPDX-License-Identifier: MIT */
/*
 * Exact sliding-window rate limiter (issue 4, CONTRACT §7): a chained hash table of keys, an LRU
 * list over them for bounded memory, and per key a ring of the times of successful calls, sorted
 * because time is clamped to never go backwards per key. Counting the calls in a window is a
 * binary search in the ring. One mutex guards everything; see docs/internals/ratelimit.md.
 */
#include "ratelimit.h"
#include "xmalloc.h"
#include <pthread.h>

/* Smallest ring allocated for a key; rings grow by doubling up to the key's capacity bound. */
#define RING_MIN_CAP 4u

struct rl_entry {
    struct rl_entry *hnext;    /* hash chain */
    struct rl_entry *lru_prev; /* towards the most recently used */
    struct rl_entry *lru_next; /* towards the least recently used */
    uint64_t hash;
    uint64_t *ts;  /* ring of success times, oldest at ts[head], ascending */
    uint32_t cap;  /* slots in ts */
    uint32_t head; /* index of the oldest stored time */
    uint32_t n;    /* stored times */
    uint32_t key_len;
    unsigned char key[]; /* key_len bytes */
};

struct ratelimit {
    pthread_mutex_t lock;
    struct rl_entry **buckets;
    size_t mask; /* bucket count - 1, a power of two minus one */
    size_t max_keys;
    size_t nkeys;
    size_t bytes;              /* heap held, for ratelimit_memory_bytes */
    struct rl_entry *lru_head; /* most recently used */
    struct rl_entry *lru_tail; /* least recently used: next to be evicted */
};

/* FNV-1a with a murmur3 finaliser, so the low bits used for the bucket are well mixed. */
static uint64_t key_hash(const unsigned char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h;
}

struct ratelimit *ratelimit_new(size_t max_keys)
{
    if (max_keys == 0 || max_keys > RATELIMIT_MAX_KEYS)
        return NULL;
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    size_t nb = 16;
    while (nb < max_keys)
        nb <<= 1;
    rl->buckets = xcalloc(nb, sizeof(*rl->buckets));
    rl->mask = nb - 1;
    rl->max_keys = max_keys;
    rl->bytes = sizeof(*rl) + nb * sizeof(*rl->buckets);
    if (pthread_mutex_init(&rl->lock, NULL) != 0)
        BUG("pthread_mutex_init failed");
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    struct rl_entry *e = rl->lru_head;
    while (e) {
        struct rl_entry *next = e->lru_next;
        free(e->ts);
        free(e);
        e = next;
    }
    free(rl->buckets);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

/* ---------------------------------------------------------------- LRU list and table */

static void lru_unlink(struct ratelimit *rl, struct rl_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        rl->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        rl->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct ratelimit *rl, struct rl_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = rl->lru_head;
    if (rl->lru_head)
        rl->lru_head->lru_prev = e;
    rl->lru_head = e;
    if (!rl->lru_tail)
        rl->lru_tail = e;
}

/* Removes the least recently used key. Its chain is walked to unlink it: chains average under one
 * entry because the table has at least max_keys buckets. */
static void evict_lru(struct ratelimit *rl)
{
    struct rl_entry *e = rl->lru_tail;
    struct rl_entry **pp = &rl->buckets[e->hash & rl->mask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(rl, e);
    rl->nkeys--;
    rl->bytes -= sizeof(*e) + e->key_len + (size_t)e->cap * sizeof(*e->ts);
    free(e->ts);
    free(e);
}

/* Finds the key, or adds it (evicting the LRU key when full); either way it becomes the most
 * recently used. */
static struct rl_entry *entry_get(struct ratelimit *rl, const unsigned char *key, size_t len,
                                  uint64_t hash)
{
    struct rl_entry *e = rl->buckets[hash & rl->mask];
    for (; e; e = e->hnext) {
        if (e->hash == hash && e->key_len == len && (len == 0 || memcmp(e->key, key, len) == 0)) {
            if (e != rl->lru_head) {
                lru_unlink(rl, e);
                lru_push_front(rl, e);
            }
            return e;
        }
    }
    if (rl->nkeys >= rl->max_keys)
        evict_lru(rl);
    e = xcalloc(1, sizeof(*e) + len);
    e->hash = hash;
    e->key_len = (uint32_t)len;
    if (len)
        memcpy(e->key, key, len);
    struct rl_entry **b = &rl->buckets[hash & rl->mask];
    e->hnext = *b;
    *b = e;
    lru_push_front(rl, e);
    rl->nkeys++;
    rl->bytes += sizeof(*e) + len;
    return e;
}

/* ---------------------------------------------------------------- per-key ring */

/* The i-th oldest stored time (0 <= i < n). */
static uint64_t ring_at(const struct rl_entry *e, uint32_t i)
{
    uint32_t j = e->head + i;
    if (j >= e->cap)
        j -= e->cap;
    return e->ts[j];
}

/* Drops the k oldest stored times. */
static void ring_drop(struct rl_entry *e, uint32_t k)
{
    e->n -= k;
    if (e->n == 0) {
        e->head = 0;
        return;
    }
    e->head += k;
    if (e->head >= e->cap)
        e->head -= e->cap;
}

/* Reallocates the ring to newcap slots (>= n, or 0 when n is 0), oldest first. */
static void ring_resize(struct ratelimit *rl, struct rl_entry *e, uint32_t newcap)
{
    uint64_t *ts = NULL;
    if (newcap) {
        ts = xmalloc((size_t)newcap * sizeof(*ts));
        for (uint32_t i = 0; i < e->n; i++)
            ts[i] = ring_at(e, i);
    }
    free(e->ts);
    rl->bytes -= (size_t)e->cap * sizeof(*ts);
    rl->bytes += (size_t)newcap * sizeof(*ts);
    e->ts = ts;
    e->cap = newcap;
    e->head = 0;
}

/* Index of the oldest stored time still inside a window of window_ms ending at now, i.e. the
 * first i with now - ts < window_ms (n when none). Requires every stored time <= now. */
static uint32_t ring_first_within(const struct rl_entry *e, uint64_t now, uint64_t window_ms)
{
    uint32_t lo = 0, hi = e->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (now - ring_at(e, mid) < window_ms)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Appends a success time, growing the ring up to bound slots; when full at the bound the oldest
 * time is overwritten, which cannot change a decision (docs/internals/ratelimit.md). */
static void ring_push(struct ratelimit *rl, struct rl_entry *e, uint64_t t, uint32_t bound)
{
    if (e->n == e->cap) {
        if (e->cap < bound) {
            uint64_t want = e->cap ? (uint64_t)e->cap * 2 : RING_MIN_CAP;
            ring_resize(rl, e, want < bound ? (uint32_t)want : bound);
        } else {
            ring_drop(e, 1);
        }
    }
    uint32_t j = e->head + e->n;
    if (j >= e->cap)
        j -= e->cap;
    e->ts[j] = t;
    e->n++;
}

/* ---------------------------------------------------------------- take */

struct window {
    uint64_t ms;
    uint32_t s;
    uint32_t limit; /* 0 = unlimited */
    uint32_t count; /* stored calls inside the window (after this call when allowed) */
};

/* Milliseconds from the caller's now until the stored time t leaves a window of w ms, given that
 * t is inside it at the effective time now_eff >= now. Both terms are small: now_eff - t < w and
 * now_eff - now is below the retained window (ratelimit_take discards history otherwise). */
static uint64_t wait_until_expired(uint64_t t, uint64_t w, uint64_t now_eff, uint64_t now)
{
    return w - (now_eff - t) + (now_eff - now);
}

static void fill_result(const struct rl_entry *e, const struct window *win, bool allowed,
                        uint64_t now_eff, uint64_t now, struct ratelimit_result *res)
{
    uint64_t best_remaining = UINT64_MAX;
    uint64_t best_wait = 0;
    for (int i = 0; i < 2; i++) {
        const struct window *w = &win[i];
        if (!w->limit)
            continue;
        uint32_t remaining = w->count < w->limit ? w->limit - w->count : 0;
        /* Strictly fewer: the minute window (i == 0) wins ties. */
        if (remaining < best_remaining) {
            best_remaining = remaining;
            res->window_s = w->s;
            res->limit = w->limit;
            res->remaining = remaining;
            res->reset_ms =
                w->count ? wait_until_expired(ring_at(e, e->n - w->count), w->ms, now_eff, now) : 0;
        }
        if (!allowed && w->count >= w->limit) {
            /* A call succeeds in this window once all but the newest limit - 1 stored calls
             * have left it: the limit-th newest is the last to go. */
            uint64_t wait = wait_until_expired(ring_at(e, e->n - w->limit), w->ms, now_eff, now);
            if (wait > best_wait) {
                best_wait = wait;
                res->violated_window_s = w->s;
                res->violated_limit = w->limit;
            }
        }
    }
    if (!allowed)
        res->retry_after_ms = best_wait ? best_wait : 1;
}

enum err ratelimit_take(struct ratelimit *rl, const void *key, size_t key_len,
                        struct ratelimit_limits limits, uint64_t now_ms,
                        struct ratelimit_result *res)
{
    memset(res, 0, sizeof(*res));
    if (key_len > RATELIMIT_KEY_MAX_BYTES || (!key && key_len))
        return ERR_INVALID;
    if (!limits.per_minute && !limits.per_hour) {
        res->allowed = true;
        return ERR_OK;
    }

    struct window win[2] = {
        {RATELIMIT_MINUTE_MS, RATELIMIT_MINUTE_S, limits.per_minute, 0},
        {RATELIMIT_HOUR_MS, RATELIMIT_HOUR_S, limits.per_hour, 0},
    };
    /* Times older than the longest limited window can never count again. */
    uint64_t retain_ms = limits.per_hour ? RATELIMIT_HOUR_MS : RATELIMIT_MINUTE_MS;
    /* Only the newest max(limits) times can decide anything (docs/internals/ratelimit.md). */
    uint32_t bound = limits.per_minute > limits.per_hour ? limits.per_minute : limits.per_hour;
    uint64_t hash = key_hash(key, key_len);

    pthread_mutex_lock(&rl->lock);
    struct rl_entry *e = entry_get(rl, key, key_len, hash);

    /* Keep each ring sorted: a call from the past is counted at the newest stored time, unless
     * the clock stepped back so far that the stored history cannot be from the same clock. */
    uint64_t now_eff = now_ms;
    if (e->n) {
        uint64_t newest = ring_at(e, e->n - 1);
        if (newest > now_ms) {
            if (newest - now_ms >= retain_ms)
                ring_drop(e, e->n);
            else
                now_eff = newest;
        }
    }

    ring_drop(e, ring_first_within(e, now_eff, retain_ms));
    if (e->n > bound)
        ring_drop(e, e->n - bound);
    if (e->cap > bound)
        ring_resize(rl, e, bound);
    else if (e->cap > RING_MIN_CAP && e->n <= e->cap / 4)
        ring_resize(rl, e, e->n ? e->cap / 2 : 0);

    bool allowed = true;
    for (int i = 0; i < 2; i++) {
        if (!win[i].limit)
            continue;
        win[i].count = e->n - ring_first_within(e, now_eff, win[i].ms);
        if (win[i].count >= win[i].limit)
            allowed = false;
    }
    if (allowed) {
        ring_push(rl, e, now_eff, bound);
        for (int i = 0; i < 2; i++)
            win[i].count += win[i].limit ? 1 : 0;
    }
    res->allowed = allowed;
    fill_result(e, win, allowed, now_eff, now_ms, res);
    pthread_mutex_unlock(&rl->lock);
    return allowed ? ERR_OK : ERR_RATE_LIMITED;
}

size_t ratelimit_key_count(struct ratelimit *rl)
{
    pthread_mutex_lock(&rl->lock);
    size_t n = rl->nkeys;
    pthread_mutex_unlock(&rl->lock);
    return n;
}

size_t ratelimit_memory_bytes(struct ratelimit *rl)
{
    pthread_mutex_lock(&rl->lock);
    size_t n = rl->bytes;
    pthread_mutex_unlock(&rl->lock);
    return n;
}
