/* SPDX-License-Identifier: MIT */
/* Exact sliding-window quotas with an injected clock (issue 4, CONTRACT §7): window edges, both
 * windows against a brute-force model, retry_after, keys, eviction, memory, threads. */
#include "common.h"
#include "ratelimit.h"
#include "tests.h"
#include <pthread.h>

#define MIN_MS  ((uint64_t)RATELIMIT_MINUTE_MS)
#define HOUR_MS ((uint64_t)RATELIMIT_HOUR_MS)

/* Check's ck_assert_* report every passing check to the parent process, which makes loops of
 * hundreds of thousands of checks slow; these touch Check only on failure. */
#define EXPECT(cond)                                      \
    do {                                                  \
        if (!(cond))                                      \
            ck_abort_msg("assertion '%s' failed", #cond); \
    } while (0)
#define EXPECT_OP(a, op, b)                                                                       \
    do {                                                                                          \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                          \
        if (!(a_ op b_))                                                                          \
            ck_abort_msg("assertion '%s %s %s' failed: %" PRIu64 " vs %" PRIu64, #a, #op, #b, a_, \
                         b_);                                                                     \
    } while (0)

static struct ratelimit_limits lim(uint32_t per_minute, uint32_t per_hour)
{
    return (struct ratelimit_limits){.per_minute = per_minute, .per_hour = per_hour};
}

/* One take on a NUL-terminated key; checks that the return code agrees with res->allowed. */
static bool take(struct ratelimit *rl, const char *key, struct ratelimit_limits l, uint64_t now,
                 struct ratelimit_result *res)
{
    struct ratelimit_result local;
    if (!res)
        res = &local;
    enum err rc = ratelimit_take(rl, key, strlen(key), l, now, res);
    if (rc != (res->allowed ? ERR_OK : ERR_RATE_LIMITED))
        ck_abort_msg("rc %d allowed %d", (int)rc, (int)res->allowed);
    if (res->allowed) {
        EXPECT_OP(res->retry_after_ms, ==, 0);
        EXPECT_OP(res->violated_window_s, ==, 0);
    } else {
        EXPECT_OP(res->retry_after_ms, >=, 1);
    }
    return res->allowed;
}

/* Takes n calls at one instant; returns how many succeeded. */
static int take_n(struct ratelimit *rl, const char *key, struct ratelimit_limits l, uint64_t now,
                  int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += take(rl, key, l, now, NULL);
    return ok;
}

/* Denied at now with retry_after r; still denied at now + r - 1; allowed at now + r. */
static uint64_t check_retry_exact(struct ratelimit *rl, const char *key, struct ratelimit_limits l,
                                  uint64_t now)
{
    struct ratelimit_result r;
    ck_assert(!take(rl, key, l, now, &r));
    uint64_t wait = r.retry_after_ms;
    ck_assert(!take(rl, key, l, now + wait - 1, NULL));
    ck_assert(take(rl, key, l, now + wait, NULL));
    return wait;
}

/* ---------------------------------------------------------------- window edges */

START_TEST(test_ratelimit_window_edge_minute)
{
    /* A success at t counts while now - 60000 < t <= now. */
    struct ratelimit *rl = ratelimit_new(16);
    struct ratelimit_result r;
    ck_assert(take(rl, "k", lim(1, 0), 1000, &r));
    ck_assert_uint_eq(r.window_s, 60);
    ck_assert_uint_eq(r.limit, 1);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_uint_eq(r.reset_ms, 60000);

    ck_assert(!take(rl, "k", lim(1, 0), 1000 + 59999, &r)); /* now - 59999: still counted */
    ck_assert_uint_eq(r.violated_window_s, 60);
    ck_assert_uint_eq(r.violated_limit, 1);
    ck_assert_uint_eq(r.retry_after_ms, 1);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_uint_eq(r.reset_ms, 1);
    ck_assert(take(rl, "k", lim(1, 0), 1000 + 60000, &r)); /* now - 60000: no longer counted */
    ck_assert_uint_eq(r.reset_ms, 60000);

    /* Time zero is an ordinary instant. */
    ck_assert(take(rl, "z", lim(1, 0), 0, NULL));
    ck_assert(!take(rl, "z", lim(1, 0), 59999, NULL));
    ck_assert(take(rl, "z", lim(1, 0), 60000, NULL));
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_window_edge_hour)
{
    struct ratelimit *rl = ratelimit_new(16);
    struct ratelimit_result r;
    ck_assert(take(rl, "k", lim(0, 2), 5000, &r));
    ck_assert_uint_eq(r.window_s, 3600);
    ck_assert_uint_eq(r.remaining, 1);
    ck_assert_uint_eq(r.reset_ms, 3600000);
    ck_assert(take(rl, "k", lim(0, 2), 5000 + 1800000, &r));
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_uint_eq(r.reset_ms, 1800000); /* the call at 5000 leaves first */

    ck_assert(!take(rl, "k", lim(0, 2), 5000 + HOUR_MS - 1, &r));
    ck_assert_uint_eq(r.violated_window_s, 3600);
    ck_assert_uint_eq(r.violated_limit, 2);
    ck_assert_uint_eq(r.retry_after_ms, 1);
    ck_assert(take(rl, "k", lim(0, 2), 5000 + HOUR_MS, NULL));
    ck_assert(!take(rl, "k", lim(0, 2), 5000 + HOUR_MS, NULL));
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_no_double_burst_at_edge)
{
    /* A fixed window would allow 50 at 59,999 and 50 more at 60,000. */
    struct ratelimit *rl = ratelimit_new(16);
    struct ratelimit_result r;
    ck_assert_int_eq(take_n(rl, "k", lim(50, 0), 59999, 60), 50);
    ck_assert(!take(rl, "k", lim(50, 0), 60000, &r));
    ck_assert_uint_eq(r.retry_after_ms, 59999);
    ck_assert_int_eq(take_n(rl, "k", lim(50, 0), 119998, 5), 0);
    ck_assert_int_eq(take_n(rl, "k", lim(50, 0), 119999, 60), 50);

    /* Half at the start of a minute, half at its end: the first half frees first. */
    ck_assert_int_eq(take_n(rl, "s", lim(50, 0), 30000, 25), 25);
    ck_assert_int_eq(take_n(rl, "s", lim(50, 0), 59999, 30), 25);
    ck_assert_int_eq(take_n(rl, "s", lim(50, 0), 60000, 5), 0);
    ck_assert_int_eq(take_n(rl, "s", lim(50, 0), 89999, 5), 0);
    ck_assert_int_eq(take_n(rl, "s", lim(50, 0), 90000, 30), 25);
    ck_assert_int_eq(take_n(rl, "s", lim(50, 0), 119998, 5), 0);
    ck_assert_int_eq(take_n(rl, "s", lim(50, 0), 119999, 30), 25);

    /* The hour window likewise: 1500 just before an hour boundary, none just after. */
    ck_assert_int_eq(take_n(rl, "h", lim(0, 1500), HOUR_MS - 1, 1600), 1500);
    ck_assert_int_eq(take_n(rl, "h", lim(0, 1500), HOUR_MS, 10), 0);
    ck_assert_int_eq(take_n(rl, "h", lim(0, 1500), 2 * HOUR_MS - 2, 10), 0);
    ck_assert_int_eq(take_n(rl, "h", lim(0, 1500), 2 * HOUR_MS - 1, 1600), 1500);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_throttled_calls_use_no_quota)
{
    struct ratelimit *rl = ratelimit_new(16);
    struct ratelimit_result r;
    ck_assert_int_eq(take_n(rl, "k", lim(3, 10), 0, 3), 3);
    for (uint64_t t = 1; t < 60000; t += 7) {
        EXPECT(!take(rl, "k", lim(3, 10), t, &r));
        EXPECT_OP(r.retry_after_ms, ==, 60000 - t);
        EXPECT_OP(r.remaining, ==, 0);
    }
    /* Had any denied call counted, fewer than 3 would pass now. */
    ck_assert_int_eq(take_n(rl, "k", lim(3, 10), 60000, 5), 3);
    ck_assert_int_eq(take_n(rl, "k", lim(3, 10), 120000, 5), 3);
    ck_assert_int_eq(take_n(rl, "k", lim(3, 10), 180000, 5), 1); /* hour: 10 */
    ck_assert(!take(rl, "k", lim(3, 10), 180000, &r));
    ck_assert_uint_eq(r.violated_window_s, 3600);
    ck_assert_uint_eq(r.violated_limit, 10);
    ck_assert_uint_eq(r.retry_after_ms, HOUR_MS - 180000);
    ratelimit_free(rl);
}
END_TEST

/* ---------------------------------------------------------------- retry_after and headers */

START_TEST(test_ratelimit_retry_after_exact)
{
    struct ratelimit *rl = ratelimit_new(16);
    struct ratelimit_result r;

    /* Minute binds, then the hour. */
    ck_assert(take(rl, "a", lim(2, 3), 0, NULL));
    ck_assert(take(rl, "a", lim(2, 3), 10, NULL));
    ck_assert_uint_eq(check_retry_exact(rl, "a", lim(2, 3), 20), 59980);
    ck_assert(!take(rl, "a", lim(2, 3), 70010, &r));
    ck_assert_uint_eq(r.violated_window_s, 3600);
    ck_assert_uint_eq(check_retry_exact(rl, "a", lim(2, 3), 70010), HOUR_MS - 70010);

    /* Both violated, the hour needs longer: it is reported and decides the wait. */
    ck_assert(take(rl, "b", lim(1, 1), 0, NULL));
    ck_assert(!take(rl, "b", lim(1, 1), 10, &r));
    ck_assert_uint_eq(r.violated_window_s, 3600);
    ck_assert_uint_eq(r.violated_limit, 1);
    ck_assert_uint_eq(r.retry_after_ms, HOUR_MS - 10);
    ck_assert(!take(rl, "b", lim(1, 1), 60000, NULL)); /* the minute alone would allow it */
    ck_assert_uint_eq(check_retry_exact(rl, "b", lim(1, 1), 60000), HOUR_MS - 60000);

    /* Both violated, the minute needs longer. */
    ck_assert(take(rl, "c", lim(1, 2), 0, NULL));
    ck_assert(take(rl, "c", lim(1, 2), 3599000, NULL));
    ck_assert(!take(rl, "c", lim(1, 2), 3599500, &r));
    ck_assert_uint_eq(r.violated_window_s, 60);
    ck_assert_uint_eq(r.violated_limit, 1);
    ck_assert_uint_eq(r.retry_after_ms, 59500);
    ck_assert(!take(rl, "c", lim(1, 2), HOUR_MS, NULL)); /* the hour alone would allow it */
    ck_assert_uint_eq(check_retry_exact(rl, "c", lim(1, 2), 3599500), 59500);

    /* Both violated with equal waits: the minute is reported. */
    ck_assert(take(rl, "d", lim(1, 2), 0, NULL));
    ck_assert(take(rl, "d", lim(1, 2), HOUR_MS - MIN_MS, NULL));
    ck_assert(!take(rl, "d", lim(1, 2), HOUR_MS - MIN_MS + 1, &r));
    ck_assert_uint_eq(r.violated_window_s, 60);
    ck_assert_uint_eq(r.retry_after_ms, MIN_MS - 1);
    ck_assert_uint_eq(check_retry_exact(rl, "d", lim(1, 2), HOUR_MS - MIN_MS + 1), MIN_MS - 1);

    /* Several calls at the same instant leave together. */
    ck_assert_int_eq(take_n(rl, "f", lim(4, 0), 100, 4), 4);
    ck_assert_uint_eq(check_retry_exact(rl, "f", lim(4, 0), 200), 59900);
    ck_assert_int_eq(take_n(rl, "f", lim(4, 0), 60100, 5), 3);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_tightest_window_reported)
{
    struct ratelimit *rl = ratelimit_new(16);
    struct ratelimit_result r;

    ck_assert(take(rl, "a", lim(50, 1500), 0, &r));
    ck_assert_uint_eq(r.window_s, 60);
    ck_assert_uint_eq(r.limit, 50);
    ck_assert_uint_eq(r.remaining, 49);
    ck_assert_uint_eq(r.reset_ms, 60000);

    /* 50 in the first minute, then the hour has fewer left than the minute. */
    ck_assert_int_eq(take_n(rl, "b", lim(50, 60), 0, 50), 50);
    ck_assert(!take(rl, "b", lim(50, 60), 30000, &r));
    ck_assert_uint_eq(r.window_s, 60);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_uint_eq(r.reset_ms, 30000);
    ck_assert(take(rl, "b", lim(50, 60), 60000, &r));
    ck_assert_uint_eq(r.window_s, 3600);
    ck_assert_uint_eq(r.limit, 60);
    ck_assert_uint_eq(r.remaining, 9);
    ck_assert_uint_eq(r.reset_ms, HOUR_MS - 60000);

    /* A tie goes to the minute. */
    ck_assert(take(rl, "c", lim(2, 2), 0, &r));
    ck_assert_uint_eq(r.window_s, 60);
    ck_assert_uint_eq(r.remaining, 1);
    ck_assert(take(rl, "c", lim(2, 2), 1, &r));
    ck_assert_uint_eq(r.window_s, 60);
    ck_assert_uint_eq(r.remaining, 0);
    ck_assert_uint_eq(r.reset_ms, 59999);

    /* A minute limit above the hour limit: the hour is the tighter one. */
    ck_assert(take(rl, "d", lim(10, 4), 0, &r));
    ck_assert_uint_eq(r.window_s, 3600);
    ck_assert_uint_eq(r.remaining, 3);
    ck_assert_int_eq(take_n(rl, "d", lim(10, 4), 1, 10), 3);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_unlimited_windows)
{
    struct ratelimit *rl = ratelimit_new(16);
    struct ratelimit_result r;
    size_t empty = ratelimit_memory_bytes(rl);

    /* Both unlimited: always allowed, no headers, nothing stored. */
    for (int i = 0; i < 10000; i++) {
        EXPECT(take(rl, "u", lim(0, 0), 7, &r));
        EXPECT_OP(r.window_s, ==, 0);
        EXPECT_OP(r.limit, ==, 0);
        EXPECT_OP(r.remaining, ==, 0);
        EXPECT_OP(r.reset_ms, ==, 0);
    }
    ck_assert_uint_eq(ratelimit_key_count(rl), 0);
    ck_assert_uint_eq(ratelimit_memory_bytes(rl), empty);

    /* Hour only. */
    ck_assert_int_eq(take_n(rl, "h", lim(0, 5), 0, 10), 5);
    ck_assert(!take(rl, "h", lim(0, 5), HOUR_MS - 1, &r));
    ck_assert_uint_eq(r.violated_window_s, 3600);
    ck_assert_uint_eq(r.window_s, 3600);
    ck_assert_int_eq(take_n(rl, "h", lim(0, 5), HOUR_MS, 10), 5);

    /* Minute only: 5 every minute for two hours, with no hour cap, in bounded memory. */
    int ok = 0;
    size_t after_first_minute = 0;
    for (uint64_t m = 0; m < 120; m++) {
        ok += take_n(rl, "m", lim(5, 0), m * MIN_MS + 17, 7);
        if (m == 0)
            after_first_minute = ratelimit_memory_bytes(rl);
        else
            EXPECT_OP(ratelimit_memory_bytes(rl), <=, after_first_minute);
    }
    ck_assert_int_eq(ok, 600);
    ratelimit_free(rl);
}
END_TEST

/* ---------------------------------------------------------------- brute-force model */

/* Deterministic pseudo-random numbers (SplitMix64). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Successes recorded by the model, ascending. */
struct history {
    uint64_t *t;
    size_t n;
};

/* Successes in (at - w, at]; `at` is never before the newest success. */
static uint32_t hist_count(const struct history *h, uint64_t at, uint64_t w)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) { /* first success with at - t < w */
        size_t mid = lo + (hi - lo) / 2;
        if (at - h->t[mid] < w)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (uint32_t)(h->n - lo);
}

