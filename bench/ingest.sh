#!/bin/sh
# Benchmark (issue 5, point 9): alert ingestion over a store already holding 100,000 incidents.
# wrk POSTs batches of 100 alerts to /api/alerts (bench/ingest.lua: unique alertIds, devices and
# users drawn from pools that include the demo data's own, activity times on a simulated clock
# that starts on the demo data's last day), several runs, each on a fresh copy of the same
# database. Prints the Markdown used in docs/benchmarks.md: alerts/s (= batches/s x batch size),
# p50/p99 per batch, what the alerts did (created/updated/unchanged, incidents made, merged),
# server CPU per alert, the load generator's CPU, server RSS, and the database at start and end.
#   bench/ingest.sh build/release/incidentd
# Settings (environment): BENCH_INCIDENTS (100000), BENCH_SECONDS (30), BENCH_RUNS (3),
# BENCH_CONNECTIONS (4), BENCH_THREADS (2, wrk -t; must divide 50), BENCH_BATCH (100),
# BENCH_DIR (var/bench; the 100,000-incident database is shared with bench/run.sh), and the
# alert stream's BENCH_DEVICES, BENCH_USERS, BENCH_START, BENCH_STEP, BENCH_JITTER (see
# bench/ingest.lua).
# Needs wrk, curl and the sqlite3 shell (pools and counts are read from the database file).
set -eu
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
work=${BENCH_DIR:-var/bench}
n=${BENCH_INCIDENTS:-100000}
dur=${BENCH_SECONDS:-30}
runs=${BENCH_RUNS:-3}
conns=${BENCH_CONNECTIONS:-4}
threads=${BENCH_THREADS:-2}
batch=${BENCH_BATCH:-100}
port=18482
for tool in wrk curl sqlite3; do
    command -v "$tool" >/dev/null || {
        echo "bench: $tool is missing (apt-get install $tool)" >&2
        exit 69
    }
done
if [ $((50 % threads)) -ne 0 ]; then
    echo "bench: BENCH_THREADS must divide 50 (re-sent alerts must come from the same thread)" >&2
    exit 64
fi
mkdir -p "$work"
work=$(realpath "$work")
base="$work/bench-$n.db"
prep="$work/ingest-$n.db"
run="$work/ingest-run.db"

if [ ! -s "$base" ]; then
    echo "generating $n demo incidents into $base" >&2
    "$bin" demo --db "$base" --incidents "$n" --seed 1 >&2
fi
# Once per base database and binary: a copy on which the server has migrated the schema and
# indexed the correlation keys of every stored alert (done when the store is first opened), with
# the benchmark's application, and the device and user pools of the demo data. Runs copy it, so
# none of that is measured and every run starts from the same state. A newer binary may bring a
# newer schema, hence the rebuild.
# shellcheck disable=SC3013 # -nt: dash and bash have it
if [ ! -s "$prep" ] || [ "$base" -nt "$prep" ] || [ "$bin" -nt "$prep" ]; then
    echo "preparing $prep (migration, key indexing, application, pools)" >&2
    rm -f "$prep" "$prep"-* "$prep".*
    cp "$base" "$prep.tmp"
    start=$(date +%s)
    # Throughput, not throttling, is measured: the application has no quota on any method.
    "$bin" app create --db "$prep.tmp" --name bench-ingest --role Alert.ReadWrite.All \
        --role Incident.ReadWrite.All --quota list=0,get=0,update=0,ingest=0,alert=0 |
        sed 's/.*"client_id":"\([^"]*\)".*/\1/' > "$prep.client-id"
    echo "  store opened, migrated and indexed in $(($(date +%s) - start)) s" >&2
    [ -f "$prep.tmp.key" ] && mv "$prep.tmp.key" "$prep.key"
    # Devices and users as the demo data has them (all of them occur in the last 5,000 incidents).
    sqlite3 -separator "$(printf '\t')" "$prep.tmp" "
        SELECT json_extract(d.value, '\$.mdatpDeviceId'),
               coalesce(json_extract(d.value, '\$.aadDeviceId'), ''),
               json_extract(d.value, '\$.deviceDnsName'), json_extract(d.value, '\$.osPlatform'),
               coalesce(json_extract(d.value, '\$.version'), ''),
               coalesce(json_extract(d.value, '\$.osBuild'), ''),
               coalesce(json_extract(d.value, '\$.rbacGroupName'), 'Default'),
               json_extract(d.value, '\$.firstSeen')
        FROM incidents i, json_each(json_extract('{' || i.doc, '\$.alerts')) a,
             json_each(json_extract(a.value, '\$.devices')) d
        WHERE i.incident_id > $n - 5000 GROUP BY 1 ORDER BY 1" > "$prep.devices"
    sqlite3 -separator "$(printf '\t')" "$prep.tmp" "
        SELECT json_extract(e.value, '\$.accountName'),
               coalesce(json_extract(e.value, '\$.domainName'), 'CONTOSO'),
               min(json_extract(e.value, '\$.userSid')), json_extract(e.value, '\$.aadUserId'),
               json_extract(e.value, '\$.userPrincipalName')
        FROM incidents i, json_each(json_extract('{' || i.doc, '\$.alerts')) a,
             json_each(json_extract(a.value, '\$.entities')) e
        WHERE i.incident_id > $n - 5000 AND json_extract(e.value, '\$.entityType') = 'User'
          AND json_extract(e.value, '\$.aadUserId') IS NOT NULL
        GROUP BY 4 ORDER BY 4" > "$prep.users"
    sqlite3 "$prep.tmp" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    rm -f "$prep.tmp-wal" "$prep.tmp-shm"
    mv "$prep.tmp" "$prep"
