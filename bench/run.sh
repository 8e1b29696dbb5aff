#!/bin/sh
# Benchmark (issue 2, point 8): 100,000 demo incidents; wrk at 64 connections against a default
# list page, a filtered page, get by id and PATCH; nginx serving the same page bytes from a
# static file as the ceiling, in the same run; server RSS. Results go to stdout in the
# Markdown used by docs/benchmarks.md.
#   bench/run.sh build/release/incidentd
set -eu
bin=$(realpath "$1")
work=${BENCH_DIR:-var/bench}
n=${BENCH_INCIDENTS:-100000}
dur=${BENCH_SECONDS:-10}
port=18480
nport=18481
mkdir -p "$work/www" "$work/nginx/logs"
work=$(realpath "$work")
db="$work/bench-$n.db"
if [ ! -s "$db" ]; then
    echo "generating $n demo incidents into $db" >&2
    "$bin" demo --db "$db" --incidents "$n" --seed 1 >&2
fi
# A copy, so PATCH runs never change the data other runs measure.
cp "$db" "$work/run.db"
rm -f "$work/run.db-wal" "$work/run.db-shm" "$work/run.db.key"
# Throughput, not throttling, is measured: the benchmark's application has no quota.
client_id=$("$bin" app create --db "$work/run.db" --name bench --role Incident.ReadWrite.All \
    --quota list=0,get=0,update=0 |
    sed 's/.*"client_id":"\([^"]*\)".*/\1/')
token=$("$bin" token --db "$work/run.db" --client-id "$client_id")
export BENCH_TOKEN="$token"

INCIDENTD_ACCESS_LOG=false "$bin" serve --db "$work/run.db" --listen "127.0.0.1:$port" \
    >"$work/serve.out" 2>"$work/serve.log" &
spid=$!
trap 'kill $spid 2>/dev/null; [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null; true' EXIT
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done

base="http://127.0.0.1:$port"
filter="status+eq+%27Active%27+and+lastUpdateTime+gt+2026-09-01T00:00:00Z"
auth="Authorization: Bearer $token"
curl -sf -H "$auth" -o "$work/www/list.json" "$base/api/incidents"
curl -sf -H "$auth" -o "$work/www/filtered.json" "$base/api/incidents?\$filter=$filter"
curl -sf -H "$auth" -o "$work/www/one.json" "$base/api/incidents/50000"
# PATCH targets: 1,000 active incidents (ten pages), so comments spread as in real use.
: > "$work/ids.txt"
for skip in 0 100 200 300 400 500 600 700 800 900; do
    curl -sf -H "$auth" "$base/api/incidents?\$filter=status+eq+%27Active%27&\$skip=$skip" |
        grep -o '"incidentId":[0-9]*,"incidentUri"' | grep -o '[0-9]*' >> "$work/ids.txt"
done

cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    open_file_cache max=100;
    keepalive_requests 1000000;
    types { application/json json; }
    server { listen 127.0.0.1:$nport; root $work/www; }
}
NGX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx"

run() { # name url [script]
    # Every incidentd request carries the bearer token (nginx ignores it).
    if [ -n "${3:-}" ]; then
        out=$(BENCH_IDS="$work/ids.txt" wrk -t2 -c64 -d"${dur}s" --latency -H "$auth" -s "$3" "$2")
    else
        out=$(wrk -t2 -c64 -d"${dur}s" --latency -H "$auth" "$2")
    fi
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99" "${errs:-0}"
    if [ -n "$errs" ] && [ "$errs" != 0 ]; then
        echo "bench: $1 answered $errs requests with an error status; results are void" >&2
        failed=1
    fi
}
failed=0

echo "| what | req/s | p50 | p99 | non-2xx |"
echo "|---|---:|---:|---:|---:|"
run "nginx: static copy of the default page ($(wc -c < "$work/www/list.json") B)" "http://127.0.0.1:$nport/list.json"
run "incidentd: default list page" "$base/api/incidents"
run "nginx: static copy of the filtered page ($(wc -c < "$work/www/filtered.json") B)" "http://127.0.0.1:$nport/filtered.json"
run "incidentd: filtered page (status eq 'Active' and lastUpdateTime gt …)" "$base/api/incidents?\$filter=$filter"
run "nginx: static copy of one incident ($(wc -c < "$work/www/one.json") B)" "http://127.0.0.1:$nport/one.json"
run "incidentd: get by id" "$base/api/incidents/50000"
run "incidentd: PATCH (comment + tags, db_sync=full)" "$base/" "$(dirname "$0")/patch.lua"
rss=$(awk '/VmRSS/ {print $2, $3}' "/proc/$spid/status")
hwm=$(awk '/VmHWM/ {print $2, $3}' "/proc/$spid/status")
echo
echo "incidentd RSS after the runs: $rss (peak $hwm)"
exit $failed