/* Which windows block a call at `at`: bit 0 the minute, bit 1 the hour. */
static unsigned hist_blocked(const struct history *h, struct ratelimit_limits l, uint64_t at)
{
    unsigned b = 0;
    if (l.per_minute && hist_count(h, at, MIN_MS) >= l.per_minute)
        b |= 1;
    if (l.per_hour && hist_count(h, at, HOUR_MS) >= l.per_hour)
        b |= 2;
    return b;
}

/* Checks one window's header fields against the model after a call at now. */
static void model_window(const struct history *h, uint64_t now, uint64_t w, uint32_t limit,
                         uint32_t *remaining, uint64_t *reset)
{
    uint32_t c = hist_count(h, now, w);
    *remaining = c < limit ? limit - c : 0;
    *reset = c ? h->t[h->n - c] + w - now : 0;
}

/*
 * Drives one key with a long pseudo-random schedule of bursts and pauses over several hours and
 * checks every result against a brute-force model of the rule "allowed iff fewer than the limit
 * earlier successes in (now - w, now] for both windows", then checks every 60 s and 3600 s
 * interval of the recorded successes.
 */
static void run_schedule(struct ratelimit_limits l, uint64_t seed, int calls, uint64_t mean_gap)
{
    struct ratelimit *rl = ratelimit_new(4);
    struct history h = {calloc((size_t)calls, sizeof(uint64_t)), 0};
    ck_assert_ptr_nonnull(h.t);
    uint64_t now = 1000000, pending = 0;
    int denied = 0, denied_by_minute = 0, denied_by_hour = 0;
    for (int i = 0; i < calls; i++) {
        uint64_t x = rng_next(&seed);
        if (pending) {
            now = pending; /* probe exactly at a previous retry_after, or 1 ms before it */
            pending = 0;
        } else if (x % 8000 == 0) {
            now += rng_next(&seed) % (40 * MIN_MS); /* a pause of up to 40 minutes */
        } else if (x % 4 != 0) {
            now += rng_next(&seed) % (2 * mean_gap + 1);
        }
        /* Other keys around it must not matter. */
        if (x % 7 == 0)
            take(rl, "noise", l, now, NULL);

        unsigned blocked = hist_blocked(&h, l, now);
        struct ratelimit_result r;
        bool ok = take(rl, "key", l, now, &r);
        if (ok != (blocked == 0))
            ck_abort_msg("call %d at %" PRIu64 ": allowed %d, model %u", i, now, (int)ok, blocked);
        if (ok)
            h.t[h.n++] = now;
        else
            denied++;

        /* Tightest window: fewest remaining, the minute on a tie. */
        uint32_t rem_m = UINT32_MAX, rem_h = UINT32_MAX;
        uint64_t reset_m = 0, reset_h = 0;
        if (l.per_minute)
            model_window(&h, now, MIN_MS, l.per_minute, &rem_m, &reset_m);
        if (l.per_hour)
            model_window(&h, now, HOUR_MS, l.per_hour, &rem_h, &reset_h);
        bool hour = rem_h < rem_m;
        EXPECT_OP(r.window_s, ==, hour ? 3600 : 60);
        EXPECT_OP(r.limit, ==, hour ? l.per_hour : l.per_minute);
        EXPECT_OP(r.remaining, ==, hour ? rem_h : rem_m);
        EXPECT_OP(r.reset_ms, ==, hour ? reset_h : reset_m);

        if (!ok) {
            /* Exact: nothing blocks at now + retry, and the reported window still blocks 1 ms
             * earlier (the minute when both do, i.e. when both waits are equal). */
            uint64_t t_ok = now + r.retry_after_ms;
            EXPECT_OP(hist_blocked(&h, l, t_ok), ==, 0);
            unsigned before = hist_blocked(&h, l, t_ok - 1);
            EXPECT_OP(before, !=, 0);
            unsigned want = (before & 1) ? 60 : 3600;
            EXPECT_OP(r.violated_window_s, ==, want);
            EXPECT_OP(r.violated_limit, ==, want == 60 ? l.per_minute : l.per_hour);
            if (want == 60)
                denied_by_minute++;
            else
                denied_by_hour++;
            if (x % 3 == 0)
                pending = t_ok - (x % 2);
        }
    }
    /* Every window ending at a success (where the count in a window peaks). */
    size_t lo_m = 0, lo_h = 0;
    for (size_t i = 0; i < h.n; i++) {
        while (h.t[i] - h.t[lo_m] >= MIN_MS)
            lo_m++;
        while (h.t[i] - h.t[lo_h] >= HOUR_MS)
            lo_h++;
        if (l.per_minute)
            EXPECT_OP(i - lo_m + 1, <=, l.per_minute);
        if (l.per_hour)
            EXPECT_OP(i - lo_h + 1, <=, l.per_hour);
    }
    /* The schedule must have exercised both outcomes and every window that can bind. */
    EXPECT_OP(denied, >, 50);
    EXPECT_OP(h.n, >, 50);
    if (l.per_minute && (!l.per_hour || l.per_minute < l.per_hour))
        ck_assert_msg(denied_by_minute > 20, "%u/%u: %d by minute", l.per_minute, l.per_hour,
                      denied_by_minute);
    if (l.per_hour)
        ck_assert_msg(denied_by_hour > 20, "%u/%u: %d by hour", l.per_minute, l.per_hour,
                      denied_by_hour);
    free(h.t);
    ratelimit_free(rl);
}

