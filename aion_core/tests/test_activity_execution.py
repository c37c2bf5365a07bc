"""The engine executes activities (DESIGN 4.6): it enforces every timeout kind, hands heartbeat
details to the next attempt, delivers cancellation, keeps an idempotency key stable across
attempts, runs sync activities in threads, and records every attempt with its number.

Timeouts here are real time (an attempt in progress keeps the engine busy, so even a skipping
clock waits for it); they are kept between 0.1 s and 0.5 s.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from aion_core import (
    ApplicationError,
    Engine,
    Event,
    RetryPolicy,
    WorkflowFailureError,
    WorkflowStatus,
    activity,
    workflow,
)
from aion_core.converter import from_payload
from aion_core.events import (
    ActivityCancelled,
    ActivityCancelRequested,
    ActivityCompleted,
    ActivityFailed,
    ActivityStarted,
    ActivityTimedOut,
    EventBody,
    WorkflowTerminated,
)

_B = TypeVar("_B", bound=EventBody)

FAST = RetryPolicy(
    initial_interval=timedelta(milliseconds=20),
    backoff_coefficient=1.0,
    maximum_interval=timedelta(milliseconds=20),
)
LONG = 30.0
"""How long a blocking activity would run if nobody stopped it (seconds)."""

# What the fake activities saw, per test key (each test uses its own key).
seen: dict[str, list[Any]] = {}
started: dict[str, asyncio.Event] = {}
sync_started: dict[str, threading.Event] = {}


def note(key: str, what: Any) -> None:
    seen.setdefault(key, []).append(what)


@pytest.fixture(autouse=True)
def _fresh_notes() -> None:
    seen.clear()
    started.clear()
    sync_started.clear()


# --- activities ----------------------------------------------------------------------------------


@activity.defn
async def blocks_on_first_attempt(key: str) -> int:
    attempt = activity.info().attempt
    if attempt == 1:
        try:
            await asyncio.sleep(LONG)
        except asyncio.CancelledError:
            note(key, ("cancelled", attempt))
            raise
    return attempt


@activity.defn
def blocks_in_a_thread(key: str) -> str:
    attempt = activity.info().attempt
    deadline = time.monotonic() + LONG
    while time.monotonic() < deadline:
        if activity.is_cancelled():
            note(key, ("is_cancelled", attempt))
            return "gave up"
        time.sleep(0.005)
    return "finished"


@activity.defn
async def heartbeats_then_goes_silent(key: str) -> list[int]:
    info = activity.info()
    note(key, ("attempt", info.attempt, list(info.heartbeat_details)))
    if info.attempt == 1:
        activity.heartbeat(1)
        await asyncio.sleep(0.05)
        activity.heartbeat(2)
        await asyncio.sleep(LONG)  # silent from here on
    return list(info.heartbeat_details)


@activity.defn
async def heartbeats_steadily(key: str) -> int:
    beats = 0
    for _ in range(8):  # 0.32 s in all, more than twice the heartbeat timeout
        await asyncio.sleep(0.04)
        beats += 1
        activity.heartbeat(beats)
    return beats


@activity.defn
def heartbeats_then_fails(key: str) -> str:
    info = activity.info()
    note(key, ("attempt", info.attempt, info.heartbeat_details, threading.current_thread().name))
    if info.attempt == 1:
        activity.heartbeat("chunk", 3)
        raise RuntimeError("disk full")
    if info.attempt == 2:
        raise RuntimeError("still full")  # fails again without a heartbeat of its own
    return f"resumed from {info.heartbeat_details}"


@activity.defn
async def always_fails(key: str) -> None:
    note(key, ("attempt", activity.info().attempt))
    raise RuntimeError("still broken")


@activity.defn
async def blocks_forever(key: str) -> None:
    note(key, ("attempt", activity.info().attempt))
    started.setdefault(key, asyncio.Event()).set()
    try:
        await asyncio.sleep(LONG)
    except asyncio.CancelledError:
        note(key, ("cancelled", activity.info().attempt))
        raise


@activity.defn
def blocks_forever_in_a_thread(key: str) -> None:
    sync_started.setdefault(key, threading.Event()).set()
    deadline = time.monotonic() + LONG
    while time.monotonic() < deadline and not activity.is_cancelled():
        time.sleep(0.005)
    note(key, ("is_cancelled", activity.is_cancelled()))


@activity.defn
async def flaky_with_key(key: str, failures: int) -> str:
    info = activity.info()
    note(key, info.idempotency_key)
    if info.attempt <= failures:
        raise RuntimeError(f"attempt {info.attempt} failed")
    return info.idempotency_key


@activity.defn
def where_am_i(barrier_key: str) -> str:
    barrier = barriers[barrier_key]
    barrier.wait()  # both sync activities must be running at once to pass
    return threading.current_thread().name


barriers: dict[str, threading.Barrier] = {}


# --- workflows -----------------------------------------------------------------------------------


@workflow.defn
async def start_to_close_async(key: str) -> int:
    return await workflow.execute_activity(
        blocks_on_first_attempt,
        key,
        start_to_close_timeout=timedelta(seconds=0.2),
        retry_policy=FAST,
    )


@workflow.defn
async def start_to_close_sync(key: str) -> str:
    return await workflow.execute_activity(
        blocks_in_a_thread,
        key,
        start_to_close_timeout=timedelta(seconds=0.15),
        retry_policy=FAST.model_copy(update={"maximum_attempts": 2}),
    )


@workflow.defn
async def heartbeat_silence(key: str) -> list[int]:
    return await workflow.execute_activity(
        heartbeats_then_goes_silent,
        key,
        start_to_close_timeout=timedelta(seconds=10),
        heartbeat_timeout=timedelta(seconds=0.2),
        retry_policy=FAST,
    )


@workflow.defn
async def heartbeat_steady(key: str) -> int:
    return await workflow.execute_activity(
        heartbeats_steadily,
        key,
        heartbeat_timeout=timedelta(seconds=0.15),
        retry_policy=FAST.model_copy(update={"maximum_attempts": 1}),
    )


@workflow.defn
async def heartbeat_then_failure(key: str) -> str:
    return await workflow.execute_activity(heartbeats_then_fails, key, retry_policy=FAST)


@workflow.defn
async def schedule_to_close_failures(key: str) -> None:
    await workflow.execute_activity(
        always_fails,
        key,
        schedule_to_close_timeout=timedelta(seconds=0.4),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(milliseconds=50),
            backoff_coefficient=1.0,
            maximum_interval=timedelta(milliseconds=50),
        ),
    )


@workflow.defn
async def schedule_to_close_one_attempt(key: str) -> None:
    await workflow.execute_activity(
        blocks_forever, key, schedule_to_close_timeout=timedelta(seconds=0.3), retry_policy=FAST
    )


@workflow.defn
async def schedule_to_close_timeouts(key: str) -> None:
    await workflow.execute_activity(
        blocks_forever,
        key,
        start_to_close_timeout=timedelta(seconds=0.12),
        schedule_to_close_timeout=timedelta(seconds=0.5),
        retry_policy=FAST,
    )


@workflow.defn
async def cancels_with_timeout(key: str, sync: bool) -> str:
    try:
        async with asyncio.timeout(0.2):
            if sync:
                await workflow.execute_activity(blocks_forever_in_a_thread, key)
            else:
                await workflow.execute_activity(blocks_forever, key)
    except TimeoutError:
        # Stay open until the test has seen the activity's cancellation recorded.
        released = asyncio.Event()
        workflow.register_signal("release", released.set)
        await released.wait()
        return "timed out"
    return "finished"


@workflow.defn
async def cancels_a_task(key: str) -> str:
    task = asyncio.ensure_future(workflow.execute_activity(blocks_forever, key))
    await workflow.sleep(0.2)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        released = asyncio.Event()
        workflow.register_signal("release", released.set)
        await released.wait()  # until the test has seen the cancellation recorded
        return "cancelled"
    return "finished"


@workflow.defn
async def two_flaky_activities(key: str) -> list[str]:
    first = await workflow.execute_activity(flaky_with_key, key, 2, retry_policy=FAST)
    second = await workflow.execute_activity(flaky_with_key, key + "-2", 0, retry_policy=FAST)
    return [first, second]


@workflow.defn
async def two_sync_at_once(barrier_key: str) -> list[str]:
    return list(
        await asyncio.gather(
            workflow.execute_activity(where_am_i, barrier_key),
            workflow.execute_activity(where_am_i, barrier_key),
        )
    )


@workflow.defn
async def calls_unregistered(key: str) -> None:
    await workflow.execute_activity(
        "no-such-activity", key, retry_policy=FAST.model_copy(update={"maximum_attempts": 2})
    )


@workflow.defn
async def runs_until_closed(key: str, sync: bool) -> None:
    if sync:
        await workflow.execute_activity(blocks_forever_in_a_thread, key)
    else:
        await workflow.execute_activity(blocks_forever, key)


WORKFLOWS = [
    start_to_close_async,
    start_to_close_sync,
    heartbeat_silence,
    heartbeat_steady,
    heartbeat_then_failure,
    schedule_to_close_failures,
    schedule_to_close_one_attempt,
    schedule_to_close_timeouts,
    cancels_with_timeout,
    cancels_a_task,
    two_flaky_activities,
    two_sync_at_once,
    calls_unregistered,
    runs_until_closed,
]
ACTIVITIES = [
    blocks_on_first_attempt,
    blocks_in_a_thread,
    heartbeats_then_goes_silent,
    heartbeats_steadily,
    heartbeats_then_fails,
    always_fails,
    blocks_forever,
    blocks_forever_in_a_thread,
    flaky_with_key,
    where_am_i,
]


# --- helpers -------------------------------------------------------------------------------------


def bodies(history: list[Event], kind: type[_B]) -> list[_B]:
    return [event.body for event in history if isinstance(event.body, kind)]


def attempt_events(history: list[Event]) -> list[tuple[str, int]]:
    """(event type, attempt) of every attempt event, in order."""
    kinds = ActivityStarted | ActivityCompleted | ActivityFailed | ActivityTimedOut
    return [
        (event.type, event.body.attempt)  # type: ignore[union-attr]
        for event in history
        if isinstance(event.body, kinds | ActivityCancelled)
    ]


async def eventually(check: Callable[[], bool]) -> None:
    """Wait (5 s at most) until `check()` holds."""
    async with asyncio.timeout(5):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


def causes(error: BaseException) -> list[tuple[str, str]]:
    """(recorded type, message) of each cause below a `WorkflowFailureError`."""
    found = []
    cause = error.__cause__
    while isinstance(cause, ApplicationError):
        found.append((cause.type, cause.message))
        cause = cause.__cause__
    return found


def engine_for(store_url: str) -> Engine:
    return Engine(store_url, workflows=WORKFLOWS, activities=ACTIVITIES)


# --- timeouts ------------------------------------------------------------------------------------


async def test_start_to_close_timeout_cancels_a_slow_async_attempt_and_retries(
    store_url: str,
) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(start_to_close_async, "s2c", id="s2c")
        assert await handle.result() == 2
        history = await handle.history()
    [timed_out] = bodies(history, ActivityTimedOut)
    assert (timed_out.attempt, timed_out.timeout_kind) == (1, "start_to_close")
    assert timed_out.retry_at is not None
    assert attempt_events(history) == [
        ("ActivityStarted", 1),
        ("ActivityTimedOut", 1),
        ("ActivityStarted", 2),
        ("ActivityCompleted", 2),
    ]
    assert seen["s2c"] == [("cancelled", 1)]


async def test_start_to_close_timeout_applies_to_sync_activities_until_attempts_run_out(
    store_url: str,
) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(start_to_close_sync, "s2c-sync", id="s2c-sync")
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        history = await handle.history()
    outcomes = bodies(history, ActivityTimedOut)
    assert [(o.attempt, o.timeout_kind) for o in outcomes] == [
        (1, "start_to_close"),
        (2, "start_to_close"),
    ]
    assert outcomes[0].retry_at is not None
    assert outcomes[1].retry_at is None  # maximum_attempts=2: the second timeout is final
    assert [s.attempt for s in bodies(history, ActivityStarted)] == [1, 2]
    assert not bodies(history, ActivityCompleted)
    assert causes(caught.value) == [
        (
            "ActivityError",
            "activity 'blocks_in_a_thread' failed on attempt 2: start_to_close timeout",
        ),
        ("TimeoutError", "start-to-close timeout"),
    ]
    # The thread was told to stop each time (it polls activity.is_cancelled()).
    await eventually(lambda: len(seen.get("s2c-sync", [])) == 2)
    assert seen["s2c-sync"] == [("is_cancelled", 1), ("is_cancelled", 2)]


async def test_heartbeat_timeout_times_out_a_silent_attempt_and_passes_its_last_details_on(
    store_url: str,
) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(heartbeat_silence, "hb", id="hb")
        assert await handle.result() == [2]
        history = await handle.history()
    [timed_out] = bodies(history, ActivityTimedOut)
    assert (timed_out.attempt, timed_out.timeout_kind) == (1, "heartbeat")
    assert [from_payload(p) for p in timed_out.last_heartbeat_details] == [2]
    assert attempt_events(history) == [
        ("ActivityStarted", 1),
        ("ActivityTimedOut", 1),
        ("ActivityStarted", 2),
        ("ActivityCompleted", 2),
    ]
    assert seen["hb"] == [("attempt", 1, []), ("attempt", 2, [2])]


async def test_heartbeats_keep_an_attempt_alive_past_its_heartbeat_timeout(store_url: str) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(heartbeat_steady, "steady", id="steady")
        assert await handle.result() == 8
        history = await handle.history()
    assert attempt_events(history) == [("ActivityStarted", 1), ("ActivityCompleted", 1)]


async def test_the_last_heartbeat_details_reach_later_attempts_of_a_sync_activity(
    store_url: str,
) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(heartbeat_then_failure, "hb-fail", id="hb-fail")
        assert await handle.result() == "resumed from ('chunk', 3)"
        history = await handle.history()
    failures = bodies(history, ActivityFailed)
    assert [(f.attempt, f.failure.message) for f in failures] == [
        (1, "disk full"),
        (2, "still full"),
    ]
    # Attempt 2 did not heartbeat: the last details are still attempt 1's.
    for failed in failures:
        assert [from_payload(p) for p in failed.last_heartbeat_details] == ["chunk", 3]
    attempts = seen["hb-fail"]
    assert [(a[1], a[2]) for a in attempts] == [(1, ()), (2, ("chunk", 3)), (3, ("chunk", 3))]
    assert all(a[3].startswith("aion-activity") for a in attempts)  # each ran in a thread


async def test_schedule_to_close_ends_retries_with_the_last_failure(store_url: str) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(schedule_to_close_failures, "stc", id="stc")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        history = await handle.history()
    scheduled_at = next(e.recorded_at for e in history if e.type == "ActivityScheduled")
    deadline = scheduled_at + timedelta(seconds=0.4)
    failures = bodies(history, ActivityFailed)
    # The policy allows unlimited attempts: only the schedule-to-close budget stops them.
    assert len(failures) >= 2
    assert [f.attempt for f in failures] == list(range(1, len(failures) + 1))
    assert [s.attempt for s in bodies(history, ActivityStarted)] == [f.attempt for f in failures]
    *retried, final = failures
    assert all(f.retry_at is not None and f.retry_at < deadline for f in retried)
    assert final.retry_at is None
    assert final.failure.message == "still broken"
    final_at = next(e.recorded_at for e in history if e.body is final)
    assert final_at + timedelta(milliseconds=50) >= deadline  # the next retry would not fit
    # (Each retry was due before the deadline, above; its start is recorded when the
    # engine gets to it, which may be a moment past the deadline on a busy machine.)
    assert not bodies(history, ActivityTimedOut)


async def test_schedule_to_close_times_out_a_running_attempt_without_retrying(
    store_url: str,
) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(schedule_to_close_one_attempt, "stc1", id="stc1")
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        history = await handle.history()
    [timed_out] = bodies(history, ActivityTimedOut)
    assert (timed_out.attempt, timed_out.timeout_kind, timed_out.retry_at) == (
        1,
        "schedule_to_close",
        None,
    )
    assert attempt_events(history) == [("ActivityStarted", 1), ("ActivityTimedOut", 1)]
    assert seen["stc1"] == [("attempt", 1), ("cancelled", 1)]
    assert [kind for kind, _ in causes(caught.value)] == ["ActivityError", "TimeoutError"]
    assert causes(caught.value)[1][1] == "schedule-to-close timeout"


async def test_schedule_to_close_bounds_start_to_close_retries(store_url: str) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(schedule_to_close_timeouts, "stc2", id="stc2")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        history = await handle.history()
    scheduled_at = next(e.recorded_at for e in history if e.type == "ActivityScheduled")
    deadline = scheduled_at + timedelta(seconds=0.5)
    outcomes = bodies(history, ActivityTimedOut)
    assert len(outcomes) >= 2
    assert [o.attempt for o in outcomes] == list(range(1, len(outcomes) + 1))
    *retried, final = outcomes
    assert all(o.timeout_kind == "start_to_close" and o.retry_at is not None for o in retried)
    assert all(o.retry_at is not None and o.retry_at < deadline for o in retried)
    # Either the budget ran out mid-attempt, or the next retry would not have fitted in it.
    assert final.retry_at is None
    assert final.timeout_kind in ("schedule_to_close", "start_to_close")
    # Every attempt started was the first or a retry due before the deadline, and none
    # more (its start is recorded when the engine gets to it, which may be a moment past
    # the deadline on a busy machine; the budget then ends that attempt).
    assert [s.attempt for s in bodies(history, ActivityStarted)] == [o.attempt for o in outcomes]


WaitForHistory = Callable[[Engine, str, Callable[[list[Event]], bool]], Awaitable[list[Event]]]


def cancellation_recorded(history: list[Event]) -> bool:
    return any(e.type == "ActivityCancelled" for e in history)


# --- cancellation --------------------------------------------------------------------------------


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_a_workflow_timeout_cancels_the_running_activity(
    store_url: str, sync: bool, wait_for_history: WaitForHistory
) -> None:
    key = f"cancel-{sync}"
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(cancels_with_timeout, key, sync, id=key)
        await wait_for_history(engine, handle.workflow_id, cancellation_recorded)
        await handle.signal("release")
        assert await handle.result() == "timed out"
        history = await handle.history()
    types = [e.type for e in history]
    assert types.index("ActivityCancelRequested") < types.index("ActivityCancelled")
    assert bodies(history, ActivityCancelRequested)[0].activity_id == 1
    [cancelled] = bodies(history, ActivityCancelled)
    assert (cancelled.activity_id, cancelled.attempt) == (1, 1)
    assert not bodies(history, ActivityCompleted)
    expected = ("is_cancelled", True) if sync else ("cancelled", 1)
    await eventually(lambda: expected in seen.get(key, []))


async def test_cancelling_the_task_of_an_activity_cancels_the_activity(
    store_url: str, wait_for_history: WaitForHistory
) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(cancels_a_task, "task-cancel", id="task-cancel")
        await wait_for_history(engine, handle.workflow_id, cancellation_recorded)
        await handle.signal("release")
        assert await handle.result() == "cancelled"
        history = await handle.history()
    assert [e.type for e in history if e.type.startswith("Activity")] == [
        "ActivityScheduled",
        "ActivityStarted",
        "ActivityCancelRequested",
        "ActivityCancelled",
    ]
    assert seen["task-cancel"] == [("attempt", 1), ("cancelled", 1)]


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_running_activities_are_cancelled_when_the_workflow_is_terminated(
    store_url: str, sync: bool
) -> None:
    key = f"terminate-{sync}"
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(runs_until_closed, key, sync, id=key)
        if sync:
            await eventually(lambda: key in sync_started and sync_started[key].is_set())
        else:
            await eventually(lambda: key in started and started[key].is_set())
        await handle.terminate("enough")
        expected = ("is_cancelled", True) if sync else ("cancelled", 1)
        await eventually(lambda: expected in seen.get(key, []))
        await asyncio.sleep(0.05)  # room for anything (wrongly) recorded after the close
        history = await handle.history()
        assert (await handle.describe()).status is WorkflowStatus.TERMINATED
    assert isinstance(history[-1].body, WorkflowTerminated)
    assert history[-1].body.reason == "enough"
    assert not bodies(history, ActivityCancelled)
    assert not bodies(history, ActivityCompleted)


# --- the activity context ------------------------------------------------------------------------


async def test_the_idempotency_key_is_stable_across_attempts_and_unique_per_activity(
    store_url: str,
) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(two_flaky_activities, "idem", id="idem")
        first, second = await handle.result()
        history = await handle.history()
    assert seen["idem"] == [first, first, first]  # three attempts, one key
    assert seen["idem-2"] == [second]
    assert first != second
    assert [s.attempt for s in bodies(history, ActivityStarted)] == [1, 2, 3, 1]


async def test_sync_activities_run_in_threads_alongside_each_other(store_url: str) -> None:
    barriers["threads"] = threading.Barrier(2, timeout=5)
    async with engine_for(store_url) as engine:
        names = await engine.execute_workflow(two_sync_at_once, "threads", id="threads")
    assert len(names) == 2
    assert all(name.startswith("aion-activity") for name in names)
    assert threading.main_thread().name not in names


async def test_an_unregistered_activity_fails_its_attempts_as_not_registered(
    store_url: str,
) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start_workflow(calls_unregistered, "nobody", id="nobody")
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        history = await handle.history()
    failures = bodies(history, ActivityFailed)
    assert [(f.attempt, f.failure.type) for f in failures] == [
        (1, "ActivityNotRegistered"),
        (2, "ActivityNotRegistered"),
    ]
    assert "no activity named 'no-such-activity'" in failures[0].failure.message
    assert failures[0].retry_at is not None
    assert failures[1].retry_at is None
    assert [kind for kind, _ in causes(caught.value)] == [
        "ActivityError",
        "ActivityNotRegistered",
    ]


def test_activity_helpers_refuse_to_run_outside_an_activity() -> None:
    with pytest.raises(activity.NotInActivityError):
        activity.info()
    with pytest.raises(activity.NotInActivityError):
        activity.heartbeat(1)
    with pytest.raises(activity.NotInActivityError):
        activity.is_cancelled()
