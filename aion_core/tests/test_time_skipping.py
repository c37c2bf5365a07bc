"""`WorkflowEnvironment(time_skipping=True)` jumps over waits, but never over running activities.

Every test bounds its wall time with ``asyncio.wait_for(..., timeout=10)``:
waits of days can only finish in that time if the clock skipped them.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from aion_core import activity, workflow
from aion_core.events import TimerFired
from aion_core.testing import WorkflowEnvironment

BOUND = 10  # seconds of wall time; the waits below are days


@workflow.defn
async def month_long_nap() -> float:
    before = workflow.now()
    await workflow.sleep(timedelta(days=30))
    return (workflow.now() - before).total_seconds()


@workflow.defn
async def waits_for_approval() -> list[Any]:
    before = workflow.now()
    approved = await workflow.wait_condition(lambda: False, timeout=timedelta(days=2))
    return [approved, (workflow.now() - before).total_seconds()]


@activity.defn
async def real_work() -> str:
    await asyncio.sleep(0.2)  # real time, invisible to the clock
    return "async work done"


@activity.defn
def real_blocking_work() -> str:
    time.sleep(0.2)  # real time, in the thread pool
    return "blocking work done"


@workflow.defn
async def work_races_a_day(blocking: bool) -> str:
    work = asyncio.ensure_future(
        workflow.execute_activity(real_blocking_work if blocking else real_work)
    )
    timer = asyncio.ensure_future(workflow.sleep(timedelta(days=1)))
    done, pending = await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
    for loser in pending:
        loser.cancel()
    return work.result() if work in done else "the day passed first"


async def test_a_thirty_day_sleep_completes_and_workflow_time_advances_thirty_days() -> None:
    async with WorkflowEnvironment(time_skipping=True, workflows=[month_long_nap]) as env:
        handle = await env.engine.start_workflow(month_long_nap, id="nap")
        slept = await asyncio.wait_for(handle.result(), timeout=BOUND)
        history = await handle.history()
    assert slept >= timedelta(days=30).total_seconds()
    assert history[-1].recorded_at - history[0].recorded_at >= timedelta(days=30)
    assert [e.type for e in history] == [
        "WorkflowStarted",
        "TimerStarted",
        "TimerFired",
        "WorkflowCompleted",
    ]


async def test_a_condition_timeout_of_two_days_returns_false() -> None:
    async with WorkflowEnvironment(time_skipping=True, workflows=[waits_for_approval]) as env:
        result = await asyncio.wait_for(
            env.engine.execute_workflow(waits_for_approval, id="approval"), timeout=BOUND
        )
        history = await env.engine.get_handle("approval").history()
    approved, waited = result
    assert approved is False
    assert waited >= timedelta(days=2).total_seconds()
    assert len([e for e in history if isinstance(e.body, TimerFired)]) == 1


@pytest.mark.parametrize("blocking", [False, True], ids=["async", "sync"])
async def test_time_does_not_skip_while_an_activity_runs(blocking: bool) -> None:
    async with WorkflowEnvironment(
        time_skipping=True,
        workflows=[work_races_a_day],
        activities=[real_work, real_blocking_work],
    ) as env:
        result = await asyncio.wait_for(
            env.engine.execute_workflow(work_races_a_day, blocking, id="race"), timeout=BOUND
        )
        history = await env.engine.get_handle("race").history()
    assert result == ("blocking work done" if blocking else "async work done")
    assert not any(isinstance(e.body, TimerFired) for e in history)
    assert history[-1].recorded_at - history[0].recorded_at < timedelta(days=1)
