"""Pause and resume: inputs are kept while paused and delivered, in order, on resume."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from aion_core import Engine, MemoryEventStore, WorkflowStatus, activity, workflow
from aion_core.errors import UpdateRejectedError, WorkflowStateError
from aion_core.testing import Replayer

attempts: list[int] = []


@activity.defn
async def flaky_once() -> str:
    attempts.append(activity.info().attempt)
    if activity.info().attempt == 1:
        raise RuntimeError("first attempt fails")
    return "ok"


@workflow.defn
class Collector:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @workflow.run
    async def run(self, expected: int) -> list[str]:
        await workflow.wait_condition(lambda: len(self.seen) >= expected)
        return self.seen

    @workflow.signal
    def add(self, item: str) -> None:
        self.seen.append(item)

    @workflow.query
    def count(self) -> int:
        return len(self.seen)

    @workflow.update
    def add_now(self, item: str) -> int:
        self.seen.append(item)
        return len(self.seen)


@workflow.defn
async def retries_slowly() -> str:
    from aion_core import RetryPolicy

    return str(
        await workflow.execute_activity(
            flaky_once, retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200))
        )
    )


WORKFLOWS = [Collector, retries_slowly]


async def test_signals_while_paused_are_kept_then_delivered_in_order(store_url: str) -> None:
    store = MemoryEventStore() if store_url == "memory://" else store_url
    async with Engine(store, workflows=WORKFLOWS, activities=[flaky_once]) as engine:
        handle = await engine.start_workflow(Collector.run, 3, id="paused")
        with pytest.raises(WorkflowStateError, match="not paused"):
            await handle.resume()
        await handle.signal(Collector.add, "a")
        await handle.pause("maintenance")
        assert (await handle.describe()).status is WorkflowStatus.PAUSED
        await handle.signal(Collector.add, "b")
        await handle.signal(Collector.add, "c")
        assert await handle.query(Collector.count) == 1  # kept, not delivered
        with pytest.raises(UpdateRejectedError, match="paused"):
            await handle.execute_update(Collector.add_now, "x")
        with pytest.raises(WorkflowStateError, match="only a running workflow can be paused"):
            await handle.pause()
        await handle.resume("done")
        assert await handle.result() == ["a", "b", "c"]
        history = await handle.history()
    Replayer(workflows=WORKFLOWS).replay(history)
    # A new engine replays the same history without complaint.
    async with Engine(store, workflows=WORKFLOWS, activities=[flaky_once]) as engine:
        assert await engine.get_handle("paused").query(Collector.count) == 3


async def test_no_new_activity_attempt_starts_while_paused() -> None:
    attempts.clear()
    async with Engine("memory://", workflows=WORKFLOWS, activities=[flaky_once]) as engine:
        handle = await engine.start_workflow(retries_slowly, id="no-retry-while-paused")
        async with asyncio.timeout(5):
            while attempts != [1]:  # noqa: ASYNC110 - waiting for the first attempt
                await asyncio.sleep(0.005)
        await handle.pause()
        await asyncio.sleep(0.5)  # the retry was due after 0.2 s
        assert attempts == [1]
        await handle.resume()
        assert await handle.result() == "ok"
        assert attempts == [1, 2]
