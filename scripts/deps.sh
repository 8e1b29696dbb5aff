#!/bin/sh
# Installs the Debian packages incidentd needs to build, test, run and benchmark, when missing.
# Called by `make run` and `make test`, so a fresh Debian machine needs nothing else.
set -eu
pkgs="build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev
zlib1g-dev check libcurl4-openssl-dev curl"
# sqlite3 (the shell): bench/ingest.sh reads device and user pools and counts from the database.
[ "${1:-}" = "--bench" ] && pkgs="$pkgs wrk nginx-light sqlite3"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "incidentd: installing missing packages:$missing" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null || true
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing >/dev/null
