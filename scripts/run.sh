#!/bin/sh
# `make run`: create the database with demo data on first run, print a working curl example,
# then serve in the foreground until Ctrl-C.
#   scripts/run.sh BINARY DB HOST:PORT
set -eu
bin=$1 db=$2 addr=$3
if [ ! -s "$db" ]; then
    mkdir -p "$(dirname "$db")"
    "$bin" demo --db "$db" --incidents "${DEMO_INCIDENTS:-500}" --seed "${DEMO_SEED:-1}"
fi
cat <<MSG

incidentd is starting on http://$addr with the database $db.
Try, from another terminal:

  curl -s 'http://$addr/api/incidents?\$top=2' | python3 -m json.tool
  curl -s 'http://$addr/api/incidents?\$filter=status+eq+%27Active%27+and+severity+eq+%27High%27&\$top=5'
  curl -s http://$addr/api/incidents/1
  curl -s -X PATCH -H 'Content-Type: application/json' \\
       -d '{"status":"InProgress","assignedTo":"me@contoso.com","comment":"looking"}' \\
       http://$addr/api/incidents/1

Stop with Ctrl-C.
MSG
exec "$bin" serve --db "$db" --listen "$addr"
