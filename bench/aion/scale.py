"""aion with many open workflows: sleeping at scale, and recovery after a crash.

Each workflow waits for a ``wake`` signal with a durable one-day timeout, so
it holds an armed timer and waits for a signal at the same time.

- ``--measure sleeping`` (N = 100,000): one embedded engine on a SQLite file
  starts N of them (1,000 starts in flight at a time), then signals every one
  and waits until all completed. Reports the start rate, the process's peak
  RSS (engine, store and the caller together: the embedded deployment) and the
  time to wake and complete them all.
- ``--measure recovery`` (N = 10,000): a separate process starts N of them on
  a SQLite file and is killed with SIGKILL; a new engine then opens the file.
  Reports the time from creating the engine until its start returned, which is
  when it has replayed every open workflow and re-armed what they wait for;
  an engine observer counts the replays to prove it.

::

    python -m bench.aion.scale --measure sleeping|recovery [--n N] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

from aion_core import Engine, WorkflowStatus, load_plugins, workflow
from aion_core.observers import EngineObserver
from aion_core.plugins import Plugins
from bench.measurement import Measurement, emit
from bench.servers import sqlite_file

IN_FLIGHT = 1_000
"""Starts (or signals) awaited at once: a caller's connection pool, not 100,000 tasks."""

TIMEOUT = timedelta(days=1)
READY = "ready"


@workflow.defn(name="bench.Sleeper")
class Sleeper:
    """Waits for `wake`, at most a day."""

    def __init__(self) -> None:
        self.woken = False

    @workflow.run
    async def run(self) -> bool:  # noqa: D102
        return await workflow.wait_condition(lambda: self.woken, timeout=TIMEOUT)

    @workflow.signal
    def wake(self) -> None:  # noqa: D102
        self.woken = True


class ReplayCount(EngineObserver):
    """Counts the runs an engine rebuilt from their histories."""

    def __init__(self) -> None:
        self.replays = 0

    def workflow_replayed(self, workflow_type: str, events: int, seconds: float) -> None:
        """Count one."""
        self.replays += 1


class Counting:
    """A plugin handing engines one `ReplayCount`."""

    def __init__(self) -> None:
        self.count = ReplayCount()

    def aion_engine_observers(self) -> Sequence[EngineObserver]:
        """The hook."""
        return [self.count]


def store_plugins() -> Plugins:
    """Only the SQL stores: the workspace's optional plugins stay out."""
    return load_plugins({"AION_PLUGINS": "sqlite"})


async def bounded(n: int, action: Callable[[int], Awaitable[object]]) -> float:
    """Run `action(0..n-1)`, `IN_FLIGHT` at a time; the seconds it took.

    `IN_FLIGHT` callers take the next index when done, as a client's pool would:
    no task per workflow waits in memory for its turn.
    """
    indexes = iter(range(n))

    async def caller() -> None:
        for i in indexes:
            await action(i)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(min(IN_FLIGHT, n))))
    return time.perf_counter() - started


async def start_sleepers(engine: Engine, n: int) -> float:
    """Start `n` sleepers; the seconds it took."""
    return await bounded(n, lambda i: engine.start_workflow(Sleeper.run, id=f"sleeper-{i}"))


async def until_completed(engine: Engine, n: int) -> None:
    """Wait until `n` workflows completed (the store's count, polled)."""
    # Completions happen inside the engine; the store count is what a caller can see.
    while await engine.count_workflows(status=WorkflowStatus.COMPLETED) < n:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def sleeping(n: int) -> Measurement:
    """Start `n` sleepers, then wake and complete them all."""
    with sqlite_file() as url:
        async with Engine(url, workflows=[Sleeper], plugins=store_plugins()) as engine:
            rss_before = peak_rss_mb()
            start_seconds = await start_sleepers(engine, n)
            rss_started = peak_rss_mb()
            woke = time.perf_counter()
            await bounded(n, lambda i: engine.signal(f"sleeper-{i}", Sleeper.wake))
            await until_completed(engine, n)
            wake_seconds = time.perf_counter() - woke
    return Measurement(
        "sleeping_scale", "aion", "sqlite", peak_rss_mb(), "MB", "lower",
        {"n": n, "starts_per_s": n / start_seconds, "start_seconds": start_seconds,
         "peak_rss_mb_after_starts": rss_started, "rss_mb_before_starts": rss_before,
         "wake_and_complete_seconds": wake_seconds,
         "max_cached_workflows": engine.max_cached_workflows},
    )  # fmt: skip


async def populate_and_wait(url: str, n: int) -> None:
    """(In the process to be killed.) Start `n` sleepers, say so, then wait to be killed."""
    async with Engine(url, workflows=[Sleeper], plugins=store_plugins()) as engine:
        await start_sleepers(engine, n)
        print(READY, flush=True)
        await asyncio.Event().wait()


def crash_after_populating(url: str, n: int) -> None:
    """Run `populate_and_wait` in a process of its own, then SIGKILL it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.aion.scale", "--populate", url, "--n", str(n)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != READY:
            raise RuntimeError(f"the populating process ended early ({process.wait()})")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


async def recovery(n: int) -> Measurement:
    """Kill an engine holding `n` open workflows; time a new engine's recovery of them."""
    with sqlite_file() as url:
        crash_after_populating(url, n)
        counting = Counting()
        plugins = store_plugins()
        plugins.register(counting, "replay-count")
        started = time.perf_counter()
        engine = Engine(url, workflows=[Sleeper], plugins=plugins)
        async with engine:
            seconds = time.perf_counter() - started
            replays = counting.count.replays
            # Live indeed: each takes its signal and completes.
            await bounded(n, lambda i: engine.signal(f"sleeper-{i}", Sleeper.wake))
            await until_completed(engine, n)
    if replays < n:
        raise RuntimeError(f"only {replays} of {n} workflows were replayed at start")
    return Measurement(
        "recovery", "aion", "sqlite", seconds, "s", "lower",
        {"n": n, "replayed_at_start": replays, "workflows_per_s": n / seconds},
    )  # fmt: skip


def main() -> None:
    """Parse the command line, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", choices=["sleeping", "recovery"])
    parser.add_argument("--n", type=int, help="workflows (default 100,000 / 10,000)")
    parser.add_argument("--smoke", action="store_true", help="200 workflows")
    parser.add_argument("--populate", metavar="STORE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate:
        asyncio.run(populate_and_wait(args.populate, args.n))
    elif args.measure == "sleeping":
        emit(asyncio.run(sleeping(args.n or (200 if args.smoke else 100_000))))
    elif args.measure == "recovery":
        emit(asyncio.run(recovery(args.n or (200 if args.smoke else 10_000))))
    else:
        parser.error("--measure is required")


if __name__ == "__main__":
    main()
