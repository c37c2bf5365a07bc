"""An engine that may no longer record (its lease lapsed) appends nothing, whatever asks it to.

`EngineHandle.may_record` is asked right before every append. Over NATS it turns
False once a node's lease on a partition has gone unrenewed long enough that
another node may own the workflows (NATS away, the process frozen): from then on
a signal is refused with `OwnershipLostError` (over NATS, the caller is sent to
the new owner), a due timer stays armed, an activity's result waits. Here the
lease is taken away and given back by switching the engine's handle, so that
each path is seen refused and then carried out once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from aion_core import Engine, MemoryEventStore, activity, workflow
from aion_core.errors import OwnershipLostError
from aion_core.events import ActivityCompleted, Event, SignalReceived, TimerFired

from .test_messages import GatedStore

released = asyncio.Event()


@activity.defn(name="fencing.wait_for_release")
async def wait_for_release(value: int) -> int:
    await released.wait()
    return value + 1


@workflow.defn(name="fencing.Waiter")
class Waiter:
    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.got))
        return self.got

    @workflow.signal
    def give(self, item: str) -> None:
        self.got.append(item)


@workflow.defn(name="fencing.Sleeper")
async def sleeper() -> str:
    await workflow.sleep(timedelta(seconds=1))
    return "woke"


@workflow.defn(name="fencing.Caller")
async def caller() -> int:
    result: int = await workflow.execute_activity(
        wait_for_release, 41, start_to_close_timeout=timedelta(seconds=60)
    )
    return result


@contextmanager
def lease_lapsed(engine: Engine) -> Iterator[None]:
    """While inside, the engine's handle says it may not record (as a lapsed lease does)."""
    handle = engine.handle
    handle.may_record = lambda workflow_id: False  # type: ignore[method-assign]
    try:
        yield
    finally:
        del handle.may_record  # the class's own answer again


def count(history: list[Event], kind: type) -> int:
    return sum(isinstance(event.body, kind) for event in history)


@pytest.fixture
def engine_args(store_url: str) -> dict[str, object]:
    return {
        "store": MemoryEventStore() if store_url == "memory://" else store_url,
        "workflows": [Waiter, sleeper, caller],
        "activities": [wait_for_release],
    }


async def test_a_signal_is_refused_unrecorded_then_recorded_once(
    engine_args: dict[str, object],
) -> None:
    async with Engine(**engine_args) as engine:  # type: ignore[arg-type]
        handle = await engine.start_workflow(Waiter.run, id="fenced-signal")
        before = await handle.history()
        with lease_lapsed(engine):
            with pytest.raises(OwnershipLostError):
                await engine.start_workflow(Waiter.run, id="fenced-start")
            assert await engine.store.get_workflow("fenced-start") is None
            with pytest.raises(OwnershipLostError, match="nothing was recorded"):
                await handle.signal(Waiter.give, "a")
            assert await handle.history() == before
        await handle.signal(Waiter.give, "b")
        assert await handle.result() == ["b"]
        assert count(await handle.history(), SignalReceived) == 1


async def test_a_due_timer_stays_armed_until_the_engine_may_record_again(
    engine_args: dict[str, object],
) -> None:
    async with Engine(**engine_args) as engine:  # type: ignore[arg-type]
        handle = await engine.start_workflow(sleeper, id="fenced-timer")
        with lease_lapsed(engine):
            await asyncio.sleep(2.5)  # due after 1 s; looked at again every second
            assert count(await handle.history(), TimerFired) == 0
        assert await asyncio.wait_for(handle.result(), 10) == "woke"
        assert count(await handle.history(), TimerFired) == 1


async def test_an_activity_result_waits_until_the_engine_may_record_again(
    engine_args: dict[str, object],
) -> None:
    released.clear()
    async with Engine(**engine_args) as engine:  # type: ignore[arg-type]
        handle = await engine.start_workflow(caller, id="fenced-activity")
        with lease_lapsed(engine):
            released.set()
            await asyncio.sleep(1.0)
            assert count(await handle.history(), ActivityCompleted) == 0
        assert await asyncio.wait_for(handle.result(), 15) == 42
        assert count(await handle.history(), ActivityCompleted) == 1


async def test_giving_a_workflow_up_waits_for_its_append_in_flight() -> None:
    """The next owner must load a history nothing of the last one is still landing in."""
    store = GatedStore()
    async with Engine(store, workflows=[Waiter]) as engine:
        handle = await engine.start_workflow(Waiter.run, id="handover")
        store.gate.clear()
        signalling = asyncio.create_task(handle.signal(Waiter.give, "in flight"))
        await asyncio.sleep(0.05)  # the step now waits on its commit
        releasing = asyncio.create_task(engine.release(lambda workflow_id: True))
        await asyncio.sleep(0.2)
        assert not releasing.done()  # still waiting for the commit to land
        store.gate.set()
        await asyncio.wait_for(releasing, 5)
        await signalling  # it landed: its sender is told so
        assert count(await store.read_events("handover"), SignalReceived) == 1
