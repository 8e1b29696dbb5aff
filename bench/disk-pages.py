#!/usr/bin/env python3
# How many random 4 KiB page writes a second this machine's disk takes when they are synced, the
# way a SQLite checkpoint writes pages into the database file (docs/benchmarks.md, "Where the
# ceiling is"). Usage: python3 bench/disk-pages.py [DIR] (default var/); writes and removes an
# 800 MB file there. Prints, for 2,000, 10,000 and 40,000 random pages, the time of the
# pwrite calls, of the fdatasync after them, and the synced pages per second. Pages are written in
# ascending order, as a checkpoint writes them. On tmpfs fdatasync does nothing: run it on the
# disk that holds the database.
import os
import random
import sys
import time

directory = sys.argv[1] if len(sys.argv) > 1 else "var"
os.makedirs(directory, exist_ok=True)
path = os.path.join(directory, "disk-pages.tmp")
size = 800 * 1024 * 1024
page = 4096
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
try:
    chunk = b"\1" * (1 << 20)  # allocate every block first, as a database file has them
    for off in range(0, size, len(chunk)):
        os.pwrite(fd, chunk, off)
    os.fsync(fd)
    data = os.urandom(page)
    for n in (2000, 10000, 40000):
        pages = sorted(random.sample(range(size // page), n))
        t0 = time.monotonic()
        for p in pages:
            os.pwrite(fd, data, p * page)
        t1 = time.monotonic()
        os.fdatasync(fd)
        t2 = time.monotonic()
        print("%6d random pages: pwrite %6.1f ms (%.1f us each), fdatasync %6.1f ms, %6.0f synced pages/s"
              % (n, (t1 - t0) * 1e3, (t1 - t0) / n * 1e6, (t2 - t1) * 1e3, n / (t2 - t0)))
finally:
    os.close(fd)
    os.unlink(path)