START_TEST(test_ratelimit_both_windows_bruteforce)
{
    /* The real quotas, over many hours: bursts hit the minute limit, and long busy stretches
     * the hour limit. */
    run_schedule(lim(50, 1500), 1, 60000, 300);
    run_schedule(lim(100, 1500), 2, 40000, 300);
    run_schedule(lim(7, 60), 3, 20000, 2000);
    run_schedule(lim(10, 4), 4, 5000, 200000);
    run_schedule(lim(5, 0), 5, 10000, 1000);
    run_schedule(lim(0, 30), 6, 10000, 30000);
    run_schedule(lim(2, 5), 7, 5000, 1000000);
}
END_TEST

/* ---------------------------------------------------------------- keys */

START_TEST(test_ratelimit_per_key_independence)
{
    struct ratelimit *rl = ratelimit_new(64);
    const char *keys[] = {
        "tenant-a|app-1|list", "tenant-a|app-1|get",  "tenant-a|app-1|update",
        "tenant-b|app-1|list", "tenant-a|app-2|list", "tenant-a|app-1|lis",
    };
    /* Exhaust tenant-a/app-1/list, minute and hour. */
    ck_assert_int_eq(take_n(rl, keys[0], lim(50, 1500), 0, 80), 50);
    for (size_t i = 1; i < ARRAY_SIZE(keys); i++)
        ck_assert_int_eq(take_n(rl, keys[i], lim(50, 1500), 1, 50), 50);
    ck_assert(!take(rl, keys[0], lim(50, 1500), 2, NULL));
    /* The get class keeps its own, different quota. */
    ck_assert_int_eq(take_n(rl, "tenant-a|app-1|get", lim(100, 1500), 3, 80), 50);

    /* Keys are bytes, not strings: an embedded NUL separates fields. */
    struct ratelimit_result r;
    ck_assert_int_eq(ratelimit_take(rl, "a\0b", 3, lim(1, 0), 0, &r), ERR_OK);
    ck_assert_int_eq(ratelimit_take(rl, "a\0c", 3, lim(1, 0), 0, &r), ERR_OK);
    ck_assert_int_eq(ratelimit_take(rl, "a", 1, lim(1, 0), 0, &r), ERR_OK);
    ck_assert_int_eq(ratelimit_take(rl, "a\0b", 3, lim(1, 0), 0, &r), ERR_RATE_LIMITED);
    ck_assert_int_eq(ratelimit_take(rl, "", 0, lim(1, 0), 0, &r), ERR_OK);
    ck_assert_int_eq(ratelimit_take(rl, NULL, 0, lim(1, 0), 0, &r), ERR_RATE_LIMITED);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_lru_eviction)
{
    struct ratelimit *rl = ratelimit_new(3);
    struct ratelimit_limits l = lim(1, 0);
    ck_assert(take(rl, "a", l, 0, NULL));
    ck_assert(take(rl, "b", l, 1, NULL));
    ck_assert(take(rl, "c", l, 2, NULL));
    ck_assert_uint_eq(ratelimit_key_count(rl), 3);
    /* A denied call is a use too: a becomes the most recent, so b is the oldest. */
    ck_assert(!take(rl, "a", l, 3, NULL));
    ck_assert(take(rl, "d", l, 4, NULL)); /* evicts b */
    ck_assert_uint_eq(ratelimit_key_count(rl), 3);
    ck_assert(!take(rl, "a", l, 5, NULL)); /* kept: still throttled */
    ck_assert(!take(rl, "d", l, 6, NULL));
    ck_assert(take(rl, "b", l, 7, NULL)); /* evicted: starts fresh; evicts c */
    ck_assert(take(rl, "c", l, 8, NULL)); /* evicted: fresh again; evicts a */
    ck_assert(take(rl, "a", l, 9, NULL)); /* evicted; evicts d */
    ck_assert(!take(rl, "b", l, 10, NULL));
    ck_assert(!take(rl, "c", l, 11, NULL));
    ck_assert(!take(rl, "a", l, 12, NULL));
    ck_assert_uint_eq(ratelimit_key_count(rl), 3);

    /* One slot: every new key evicts the previous one. */
    struct ratelimit *one = ratelimit_new(1);
    ck_assert(take(one, "x", l, 0, NULL));
    ck_assert(!take(one, "x", l, 0, NULL));
    ck_assert(take(one, "y", l, 0, NULL));
    ck_assert(take(one, "x", l, 0, NULL));
    ck_assert_uint_eq(ratelimit_key_count(one), 1);
    ratelimit_free(one);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_memory_bound)
{
    struct ratelimit *rl = ratelimit_new(1000);
    char key[32];
    size_t full = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "tenant|app-%06d|list", i);
        EXPECT(take(rl, key, lim(50, 1500), (uint64_t)i, NULL));
        if (i == 999)
            full = ratelimit_memory_bytes(rl);
        if (i >= 999) {
            EXPECT_OP(ratelimit_key_count(rl), ==, 1000);
            if (i % 1000 == 0)
                EXPECT_OP(ratelimit_memory_bytes(rl), ==, full);
        }
    }
    ck_assert_uint_eq(ratelimit_memory_bytes(rl), full);
    /* The last 1000 are the ones kept. */
    ck_assert(!take(rl, "tenant|app-099999|list", lim(1, 0), 100000, NULL));
    ck_assert(take(rl, "tenant|app-000000|list", lim(1, 0), 100000, NULL));
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_per_key_memory_bounded)
{
    struct ratelimit *rl = ratelimit_new(8);
    /* Many calls, few allowed: the ring never holds more than the limits need. */
    ck_assert(take(rl, "k", lim(3, 0), 0, NULL));
    size_t one = ratelimit_memory_bytes(rl);
    int ok = 0;
    for (uint64_t t = 0; t < 3 * HOUR_MS; t += 97)
        ok += take(rl, "k", lim(3, 0), t, NULL);
    ck_assert_int_gt(ok, 3 * 170);
    ck_assert_int_le(ok, 3 * 180 + 3);
    ck_assert_uint_le(ratelimit_memory_bytes(rl), one);

    /* A burst grows the ring; an idle hour shrinks it back. */
    ck_assert_int_eq(take_n(rl, "b", lim(0, 1500), 0, 2000), 1500);
    size_t burst = ratelimit_memory_bytes(rl);
    ck_assert_uint_ge(burst, one + 1500 * sizeof(uint64_t));
    ck_assert_uint_le(burst, one + (2048 + 64) * sizeof(uint64_t));
    for (int i = 0; i < 20; i++)
        take(rl, "b", lim(0, 1500), HOUR_MS + (uint64_t)i * MIN_MS, NULL);
    ck_assert_uint_le(ratelimit_memory_bytes(rl), one + 64 * sizeof(uint64_t) + 64);

    /* Lowering the limits trims what is kept. */
    ck_assert_int_eq(take_n(rl, "c", lim(0, 1000), 0, 1000), 1000);
    ck_assert(!take(rl, "c", lim(0, 2), 1, NULL));
    ck_assert_uint_le(ratelimit_memory_bytes(rl), burst);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_time_backwards)
{
    struct ratelimit *rl = ratelimit_new(8);
    struct ratelimit_result r;
    /* A small step back counts the call at the newest recorded time. */
    ck_assert(take(rl, "k", lim(2, 10), 100000, NULL));
    ck_assert(take(rl, "k", lim(2, 10), 50000, NULL));
    ck_assert(!take(rl, "k", lim(2, 10), 0, &r));
    ck_assert_uint_eq(r.retry_after_ms, 160000); /* measured from the caller's now */
    ck_assert_uint_eq(r.reset_ms, 160000);
    ck_assert(!take(rl, "k", lim(2, 10), 159999, NULL));
    ck_assert(take(rl, "k", lim(2, 10), 160000, NULL));

    /* A step back beyond the retained window forgets the key's history. */
    ck_assert(take(rl, "h", lim(1, 1), 10 * HOUR_MS, NULL));
    ck_assert(!take(rl, "h", lim(1, 1), 10 * HOUR_MS - HOUR_MS + 1, NULL));
    ck_assert(take(rl, "h", lim(1, 1), 10 * HOUR_MS - HOUR_MS, NULL));
    ck_assert(take(rl, "m", lim(1, 0), 1000000, NULL));
    ck_assert(!take(rl, "m", lim(1, 0), 1000000 - MIN_MS + 1, NULL));
    ck_assert(take(rl, "m", lim(1, 0), 1000000 - MIN_MS, NULL));

    /* Extremes neither crash nor wrap. */
    ck_assert(take(rl, "x", lim(2, 3), UINT64_MAX, NULL));
    ck_assert(take(rl, "x", lim(2, 3), UINT64_MAX, NULL));
    ck_assert(!take(rl, "x", lim(2, 3), UINT64_MAX, &r));
    ck_assert_uint_eq(r.retry_after_ms, MIN_MS);
    ck_assert(!take(rl, "x", lim(2, 3), UINT64_MAX - 5, &r));
    ck_assert_uint_eq(r.retry_after_ms, MIN_MS + 5);
    ck_assert(take(rl, "x", lim(2, 3), 0, NULL));
    ck_assert(take(rl, "x", lim(2, 3), UINT64_MAX, NULL));
    uint64_t seed = 42;
    for (int i = 0; i < 20000; i++) {
        uint64_t x = rng_next(&seed);
        uint64_t t = (x & 1) ? x : x % (3 * HOUR_MS);
        ratelimit_take(rl, "y", 1, lim((uint32_t)(x >> 40) % 4, (uint32_t)(x >> 50) % 6), t, &r);
        if (!r.allowed)
            EXPECT_OP(r.retry_after_ms, >=, 1);
        EXPECT_OP(r.reset_ms, <=, HOUR_MS + HOUR_MS);
    }
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_rejects_bad_arguments)
{
    ck_assert_ptr_null(ratelimit_new(0));
    ck_assert_ptr_null(ratelimit_new((size_t)RATELIMIT_MAX_KEYS + 1));
    ratelimit_free(NULL);
    struct ratelimit *rl = ratelimit_new(2);
    static char big[RATELIMIT_KEY_MAX_BYTES + 1];
    struct ratelimit_result r;
    ck_assert_int_eq(ratelimit_take(rl, big, sizeof(big), lim(1, 1), 0, &r), ERR_INVALID);
    ck_assert(!r.allowed);
    ck_assert_int_eq(ratelimit_take(rl, NULL, 1, lim(1, 1), 0, &r), ERR_INVALID);
    ck_assert_int_eq(ratelimit_take(rl, big, sizeof(big) - 1, lim(1, 1), 0, &r), ERR_OK);
    ck_assert_uint_eq(ratelimit_key_count(rl), 1);
    ratelimit_free(rl);
}
END_TEST

