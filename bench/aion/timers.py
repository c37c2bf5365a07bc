"""aion's timer precision: how late a durable 1 s sleep wakes its workflow.

Workflows sleeping 1 s are started one every 100 ms (so their timers fall due
one by one, as in normal traffic, not all in the same instant). The overshoot
of each is read from its history: ``TimerFired.recorded_at`` minus the
``fire_at`` its ``TimerStarted`` recorded, i.e. how late the engine recorded
the wake-up. The end-to-end figure (start called to result, minus 1 s) is in
the details (it includes the start's and the close's commits)::

    python -m bench.aion.timers [--n 20] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import timedelta

from aion_core import Engine, load_plugins, workflow
from aion_core.events import TimerFired, TimerStarted
from bench.measurement import Measurement, emit, summary_ms
from bench.servers import sqlite_file

SPACING_SECONDS = 0.1


@workflow.defn(name="bench.Sleeper")
async def sleeper(seconds: float) -> str:
    """One durable sleep."""
    await workflow.sleep(timedelta(seconds=seconds))
    return "awake"


async def overshoots(n: int, seconds: float) -> Measurement:
    """Start `n` sleepers 100 ms apart on a SQLite file; read each timer's lateness."""
    plugins = load_plugins({"AION_PLUGINS": "sqlite"})
    with sqlite_file() as url:
        async with Engine(url, workflows=[sleeper], plugins=plugins) as engine:

            async def one(i: int) -> float:
                await asyncio.sleep(i * SPACING_SECONDS)
                started = time.perf_counter()
                handle = await engine.start_workflow(sleeper, seconds, id=f"sleep-{i}")
                await handle.result()
                return time.perf_counter() - started - seconds

            end_to_end = await asyncio.gather(*(one(i) for i in range(n)))
            late = []
            for i in range(n):
                history = await engine.history(f"sleep-{i}")
                [due] = [e.body.fire_at for e in history if isinstance(e.body, TimerStarted)]
                [fired] = [e.recorded_at for e in history if isinstance(e.body, TimerFired)]
                late.append((fired - due).total_seconds())
    summary = summary_ms(late)
    return Measurement(
        "timer_overshoot", "aion", "sqlite", summary["median_ms"], "ms", "lower",
        {**summary, "sleep_s": seconds, "end_to_end_median_ms":
         statistics.median(end_to_end) * 1000},
    )  # fmt: skip


def main() -> None:
    """Parse the command line, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="sleeping workflows (default 20)")
    parser.add_argument("--smoke", action="store_true", help="3 sleeps of 0.2 s")
    args = parser.parse_args()
    n = args.n or (3 if args.smoke else 20)
    emit(asyncio.run(overshoots(n, 0.2 if args.smoke else 1.0)))


if __name__ == "__main__":
    main()
