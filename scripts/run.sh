#!/bin/sh
# `make run`: on first run create the database with demo data and a demo application; every
# run prints a fresh token and curl examples that work as printed, then serves in the
# foreground until Ctrl-C.
#   scripts/run.sh BINARY DB HOST:PORT
set -eu
bin=$1 db=$2 addr=$3
tenant=00000000-0000-0000-0000-000000000000
idfile="$db.demo-client-id"
# Before printing examples for $addr, make sure nothing answers there already (another
# incidentd, say): curl exits 7 only when nothing accepts the connection.
rc=0
curl -s -o /dev/null --max-time 2 "http://$addr/" || rc=$?
if [ "$rc" -ne 7 ]; then
    echo "incidentd: run: something already listens on $addr; pick another address with" \
        "make run RUN_ADDR=127.0.0.1:PORT" >&2
    exit 69
fi
first=no
if [ ! -s "$db" ]; then
    first=yes
    mkdir -p "$(dirname "$db")"
    "$bin" demo --db "$db" --incidents "${DEMO_INCIDENTS:-500}" --seed "${DEMO_SEED:-1}"
fi
# A demo application made before alert ingestion existed lacks Alert.ReadWrite.All: make a new
# one (the old one stays registered) so the POST example below works.
if [ -s "$idfile" ] && ! "$bin" app list --db "$db" --tenant "$tenant" | tr -d ' \n' |
    grep -q "\"client_id\":\"$(cat "$idfile")\",[^}]*Alert.ReadWrite.All"; then
    rm -f "$idfile"
fi
if [ ! -s "$idfile" ]; then
    creds=$("$bin" app create --db "$db" --tenant "$tenant" --name "demo client" \
        --role Incident.ReadWrite.All --role Alert.ReadWrite.All)
    client_id=$(printf '%s' "$creds" | sed 's/.*"client_id":"\([^"]*\)".*/\1/')
    secret=$(printf '%s' "$creds" | sed 's/.*"client_secret":"\([^"]*\)".*/\1/')
    printf '%s\n' "$client_id" > "$idfile"
    first=yes
else
    client_id=$(cat "$idfile")
    secret=""
fi
token=$("$bin" token --db "$db" --client-id "$client_id")

echo
echo "incidentd is starting on http://$addr with the database $db."
echo "Demo application (tenant $tenant):"
echo "  client id:     $client_id"
if [ -n "$secret" ]; then
    echo "  client secret: $secret   (shown once; 'incidentd app reset-secret' makes a new one)"
    cat <<MSG

Get a token the way connectors do (client credentials, like Entra ID):

  curl -s -X POST http://$addr/$tenant/oauth2/v2.0/token \\
       -d grant_type=client_credentials -d client_id=$client_id \\
       --data-urlencode client_secret=$secret \\
       --data-urlencode scope=https://api.security.microsoft.com/.default
MSG
else
    echo "  client secret: shown on the first run; 'incidentd app reset-secret --db $db --client-id $client_id' makes a new one"
fi
cat <<MSG

A token valid for one hour, and requests to try from another terminal:

  TOKEN='$token'
  curl -s -H "Authorization: Bearer \$TOKEN" 'http://$addr/api/incidents?\$top=2'
  curl -s -H "Authorization: Bearer \$TOKEN" 'http://$addr/api/incidents?\$filter=status+eq+%27Active%27+and+severity+eq+%27High%27&\$top=5'
  curl -s -H "Authorization: Bearer \$TOKEN" http://$addr/api/incidents/1
  curl -s -X PATCH -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"status":"InProgress","assignedTo":"me@contoso.com","comment":"looking"}' \\
       http://$addr/api/incidents/1

Send an alert; it joins an incident by correlation or starts one (docs/api.md):

  curl -s -X POST -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"alertId":"demo-alert-1","title":"Suspicious PowerShell command line","severity":"High","category":"Execution","devices":[{"mdatpDeviceId":"demo-device-1","deviceDnsName":"pc1.contoso.com"}]}' \\
       http://$addr/api/alerts
  curl -s -H "Authorization: Bearer \$TOKEN" http://$addr/api/alerts/demo-alert-1

Stop with Ctrl-C.
MSG
exec "$bin" serve --db "$db" --listen "$addr"