/* ---------------------------------------------------------------- threads */

#define NTHREADS 8

struct hammer {
    struct ratelimit *rl;
    pthread_barrier_t *start;
    int nkeys;
    int rounds;
    struct ratelimit_limits limits;
    int ok[64]; /* successes per key */
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    char key[32];
    pthread_barrier_wait(h->start);
    for (int round = 0; round < h->rounds; round++) {
        for (int k = 0; k < h->nkeys; k++) {
            snprintf(key, sizeof(key), "tenant-%d|app|list", k);
            struct ratelimit_result r;
            enum err rc = ratelimit_take(h->rl, key, strlen(key), h->limits, 5000, &r);
            if (rc == ERR_OK)
                h->ok[k]++;
        }
    }
    return NULL;
}

/* NTHREADS threads take on nkeys keys at one injected instant; returns per-key success totals. */
static void hammer(struct ratelimit *rl, int nkeys, int rounds, struct ratelimit_limits l,
                   int *total)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NTHREADS);
    struct hammer hs[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        hs[i] = (struct hammer){
            .rl = rl, .start = &start, .nkeys = nkeys, .rounds = rounds, .limits = l};
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer_run, &hs[i]), 0);
    }
    for (int k = 0; k < nkeys; k++)
        total[k] = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        for (int k = 0; k < nkeys; k++)
            total[k] += hs[i].ok[k];
    }
    pthread_barrier_destroy(&start);
}

