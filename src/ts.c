/* SPDX-License-Identifier: MIT */
/* Date-time parsing and formatting at 100 ns precision. */
#include "common.h"
#include "ts.h"

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int y, unsigned m)
{
    static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n digits at s[*i]; false (with *i at the first non-digit) when fewer. */
static bool digits(const char *s, size_t len, size_t *i, int n, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[*i] - '0');
        (*i)++;
    }
    *out = v;
    return true;
}

static bool expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i < len && s[*i] == c) {
        (*i)++;
        return true;
    }
    return false;
}

bool ts_looks_like(const char *s, size_t len)
{
    if (len < 5)
        return false;
    for (int k = 0; k < 4; k++)
        if (s[k] < '0' || s[k] > '9')
            return false;
    return s[4] == '-';
}

enum err ts_parse(const char *s, size_t len, unsigned flags, int64_t *out, struct err_info *ei)
{
    size_t i = 0;
    unsigned year, mon, day, hour, min, sec = 0;
    int64_t frac = 0;

#define BAD(what) return err_set(ei, ERR_INVALID, (int)i, "%s", what)
    if (!digits(s, len, &i, 4, &year))
        BAD("expected a four-digit year");
    if (!expect(s, len, &i, '-'))
        BAD("expected '-' after the year");
    if (!digits(s, len, &i, 2, &mon))
        BAD("expected a two-digit month");
    if (!expect(s, len, &i, '-'))
        BAD("expected '-' after the month");
    if (!digits(s, len, &i, 2, &day))
        BAD("expected a two-digit day");
    if (year < 1 || mon < 1 || mon > 12 || day < 1 || day > days_in_month((int)year, mon)) {
        i = 0;
        BAD("date out of range");
    }
    if (!expect(s, len, &i, 'T'))
        BAD("expected 'T' and a time after the date");
    if (!digits(s, len, &i, 2, &hour))
        BAD("expected a two-digit hour");
    if (!expect(s, len, &i, ':'))
        BAD("expected ':' after the hour");
    if (!digits(s, len, &i, 2, &min))
        BAD("expected two-digit minutes");
    if (expect(s, len, &i, ':')) {
        if (!digits(s, len, &i, 2, &sec))
            BAD("expected two-digit seconds");
        if (expect(s, len, &i, '.')) {
            int n = 0;
            size_t start = i;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (n < 7)
                    frac = frac * 10 + (s[i] - '0');
                n++;
                i++;
            }
            if (n == 0)
                BAD("expected digits after '.'");
            if (n > 7 && !(flags & TS_LENIENT_FRACTION)) {
                i = start + 7;
                BAD("more than 7 fractional digits");
            }
            for (; n < 7; n++)
                frac *= 10;
        }
    }
    if (hour > 23 || min > 59 || sec > 59) {
        i = 11;
        BAD("time out of range");
    }
    int64_t offset_min = 0;
    if (expect(s, len, &i, 'Z')) {
        /* UTC */
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        unsigned oh, om;
        i++;
        if (!digits(s, len, &i, 2, &oh) || !expect(s, len, &i, ':') || !digits(s, len, &i, 2, &om))
            BAD("expected a zone offset as ±hh:mm");
        if (oh > 23 || om > 59)
            BAD("zone offset out of range");
        offset_min = sign * (int64_t)(oh * 60 + om);
    } else {
        BAD("expected a time zone ('Z' or ±hh:mm)");
    }
    if (i != len)
        BAD("unexpected character after the date-time");
#undef BAD

    int64_t days = days_from_civil(year, mon, day);
    int64_t secs = days * 86400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    int64_t t = secs * TS_TICKS_PER_SEC + frac;
    /* An offset can move a valid local time out of years 1-9999 in UTC, which could not be
     * written back (CONTRACT §2: every timestamp written parses back to the same instant). */
    if (t < TS_MIN_TICKS || t > TS_MAX_TICKS) {
        i = 0;
        return err_set(ei, ERR_INVALID, 0, "date-time out of range (years 0001-9999 in UTC)");
    }
    *out = t;
    return ERR_OK;
}

size_t ts_format(int64_t ticks, char out[TS_FORMAT_MAX])
{
    int64_t secs = ticks / TS_TICKS_PER_SEC;
    int64_t frac = ticks % TS_TICKS_PER_SEC;
    if (frac < 0) {
        frac += TS_TICKS_PER_SEC;
        secs--;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, TS_FORMAT_MAX, "%04d-%02u-%02uT%02d:%02d:%02d", y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (n < 0 || n > 19) {
        /* Outside years 0000-9999: cannot happen for values ts_parse produced. */
        n = snprintf(out, TS_FORMAT_MAX, "0001-01-01T00:00:00");
    }
    size_t len = (size_t)n;
    if (frac) {
        char f[8];
        snprintf(f, sizeof(f), "%07" PRId64, frac);
        int fl = 7;
        while (fl > 0 && f[fl - 1] == '0')
            fl--;
        out[len++] = '.';
        memcpy(out + len, f, (size_t)fl);
        len += (size_t)fl;
    }
    out[len++] = 'Z';
    out[len] = '\0';
    return len;
}

int64_t ts_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * TS_TICKS_PER_SEC + t.tv_nsec / 100;
}
