"""The physical floor under durable workflows on this machine, measured in the same run.

- ``floor_fsync``: one ``os.fsync`` of a freshly written 4 KiB page.
- ``floor_sqlite_commit``: one SQLite transaction in WAL mode with
  ``synchronous=FULL`` (a row inserted, committed), with the stdlib ``sqlite3``
  and nothing else: what any engine on SQLite pays per durable step.

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

__all__ = ["measure_fsync", "measure_sqlite_commit"]


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
    w3_floor = {"commits_per_w3": COMMITS_PER_W3, "w3_floor_ms": commit * 1000 * COMMITS_PER_W3}
    sqlite_commit = commit * 1000
    emit(
        Measurement(
            "floor_sqlite_commit", "machine", "sqlite", sqlite_commit, "ms", "lower", w3_floor
        )
    )


if __name__ == "__main__":
    main()
