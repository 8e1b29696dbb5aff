#!/bin/sh
# Runs the Check suite from a build directory. Sanitizer options are set here so that a plain
# `make test` and CI behave the same; the Check summary is the last line printed.
set -eu
build=${1:-build/asan}
export INCIDENTD_BIN="$build/incidentd"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-4}"
if [ ! -d ../shared/fixtures ] && [ -z "${INCIDENTD_FIXTURES:-}" ]; then
    echo "note: ../shared/fixtures absent: fixture round-trip tests will be skipped" >&2
fi
exec "$build/check_incidentd"
