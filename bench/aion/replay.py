"""aion replaying a 10,000-event history.

A workflow runs 3,400 activities (in rounds of 100 at once) on a SQLite
file, leaving a history of about 10,200 events. Then:

- the headline: `aion_core.testing.Replayer` replays that history, already in
  memory (the median of several replays);
- in the details: an engine rebuilding the closed workflow from the store to
  answer a query (read the rows, decode, replay), timed by an engine observer.

::

    python -m bench.aion.replay [--activities 3400] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence

from aion_core import Engine, activity, load_plugins, workflow
from aion_core.observers import EngineObserver
from aion_core.testing import Replayer
from bench.measurement import Measurement, emit
from bench.servers import sqlite_file

ROUND = 100
REPLAYS = 5


@activity.defn(name="bench.echo")
async def echo(x: int) -> int:
    """Returns its input."""
    return x


@workflow.defn(name="bench.Long")
class Long:
    """Runs `activities` activities, `ROUND` at a time; answers how many it ran."""

    def __init__(self) -> None:
        self.done = 0

    @workflow.run
    async def run(self, activities: int) -> int:  # noqa: D102
        while self.done < activities:
            count = min(ROUND, activities - self.done)
            await asyncio.gather(
                *(workflow.execute_activity(echo, self.done + i) for i in range(count))
            )
            self.done += count
        return self.done

    @workflow.query
    def progress(self) -> int:  # noqa: D102
        return self.done


class ReplayTimes(EngineObserver):
    """Keeps the engine's replay times."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def workflow_replayed(self, workflow_type: str, events: int, seconds: float) -> None:
        """Keep the time."""
        self.seconds.append(seconds)


class ReplayTiming:
    """A plugin giving engines the `ReplayTimes` observer."""

    def __init__(self) -> None:
        self.times = ReplayTimes()

    def aion_engine_observers(self) -> Sequence[EngineObserver]:
        """The hook: the same observer for every engine."""
        return [self.times]


async def replay_times(activities: int) -> Measurement:
    """Record the long history, then time replays of it."""
    with sqlite_file() as url:
        plugins = load_plugins({"AION_PLUGINS": "sqlite"})
        async with Engine(url, workflows=[Long], activities=[echo], plugins=plugins) as engine:
            assert await engine.execute_workflow(Long.run, activities, id="long") == activities
            history = await engine.history("long")
        replayer = Replayer(workflows=[Long])
        seconds = []
        for _ in range(REPLAYS):
            started = time.perf_counter()
            replayer.replay(history)
            seconds.append(time.perf_counter() - started)
        timing = ReplayTiming()
        plugins = load_plugins({"AION_PLUGINS": "sqlite"})
        plugins.register(timing, "replay-timing")
        async with Engine(url, workflows=[Long], plugins=plugins) as engine:
            assert await engine.query("long", Long.progress) == activities
    median_ms = statistics.median(seconds) * 1000
    return Measurement(
        "replay", "aion", "sqlite", median_ms, "ms", "lower",
        {"events": len(history), "replays": REPLAYS, "min_ms": min(seconds) * 1000,
         "engine_rebuild_from_store_ms": timing.times.seconds[0] * 1000},
    )  # fmt: skip


def main() -> None:
    """Parse the command line, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, help="activities to record (default 3400)")
    parser.add_argument("--smoke", action="store_true", help="100 activities")
    args = parser.parse_args()
    emit(asyncio.run(replay_times(args.activities or (100 if args.smoke else 3400))))


if __name__ == "__main__":
    main()
