#!/usr/bin/env python3
"""Which B-trees an ingested alert writes (docs/benchmarks.md, "Where the ceiling is").

Usage: python3 bench/pages.py BIN [BATCHES]   (after bench/ingest.sh has prepared its database)

Captures BATCHES (default 10) request bodies of bench/ingest.lua by running wrk against a
capture server on 127.0.0.1, ingests them with `BIN ingest` into a copy of the prepared
database (var/bench/ingest-100000.db, or $BENCH_DIR/ingest-$BENCH_INCIDENTS.db), and compares
the database file before and after page by page. Prints the distinct pages changed per alert
and, per table or index (SQLite's dbstat), how many of them it owns. Every page counted here is
written at least twice (to the WAL, then by a checkpoint into the file), usually more often.
"""
import collections
import http.server
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading

here = os.path.dirname(os.path.abspath(__file__))
binary = os.path.abspath(sys.argv[1])
batches = int(sys.argv[2]) if len(sys.argv) > 2 else 10
work = os.environ.get("BENCH_DIR", "var/bench")
prep = os.path.join(work, "ingest-%s.db" % os.environ.get("BENCH_INCIDENTS", "100000"))
if not os.path.exists(prep):
    sys.exit("pages.py: %s is missing; run bench/ingest.sh first" % prep)
tmp = tempfile.mkdtemp(prefix="incidentd-pages.")
bodies = []


class Capture(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if len(bodies) < batches:
            bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "12")
        self.end_headers()
        self.wfile.write(b'{"value":[]}')

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Capture)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(os.environ, BENCH_TOKEN="x", BENCH_THREADS="1", BENCH_BATCH="100",
           BENCH_POOL_DEVICES=prep + ".devices", BENCH_POOL_USERS=prep + ".users")
subprocess.run(["wrk", "-t1", "-c1", "-d2s", "-s", os.path.join(here, "ingest.lua"),
                "http://127.0.0.1:%d/api/alerts" % server.server_port],
               env=env, check=True, stdout=subprocess.DEVNULL)
server.shutdown()
files = []
for i, body in enumerate(bodies):
    files.append(os.path.join(tmp, "batch%03d.json" % i))
    with open(files[-1], "wb") as f:
        f.write(body)
before, after = os.path.join(tmp, "before.db"), os.path.join(tmp, "after.db")
shutil.copy(prep, before)
shutil.copy(prep, after)
tenant = sqlite3.connect(before).execute("SELECT tenant_id FROM applications").fetchone()[0]
run = subprocess.run([binary, "ingest", "--db", after, "--tenant", tenant] + files,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
alerts = 100 * len(files)
changed = []
with open(before, "rb") as a, open(after, "rb") as b:
    page = 0
    while True:
        x, y = a.read(4096), b.read(4096)
        page += 1
        if not y:
            break
        if x != y:
            changed.append(page)
owner = {}
for name, pageno in sqlite3.connect(after).execute("SELECT name, pageno FROM dbstat"):
    owner[pageno] = name
count = collections.Counter(owner.get(p, "(free list)") for p in changed)
print("%d alerts: %d distinct pages changed, %.2f per alert" % (alerts, len(changed),
                                                               len(changed) / alerts))
for name, n in count.most_common():
    print("%8.2f  %s" % (n / alerts, name))
for line in run.stderr.splitlines():
    if "write lock:" in line:
        print(line[line.index("write lock:"):])
shutil.rmtree(tmp)
