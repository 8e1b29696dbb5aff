#!/bin/sh
# Development helper: runs some test files against build/asan/libincidentd.a and the ASan
# binary, without the rest of the suite (which may be mid-edit).
#   scripts/suite.sh tests/test_api.c [tests/e2e.c ...]
set -eu
make --no-print-directory -s SANITIZE=1 build/asan/incidentd build/asan/libincidentd.a >/dev/null
out=$(mktemp -d /tmp/incidentd-suite-XXXXXX)
grep -ho '^Suite \*[a-z0-9_]*_suite(void)' "$@" | sed 's/^Suite \*\(.*\)_suite(void)/SUITE(\1)/' > "$out/suites.inc"
gcc -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g -fno-omit-frame-pointer \
    -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra -Werror -Isrc -I"$out" \
    $(pkg-config --cflags check jansson) tests/check_main.c "$@" -o "$out/runner" \
    build/asan/libincidentd.a \
    $(pkg-config --libs check jansson sqlite3 libmicrohttpd libcrypto zlib libcurl) -lpthread -lm
INCIDENTD_BIN=build/asan/incidentd CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} "$out/runner"
rm -rf "$out"
