"""The engine runs workflows durably: activities, retries, timers, ids, results, on every store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio

from aion_core import (
    ActivityError,
    ApplicationError,
    Engine,
    PayloadValidationError,
    RetryPolicy,
    WorkflowAlreadyStartedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
    WorkflowStatus,
    activity,
    workflow,
)
from aion_core.errors import ConfigurationError
from aion_core.events import ActivityFailed, ActivityStarted

FAST = RetryPolicy(
    initial_interval=timedelta(milliseconds=5), maximum_interval=timedelta(milliseconds=20)
)
attempts: dict[str, int] = {}


@activity.defn
async def add_one(x: int) -> int:
    return x + 1


@activity.defn
def flaky_times_ten(key: str, x: int) -> int:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] < 3:
        raise RuntimeError(f"flaky attempt {attempts[key]}")
    return x * 10


@activity.defn
async def declines(card: str) -> None:
    raise ApplicationError("card declined", non_retryable=True, details=[card], type="CardDeclined")


@workflow.defn
async def w3(x: int) -> int:
    for _ in range(3):
        x = await workflow.execute_activity(add_one, x)
    return x


@workflow.defn
async def retrying(key: str) -> int:
    return await workflow.execute_activity(flaky_times_ten, key, 7, retry_policy=FAST)


@workflow.defn
async def charging(card: str) -> str:
    await workflow.execute_activity(declines, card)
    return "charged"


@workflow.defn
class Napper:
    @workflow.run
    async def run(self, seconds: float) -> float:
        before = workflow.now()
        await workflow.sleep(seconds)
        return (workflow.now() - before).total_seconds()


ALL_WORKFLOWS = [w3, retrying, charging, Napper]
ALL_ACTIVITIES = [add_one, flaky_times_ten, declines]


@pytest_asyncio.fixture
async def engine(store_url: str) -> AsyncIterator[Engine]:
    attempts.clear()
    async with Engine(store_url, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES) as engine:
        yield engine


async def test_w3_runs_three_activities_in_order(engine: Engine) -> None:
    handle = await engine.start_workflow(w3, 1, id="w3-a")
    assert await handle.result() == 4
    types = [event.type for event in await handle.history()]
    assert types == [
        "WorkflowStarted",
        *["ActivityScheduled", "ActivityStarted", "ActivityCompleted"] * 3,
        "WorkflowCompleted",
    ]
    record = await handle.describe()
    assert record.status is WorkflowStatus.COMPLETED
    assert record.workflow_type == "w3"


async def test_every_failed_attempt_is_recorded_with_its_number(engine: Engine) -> None:
    handle = await engine.start_workflow(retrying, "retry-1", id="retry-1")
    assert await handle.result() == 70
    history = await handle.history()
    started = [e.body.attempt for e in history if isinstance(e.body, ActivityStarted)]
    failed = [e.body for e in history if isinstance(e.body, ActivityFailed)]
    assert started == [1, 2, 3]
    assert [f.attempt for f in failed] == [1, 2]
    assert all(f.retry_at is not None for f in failed)
    assert failed[0].failure.message == "flaky attempt 1"
    assert failed[0].failure.type == "RuntimeError"


async def test_a_non_retryable_error_fails_the_workflow_with_its_cause(engine: Engine) -> None:
    handle = await engine.start_workflow(charging, "4242", id="charge-1")
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert caught.value.status == "failed"
    cause = caught.value.__cause__
    assert isinstance(cause, ApplicationError)
    assert cause.type == "ActivityError"
    root = cause.__cause__
    assert isinstance(root, ApplicationError)
    assert (root.type, root.message, root.details, root.non_retryable) == (
        "CardDeclined",
        "card declined",
        ("4242",),
        True,
    )
    starts = [e for e in await handle.history() if isinstance(e.body, ActivityStarted)]
    assert len(starts) == 1
    assert (await handle.describe()).status is WorkflowStatus.FAILED


async def test_a_durable_timer_fires_once(engine: Engine) -> None:
    handle = await engine.start_workflow(Napper.run, 0.05, id="nap")
    assert await handle.result() >= 0.05
    types = [event.type for event in await handle.history()]
    assert types == ["WorkflowStarted", "TimerStarted", "TimerFired", "WorkflowCompleted"]


async def test_bad_input_is_refused_before_anything_is_recorded(engine: Engine) -> None:
    with pytest.raises(PayloadValidationError, match="not a valid int"):
        await engine.start_workflow(w3, "one", id="bad")
    with pytest.raises(PayloadValidationError, match="takes 1 argument, got 2"):
        await engine.start_workflow(w3, 1, 2, id="bad")
    with pytest.raises(WorkflowNotFoundError):
        await engine.get_handle("bad").describe()
    assert await engine.store.read_events("bad") == []


async def test_unregistered_workflows_are_refused(engine: Engine) -> None:
    with pytest.raises(ConfigurationError, match="'nope' is not registered"):
        await engine.start_workflow("nope", id="x")


async def test_id_conflict_policies(engine: Engine) -> None:
    first = await engine.start_workflow(Napper.run, 30.0, id="dup")
    with pytest.raises(WorkflowAlreadyStartedError, match="running"):
        await engine.start_workflow(Napper.run, 1.0, id="dup")
    same = await engine.start_workflow(Napper.run, 1.0, id="dup", id_conflict="use_existing")
    assert same.run_id == first.run_id
    replaced = await engine.start_workflow(
        Napper.run, 0.0, id="dup", id_conflict="terminate_existing"
    )
    assert replaced.run_id != first.run_id
    assert await replaced.result() == 0.0
    history = await replaced.history()
    assert [e.type for e in history][:4] == [
        "WorkflowStarted",
        "TimerStarted",
        "WorkflowTerminated",
        "WorkflowStarted",
    ]
    assert {e.run_id for e in history[:3]} == {first.run_id}


async def test_id_reuse_policies(engine: Engine) -> None:
    await (await engine.start_workflow(w3, 1, id="reuse")).result()
    with pytest.raises(WorkflowAlreadyStartedError, match="id_reuse='reject'"):
        await engine.start_workflow(w3, 1, id="reuse", id_reuse="reject")
    with pytest.raises(WorkflowAlreadyStartedError, match="allow_failed_only"):
        await engine.start_workflow(w3, 1, id="reuse", id_reuse="allow_failed_only")
    again = await engine.start_workflow(w3, 10, id="reuse")
    assert await again.result() == 13
    failed = await engine.start_workflow(charging, "1", id="reuse-failed")
    with pytest.raises(WorkflowFailureError):
        await failed.result()
    retried = await engine.start_workflow(
        charging, "2", id="reuse-failed", id_reuse="allow_failed_only"
    )
    assert retried.run_id != failed.run_id


async def test_id_policies_hold_for_a_workflow_no_longer_in_memory(store_url: str) -> None:
    # A start for a workflow without a runner assumes a new id and reads nothing; when
    # the id exists after all, its append conflicts and the start is taken again.
    async with Engine(
        store_url, workflows=ALL_WORKFLOWS, activities=ALL_ACTIVITIES, max_cached_workflows=1
    ) as engine:

        async def forget(workflow_id: str) -> None:
            await (await engine.start_workflow(w3, 1, id=f"evicts-{workflow_id}")).result()
            assert engine.cached_runner(workflow_id) is None

        first = await engine.start_workflow(Napper.run, 30.0, id="dup")
        await forget("dup")
        with pytest.raises(WorkflowAlreadyStartedError, match="running"):
            await engine.start_workflow(Napper.run, 1.0, id="dup")
        await forget("dup")
        same = await engine.start_workflow(Napper.run, 1.0, id="dup", id_conflict="use_existing")
        assert same.run_id == first.run_id

        done = await engine.start_workflow(w3, 1, id="done")
        assert await done.result() == 4
        await forget("done")
        with pytest.raises(WorkflowAlreadyStartedError, match="id_reuse='reject'"):
            await engine.start_workflow(w3, 1, id="done", id_reuse="reject")
        await forget("done")
        again = await engine.start_workflow(w3, 10, id="done")
        assert again.run_id != done.run_id
        assert await again.result() == 13
        history = await again.history()
        assert [e.seq for e in history] == list(range(1, len(history) + 1))
        assert [e.run_id for e in history if e.type == "WorkflowStarted"] == [
            done.run_id,
            again.run_id,
        ]


async def test_many_concurrent_workflows_complete(engine: Engine) -> None:
    handles = await asyncio.gather(
        *(engine.start_workflow(w3, i, id=f"many-{i}") for i in range(200))
    )
    results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [i + 3 for i in range(200)]
    assert await engine.count_workflows(status=WorkflowStatus.COMPLETED, type="w3") == 200


async def test_list_and_count(engine: Engine) -> None:
    await engine.start_workflow(Napper.run, 60.0, id="sleepy", search_attributes={"team": "ops"})
    await (await engine.start_workflow(w3, 1, id="done")).result()
    running = await engine.list_workflows(status=WorkflowStatus.RUNNING)
    assert [r.workflow_id for r in running] == ["sleepy"]
    assert [r.workflow_id for r in await engine.list_workflows(search={"team": "ops"})] == [
        "sleepy"
    ]
    assert await engine.count_workflows() == 2
    sleepy = await engine.get_handle("sleepy").describe()
    later = await engine.list_workflows(started_after=sleepy.start_time)
    assert [r.workflow_id for r in later] == ["done"]
    up_to_sleepy = sleepy.start_time + timedelta(microseconds=1)
    assert await engine.count_workflows(started_before=up_to_sleepy) == 1


async def test_activity_error_surfaces_in_workflow_code(store_url: str) -> None:
    @workflow.defn(name="catcher")
    async def catcher(card: str) -> str:
        try:
            await workflow.execute_activity(declines, card)
        except ActivityError as error:
            return f"caught {error.activity_type} attempt {error.attempt}: {error.__cause__}"
        return "not reached"

    async with Engine(store_url, workflows=[catcher], activities=[declines]) as engine:
        assert (
            await engine.execute_workflow(catcher, "1")
            == "caught declines attempt 1: card declined"
        )
