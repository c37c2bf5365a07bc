"""Ordinary asyncio in workflow code is deterministic: it runs, replays, and survives restarts.

Each scenario workflow does its asyncio work and then parks on a one-hour
durable timer, so an engine restart finds it open and must replay everything
it did without recording anything twice; a time-skipping engine then fires
the timer and the workflow completes. Its whole history is replayed by
`Replayer`, twice, and the instance rebuilt over the history issues exactly
the recorded commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from aion_core import Engine, EventStore, WorkflowFailureError, activity, workflow
from aion_core.definitions import workflow_definition
from aion_core.events import (
    ActivityCancelled,
    ActivityCancelRequested,
    ActivityCompleted,
    ActivityFailed,
    ActivityScheduled,
    ActivityTimedOut,
    Event,
    TimerCancelled,
    TimerFired,
    TimerStarted,
    WorkflowCompleted,
)
from aion_core.history import history_to_json
from aion_core.runtime.instance import WorkflowInstance
from aion_core.testing import Replayer, WorkflowEnvironment

PARK = timedelta(hours=1, seconds=1)  # unlike any timer a scenario starts
WaitForHistory = Callable[[Engine, str, Callable[[list[Event]], bool]], Awaitable[list[Event]]]


@activity.defn
async def double(x: int) -> int:
    return 2 * x


@activity.defn
async def double_slowly(x: int) -> int:
    await asyncio.sleep(30)  # real time: whatever races it wins, and this is cancelled
    return 2 * x


async def park() -> None:
    """Wait long enough for the engine to be restarted under the workflow."""
    await workflow.sleep(PARK)


@workflow.defn
async def gathers(x: int) -> list[int]:
    values = await asyncio.gather(
        workflow.execute_activity(double, x),
        workflow.execute_activity(double, x + 1),
        asyncio.sleep(0.01),
        workflow.execute_activity(double, x + 2),
    )
    await park()
    return [v for v in values if v is not None]


async def race(timer: Awaitable[None], work: Awaitable[int]) -> str:
    """The first of a timer and an activity to complete wins; the loser is cancelled."""
    timer_task, work_task = asyncio.ensure_future(timer), asyncio.ensure_future(work)
    done, pending = await asyncio.wait({timer_task, work_task}, return_when=asyncio.FIRST_COMPLETED)
    for loser in pending:
        loser.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return f"activity {work_task.result()}" if work_task in done else "timer"


@workflow.defn
async def activity_beats_timer(x: int) -> str:
    winner = await race(workflow.sleep(timedelta(days=1)), workflow.execute_activity(double, x))
    await park()
    return winner


@workflow.defn
async def timer_beats_activity(x: int) -> str:
    winner = await race(asyncio.sleep(0.02), workflow.execute_activity(double_slowly, x))
    await park()
    return winner


@workflow.defn
async def timeout_not_reached(x: int) -> int:
    async with asyncio.timeout(3600):
        value = await workflow.execute_activity(double, x)
    await park()
    return value


@workflow.defn
async def timeout_reached(x: int) -> str:
    try:
        async with asyncio.timeout(0.02):
            await workflow.execute_activity(double_slowly, x)
    except TimeoutError:
        outcome = "timed out"
    else:
        outcome = "finished"
    await park()
    return outcome


@workflow.defn
async def wait_for_both_ways(x: int) -> list[Any]:
    value = await asyncio.wait_for(workflow.execute_activity(double, x), timeout=3000)
    try:
        await asyncio.wait_for(workflow.execute_activity(double_slowly, x), timeout=0.02)
    except TimeoutError:
        late = "timed out"
    else:
        late = "finished"
    await park()
    return [value, late]


@workflow.defn
async def event_between_branches(x: int) -> list[int]:
    ready = asyncio.Event()
    values: list[int] = []

    async def producer() -> None:
        values.append(await workflow.execute_activity(double, x))
        ready.set()

    async def consumer() -> None:
        await ready.wait()
        values.append(await workflow.execute_activity(double, values[0]))

    await asyncio.gather(consumer(), producer())
    await park()
    return values


@workflow.defn
async def sleeps(x: int) -> float:
    start = workflow.now()
    await asyncio.sleep(0.01)
    await workflow.sleep(timedelta(milliseconds=10))
    await workflow.sleep(0.01)
    slept = (workflow.now() - start).total_seconds()
    await park()
    return slept


@workflow.defn
class Conditions:
    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self, x: int) -> list[bool]:
        async def bump() -> None:
            self.count += await workflow.execute_activity(double, x)

        bumping = asyncio.create_task(bump())
        met = await workflow.wait_condition(lambda: self.count > 0, timeout=timedelta(hours=2))
        await bumping
        missed = await workflow.wait_condition(lambda: self.count > 1000, timeout=0.02)
        already = await workflow.wait_condition(lambda: self.count > 0, timeout=0.02)
        await park()
        return [met, missed, already]


captured: list[list[str]] = []


@workflow.defn
async def deterministic_values(x: int) -> list[str]:
    values = [workflow.now().isoformat(), repr(workflow.random().random()), str(workflow.uuid4())]
    await workflow.execute_activity(double, x)
    values += [workflow.now().isoformat(), str(workflow.random().randint(0, 10**9))]
    await park()
    values += [workflow.now().isoformat(), str(workflow.uuid4())]
    captured.append(values)
    return values


SCENARIOS: list[tuple[Any, Any]] = [
    (gathers, [2, 4, 6]),
    (activity_beats_timer, "activity 2"),
    (timer_beats_activity, "timer"),
    (timeout_not_reached, 2),
    (timeout_reached, "timed out"),
    (wait_for_both_ways, [2, "timed out"]),
    (event_between_branches, [2, 4]),
    (Conditions, [True, False, True]),
]
WORKFLOWS = [scenario for scenario, _ in SCENARIOS] + [sleeps, deterministic_values]
ACTIVITIES = [double, double_slowly]


def is_parked(history: list[Event]) -> bool:
    """The park timer started and no activity is still running or being cancelled."""
    bodies = [event.body for event in history]
    parked = any(isinstance(b, TimerStarted) and b.duration == PARK for b in bodies)
    scheduled = {b.activity_id for b in bodies if isinstance(b, ActivityScheduled)}
    settled = {
        b.activity_id
        for b in bodies
        if isinstance(b, ActivityCompleted | ActivityCancelled)
        or (isinstance(b, ActivityFailed | ActivityTimedOut) and b.retry_at is None)
    }
    return parked and scheduled == settled


def assert_replays_exactly(workflow_fn: object, history: list[Event]) -> None:
    """`Replayer` accepts the history, twice, and a rebuilt instance issues nothing new."""
    replayer = Replayer(workflows=WORKFLOWS)
    replayer.replay(history)
    replayer.replay(history_to_json(history))
    instance = WorkflowInstance(
        workflow_definition(workflow_fn), history[0].workflow_id, history[0].run_id, history
    )
    instance.replay()
    assert instance.take_commands() == []
    assert instance.unmatched_commands() == []
    instance.discard()


async def run_across_restart(
    store: str | EventStore, wait_for_history: WaitForHistory, workflow_fn: Any, workflow_id: str
) -> tuple[Any, list[Event]]:
    """Run until parked, restart the engine, check nothing was re-recorded, then finish."""
    async with Engine(store, workflows=WORKFLOWS, activities=ACTIVITIES) as engine:
        await engine.start_workflow(workflow_fn, 1, id=workflow_id)
        parked = await wait_for_history(engine, workflow_id, is_parked)
    async with Engine(store, workflows=WORKFLOWS, activities=ACTIVITIES) as engine:
        await asyncio.sleep(0.05)  # recovery replayed it on start; give it time to misbehave
        recovered = await engine.store.read_events(workflow_id)
        assert history_to_json(recovered) == history_to_json(parked)
    async with WorkflowEnvironment(store=store, workflows=WORKFLOWS, activities=ACTIVITIES) as env:
        handle = env.engine.get_handle(workflow_id)
        result = await asyncio.wait_for(handle.result(), timeout=10)
        history = await handle.history()
    assert history[: len(parked)] == parked
    return result, history


@pytest.mark.parametrize(
    ("workflow_fn", "expected"), SCENARIOS, ids=lambda s: getattr(s, "__name__", "")
)
async def test_asyncio_in_workflows_replays_across_a_restart(
    reusable_store: str | EventStore,
    wait_for_history: WaitForHistory,
    workflow_fn: Any,
    expected: Any,
) -> None:
    result, history = await run_across_restart(
        reusable_store, wait_for_history, workflow_fn, "scenario"
    )
    assert result == expected
    assert isinstance(history[-1].body, WorkflowCompleted)
    assert_replays_exactly(workflow_fn, history)


async def test_losers_of_a_race_are_cancelled_durably(
    reusable_store: str | EventStore, wait_for_history: WaitForHistory
) -> None:
    _, won_by_activity = await run_across_restart(
        reusable_store, wait_for_history, activity_beats_timer, "race-1"
    )
    assert [type(e.body) for e in won_by_activity if isinstance(e.body, TimerCancelled)] == [
        TimerCancelled
    ]
    _, won_by_timer = await run_across_restart(
        reusable_store, wait_for_history, timer_beats_activity, "race-2"
    )
    bodies = [e.body for e in won_by_timer]
    fired = [b for b in bodies if isinstance(b, TimerFired)]
    assert [b.timer_id for b in fired] == [1, 2]  # the racing timer, then the park
    assert any(isinstance(b, ActivityCancelRequested) for b in bodies)
    assert any(isinstance(b, ActivityCancelled) for b in bodies)


async def test_asyncio_sleep_and_workflow_sleep_are_durable_timers(
    reusable_store: str | EventStore, wait_for_history: WaitForHistory
) -> None:
    slept, history = await run_across_restart(reusable_store, wait_for_history, sleeps, "sleeps")
    assert slept >= 0.03
    started = [e.body for e in history if isinstance(e.body, TimerStarted)]
    assert [t.duration for t in started] == [timedelta(milliseconds=10)] * 3 + [PARK]
    assert len([e for e in history if isinstance(e.body, TimerFired)]) == 4
    assert_replays_exactly(sleeps, history)


async def test_now_random_and_uuid4_replay_identically(
    reusable_store: str | EventStore, wait_for_history: WaitForHistory
) -> None:
    captured.clear()
    values, history = await run_across_restart(
        reusable_store, wait_for_history, deterministic_values, "values"
    )
    assert captured == [values]
    assert values[0] == history[0].recorded_at.isoformat()
    assert values[5] > values[3] > values[0]
    Replayer(workflows=WORKFLOWS).replay(history)
    Replayer(workflows=WORKFLOWS).replay(history_to_json(history))
    assert captured == [values, values, values]


OUTSIDE_WORLD: dict[str, Callable[[], Awaitable[Any]]] = {
    "executor": lambda: asyncio.get_running_loop().run_in_executor(None, sum, [1, 2]),
    "thread": lambda: asyncio.to_thread(sum, [1, 2]),
    "network": lambda: asyncio.open_connection("127.0.0.1", 9),
    "unix socket": lambda: asyncio.open_unix_connection("/nonexistent.sock"),
}


@workflow.defn
async def reaches_outside(attempt: str) -> str:
    try:
        await OUTSIDE_WORLD[attempt]()
    except workflow.NotAllowedInWorkflowError as error:
        return str(error)
    return "not refused"


@workflow.defn
async def runs_in_executor_uncaught() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sum, [1, 2])


@pytest.mark.parametrize(
    ("attempt", "what"),
    [
        ("executor", "run_in_executor"),
        ("thread", "run_in_executor"),
        ("network", "network I/O"),
        ("unix socket", "network I/O"),
    ],
)
async def test_threads_and_network_from_workflow_code_are_refused_clearly(
    attempt: str, what: str
) -> None:
    async with WorkflowEnvironment(workflows=[reaches_outside]) as env:
        message = await env.engine.execute_workflow(reaches_outside, attempt)
    assert message.startswith(f"{what} is not allowed in workflow code")
    assert "activity" in message


async def test_an_uncaught_refusal_fails_the_workflow_with_the_reason() -> None:
    async with WorkflowEnvironment(workflows=[runs_in_executor_uncaught], max_restarts=0) as env:
        with pytest.raises(WorkflowFailureError, match="run_in_executor is not allowed"):
            await env.engine.execute_workflow(runs_in_executor_uncaught)


@workflow.defn
async def asks_for_activity_info() -> str:
    await workflow.sleep(0.01)
    return activity.info().activity_type  # a bug: workflow code is not an activity


@pytest.mark.parametrize("workflow_fn", [runs_in_executor_uncaught, asks_for_activity_info])
async def test_an_aion_error_raised_by_workflow_code_is_supervised_when_it_recurs_in_replay(
    workflow_fn: Any,
) -> None:
    async with WorkflowEnvironment(
        workflows=[workflow_fn], max_restarts=1, restart_backoff=timedelta(milliseconds=10)
    ) as env:
        handle = await env.engine.start_workflow(workflow_fn, id="buggy")
        with pytest.raises(WorkflowFailureError, match=r"not allowed|needs a running activity"):
            await asyncio.wait_for(handle.result(), timeout=2)


cleanups: list[str] = []


@workflow.defn
async def compensates_on_exit() -> None:
    try:
        await workflow.sleep(timedelta(hours=1))
    finally:
        cleanups.append(workflow.info().workflow_id)
        await workflow.execute_activity(double, 1)


async def test_an_evicted_instance_ends_its_code_at_once_on_its_own_loop_recording_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cleanups.clear()
    async with Engine(
        "memory://",
        workflows=[compensates_on_exit],
        activities=[double],
        max_cached_workflows=1,
    ) as engine:
        first = await engine.start_workflow(compensates_on_exit, id="first")
        first_history = await first.history()
        second = await engine.start_workflow(compensates_on_exit, id="second")
        await asyncio.sleep(0)  # the runner of "second" goes idle and "first" is evicted
        assert engine.cached_workflows == 1
        # Its `finally` ran during the eviction, as workflow "first", not at some
        # later garbage collection under whichever loop happens to run then.
        assert cleanups == ["first"]
        assert await first.history() == first_history
        assert [e.type for e in await second.history()] == ["WorkflowStarted", "TimerStarted"]
    assert not [r for r in caplog.records if "destroyed but it is pending" in r.getMessage()]