fi
client_id=$(cat "$prep.client-id")
echo "pools: $(wc -l < "$prep.devices") demo devices, $(wc -l < "$prep.users") demo users" >&2

# "incidents open redirected alerts max_alerts_per_incident ingested_in_stored" of a stopped
# server's database; the last is the ingested alerts (they have a content hash) that are now in
# one of the incidents the database held before (ids 1..n).
counts() {
    sqlite3 -separator ' ' "$1" "
        SELECT count(*), sum(status IN (0, 1)), sum(status = 3),
               (SELECT count(*) FROM alerts),
               (SELECT max(c) FROM (SELECT count(*) c FROM alerts GROUP BY tenant_id, incident_id)),
               (SELECT count(*) FROM alerts WHERE content_hash IS NOT NULL AND incident_id <= $n)
        FROM incidents"
}
cpu_ticks() { # utime + stime of a process, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
child_cpu() { # user + system seconds of the shell's finished children, from `times` output
    tail -n 1 "$1" | awk '{
        split($1, u, "m"); split($2, s, "m"); sub("s", "", u[2]); sub("s", "", s[2])
        print u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}
hz=$(getconf CLK_TCK)

spid=""
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; true' EXIT
printf '%s%s\n' "| run | alerts/s | batches/s | p50 | p99 | max | created / updated / unchanged |" \
    " new incidents | merged away | server CPU per alert | wrk CPU | RSS (peak) | load before |"
echo "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
failed=0
r=1
while [ "$r" -le "$runs" ]; do
    rm -f "$run" "$run"-* "$run".*
    cp "$prep" "$run"
    [ -f "$prep.key" ] && cp "$prep.key" "$run.key"
    # shellcheck disable=SC2046 # split into fields on purpose
    set -- $(counts "$run")
    inc0=$1 open0=$2 redir0=$3 alerts0=$4
    token=$("$bin" token --db "$run" --client-id "$client_id")
    INCIDENTD_ACCESS_LOG=false "$bin" serve --db "$run" --listen "127.0.0.1:$port" \
        >"$work/ingest-serve.out" 2>"$work/ingest-serve.log" &
    spid=$!
    for _ in $(seq 300); do grep -q listening "$work/ingest-serve.out" 2>/dev/null && break; sleep 0.1; done
    # Fail early, with the server's answer, when ingestion is refused (e.g. a quota or role).
    probe=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d '{"value":[]}' "http://127.0.0.1:$port/api/alerts")
    load=$(cut -d' ' -f1 /proc/loadavg)
    c0=$(cpu_ticks "$spid")
    io0=$(awk '$1=="rchar:" {r=$2} $1=="wchar:" {w=$2} END {print r, w}' "/proc/$spid/io")
    times > "$work/ingest-times.0" # in this shell: a subshell would only see its own children
    out=$(BENCH_TOKEN="$token" BENCH_THREADS="$threads" BENCH_BATCH="$batch" \
        BENCH_POOL_DEVICES="$prep.devices" BENCH_POOL_USERS="$prep.users" \
        wrk -t"$threads" -c"$conns" -d"${dur}s" --timeout 10s --latency -s "$here/ingest.lua" \
        "http://127.0.0.1:$port/api/alerts")
    times > "$work/ingest-times.1"
    c1=$(cpu_ticks "$spid")
    io1=$(awk '$1=="rchar:" {r=$2} $1=="wchar:" {w=$2} END {print r, w}' "/proc/$spid/io")
    rss=$(awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$spid/status")
    hwm=$(awk '/VmHWM/ {printf "%.1f MB", $2 / 1024}' "/proc/$spid/status")
    kill "$spid"
    wait "$spid" || true
    spid=""
    [ -n "${BENCH_VERBOSE:-}" ] && echo "$out" >&2
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    max=$(echo "$out" | awk '$1=="Latency" {print $4}')
    errs=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    sockerr=$(echo "$out" | awk '/Socket errors/ {print}')
    # shellcheck disable=SC2046
    set -- $(echo "$out" | awk '$1=="ingest:" {print $3, $5, $7, $9}')
    created=${1:-0} updated=${2:-0} unchanged=${3:-0} badb=${4:-0}
    done_alerts=$((created + updated + unchanged))
    # shellcheck disable=SC2046 # split into fields on purpose
    set -- $(counts "$run")
    inc1=$1 redir1=$3 alerts1=$4 maxa=$5 instored=$6
    aps=$(awk -v r="$rps" -v b="$batch" 'BEGIN {printf "%.0f", r * b}')
    cpu=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v a="$done_alerts" \
        'BEGIN {if (a) printf "%.0f µs", d / hz / a * 1e6; else print "-"}')
    w0=$(child_cpu "$work/ingest-times.0")
    w1=$(child_cpu "$work/ingest-times.1")
    wcpu=$(awk -v a="$w0" -v b="$w1" -v d="$dur" 'BEGIN {printf "%.0f%% of a core", (b - a) / d * 100}')
    printf '| %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s | %s | %s | %s (%s) | %s |\n' \
        "$r" "$aps" "$rps" "$p50" "$p99" "$max" "$created" "$updated" "$unchanged" \
        "$((inc1 - inc0))" "$((redir1 - redir0))" "$cpu" "$wcpu" "$rss" "$hwm" "$load"
    iop=$(echo "$io0 $io1" | awk -v a="$done_alerts" '{
        if (a) printf "%.1f KB read, %.1f KB written", ($3 - $1) / a / 1024, ($4 - $2) / a / 1024 }')
    echo "  run $r: per alert the server made syscalls for $iop (page reads and WAL writes)" >&2
    # Where the single writer's time went (the server logs it when it stops).
    grep -o 'write lock: .*' "$work/ingest-serve.log" | sed "s/^/  run $r: /" >&2 || true
    echo "  run $r: database before: $inc0 incidents ($open0 open, $redir0 redirected)," \
        "$alerts0 alerts; after: $inc1 incidents ($redir1 redirected), $alerts1 alerts, at most" \
        "$maxa alerts in one incident; $instored ingested alerts are in incidents that existed" \
        "before the run" >&2
    if [ "$probe" != 200 ] || [ "$badb" != 0 ] || { [ -n "$errs" ] && [ "$errs" != 0 ]; } ||
        [ -n "$sockerr" ] || [ "$done_alerts" -eq 0 ]; then
        echo "bench: run $r: probe answered $probe, ${errs:-0} non-2xx, $badb failed batches," \
            "${sockerr:-no socket errors}; results are void" >&2
        tail -n 5 "$work/ingest-serve.log" >&2
        failed=1
    fi
    r=$((r + 1))
done
rm -f "$run" "$run"-* "$run".* "$work/ingest-times".*
exit $failed
