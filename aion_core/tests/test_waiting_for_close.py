"""Waiting for a workflow to close: the owner's memory spares a read, never a close.

A handle's `result()` tells the owner the run it started. An owner that still holds
that run open waits without reading the store; if another writer closed the run
meanwhile (an owner the caller cannot know of), the wait ends empty after its slice
and the next ask reads the store. An owner that lets the workflow go wakes whoever
waits there, so they ask the new owner at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aion_core import Engine, MemoryEventStore, activity, workflow
from aion_core.calls import WaitCall
from aion_core.events import WorkflowTerminated
from aion_core.store.records import WorkflowRecord

HANG = 30.0
"""A wait only a missed close reaches."""


@activity.defn(name="closing.add_one")
async def add_one(x: int) -> int:
    return x + 1


@workflow.defn(name="closing.W3")
async def w3(x: int) -> int:
    for _ in range(3):
        x = await workflow.execute_activity(add_one, x)
    return x


@workflow.defn(name="closing.Waits")
class Waits:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


class CountingStore(MemoryEventStore):
    """The memory store, counting the workflow rows read."""

    def __init__(self) -> None:
        super().__init__()
        self.rows_read = 0

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        self.rows_read += 1
        return await super().get_workflow(workflow_id)


async def test_the_result_of_a_run_this_engine_started_needs_no_read() -> None:
    store = CountingStore()
    async with Engine(store, workflows=[w3], activities=[add_one]) as engine:
        handle = await engine.start_workflow(w3, 1, id="quiet")
        assert await handle.result() == 4
        assert store.rows_read == 0
        # A handle that names no run reads the row, and finds the close.
        assert await engine.get_handle("quiet").result() == 4
        assert store.rows_read > 0


async def test_a_run_closed_by_another_writer_shows_at_the_next_ask(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'aion.db'}"
    async with (
        Engine(url, workflows=[Waits]) as stale,
        Engine(url, workflows=[Waits]) as other,
    ):
        handle = await stale.start_workflow(Waits.run, id="w")
        await other.get_handle("w").terminate("closed elsewhere")
        assert handle.run_id is not None
        first = WaitCall(workflow_id="w", wait=0.2, open_run=handle.run_id)
        assert await stale.route(first) is None  # its own view, stale for this one wait
        closing = await stale.route(WaitCall(workflow_id="w", wait=HANG))
        assert isinstance(closing.body, WorkflowTerminated)


async def test_an_engine_letting_a_workflow_go_wakes_its_waiters() -> None:
    async with Engine(MemoryEventStore(), workflows=[Waits]) as engine:
        handle = await engine.start_workflow(Waits.run, id="w")
        call = WaitCall(workflow_id="w", wait=HANG, open_run=handle.run_id)
        waiting = asyncio.ensure_future(engine.route(call))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await engine.release(lambda workflow_id: workflow_id == "w")
        assert await asyncio.wait_for(waiting, HANG / 3) is None
