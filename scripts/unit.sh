#!/bin/sh
# Development helper: builds and runs a Check runner holding only the given test files, linked
# with the given sources, under ASan+UBSan. Lets one module be tested while others are broken.
#   scripts/unit.sh tests/test_odata.c -- src/odata.c src/odata_sql.c src/err.c ...
set -eu
tests=""; srcs=""; seen=0
for a in "$@"; do
    if [ "$a" = "--" ]; then seen=1; continue; fi
    if [ $seen -eq 0 ]; then tests="$tests $a"; else srcs="$srcs $a"; fi
done
out=$(mktemp -d /tmp/incidentd-unit-XXXXXX)
# shellcheck disable=SC2086
grep -ho '^Suite \*[a-z0-9_]*_suite(void)' $tests | sed 's/^Suite \*\(.*\)_suite(void)/SUITE(\1)/' > "$out/suites.inc"
# shellcheck disable=SC2086
gcc -std=c17 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 -g -fno-omit-frame-pointer \
    -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra -Werror -Wshadow \
    -Wstrict-prototypes -Isrc -I"$out" \
    $(pkg-config --cflags check jansson sqlite3 libmicrohttpd) \
    tests/check_main.c $tests $srcs -o "$out/runner" \
    $(pkg-config --libs check jansson sqlite3 libmicrohttpd libcrypto zlib libcurl) -lpthread -lm
"$out/runner"
