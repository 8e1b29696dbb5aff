/* SPDX-License-Identifier: MIT */
/*
 * Timestamps as signed 64-bit counts of 100 ns ticks since 1970-01-01T00:00:00Z (CONTRACT §2:
 * "stored with 100 ns precision"). Parsing and .NET round-trip style formatting live here so that
 * the OData parser, the JSON layer and storage agree on one representation.
 */
#ifndef TS_H
#define TS_H

#include "common.h"
#include "err.h"

#define TS_TICKS_PER_SEC 10000000LL
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.9999999Z: the range ts_parse accepts and
 * ts_format writes. */
#define TS_MIN_TICKS (-621355968000000000LL)
#define TS_MAX_TICKS (2534023007999999999LL)
/* "YYYY-MM-DDTHH:MM:SS.fffffffZ" plus NUL. */
#define TS_FORMAT_MAX 29

enum ts_flags {
    /* Accept more than 7 fractional digits, truncating to 100 ns (import of foreign data). The
     * default is the OData rule of 0-7 digits. */
    TS_LENIENT_FRACTION = 1 << 0,
};

/*
 * Parses an ISO 8601 date-time with a mandatory zone (`Z` or `±hh:mm`), seconds optional, 0-7
 * fractional digits, years 0001-9999 (CONTRACT §3). `s` need not be NUL-terminated. On error
 * returns ERR_INVALID and fills `ei` with the offset of the first bad character relative to `s`.
 */
enum err ts_parse(const char *s, size_t len, unsigned flags, int64_t *out, struct err_info *ei);

/* True when s[0..len) looks like the start of a date-time literal (four digits and a dash). */
bool ts_looks_like(const char *s, size_t len);

/*
 * Writes ticks as `2020-09-06T14:46:57.0733333Z` with trailing fractional zeros trimmed (and the
 * dot dropped when the fraction is zero), as .NET's round-trip format does. Returns the length.
 */
size_t ts_format(int64_t ticks, char out[TS_FORMAT_MAX]);

/* Current UTC wall-clock time in ticks. */
int64_t ts_now(void);

#endif
