"""The physical floor under durable workflows on this machine, measured in the same run.

- ``floor_fsync``: one ``os.fsync`` of a freshly written 4 KiB page.
- ``floor_sqlite_commit``: one SQLite transaction in WAL mode with
  ``synchronous=FULL`` (a row inserted, committed), with the stdlib ``sqlite3``
  and nothing else: what any engine on SQLite pays per durable step.
- ``cpu_python_loop``: a fixed pure-Python loop (`PYTHON_LOOP_CALLS` calls of a
  small function that updates a dict), the best of five: how fast this machine
  runs Python code, so runs on different machines (or one machine on a busy day)
  can be told apart. Every engine measured here spends most of its time in Python.

A W3 run needs `COMMITS_PER_W3` commits, so sequential W3 on SQLite cannot be
faster than that many SQLite commits::

    python -m bench.floor [--seconds 2] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.aion.w3 import COMMITS_PER_W3
from bench.measurement import Measurement, emit

__all__ = ["PYTHON_LOOP_CALLS", "measure_fsync", "measure_python_loop", "measure_sqlite_commit"]

PYTHON_LOOP_CALLS = 1_000_000


def measure_fsync(folder: Path, seconds: float) -> float:
    """Seconds per ``os.fsync`` of a freshly written 4 KiB page, in `folder`."""
    page = os.urandom(4096)
    count = 0
    with tempfile.NamedTemporaryFile(dir=folder) as file:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            file.write(page)
            file.flush()
            os.fsync(file.fileno())
            count += 1
        return (time.perf_counter() - started) / count


def measure_sqlite_commit(folder: Path, seconds: float) -> float:
    """Seconds per committed one-row transaction, SQLite WAL, synchronous=FULL."""
    connection = sqlite3.connect(folder / "floor.db", isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body BLOB)")
        body = os.urandom(200)
        count = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO events (body) VALUES (?)", (body,))
            connection.execute("COMMIT")
            count += 1
        return (time.perf_counter() - started) / count
    finally:
        connection.close()


def measure_python_loop(calls: int = PYTHON_LOOP_CALLS) -> float:
    """Seconds for `calls` calls of a small function updating a dict, the best of five."""

    def count(counts: dict[int, int], key: int) -> None:
        counts[key] = counts.get(key, 0) + 1

    best = float("inf")
    for _ in range(5):
        counts: dict[int, int] = {}
        started = time.perf_counter()
        for i in range(calls):
            count(counts, i & 1023)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    """Measure both, in a temp folder on the disk the benchmarks use, and report them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measure (default 2)")
    parser.add_argument("--smoke", action="store_true", help="0.2 s per measure")
    args = parser.parse_args()
    seconds = 0.2 if args.smoke else args.seconds
    with tempfile.TemporaryDirectory(prefix="aion-bench-") as temp:
        fsync = measure_fsync(Path(temp), seconds)
        commit = measure_sqlite_commit(Path(temp), seconds)
    emit(Measurement("floor_fsync", "machine", "disk", fsync * 1000, "ms", "lower", {}))
    calls = PYTHON_LOOP_CALLS // 10 if args.smoke else PYTHON_LOOP_CALLS
    loop = measure_python_loop(calls)
    emit(
        Measurement(
            "cpu_python_loop", "machine", "cpu", loop * 1000, "ms", "lower", {"calls": calls}
        )
    )
    w3_floor = {"commits_per_w3": COMMITS_PER_W3, "w3_floor_ms": commit * 1000 * COMMITS_PER_W3}
    sqlite_commit = commit * 1000
    emit(
        Measurement(
            "floor_sqlite_commit", "machine", "sqlite", sqlite_commit, "ms", "lower", w3_floor
        )
    )


if __name__ == "__main__":
    main()
