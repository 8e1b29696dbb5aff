#!/bin/sh
# Late alerts into large incidents (docs/benchmarks.md, "Checkpoints fixed and moved off the
# writer"): `incidentd ingest` of ALERTS alerts (default 20,000) on DEVICES devices (20), one
# every 2 s of simulated time minus up to 10 minutes of detection delay, so most alerts sort
# before the last one stored in their incident and incidents grow to ALERTS / DEVICES alerts.
# Prints the wall time of the ingestion into a fresh database.
#   bench/late-alerts.sh build/release/incidentd
set -eu
bin=$(realpath "$1")
work=${BENCH_DIR:-var/bench}/late
n=${ALERTS:-20000}
devices=${DEVICES:-20}
mkdir -p "$work"
file="$work/late-$n-$devices.ndjson"
if [ ! -s "$file" ]; then
    awk -v n="$n" -v d="$devices" 'BEGIN {
        srand(7)
        pad = sprintf("%800s", ""); gsub(/ /, "x", pad)
        for (i = 0; i < n; i++) {
            # seconds since 2026-01-01T00:00:00Z, from 01:00 on (up to a month of alerts)
            t = 3600 + i * 2 - int(rand() * 601)
            s = t % 86400
            ct = sprintf("2026-01-%02dT%02d:%02d:%02dZ", 1 + int(t / 86400), int(s / 3600),
                         int(s % 3600 / 60), s % 60)
            printf "{\"alertId\":\"late-%06d\",\"title\":\"Suspicious process %d\",", i, i % 7
            printf "\"severity\":\"Medium\",\"category\":\"Execution\","
            printf "\"serviceSource\":\"MicrosoftDefenderForEndpoint\",\"creationTime\":\"%s\",", ct
            printf "\"description\":\"%s\",\"devices\":[{\"mdatpDeviceId\":\"dev%04d\",", pad, i % d
            printf "\"deviceDnsName\":\"host%d.contoso.com\"}],", i % d
            printf "\"entities\":[{\"entityType\":\"File\",\"sha256\":\"%064d\"}]}\n", i
        }
    }' > "$file.tmp"
    mv "$file.tmp" "$file"
fi
db="$work/late.db"
rm -f "$db" "$db"-* "$db".*
start=$(date +%s.%N)
"$bin" ingest --db "$db" --tenant 11111111-1111-1111-1111-111111111111 "$file"
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" 'BEGIN { printf "ingested in %.2f s\n", b - a }'
rm -f "$db" "$db"-* "$db".*
