/* SPDX-License-Identifier: MIT */
/*
 * One-line log records to stderr (or a file): UTC timestamp, level, message. Untrusted bytes are
 * escaped before writing so a client cannot forge log lines. Thread-safe.
 */
#ifndef LOG_H
#define LOG_H

#include "common.h"

enum log_level {
    LOG_ERROR,
    LOG_WARN,
    LOG_INFO,
    LOG_DEBUG,
};

extern enum log_level log_max_level;

/* Parses "error", "warn", "info" or "debug"; false when unknown. */
bool log_level_parse(const char *s, enum log_level *out);

/* Sends records to `path` (appending) instead of stderr; ERR on failure with errno set. */
int log_open_file(const char *path);

/* Closes a file opened with log_open_file. */
void log_close(void);

ATTR_PRINTF(2, 3) void log_write(enum log_level level, const char *fmt, ...);

/* Writes `s` (len bytes) into out (cap bytes) with control characters, quotes, backslashes and
 * invalid UTF-8 escaped as \xNN; always NUL-terminates; returns the length written. */
size_t log_escape(char *out, size_t cap, const char *s, size_t len);

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)                         \
    do {                                      \
        if (log_max_level >= LOG_WARN)        \
            log_write(LOG_WARN, __VA_ARGS__); \
    } while (0)
#define log_info(...)                         \
    do {                                      \
        if (log_max_level >= LOG_INFO)        \
            log_write(LOG_INFO, __VA_ARGS__); \
    } while (0)
#define log_debug(...)                         \
    do {                                       \
        if (log_max_level >= LOG_DEBUG)        \
            log_write(LOG_DEBUG, __VA_ARGS__); \
    } while (0)

#endif
