/* SPDX-License-Identifier: MIT */
/*
 * Exact sliding-window quotas (issue 4, CONTRACT §1 and §7). Each key (an opaque byte string the
 * caller builds, e.g. tenant + caller id + method class) has a minute and an hour window; a call
 * succeeds iff fewer than the minute limit of the key's earlier successful calls fall in the last
 * 60,000 ms and fewer than the hour limit in the last 3,600,000 ms. Throttled calls use no quota.
 * The module keeps the times of successful calls in a per-key ring and at most `max_keys` keys,
 * evicting the least recently used. It reads no clock: the caller passes monotonic milliseconds,
 * so tests step time exactly. Design notes: docs/internals/ratelimit.md.
 */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include "common.h"
#include "err.h"

/* Window lengths in milliseconds and their names in seconds (used in results). */
#define RATELIMIT_MINUTE_MS 60000u
#define RATELIMIT_HOUR_MS   3600000u
#define RATELIMIT_MINUTE_S  60u
#define RATELIMIT_HOUR_S    3600u

/* Longest accepted key, in bytes; longer keys are rejected with ERR_INVALID. */
#define RATELIMIT_KEY_MAX_BYTES 1024u
/* Largest accepted max_keys for ratelimit_new. */
#define RATELIMIT_MAX_KEYS (1u << 24)

struct ratelimit;

/*
 * Limits of one key, passed with every call. 0 means unlimited for that window. A key's limits
 * are expected to stay the same from call to call; changing them is safe (decisions then use the
 * history kept under the earlier limits, see docs/internals/ratelimit.md).
 */
struct ratelimit_limits {
    uint32_t per_minute; /* successful calls in any 60,000 ms interval */
    uint32_t per_hour;   /* successful calls in any 3,600,000 ms interval */
};

/*
 * Outcome of one ratelimit_take. All fields are always set.
 *
 * The first group describes the tightest limited window after this call (the one with the fewest
 * remaining calls; the minute window on a tie), for RateLimit-Limit/-Remaining/-Reset. When both
 * windows are unlimited, window_s, limit, remaining and reset_ms are 0.
 *
 * The second group is set only when the call was denied (all 0 when allowed): the violated window
 * and its limit (when both are violated, the one that needs the longer wait; the minute window on
 * a tie) and retry_after_ms, the exact wait until a call would succeed under both windows, >= 1.
 * A call made retry_after_ms after this one (with no successes in between) succeeds; one made
 * 1 ms earlier is denied.
 */
struct ratelimit_result {
    bool allowed;
    uint32_t window_s;  /* 60 or 3600; 0 when both windows are unlimited */
    uint32_t limit;     /* that window's limit */
    uint32_t remaining; /* calls still allowed in that window after this one */
    uint64_t reset_ms;  /* ms until that window's oldest counted call expires; 0 if none counted */
    uint32_t violated_window_s; /* 60 or 3600 when denied, else 0 */
    uint32_t violated_limit;    /* the violated window's limit when denied, else 0 */
    uint64_t retry_after_ms;    /* when denied: ms until a call would succeed, >= 1; else 0 */
};

/*
 * Creates a limiter holding state for at most max_keys keys (1..RATELIMIT_MAX_KEYS). Returns
 * NULL when max_keys is out of range; aborts on out-of-memory. The caller owns the result and
 * frees it with ratelimit_free.
 */
struct ratelimit *ratelimit_new(size_t max_keys);

/* Frees the limiter and all its state; accepts NULL. No call may be in progress. */
void ratelimit_free(struct ratelimit *rl);

/*
 * Counts one call of the key (key_len bytes at `key`, borrowed for the call only) made at now_ms
 * (monotonic milliseconds, any origin) against `limits`, records it when it succeeds, and fills
 * *res (must not be NULL). Returns ERR_OK when the call is allowed, ERR_RATE_LIMITED when it is
 * denied, ERR_INVALID (res says denied, every other field 0) when key_len exceeds
 * RATELIMIT_KEY_MAX_BYTES or key is NULL with key_len > 0. A key with both limits 0 is always
 * allowed and stores nothing.
 *
 * Boundary: a success at time t counts at time now iff now - window < t <= now, so it stops
 * counting exactly window ms later (a minute-window call at 1000 counts at 60,999, not at 61,000).
 *
 * Time should not go backwards per key. If it does, nothing breaks: a call earlier than the key's
 * newest recorded success is treated as made at that newest time (retry_after_ms and reset_ms
 * stay measured from the caller's now_ms), and a step back by more than the retained window
 * (an hour, or a minute when only the minute is limited) discards the key's history.
 *
 * Thread-safe: each call is atomic with respect to every other call on the same limiter, so
 * concurrent callers never overshoot a limit. Cost: O(log n) in the key's stored calls plus
 * amortised O(1) for the hash table, LRU list and ring.
 */
enum err ratelimit_take(struct ratelimit *rl, const void *key, size_t key_len,
                        struct ratelimit_limits limits, uint64_t now_ms,
                        struct ratelimit_result *res);

/* Number of keys currently held (<= max_keys). Thread-safe. */
size_t ratelimit_key_count(struct ratelimit *rl);

/*
 * Bytes of heap the limiter holds for its table, keys and stored call times (excluding malloc's
 * own overhead): for tests and metrics. Thread-safe.
 */
size_t ratelimit_memory_bytes(struct ratelimit *rl);

#endif
