"""`Replayer` catches changed workflow code with a readable diff; `patched()` changes it safely.

Histories are recorded with one version of a workflow, then replayed against
another version registered under the same name, as after a deploy.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from aion_core import (
    ConfigurationError,
    Engine,
    Event,
    EventStore,
    HistoryFormatError,
    NondeterminismError,
    WorkflowFailureError,
    activity,
    workflow,
)
from aion_core.converter import from_payload
from aion_core.events import (
    ActivityScheduled,
    MarkerRecorded,
    TimerStarted,
    WorkflowCompleted,
    WorkflowFailed,
)
from aion_core.history import history_to_json
from aion_core.runtime.commands import describe
from aion_core.testing import Replayer, WorkflowEnvironment

WaitForHistory = Callable[[Engine, str, Callable[[list[Event]], bool]], Awaitable[list[Event]]]


@activity.defn
async def charge(x: int) -> int:
    return x + 100


@activity.defn
async def ship(x: int) -> int:
    return x + 1000


@activity.defn
async def refund(x: int) -> int:
    return x - 100


ACTIVITIES = [charge, ship, refund]


@workflow.defn(name="Order")
async def order_v1(x: int) -> int:
    charged = await workflow.execute_activity(charge, x)
    return await workflow.execute_activity(ship, charged)


@workflow.defn(name="Order")
async def order_refunds_first(x: int) -> int:
    charged = await workflow.execute_activity(refund, x)  # changed: refund
    return await workflow.execute_activity(ship, charged)


@workflow.defn(name="Order")
async def order_without_shipping(x: int) -> int:
    return await workflow.execute_activity(charge, x)


@workflow.defn(name="Order")
async def order_with_a_pause(x: int) -> int:
    await workflow.sleep(timedelta(minutes=5))  # inserted: a pause
    charged = await workflow.execute_activity(charge, x)
    return await workflow.execute_activity(ship, charged)


@workflow.defn(name="Order")
async def order_ships_first(x: int) -> int:
    shipped = await workflow.execute_activity(ship, x)  # reordered: ship first
    return await workflow.execute_activity(charge, shipped)


@workflow.defn(name="Order")
async def order_with_a_pause_at_the_end(x: int) -> int:
    charged = await workflow.execute_activity(charge, x)
    shipped = await workflow.execute_activity(ship, charged)
    await workflow.sleep(timedelta(minutes=5))  # appended: a pause after the last activity
    return shipped


@workflow.defn(name="Order")
async def order_that_waits_forever(x: int) -> int:
    charged = await workflow.execute_activity(charge, x)
    shipped = await workflow.execute_activity(ship, charged)
    await workflow.wait_condition(lambda: False)  # appended: waits where the run completed
    return shipped


def line_of(fn: Callable[..., Any], marker: str) -> str:
    """``file:line`` of the line of `fn` containing `marker`."""
    lines, first = inspect.getsourcelines(fn)
    [offset] = [i for i, line in enumerate(lines) if marker in line]
    return f"{inspect.getsourcefile(fn)}:{first + offset}"


def definition_line(fn: Callable[..., Any]) -> str:
    return f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"


async def record(workflow_fn: Any, *args: Any, workflow_id: str = "recorded") -> list[Event]:
    async with WorkflowEnvironment(workflows=[workflow_fn], activities=ACTIVITIES) as env:
        handle = await env.engine.start_workflow(workflow_fn, *args, id=workflow_id)
        await handle.result()
        return await handle.history()


def seq_of(history: list[Event], activity_type: str) -> int:
    [seq] = [
        e.seq
        for e in history
        if isinstance(e.body, ActivityScheduled) and e.body.activity_type == activity_type
    ]
    return seq


async def test_unchanged_code_replays_its_history_from_events_and_from_json() -> None:
    history = await record(order_v1, 1)
    Replayer(workflows=[order_v1]).replay(history)
    Replayer(workflows=[order_v1]).replay(history_to_json(history))
    Replayer(workflows=[order_v1]).replay(history_to_json(history).encode())


@pytest.mark.parametrize(
    ("changed", "recorded_activity", "expected", "marker"),
    [
        pytest.param(
            order_refunds_first,
            "charge",
            "ActivityScheduled(activity_id=1, activity_type='refund')",
            "changed: refund",
            id="different-activity-type",
        ),
        # The run now ends before any line that could be blamed: the function is named.
        pytest.param(order_without_shipping, "ship", "WorkflowCompleted()", None, id="removed"),
        pytest.param(
            order_with_a_pause,
            "charge",
            "TimerStarted(timer_id=1, duration=datetime.timedelta(seconds=300))",
            "inserted: a pause",
            id="timer-inserted",
        ),
        pytest.param(
            order_ships_first,
            "charge",
            "ActivityScheduled(activity_id=1, activity_type='ship')",
            "reordered: ship first",
            id="reordered",
        ),
    ],
)
async def test_changed_code_is_caught_naming_seq_command_recorded_event_and_source_line(
    changed: Any, recorded_activity: str, expected: str, marker: str | None
) -> None:
    history = await record(order_v1, 1)
    with pytest.raises(NondeterminismError) as caught:
        Replayer(workflows=[changed]).replay(history)
    error = caught.value
    seq = seq_of(history, recorded_activity)
    assert error.seq == seq
    assert error.expected == expected
    assert error.found == describe(history[seq - 1].body)
    assert f"activity_type='{recorded_activity}'" in error.found
    assert error.source == (line_of(changed, marker) if marker else definition_line(changed))
    assert str(error) == (
        f"workflow 'recorded' is not deterministic at seq {seq} at {error.source}: "
        f"the code now issues {expected} but the history recorded {error.found}"
    )


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (order_with_a_pause_at_the_end, "TimerStarted(timer_id=1"),
        (order_that_waits_forever, "nothing"),
    ],
)
async def test_code_that_no_longer_completes_where_the_history_completed_is_caught(
    changed: Any, expected: str
) -> None:
    history = await record(order_v1, 1)
    with pytest.raises(NondeterminismError) as caught:
        Replayer(workflows=[changed]).replay(history)
    error = caught.value
    assert isinstance(history[-1].body, WorkflowCompleted)
    assert error.seq == history[-1].seq
    assert error.expected.startswith(expected)
    assert error.found == "WorkflowCompleted()"
    assert error.source == line_of(changed, "appended:")


async def test_a_json_history_of_changed_code_is_caught_too() -> None:
    document = history_to_json(await record(order_v1, 1), indent=2)
    with pytest.raises(NondeterminismError, match="activity_type='refund'"):
        Replayer(workflows=[order_refunds_first]).replay(document)


async def test_a_history_from_a_newer_format_version_is_refused() -> None:
    document = json.loads(history_to_json(await record(order_v1, 1)))
    document["version"] += 1
    with pytest.raises(HistoryFormatError, match="upgrade aion"):
        Replayer(workflows=[order_v1]).replay(json.dumps(document))


async def test_an_unknown_workflow_type_is_a_configuration_error() -> None:
    history = await record(order_v1, 1)

    @workflow.defn(name="Invoice")
    async def invoice() -> None: ...

    with pytest.raises(ConfigurationError, match=r"'Order'.*Invoice"):
        Replayer(workflows=[invoice]).replay(history)


# --- patched ------------------------------------------------------------------------------------


@workflow.defn(name="Patchy")
async def patchy_v1(x: int) -> int:
    charged = await workflow.execute_activity(charge, x)
    await workflow.sleep(timedelta(hours=1))
    return charged


@workflow.defn(name="Patchy")
async def patchy_v2(x: int) -> int:
    if workflow.patched("ship-instead"):
        charged = await workflow.execute_activity(ship, x)
    else:
        charged = await workflow.execute_activity(charge, x)
    await workflow.sleep(timedelta(hours=1))
    assert workflow.patched("ship-instead") == (charged == x + 1000)  # asked twice: same answer
    return charged


async def test_new_runs_take_the_patched_branch_and_record_the_patch() -> None:
    history = await record(patchy_v2, 1)
    assert from_payload(history[-1].body.result, int) == 1001  # type: ignore[union-attr]
    markers = [e.body for e in history if isinstance(e.body, MarkerRecorded)]
    assert [m.name for m in markers] == ["patch"]
    assert from_payload(markers[0].details["id"], str) == "ship-instead"
    assert history[1].body == markers[0]  # recorded where the code asked, before the activity
    Replayer(workflows=[patchy_v2]).replay(history)


async def test_histories_from_before_the_patch_replay_the_old_branch() -> None:
    history = await record(patchy_v1, 1)
    Replayer(workflows=[patchy_v2]).replay(history)


async def test_removing_a_patch_while_patched_histories_exist_is_caught() -> None:
    history = await record(patchy_v2, 1)
    with pytest.raises(NondeterminismError, match="activity_type='ship'"):
        Replayer(workflows=[patchy_v1]).replay(history)


async def test_a_running_workflow_started_before_the_patch_carries_on_in_the_old_branch(
    reusable_store: str | EventStore, wait_for_history: WaitForHistory
) -> None:
    async with Engine(reusable_store, workflows=[patchy_v1], activities=ACTIVITIES) as engine:
        await engine.start_workflow(patchy_v1, 1, id="patchy")
        before = await wait_for_history(
            engine, "patchy", lambda h: isinstance(h[-1].body, TimerStarted)
        )
    async with WorkflowEnvironment(
        store=reusable_store, workflows=[patchy_v2], activities=ACTIVITIES
    ) as env:
        handle = env.engine.get_handle("patchy")
        assert await asyncio.wait_for(handle.result(), timeout=10) == 101
        history = await handle.history()
    assert history[: len(before)] == before
    assert not any(isinstance(e.body, MarkerRecorded) for e in history)
    Replayer(workflows=[patchy_v2]).replay(history)


# --- an engine recovering changed code ---------------------------------------------------------


@workflow.defn(name="Changing")
async def changing_v1(x: int) -> int:
    charged = await workflow.execute_activity(charge, x)
    await workflow.sleep(timedelta(hours=1))
    return await workflow.execute_activity(ship, charged)


@workflow.defn(name="Changing")
async def changing_v2(x: int) -> int:
    charged = await workflow.execute_activity(refund, x)  # incompatible with v1's history
    await workflow.sleep(timedelta(hours=1))
    return await workflow.execute_activity(ship, charged)


async def test_an_engine_fails_only_the_workflow_whose_code_changed_incompatibly(
    reusable_store: str | EventStore,
    wait_for_history: WaitForHistory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Engine(reusable_store, workflows=[changing_v1], activities=ACTIVITIES) as engine:
        await engine.start_workflow(changing_v1, 1, id="changing")
        before = await wait_for_history(
            engine, "changing", lambda h: isinstance(h[-1].body, TimerStarted)
        )
    caplog.set_level(logging.WARNING, logger="aion.supervision")
    async with Engine(
        reusable_store,
        workflows=[changing_v2, order_v1],
        activities=ACTIVITIES,
        max_restarts=1,
        restart_backoff=timedelta(milliseconds=10),
    ) as engine:
        assert await engine.execute_workflow(order_v1, 1, id="unaffected") == 1101
        changed = engine.get_handle("changing")
        with pytest.raises(WorkflowFailureError, match="not deterministic") as caught:
            await asyncio.wait_for(changed.result(), timeout=10)
        history = await changed.history()
    assert "activity_type='refund'" in str(caught.value)
    assert history[: len(before)] == before
    [failed] = history[len(before) :]
    assert isinstance(failed.body, WorkflowFailed)
    assert failed.body.failure.type == "NondeterminismError"
    assert line_of(changing_v2, "incompatible with v1") in failed.body.failure.message
    restarts = [r.getMessage() for r in caplog.records if r.name == "aion.supervision"]
    assert any("restart 1 of 1" in message for message in restarts)
    assert any("restarts exhausted" in message for message in restarts)
