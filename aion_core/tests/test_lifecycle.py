"""Cancel, terminate and execution timeouts: each recorded, each rejection appending nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from aion_core import (
    Engine,
    MemoryEventStore,
    WorkflowClosedError,
    WorkflowFailureError,
    WorkflowStatus,
    activity,
    workflow,
)
from aion_core.events import ActivityCancelRequested, WorkflowTerminated, WorkflowTimedOut
from aion_core.testing import WorkflowEnvironment

cleaned: list[str] = []


@activity.defn
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slow done"


@activity.defn
async def clean_up(what: str) -> None:
    cleaned.append(what)


@workflow.defn
class Cancellable:
    @workflow.run
    async def run(self) -> str:
        try:
            return await workflow.execute_activity(slow, 30.0)
        except asyncio.CancelledError:
            await workflow.execute_activity(clean_up, "after cancel")
            raise


@workflow.defn
async def sleeper(days: int) -> str:
    await workflow.sleep(timedelta(days=days))
    return "woke up"


WORKFLOWS = [Cancellable, sleeper]
ACTIVITIES = [slow, clean_up]


async def test_cancel_raises_at_the_await_and_cleanup_still_runs_activities(
    store_url: str,
) -> None:
    cleaned.clear()
    async with Engine(store_url, workflows=WORKFLOWS, activities=ACTIVITIES) as engine:
        handle = await engine.start_workflow(Cancellable.run, id="cancel-me")
        await handle.cancel("customer changed their mind")
        with pytest.raises(WorkflowFailureError, match="cancelled") as caught:
            await handle.result()
        assert caught.value.status == "cancelled"
        history = await handle.history()
    types = [e.type for e in history]
    assert "WorkflowCancelRequested" in types
    assert any(isinstance(e.body, ActivityCancelRequested) for e in history)
    assert types[-1] == "WorkflowCancelled"
    assert cleaned == ["after cancel"]


async def test_terminate_is_immediate_and_records_the_reason(store_url: str) -> None:
    async with Engine(store_url, workflows=WORKFLOWS, activities=ACTIVITIES) as engine:
        handle = await engine.start_workflow(Cancellable.run, id="stop-me")
        await handle.terminate("runaway")
        with pytest.raises(WorkflowFailureError, match="runaway"):
            await handle.result()
        last = (await handle.history())[-1].body
        assert isinstance(last, WorkflowTerminated)
        assert last.reason == "runaway"
        assert (await handle.describe()).status is WorkflowStatus.TERMINATED
        before = len(await handle.history())
        with pytest.raises(WorkflowClosedError):
            await handle.terminate("again")
        with pytest.raises(WorkflowClosedError):
            await handle.cancel("again")
        assert len(await handle.history()) == before


async def test_a_run_past_its_execution_timeout_is_closed_as_timed_out(store_url: str) -> None:
    async with WorkflowEnvironment(store=store_url, workflows=WORKFLOWS) as env:
        handle = await env.engine.start_workflow(
            sleeper, 30, id="too-slow", execution_timeout=timedelta(days=1)
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), timeout=10)
        assert caught.value.status == "timed_out"
        history = await handle.history()
        assert isinstance(history[-1].body, WorkflowTimedOut)
        assert [e.type for e in history].count("TimerFired") == 0
        assert (
            await env.engine.execute_workflow(
                sleeper, 1, id="in-time", execution_timeout=timedelta(days=2)
            )
            == "woke up"
        )


async def test_the_execution_timeout_survives_a_restart() -> None:
    store = MemoryEventStore()
    async with WorkflowEnvironment(store=store, workflows=WORKFLOWS) as env:
        await env.engine.start_workflow(
            sleeper, 30, id="restarted", execution_timeout=timedelta(hours=1)
        )
    async with WorkflowEnvironment(store=store, workflows=WORKFLOWS) as env:
        with pytest.raises(WorkflowFailureError, match="timed_out"):
            await asyncio.wait_for(env.engine.get_handle("restarted").result(), timeout=10)


async def test_a_non_positive_execution_timeout_is_refused() -> None:
    async with Engine("memory://", workflows=WORKFLOWS) as engine:
        with pytest.raises(Exception, match="execution_timeout must be positive"):
            await engine.start_workflow(sleeper, 1, id="x", execution_timeout=timedelta(0))
        assert await engine.store.read_events("x") == []