START_TEST(test_ratelimit_concurrent_one_key)
{
    struct ratelimit *rl = ratelimit_new(16);
    int total[1];
    hammer(rl, 1, 2000, lim(50, 1500), total);
    ck_assert_int_eq(total[0], 50);
    hammer(rl, 1, 2000, lim(50, 1500), total); /* same instant: nothing more */
    ck_assert_int_eq(total[0], 0);

    struct ratelimit *rl2 = ratelimit_new(16);
    hammer(rl2, 1, 1000, lim(0, 1500), total);
    ck_assert_int_eq(total[0], 1500);
    ratelimit_free(rl2);
    ratelimit_free(rl);
}
END_TEST

START_TEST(test_ratelimit_concurrent_many_keys)
{
    struct ratelimit *rl = ratelimit_new(64);
    int total[64];
    hammer(rl, 64, 40, lim(25, 1500), total);
    for (int k = 0; k < 64; k++)
        ck_assert_int_eq(total[k], 25);
    ck_assert_uint_eq(ratelimit_key_count(rl), 64);
    ratelimit_free(rl);

    /* Fewer slots than keys: eviction under contention stays consistent. */
    rl = ratelimit_new(5);
    hammer(rl, 64, 40, lim(25, 1500), total);
    for (int k = 0; k < 64; k++)
        ck_assert_int_ge(total[k], 25);
    ck_assert_uint_eq(ratelimit_key_count(rl), 5);
    ratelimit_free(rl);
}
END_TEST

Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *tc = tcase_create("windows");
    tcase_add_test(tc, test_ratelimit_window_edge_minute);
    tcase_add_test(tc, test_ratelimit_window_edge_hour);
    tcase_add_test(tc, test_ratelimit_no_double_burst_at_edge);
    tcase_add_test(tc, test_ratelimit_throttled_calls_use_no_quota);
    tcase_add_test(tc, test_ratelimit_retry_after_exact);
    tcase_add_test(tc, test_ratelimit_tightest_window_reported);
    tcase_add_test(tc, test_ratelimit_unlimited_windows);
    tcase_add_test(tc, test_ratelimit_time_backwards);
    suite_add_tcase(s, tc);

    tc = tcase_create("model");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ratelimit_both_windows_bruteforce);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ratelimit_per_key_independence);
    tcase_add_test(tc, test_ratelimit_lru_eviction);
    tcase_add_test(tc, test_ratelimit_memory_bound);
    tcase_add_test(tc, test_ratelimit_per_key_memory_bounded);
    tcase_add_test(tc, test_ratelimit_rejects_bad_arguments);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ratelimit_concurrent_one_key);
    tcase_add_test(tc, test_ratelimit_concurrent_many_keys);
    suite_add_tcase(s, tc);
    return s;
}
