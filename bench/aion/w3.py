"""aion on W3 (a workflow calling 3 activities in sequence, each returning its input + 1).

- ``--measure sequential``: N runs one after another, each from start to result (median, p99).
- ``--measure concurrent``: N started at once; N / (first start to last result).

One embedded engine runs workflows and activities, with full durability:
SQLite ``synchronous=full`` (every commit fsynced) or PostgreSQL (a fresh
database). W3 takes 4 store commits per run (DESIGN: a step is one batch)::

    python -m bench.aion.w3 --measure sequential --backend sqlite [--n 300] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from aion_core import Engine, activity, load_plugins, workflow
from bench.measurement import Measurement, emit, summary_ms
from bench.servers import fresh_postgres_database, sqlite_file

COMMITS_PER_W3 = 4
"""Store commits one W3 run needs: the start, then one per activity result (the last closes)."""

WARM_UP_RUNS = 10


@activity.defn(name="bench.add_one")
async def add_one(x: int) -> int:
    """W3's activity: its input + 1."""
    return x + 1


@workflow.defn(name="bench.W3")
async def w3(x: int) -> int:
    """Three activities in sequence."""
    for _ in range(3):
        x = await workflow.execute_activity(add_one, x)
    return x


@contextlib.asynccontextmanager
async def store_url(backend: str) -> AsyncIterator[str]:
    """A fresh store of `backend` (``sqlite`` or ``postgresql``), gone afterwards."""
    if backend == "sqlite":
        with sqlite_file() as url:
            yield url
    else:
        async with fresh_postgres_database() as url:
            yield url


def bench_engine(url: str) -> Engine:
    """An engine running W3 and its activity, with only the store plugins loaded."""
    plugins = load_plugins({"AION_PLUGINS": "sqlite,postgresql,nats"})
    return Engine(
        url,
        workflows=[w3],
        activities=[add_one],
        plugins=plugins,
        max_cached_workflows=10_000,
        max_concurrent_activities=1_000,
    )


async def sequential(backend: str, n: int) -> Measurement:
    """N W3 runs one after another; each run's latency from start to result."""
    async with store_url(backend) as url, bench_engine(url) as engine:
        for i in range(WARM_UP_RUNS):
            await engine.execute_workflow(w3, 0, id=f"warm-{i}")
        latencies = []
        for i in range(n):
            started = time.perf_counter()
            assert await engine.execute_workflow(w3, 0, id=f"seq-{i}") == 3
            latencies.append(time.perf_counter() - started)
    summary = summary_ms(latencies)
    return Measurement(
        "w3_sequential", "aion", backend, summary["median_ms"], "ms", "lower",
        {**summary, "commits_per_run": COMMITS_PER_W3},
    )  # fmt: skip


async def concurrent(backend: str, n: int) -> Measurement:
    """N W3 started at once; throughput from the first start to the last result."""
    async with store_url(backend) as url, bench_engine(url) as engine:
        await asyncio.gather(
            *(engine.execute_workflow(w3, 0, id=f"warm-{i}") for i in range(WARM_UP_RUNS))
        )
        started = time.perf_counter()
        results = await asyncio.gather(
            *(engine.execute_workflow(w3, 0, id=f"run-{i}") for i in range(n))
        )
        seconds = time.perf_counter() - started
        commits = engine.committer.commits
    assert results == [3] * n
    return Measurement(
        "w3_concurrent", "aion", backend, n / seconds, "wf/s", "higher",
        {"n": n, "seconds": seconds, "store_commits_incl_warm_up": commits},
    )  # fmt: skip


def main() -> None:
    """Parse the command line, run one measure, report it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=["sequential", "concurrent"], required=True)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--n", type=int, help="runs (default 300 sequential, 2000 concurrent)")
    parser.add_argument("--smoke", action="store_true", help="tiny N: check the code runs")
    args = parser.parse_args()
    if args.measure == "sequential":
        n = args.n or (5 if args.smoke else 300)
        emit(asyncio.run(sequential(args.backend, n)))
    else:
        n = args.n or (20 if args.smoke else 2000)
        emit(asyncio.run(concurrent(args.backend, n)))


if __name__ == "__main__":
    main()
