"""Continue-as-new keeps one stream: the old run closes and the next starts in the same batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aion_core import Engine, Event, EventStore, WorkflowStatus, activity, workflow
from aion_core.events import (
    ActivityCompleted,
    TimerStarted,
    WorkflowCompleted,
    WorkflowContinuedAsNew,
    WorkflowStarted,
)
from aion_core.history import history_to_json
from aion_core.testing import Replayer, WorkflowEnvironment

WaitForHistory = Callable[[Engine, str, Callable[[list[Event]], bool]], Awaitable[list[Event]]]

executions: list[int] = []


@activity.defn
async def note(n: int) -> int:
    executions.append(n)
    return n


@workflow.defn
async def counter(n: int, stop: int) -> list[str]:
    await workflow.sleep(1)
    if n < stop:
        workflow.continue_as_new(n + 1, stop)
    info = workflow.info()
    return [str(n), info.run_id, info.continued_from_run_id or ""]


@workflow.defn
async def two_runs(n: int) -> int:
    await workflow.execute_activity(note, n)
    if n == 1:
        await workflow.sleep(0.02)
        workflow.continue_as_new(2)
    await workflow.sleep(timedelta(hours=1))
    return n


def runs_of(history: list[Event]) -> list[str]:
    return list(dict.fromkeys(event.run_id for event in history))


async def test_continue_as_new_keeps_one_stream_and_result_follows_to_the_last_run(
    store_url: str,
) -> None:
    async with WorkflowEnvironment(store=store_url, workflows=[counter]) as env:
        handle = await env.engine.start_workflow(counter, 0, 3, id="counter")
        n, last_run_id, continued_from = await asyncio.wait_for(handle.result(), timeout=10)
        history = await handle.history()
        record = await handle.describe()
    runs = runs_of(history)
    assert n == "3"
    assert len(runs) == len(set(runs)) == 4
    assert runs[0] == handle.run_id
    assert (runs[-1], runs[-2]) == (last_run_id, continued_from)
    assert (record.run_id, record.status) == (last_run_id, WorkflowStatus.COMPLETED)
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    continued = [i for i, e in enumerate(history) if isinstance(e.body, WorkflowContinuedAsNew)]
    assert len(continued) == 3
    for index in continued:
        closing, starting = history[index], history[index + 1]
        assert isinstance(closing.body, WorkflowContinuedAsNew)
        assert isinstance(starting.body, WorkflowStarted)
        assert starting.run_id == closing.body.new_run_id != closing.run_id
        assert starting.body.parent_run_id == closing.run_id
        assert starting.recorded_at == closing.recorded_at  # one batch
        assert starting.body.input != history[0].body.input  # type: ignore[union-attr]
    assert isinstance(history[-1].body, WorkflowCompleted)
    Replayer(workflows=[counter]).replay(history)
    Replayer(workflows=[counter]).replay(history_to_json(history))


async def test_a_restart_after_continuing_as_new_loses_nothing(
    reusable_store: str | EventStore, wait_for_history: WaitForHistory
) -> None:
    executions.clear()

    def second_run_parked(history: list[Event]) -> bool:
        return len(runs_of(history)) == 2 and isinstance(history[-1].body, TimerStarted)

    async with Engine(reusable_store, workflows=[two_runs], activities=[note]) as engine:
        handle = await engine.start_workflow(two_runs, 1, id="two-runs")
        before = await wait_for_history(engine, "two-runs", second_run_parked)
    async with WorkflowEnvironment(
        store=reusable_store, workflows=[two_runs], activities=[note]
    ) as env:
        assert await asyncio.wait_for(env.engine.get_handle("two-runs").result(), timeout=10) == 2
        history = await env.engine.get_handle("two-runs").history()
    assert history[: len(before)] == before
    assert runs_of(history) == runs_of(before)
    assert runs_of(history)[0] == handle.run_id
    assert executions == [1, 2]  # each run's activity ran once, none again after the restart
    assert len([e for e in history if isinstance(e.body, ActivityCompleted)]) == 2
    assert len([e for e in history if isinstance(e.body, WorkflowStarted)]) == 2
    Replayer(workflows=[two_runs]).replay(history)
