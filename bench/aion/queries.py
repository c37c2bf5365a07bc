"""aion's query latency: in-process, and from a client to an engine node over NATS.

A workflow waits for a signal; queries are asked one after another and each
is timed from the call to the decoded answer. In-process, the caller holds the
engine (SQLite file). Over NATS, an engine node (SQLite file) serves a
`Client` connected to the same NATS server; the namespace is removed after::

    python -m bench.aion.queries --transport inproc|nats [--n 1000] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aion_core import Client, Engine, load_plugins, workflow
from aion_core.operations import WorkflowOperations
from bench.measurement import Measurement, emit, summary_ms
from bench.servers import nats_namespace, sqlite_file

WARM_UP_QUERIES = 50


@workflow.defn(name="bench.Waiter")
class Waiter:
    """Waits for `finish`; answers `status`."""

    def __init__(self) -> None:
        self.finished = False

    @workflow.run
    async def run(self) -> str:  # noqa: D102
        await workflow.wait_condition(lambda: self.finished)
        return "done"

    @workflow.signal
    def finish(self) -> None:  # noqa: D102
        self.finished = True

    @workflow.query
    def status(self) -> str:  # noqa: D102
        return "done" if self.finished else "waiting"


async def ask_many(operations: WorkflowOperations, n: int) -> list[float]:
    """Start a waiter, time `n` queries to it, let it finish."""
    handle = await operations.start_workflow(Waiter.run, id="waiter")
    for _ in range(WARM_UP_QUERIES):
        await handle.query(Waiter.status)
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        assert await handle.query(Waiter.status) == "waiting"
        seconds.append(time.perf_counter() - started)
    await handle.signal(Waiter.finish)
    await handle.result()
    return seconds


async def in_process(n: int) -> list[float]:
    """Queries from code holding the engine."""
    plugins = load_plugins({"AION_PLUGINS": "sqlite"})
    with sqlite_file() as url:
        async with Engine(url, workflows=[Waiter], plugins=plugins) as engine:
            return await ask_many(engine, n)


async def over_nats(n: int) -> list[float]:
    """Queries from a client to an engine node, both connected to NATS."""
    plugins = load_plugins({"AION_PLUGINS": "sqlite,nats"})
    with sqlite_file() as url:
        async with (
            nats_namespace() as transport,
            Engine(url, transport=transport, workflows=[Waiter], plugins=plugins),
            await Client.connect(transport, workflows=[Waiter], plugins=plugins) as client,
        ):
            return await ask_many(client, n)


def main() -> None:
    """Parse the command line, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=["inproc", "nats"], default="inproc")
    parser.add_argument("--n", type=int, help="queries (default 1000)")
    parser.add_argument("--smoke", action="store_true", help="20 queries")
    args = parser.parse_args()
    n = args.n or (20 if args.smoke else 1000)
    run = in_process if args.transport == "inproc" else over_nats
    summary = summary_ms(asyncio.run(run(n)))
    emit(
        Measurement(
            "query_latency", "aion", args.transport, summary["median_ms"], "ms", "lower", summary
        )
    )


if __name__ == "__main__":
    main()
