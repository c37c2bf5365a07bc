"""Child workflows: recorded in the parent before they exist, results and failures come back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio

from aion_core import ApplicationError, Engine, WorkflowStatus, workflow
from aion_core.errors import ChildWorkflowError
from aion_core.events import ChildWorkflowStarted, ParentWorkflow, WorkflowStarted


@workflow.defn
async def shipping(order: str) -> str:
    if order == "unicorn":
        raise ApplicationError("cannot ship unicorns", type="Unshippable")
    return f"shipped {order}"


@workflow.defn
async def lingers(days: int) -> str:
    await workflow.sleep(timedelta(days=days))
    return "done lingering"


@workflow.defn
async def parent(order: str) -> str:
    return str(await workflow.execute_child_workflow(shipping, order, id=f"ship-{order}"))


@workflow.defn
async def careful_parent(order: str) -> str:
    try:
        await workflow.execute_child_workflow(shipping, order, id=f"ship-{order}")
    except ChildWorkflowError as error:
        cause = error.__cause__
        return f"{error.status}: {cause}" if cause else error.status
    return "no error"


@workflow.defn
async def leaves_a_child(policy: str) -> str:
    child = await workflow.start_child_workflow(
        lingers,
        30,
        id=f"lingering-{policy}",
        parent_close_policy=policy,  # type: ignore[arg-type]
    )
    return child.workflow_id


WORKFLOWS = [shipping, lingers, parent, careful_parent, leaves_a_child]


@pytest_asyncio.fixture
async def engine(store_url: str) -> AsyncIterator[Engine]:
    async with Engine(store_url, workflows=WORKFLOWS) as engine:
        yield engine


async def test_a_child_is_recorded_in_the_parent_before_it_exists(engine: Engine) -> None:
    assert await engine.execute_workflow(parent, "book", id="p-book") == "shipped book"
    parent_history = await engine.store.read_events("p-book")
    child_history = await engine.store.read_events("ship-book")
    [recorded] = [e for e in parent_history if isinstance(e.body, ChildWorkflowStarted)]
    started = child_history[0]
    assert isinstance(started.body, WorkflowStarted)
    assert recorded.recorded_at <= started.recorded_at
    assert started.run_id == recorded.body.run_id
    assert started.body.parent == ParentWorkflow(
        workflow_id="p-book", run_id=recorded.run_id, child_id=1
    )
    assert [e.type for e in parent_history] == [
        "WorkflowStarted",
        "ChildWorkflowStarted",
        "ChildWorkflowCompleted",
        "WorkflowCompleted",
    ]
    [child_record] = await engine.list_workflows(type="shipping")
    assert child_record.parent_workflow_id == "p-book"


async def test_a_child_failure_reaches_the_parent_as_child_workflow_error(engine: Engine) -> None:
    result = await engine.execute_workflow(careful_parent, "unicorn", id="p-unicorn")
    assert result == "failed: cannot ship unicorns"
    types = [e.type for e in await engine.store.read_events("p-unicorn")]
    assert "ChildWorkflowFailed" in types


async def test_a_child_whose_id_is_taken_fails_to_start(engine: Engine) -> None:
    await engine.start_workflow(lingers, 30, id="ship-taken")
    result = await engine.execute_workflow(careful_parent, "taken", id="p-taken")
    assert result.startswith("failed to start")
    assert "ship-taken" in result
    types = [e.type for e in await engine.store.read_events("p-taken")]
    assert "ChildWorkflowStartFailed" in types
    assert (await engine.get_handle("ship-taken").describe()).status is WorkflowStatus.RUNNING


@pytest.mark.parametrize(
    ("policy", "child_status"),
    [
        ("terminate", WorkflowStatus.TERMINATED),
        ("request_cancel", WorkflowStatus.CANCELLED),
        ("abandon", WorkflowStatus.RUNNING),
    ],
)
async def test_open_children_follow_their_parent_close_policy(
    engine: Engine, policy: str, child_status: WorkflowStatus
) -> None:
    child_id = await engine.execute_workflow(leaves_a_child, policy, id=f"leaver-{policy}")
    child = engine.get_handle(child_id)
    async with asyncio.timeout(10):
        while True:
            record = await engine.store.get_workflow(child_id)
            if record is not None and record.status is child_status:
                break
            await asyncio.sleep(0.01)
    if child_status is WorkflowStatus.RUNNING:  # abandoned: still running a moment later
        await asyncio.sleep(0.05)
        assert (await child.describe()).status is WorkflowStatus.RUNNING
