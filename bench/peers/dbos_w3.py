"""W3 on DBOS Transact: a workflow calling three steps in sequence, each returning its input + 1.

DBOS checkpoints every step's output in its system database before the workflow goes
on (its default, full durability): one W3 run is eight transactions, the workflow's
status and input, then per step a check for a recorded output and the write of the new
one, then the status and output. Two measures, each in a process of its own:

* ``sequential``: N runs one after another; the latency of each, from the call to the
  result, is reported as the median (and p99, mean, min, max) in ms.
* ``concurrent``: N runs started at once; throughput is N over the time from the first
  start to the last result, in workflows/s.

The system database is SQLite (a file in a fresh temporary folder) or PostgreSQL (a
fresh database on the server of ``--postgres-url``, dropped at the end). A few warm-up
runs precede every measure and are not counted. Results go to stdout as ``AION-BENCH``
lines (see `bench.measurement`); DBOS logs warnings and errors only, to stderr.

Run from the repository root::

    .venv/bin/python -m bench.peers.dbos_w3 --measure sequential --backend sqlite --n 300
    .venv/bin/python -m bench.peers.dbos_w3 --measure concurrent --backend postgresql --n 2000
    .venv/bin/python -m bench.peers.dbos_w3 --smoke --backend sqlite

``--smoke`` runs both measures with a tiny N (CI keeps the code from rotting).
``--mode`` picks how the runs are driven (see `SEQUENTIAL_MODES` and `CONCURRENT_MODES`);
the defaults are the fastest modes found on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version

import psycopg
from dbos import DBOS, DBOSConfig, Queue
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.measurement import Measurement, emit, summary_ms
from bench.servers import postgres_server_url, sqlite_file

SYSTEM = "dbos"
STEPS = 3
DEFAULT_POSTGRES_URL = postgres_server_url()  # the server aion's workloads use too
QUEUE_NAME = "aion_bench_w3"
QUEUE_POLLING_SECONDS = 0.01
"""How often the queue worker looks for enqueued runs (DBOS's default is 1 s)."""
RESULT_POLLING_SECONDS = 0.01
"""How often a queue handle polls for its result (DBOS's default is 1 s)."""
WARMUP_RUNS = 5
SMOKE_SEQUENTIAL_N = 5
SMOKE_CONCURRENT_N = 20

SEQUENTIAL_MODES = {
    "sync": "sync: direct call of a sync workflow in the main thread",
    "async": "async: await of an async workflow on one event loop",
}
CONCURRENT_MODES = {
    "async": "async: async workflows, DBOS.start_workflow_async + asyncio.gather on one loop",
    "threads": (
        "threads: sync workflows, DBOS.start_workflow on DBOS's thread pool, then get_result;"
        " the fastest of async/threads/queue on PostgreSQL, on par with them on SQLite"
    ),
    "queue": "queue: sync workflows enqueued on a DBOS queue without concurrency limit",
}
DEFAULT_SEQUENTIAL_MODE = "sync"
"""Direct sync calls had a lower median than awaited async workflows on both backends."""
DEFAULT_CONCURRENT_MODE = "threads"


@DBOS.step()
def add_one(value: int) -> int:
    """One W3 activity: the input + 1."""
    return value + 1


@DBOS.workflow()
def w3(value: int) -> int:
    """W3 as a sync workflow: three steps in sequence, returning 3 for 0."""
    for _ in range(STEPS):
        value = add_one(value)
    return value


@DBOS.step()
async def add_one_async(value: int) -> int:
    """One W3 activity, async: the input + 1."""
    return value + 1


@DBOS.workflow()
async def w3_async(value: int) -> int:
    """W3 as an async workflow: three awaited steps in sequence, returning 3 for 0."""
    for _ in range(STEPS):
        value = await add_one_async(value)
    return value


def check(result: int) -> None:
    """Fail loudly when a run did not compute W3(0)."""
    if result != STEPS:
        raise RuntimeError(f"W3(0) returned {result!r}, expected {STEPS}")


# --- the system database ---------------------------------------------------------------


def psycopg_url(url: str) -> str:
    """`url` as libpq understands it (without a SQLAlchemy ``+driver`` suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of `admin_url`, dropped on exit.

    Args:
        admin_url: A URL of the server, connecting to a database that may create others.

    Yields:
        The URL of the fresh database, for DBOS's ``system_database_url``.
    """
    name = f"aion_bench_dbos_{secrets.token_hex(4)}"
    with psycopg.connect(psycopg_url(admin_url), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(psycopg_url(admin_url), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def system_database(backend: str, postgres_url: str) -> contextlib.AbstractContextManager[str]:
    """The fresh system database of `backend`, as a context manager yielding its URL."""
    if backend == "sqlite":
        return sqlite_file("dbos.sqlite", options="")  # DBOS's own journal settings
    return postgres_database(postgres_url)


@contextlib.contextmanager
def launched_dbos(database_url: str) -> Iterator[None]:
    """DBOS launched on `database_url`, destroyed on exit."""
    config: DBOSConfig = {
        "name": "aion-bench-w3",
        "system_database_url": database_url,
        "log_level": "WARNING",
    }
    try:
        DBOS(config=config)
        DBOS.launch()
        yield
    finally:
        DBOS.destroy()


# --- sequential ------------------------------------------------------------------------


def sequential_sync(n: int) -> list[float]:
    """Run W3 `n` times one after another as direct sync calls; seconds of each."""
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        result = w3(0)
        latencies.append(time.perf_counter() - started)
        check(result)
    return latencies


async def sequential_async(n: int) -> list[float]:
    """Run W3 `n` times one after another as awaited async workflows; seconds of each."""
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        result = await w3_async(0)
        latencies.append(time.perf_counter() - started)
        check(result)
    return latencies


def run_sequential(mode: str, n: int) -> list[float]:
    """Seconds of each of `n` sequential runs in `mode`, after the warm-up."""
    if mode == "sync":
        sequential_sync(WARMUP_RUNS)
        return sequential_sync(n)

    async def warm_then_measure() -> list[float]:
        await sequential_async(WARMUP_RUNS)
        return await sequential_async(n)

    return asyncio.run(warm_then_measure())


# --- concurrent ------------------------------------------------------------------------


async def concurrent_async(n: int) -> float:
    """Start `n` async W3 at once and await them all; seconds from first start to last result."""

    async def one() -> int:
        handle = await DBOS.start_workflow_async(w3_async, 0)
        return await handle.get_result()

    started = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(n)))
    elapsed = time.perf_counter() - started
    for result in results:
        check(result)
    return elapsed


def concurrent_threads(n: int) -> float:
    """Start `n` sync W3 on DBOS's thread pool, then wait for each; seconds for all."""
    started = time.perf_counter()
    handles = [DBOS.start_workflow(w3, 0) for _ in range(n)]
    results = [handle.get_result() for handle in handles]
    elapsed = time.perf_counter() - started
    for result in results:
        check(result)
    return elapsed


def concurrent_queue(queue: Queue, n: int) -> float:
    """Enqueue `n` sync W3 on `queue`, then poll each for its result; seconds for all."""
    started = time.perf_counter()
    handles = [queue.enqueue(w3, 0) for _ in range(n)]
    results = [handle.get_result(polling_interval_sec=RESULT_POLLING_SECONDS) for handle in handles]
    elapsed = time.perf_counter() - started
    for result in results:
        check(result)
    return elapsed


def run_concurrent(mode: str, n: int) -> float:
    """Seconds for `n` concurrent runs in `mode`, after a warm-up of the same mode."""
    if mode == "async":

        async def warm_then_measure() -> float:
            await concurrent_async(WARMUP_RUNS)
            return await concurrent_async(n)

        return asyncio.run(warm_then_measure())
    if mode == "threads":
        concurrent_threads(WARMUP_RUNS)
        return concurrent_threads(n)
    queue = DBOS.register_queue(QUEUE_NAME, polling_interval_sec=QUEUE_POLLING_SECONDS)
    concurrent_queue(queue, WARMUP_RUNS)
    return concurrent_queue(queue, n)


# --- the command line ------------------------------------------------------------------


def measure_sequential(backend: str, postgres_url: str, mode: str, n: int) -> Measurement:
    """W3 sequential latency on a fresh system database of `backend`."""
    with system_database(backend, postgres_url) as url, launched_dbos(url):
        latencies = run_sequential(mode, n)
    details = summary_ms(latencies)
    return Measurement(
        measure="w3_sequential",
        system=SYSTEM,
        backend=backend,
        value=details["median_ms"],
        unit="ms",
        better="lower",
        details={**details, "dbos_version": version("dbos"), "mode": SEQUENTIAL_MODES[mode]},
    )


def measure_concurrent(backend: str, postgres_url: str, mode: str, n: int) -> Measurement:
    """W3 concurrent throughput on a fresh system database of `backend`."""
    with system_database(backend, postgres_url) as url, launched_dbos(url):
        seconds = run_concurrent(mode, n)
    return Measurement(
        measure="w3_concurrent",
        system=SYSTEM,
        backend=backend,
        value=n / seconds,
        unit="wf/s",
        better="higher",
        details={
            "n": n,
            "seconds": seconds,
            "mode": CONCURRENT_MODES[mode],
            "dbos_version": version("dbos"),
        },
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: which measure, on which backend, how many runs."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers.dbos_w3", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--measure", choices=["sequential", "concurrent"])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--n", type=int, help="runs (default: 300 sequential, 2000 concurrent)")
    parser.add_argument(
        "--mode",
        help=f"sequential: {sorted(SEQUENTIAL_MODES)}, concurrent: {sorted(CONCURRENT_MODES)}",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="admin URL")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny N (both measures without --measure)"
    )
    args = parser.parse_args(argv)
    if not args.smoke and args.measure is None:
        parser.error("--measure is required unless --smoke is given")
    modes = SEQUENTIAL_MODES if args.measure == "sequential" else CONCURRENT_MODES
    if args.mode is not None and (args.smoke or args.mode not in modes):
        parser.error(f"--mode must be one of {sorted(modes)} (and not with --smoke)")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the measures asked for and emit one AION-BENCH line per measure."""
    args = parse_args(argv)
    if args.smoke:
        smoke = [("sequential", SMOKE_SEQUENTIAL_N), ("concurrent", SMOKE_CONCURRENT_N)]
        plan = [(m, n) for m, n in smoke if args.measure in (None, m)]
    else:
        plan = [(args.measure, args.n or (300 if args.measure == "sequential" else 2000))]
    for measure, n in plan:
        if measure == "sequential":
            mode = args.mode or DEFAULT_SEQUENTIAL_MODE
            emit(measure_sequential(args.backend, args.postgres_url, mode, n))
        else:
            mode = args.mode or DEFAULT_CONCURRENT_MODE
            emit(measure_concurrent(args.backend, args.postgres_url, mode, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
