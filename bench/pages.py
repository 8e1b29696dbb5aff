#!/usr/bin/env python3
"""Which B-trees an ingested alert writes (docs/benchmarks.md, "Where the ceiling is").

Usage, from the repository root, after bench/ingest.sh has prepared its database:
    python3 bench/pages.py BIN [BATCHES]

Captures BATCHES (default 10) request bodies of bench/ingest.lua, 100 alerts each, by running
wrk against a capture server on 127.0.0.1. These are the first alerts of the stream (no re-sends
yet), not the mix of a 30 s run. It ingests them with `BIN ingest` into a copy of the prepared
database ($BENCH_DIR/ingest-$BENCH_INCIDENTS.db, default var/bench/ingest-100000.db) and compares
the database file before and after, page by page. It prints the distinct pages changed per alert,
and how many of them each table or index owns (SQLite's dbstat).
A distinct page is written at least twice: to the WAL at each COMMIT that changes it, and then by
a checkpoint into the file.
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

if len(sys.argv) < 2:
    sys.exit(__doc__)
here = os.path.dirname(os.path.abspath(__file__))
binary = os.path.abspath(sys.argv[1])
batches = int(sys.argv[2]) if len(sys.argv) > 2 else 10
work = os.environ.get("BENCH_DIR", "var/bench")
prep = os.path.join(work, "ingest-%s.db" % os.environ.get("BENCH_INCIDENTS", "100000"))
if not os.path.exists(prep):
    sys.exit("pages.py: %s is missing; run bench/ingest.sh first" % prep)
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


def capture():
    server = http.server.HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, BENCH_TOKEN="x", BENCH_THREADS="1", BENCH_BATCH="100",
               BENCH_POOL_DEVICES=prep + ".devices", BENCH_POOL_USERS=prep + ".users")
    seconds = 2
    try:
        while len(bodies) < batches and seconds <= 32:
            subprocess.run(["wrk", "-t1", "-c1", "-d%ds" % seconds, "-s",
                            os.path.join(here, "ingest.lua"),
                            "http://127.0.0.1:%d/api/alerts" % server.server_port],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            seconds *= 2
    finally:
        server.shutdown()
        server.server_close()
    if len(bodies) < batches:
        sys.exit("pages.py: captured %d of %d batches" % (len(bodies), batches))


def changed_pages(before, after, page_size):
    changed = []
    with open(before, "rb") as a, open(after, "rb") as b:
        page = 0
        while True:
            x, y = a.read(page_size), b.read(page_size)
            page += 1
            if not y:
                return changed
            if x != y:
                changed.append(page)


capture()
tmp = tempfile.mkdtemp(prefix="pages.", dir=work)
try:
    files = []
    for i, body in enumerate(bodies):
        files.append(os.path.join(tmp, "batch%03d.json" % i))
        with open(files[-1], "wb") as f:
            f.write(body)
    before, after = os.path.join(tmp, "before.db"), os.path.join(tmp, "after.db")
    shutil.copy(prep, before)
    shutil.copy(prep, after)
    db = sqlite3.connect(before)
    tenant = db.execute(
        "SELECT tenant_id FROM applications WHERE name = 'bench-ingest'").fetchone()[0]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    run = subprocess.run([binary, "ingest", "--db", after, "--tenant", tenant] + files,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        sys.exit("pages.py: ingest failed (%d):\n%s" % (run.returncode, run.stderr))
    db = sqlite3.connect(after)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # whatever the WAL still holds goes in the file
    owner = dict((p, n) for n, p in db.execute("SELECT name, pageno FROM dbstat"))
    db.close()
    changed = changed_pages(before, after, page_size)
    alerts = 100 * len(files)
    count = collections.Counter(owner.get(p, "(free list)") for p in changed)
    print("%d alerts: %d distinct pages changed, %.2f per alert" % (alerts, len(changed),
                                                                   len(changed) / alerts))
    print("pages per alert, by owner:")
    for name, n in count.most_common():
        print("%8.2f  %s" % (n / alerts, name))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
