"""Supervision of workflow code (DESIGN 3): an unexpected exception restarts the instance from
its history with backoff; when restarts run out the workflow fails with the traceback
recorded, or is suspended; other workflows carry on undisturbed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from typing import Literal

import pytest

from aion_core import (
    Engine,
    Event,
    WorkflowFailureError,
    WorkflowStatus,
    activity,
    workflow,
)
from aion_core.events import WorkflowFailed, WorkflowSuspended

BACKOFF = timedelta(milliseconds=10)

# When each execution of a workflow's code reached its failing point (monotonic seconds).
runs: dict[str, list[float]] = {}
executed: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    runs.clear()
    executed.clear()


@activity.defn
async def count_and_add_one(key: str, x: int) -> int:
    executed[key] += 1
    return x + 1


@workflow.defn
async def trips_once(key: str) -> int:
    value = await workflow.execute_activity(count_and_add_one, key, 41)
    runs.setdefault(key, []).append(time.monotonic())
    if len(runs[key]) == 1:
        raise KeyError("only the first time")
    return value


@workflow.defn
async def always_trips(key: str) -> None:
    runs.setdefault(key, []).append(time.monotonic())
    {}[f"missing-{key}"]  # a bug: KeyError every time


@workflow.defn
async def steady(key: str) -> int:
    x = await workflow.execute_activity(count_and_add_one, key, 0)
    await workflow.sleep(0.05)
    return await workflow.execute_activity(count_and_add_one, key, x)


WORKFLOWS = [trips_once, always_trips, steady]


def supervised(
    store_url: str,
    *,
    max_restarts: int = 2,
    restart_backoff: timedelta = BACKOFF,
    on_exhausted: Literal["fail", "suspend"] = "fail",
) -> Engine:
    return Engine(
        store_url,
        workflows=WORKFLOWS,
        activities=[count_and_add_one],
        max_restarts=max_restarts,
        restart_backoff=restart_backoff,
        on_exhausted=on_exhausted,
    )


def types(history: list[Event]) -> list[str]:
    return [event.type for event in history]


async def test_a_workflow_bug_is_restarted_from_history_and_then_succeeds(store_url: str) -> None:
    async with supervised(
        store_url, max_restarts=3, restart_backoff=timedelta(milliseconds=50)
    ) as engine:
        handle = await engine.start_workflow(trips_once, "once", id="once")
        async with asyncio.timeout(10):
            assert await handle.result() == 42
        history = await handle.history()
    # The restart replayed the completed activity instead of running it again.
    assert executed["once"] == 1
    assert types(history) == [
        "WorkflowStarted",
        "ActivityScheduled",
        "ActivityStarted",
        "ActivityCompleted",
        "WorkflowCompleted",
    ]
    first, second = runs["once"]
    assert second - first >= 0.05  # restarted only after the backoff


async def test_a_workflow_that_keeps_failing_fails_with_its_traceback_after_max_restarts(
    store_url: str,
) -> None:
    async with supervised(store_url) as engine:
        handle = await engine.start_workflow(always_trips, "doomed", id="doomed")
        async with asyncio.timeout(10):
            with pytest.raises(WorkflowFailureError) as caught:
                await handle.result()
        history = await handle.history()
        assert (await handle.describe()).status is WorkflowStatus.FAILED
    assert caught.value.status == "failed"
    assert types(history) == ["WorkflowStarted", "WorkflowFailed"]
    failed = history[-1].body
    assert isinstance(failed, WorkflowFailed)
    assert failed.failure.type == "KeyError"
    assert "missing-doomed" in failed.failure.message
    assert "KeyError" in failed.failure.stack_trace
    assert "always_trips" in failed.failure.stack_trace  # the frame that raised
    # The first run and max_restarts=2 restarts, each after a backoff that doubles.
    assert len(runs["doomed"]) == 3
    gaps = [
        later - earlier for earlier, later in zip(runs["doomed"], runs["doomed"][1:], strict=False)
    ]
    assert gaps[0] >= BACKOFF.total_seconds()
    assert gaps[1] >= 2 * BACKOFF.total_seconds()


async def test_exhausted_restarts_suspend_the_workflow_when_asked(store_url: str) -> None:
    async with supervised(store_url, on_exhausted="suspend") as engine:
        handle = await engine.start_workflow(always_trips, "suspended", id="suspended")
        async with asyncio.timeout(10):
            while True:
                if (await handle.describe()).status is WorkflowStatus.SUSPENDED:
                    break
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # room for anything (wrongly) happening afterwards
        history = await handle.history()
    assert types(history) == ["WorkflowStarted", "WorkflowSuspended"]
    suspended = history[-1].body
    assert isinstance(suspended, WorkflowSuspended)
    assert suspended.failure.type == "KeyError"
    assert "always_trips" in suspended.failure.stack_trace
    assert len(runs["suspended"]) == 3  # no restarts once suspended


async def test_a_failing_workflow_does_not_disturb_the_others(store_url: str) -> None:
    async with supervised(store_url) as engine:
        doomed = await engine.start_workflow(always_trips, "bad", id="bad")
        tripping = await engine.start_workflow(trips_once, "trip", id="trip")
        healthy = await asyncio.gather(
            *(engine.start_workflow(steady, f"ok-{n}", id=f"ok-{n}") for n in range(20))
        )
        async with asyncio.timeout(10):
            assert await asyncio.gather(*(h.result() for h in healthy)) == [2] * 20
            assert await tripping.result() == 42
            with pytest.raises(WorkflowFailureError):
                await doomed.result()
        for handle in healthy:
            assert types(await handle.history()) == [
                "WorkflowStarted",
                "ActivityScheduled",
                "ActivityStarted",
                "ActivityCompleted",
                "TimerStarted",
                "TimerFired",
                "ActivityScheduled",
                "ActivityStarted",
                "ActivityCompleted",
                "WorkflowCompleted",
            ]
    assert all(executed[f"ok-{n}"] == 2 for n in range(20))
    assert executed["trip"] == 1


@workflow.defn
async def trips_on_either_timer(key: str) -> None:
    async def nap_then_trip() -> None:
        await asyncio.sleep(0.05)
        runs.setdefault(key, []).append(time.monotonic())
        raise KeyError("a bug behind both timers")

    await asyncio.gather(nap_then_trip(), nap_then_trip())


async def test_inputs_arriving_after_a_failure_wait_for_the_restart_backoff() -> None:
    """Store-independent (runner logic), so memory:// only."""
    backoff = timedelta(milliseconds=300)
    async with Engine(
        "memory://",
        workflows=[trips_on_either_timer],
        max_restarts=1,
        restart_backoff=backoff,
    ) as engine:
        handle = await engine.start_workflow(trips_on_either_timer, "two-timers", id="two-timers")
        async with asyncio.timeout(10):
            with pytest.raises(WorkflowFailureError):
                await handle.result()
    # Both timers fire at once. The first fire makes the code fail; the second must not
    # replay it before the backoff: the only other execution is the one restart.
    first, second = runs["two-timers"][:2]
    assert second - first >= backoff.total_seconds()
