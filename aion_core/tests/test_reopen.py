"""Reopen (DESIGN 3, 4.8): a failed, cancelled or suspended run continues from its history.

Nothing recorded is removed or changed; `WorkflowReopened` records what replay rewinds.
Activities that had failed for good run again with the attempt count going on, timers the
close disarmed wait again, completed activities are not run again, and a run in any other
state refuses to reopen with nothing recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from aion_core import (
    ApplicationError,
    Engine,
    Event,
    EventStore,
    RetryPolicy,
    WorkflowFailureError,
    WorkflowStatus,
    activity,
    workflow,
)
from aion_core.errors import WorkflowNotFoundError, WorkflowStateError
from aion_core.events import (
    ActivityCompleted,
    ActivityFailed,
    ActivityStarted,
    WorkflowReopened,
)
from aion_core.testing import Replayer

WaitForHistory = Callable[[Engine, str, Callable[[list[Event]], bool]], Awaitable[list[Event]]]

broken: set[str] = set()
executed: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _fresh() -> None:
    broken.clear()
    executed.clear()


@activity.defn
async def fragile(key: str) -> str:
    executed[key] += 1
    if key in broken:
        raise ApplicationError(f"{key} is broken")
    return f"{key} done"


@workflow.defn
async def two_steps(key: str) -> str:
    first = await workflow.execute_activity(fragile, f"{key}-first")
    second = await workflow.execute_activity(
        fragile,
        f"{key}-second",
        retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=1)),
    )
    return f"{first}, {second}"


@workflow.defn
async def buggy(key: str) -> str:
    done = await workflow.execute_activity(fragile, f"{key}-step")
    if key in broken:
        raise KeyError(key)  # a bug in workflow code, fixed by clearing the flag
    return done


@workflow.defn
class Napper:
    def __init__(self) -> None:
        self.poked = 0

    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return f"slept, poked {self.poked}"

    @workflow.signal
    async def poke(self) -> None:
        self.poked += 1


WORKFLOWS = [two_steps, buggy, Napper]


def engine_on(store: str | EventStore, **options: object) -> Engine:
    return Engine(
        store,
        workflows=WORKFLOWS,
        activities=[fragile],
        restart_backoff=timedelta(milliseconds=5),
        max_restarts=1,
        **options,  # type: ignore[arg-type]
    )


def of_type(history: list[Event], kind: type) -> list[Event]:
    return [e for e in history if isinstance(e.body, kind)]


async def test_a_run_failed_by_an_activity_retries_it_with_the_attempts_counted_on(
    reusable_store: str | EventStore,
) -> None:
    broken.add("w1-second")
    async with engine_on(reusable_store) as engine:
        handle = await engine.start_workflow(two_steps, "w1", id="w1")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        before = await handle.history()
        final = of_type(before, ActivityFailed)[-1]

        broken.clear()
        await handle.reopen("fixed the second step")
        assert await handle.result() == "w1-first done, w1-second done"

        after = await handle.history()
        assert after[: len(before)] == before  # nothing recorded was removed or changed
        [reopened] = of_type(after, WorkflowReopened)
        assert reopened.body.rewind_from == final.seq
        assert reopened.body.reason == "fixed the second step"
        attempts = [
            e.body.attempt for e in of_type(after, ActivityStarted) if e.body.activity_id == 2
        ]
        assert attempts == [1, 2, 3]
        assert executed == Counter({"w1-first": 1, "w1-second": 3})
        assert (await handle.describe()).status is WorkflowStatus.COMPLETED
    Replayer(workflows=WORKFLOWS).replay(after)


async def test_a_run_failed_by_a_code_bug_continues_with_the_fixed_code(
    reusable_store: str | EventStore,
) -> None:
    broken.add("w2")  # the workflow code raises after its activity completed
    async with engine_on(reusable_store, on_exhausted="fail") as engine:
        handle = await engine.start_workflow(buggy, "w2", id="w2")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    broken.clear()
    async with engine_on(reusable_store) as engine:
        handle = engine.get_handle("w2")
        await handle.reopen()
        assert await handle.result() == "w2-step done"
        history = await handle.history()
    assert len(of_type(history, ActivityCompleted)) == 1
    assert executed["w2-step"] == 1  # the completed activity did not run again
    Replayer(workflows=WORKFLOWS).replay(history)


async def test_a_cancelled_run_waits_again_for_its_timer_and_keeps_its_signals(
    reusable_store: str | EventStore,
) -> None:
    async with engine_on(reusable_store) as engine:
        handle = await engine.start_workflow(Napper.run, 0.5, id="w3")
        await handle.signal(Napper.poke)
        await handle.cancel("changed my mind")
        with pytest.raises(WorkflowFailureError, match="cancelled"):
            await handle.result()
        await handle.reopen("changed it back")
        assert (await handle.describe()).status is WorkflowStatus.RUNNING
        await handle.signal(Napper.poke)
        assert await handle.result() == "slept, poked 2"
        history = await handle.history()
    [reopened] = of_type(history, WorkflowReopened)
    assert list(reopened.body.rearmed_timers) == [1]
    Replayer(workflows=WORKFLOWS).replay(history)


async def test_a_suspended_run_reopens_and_gets_what_arrived_meanwhile(
    reusable_store: str | EventStore, wait_for_history: WaitForHistory
) -> None:
    broken.add("w4")
    async with engine_on(reusable_store, on_exhausted="suspend") as engine:
        handle = await engine.start_workflow(buggy, "w4", id="w4")
        await wait_for_history(engine, "w4", lambda h: h[-1].type == "WorkflowSuspended")
        broken.clear()
        await handle.reopen()
        assert await handle.result() == "w4-step done"
        [reopened] = of_type(await handle.history(), WorkflowReopened)
        assert reopened.body.rewind_from is None


async def test_a_run_reopened_twice_rewinds_each_time(reusable_store: str | EventStore) -> None:
    broken.add("w5-second")
    async with engine_on(reusable_store) as engine:
        handle = await engine.start_workflow(two_steps, "w5", id="w5")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        await handle.reopen("not fixed yet")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        broken.clear()
        await handle.reopen("fixed")
        assert await handle.result() == "w5-first done, w5-second done"
        history = await handle.history()
    assert executed["w5-second"] == 5  # 2 attempts; 2 more (a fresh budget); 1 that succeeded
    assert len(of_type(history, WorkflowReopened)) == 2
    Replayer(workflows=WORKFLOWS).replay(history)


@pytest.mark.parametrize("state", ["running", "completed"])
async def test_only_failed_cancelled_or_suspended_runs_reopen(
    reusable_store: str | EventStore, wait_for_history: WaitForHistory, state: str
) -> None:
    async with engine_on(reusable_store) as engine:
        handle = await engine.start_workflow(
            Napper.run, 30.0 if state == "running" else 0.0, id=f"w6-{state}"
        )
        if state == "completed":
            await handle.result()
        else:
            await wait_for_history(engine, handle.workflow_id, lambda h: len(h) >= 2)
        before = await handle.history()
        with pytest.raises(WorkflowStateError, match="only a failed, cancelled or suspended"):
            await handle.reopen()
        assert await handle.history() == before
        with pytest.raises(WorkflowNotFoundError):
            await engine.get_handle("no-such-workflow").reopen()
