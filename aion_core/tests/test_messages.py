"""Signals, queries and updates (DESIGN 4.4, 4.5): durable, ordered, read-only, typed errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest
import pytest_asyncio

from aion_core import (
    ApplicationError,
    Engine,
    MemoryEventStore,
    QueryHandlerFailed,
    QueryRefused,
    QueryReplyDropped,
    QueryTimeout,
    SequenceConflictError,
    UnknownQuery,
    WorkflowClosedError,
    WorkflowNotFoundError,
    WorkflowStatus,
    workflow,
)
from aion_core.errors import PayloadValidationError, UpdateRejectedError
from aion_core.events import UpdateAccepted, UpdateCompleted
from aion_core.store.records import AppendBatch


@workflow.defn
class Approval:
    def __init__(self) -> None:
        self.approvals: list[str] = []
        self.items: list[str] = []
        self.stage = "waiting"
        self.finished = False

    @workflow.run
    async def run(self, needed: int) -> list[str]:
        await workflow.wait_condition(lambda: len(self.approvals) >= needed)
        self.stage = "approved"
        await workflow.wait_condition(lambda: self.finished)
        return self.approvals

    @workflow.signal
    def approve(self, by: str) -> None:
        self.approvals.append(by)

    @workflow.signal(name="finish")
    async def finish(self) -> None:
        self.finished = True

    @workflow.query
    def status(self) -> str:
        return self.stage

    @workflow.query
    def approved_by(self, prefix: str) -> list[str]:
        return [name for name in self.approvals if name.startswith(prefix)]

    @workflow.query
    def broken(self) -> str:
        raise KeyError("no such thing")

    @workflow.query
    def meddling(self) -> str:
        workflow.upsert_search_attributes({"meddled": True})
        return "changed"

    @workflow.update
    async def add_item(self, item: str) -> int:
        if item == "forbidden":
            raise ApplicationError("that item is forbidden", type="Forbidden")
        self.items.append(item)
        return len(self.items)

    @add_item.validator
    def check_item(self, item: str) -> None:
        if not item:
            raise ValueError("an item needs a name")


@workflow.defn
class LateListener:
    """Registers its signal handler only after a timer: earlier signals wait in the buffer."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.sleep(0.05)
        workflow.register_signal("say", self.heard.append)
        workflow.register_signal("say", self.heard.append)  # idempotent
        workflow.register_query("heard", lambda: list(self.heard))
        await workflow.wait_condition(lambda: len(self.heard) >= 3)
        workflow.upsert_search_attributes({"stage": "heard-three"})
        return self.heard


@workflow.defn
async def crashing() -> None:
    raise KeyError("a bug")


WORKFLOWS = [Approval, LateListener, crashing]


@pytest_asyncio.fixture
async def engine(store_url: str) -> AsyncIterator[Engine]:
    async with Engine(store_url, workflows=WORKFLOWS) as engine:
        yield engine


async def history_length(engine: Engine, workflow_id: str) -> int:
    return len(await engine.store.read_events(workflow_id))


# --- signals -----------------------------------------------------------------------------------


async def test_signals_are_durable_and_ordered(engine: Engine) -> None:
    handle = await engine.start_workflow(Approval.run, 3, id="sig")
    for name in ["ada", "bob", "cy"]:
        await handle.signal(Approval.approve, name)
    await handle.signal("finish")
    assert await handle.result() == ["ada", "bob", "cy"]
    received = [e.body for e in await handle.history() if e.type == "SignalReceived"]
    assert [b.signal_name for b in received] == ["approve", "approve", "approve", "finish"]


async def test_signals_wait_in_the_buffer_until_a_handler_exists(engine: Engine) -> None:
    handle = await engine.start_workflow(LateListener.run, id="late")
    for word in ["one", "two", "three"]:
        await handle.signal("say", word)
    assert await handle.result() == ["one", "two", "three"]
    assert await handle.query("heard") == ["one", "two", "three"]
    [found] = await engine.list_workflows(search={"stage": "heard-three"})
    assert found.workflow_id == "late"


async def test_a_signal_to_an_unknown_workflow_creates_nothing(engine: Engine) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await engine.get_handle("ghost").signal(Approval.approve, "ada")
    assert await engine.store.read_events("ghost") == []
    assert await engine.count_workflows() == 0


async def test_a_signal_to_a_closed_run_appends_nothing(engine: Engine) -> None:
    handle = await engine.start_workflow(Approval.run, 0, id="closed")
    await handle.signal("finish")
    await handle.result()
    before = await history_length(engine, "closed")
    with pytest.raises(WorkflowClosedError):
        await handle.signal(Approval.approve, "late")
    assert await history_length(engine, "closed") == before


async def test_signal_arguments_are_checked_before_recording(engine: Engine) -> None:
    handle = await engine.start_workflow(Approval.run, 1, id="typed")
    before = await history_length(engine, "typed")
    with pytest.raises(PayloadValidationError, match="signal 'approve' argument 1"):
        await handle.signal(Approval.approve, ["not", "a", "string"])
    assert await history_length(engine, "typed") == before


async def test_signal_with_start_starts_or_signals(engine: Engine) -> None:
    first = await engine.start_workflow(
        Approval.run, 2, id="sws", start_signal=(Approval.approve, ["ada"])
    )
    again = await engine.start_workflow(
        Approval.run, 2, id="sws", start_signal=(Approval.approve, ["bob"])
    )
    assert again.run_id == first.run_id
    await first.signal("finish")
    assert await first.result() == ["ada", "bob"]
    types = [e.type for e in await first.history()]
    assert types[:2] == ["WorkflowStarted", "SignalReceived"]
    assert types.count("WorkflowStarted") == 1


# --- queries -----------------------------------------------------------------------------------


async def test_queries_answer_with_arguments_and_never_append(engine: Engine) -> None:
    handle = await engine.start_workflow(Approval.run, 2, id="q")
    await handle.signal(Approval.approve, "ada")
    await handle.signal(Approval.approve, "anne")
    await handle.signal(Approval.approve, "bob")
    before = await history_length(engine, "q")
    assert await handle.query(Approval.status) == "approved"
    assert await handle.query(Approval.approved_by, "a") == ["ada", "anne"]
    assert await handle.query("approved_by", "b") == ["bob"]
    assert await history_length(engine, "q") == before


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ("nope", UnknownQuery, "unknown query 'nope'; known queries: approved_by, broken"),
        (Approval.broken, QueryHandlerFailed, "raised KeyError"),
        (Approval.meddling, QueryRefused, "SearchAttributesUpserted while answering a query"),
    ],
)
async def test_failed_queries_have_typed_errors_and_append_nothing(
    engine: Engine, query: object, error: type[Exception], message: str
) -> None:
    handle = await engine.start_workflow(Approval.run, 1, id="qe")
    before = await history_length(engine, "qe")
    with pytest.raises(error, match=message):
        await handle.query(query)
    assert await history_length(engine, "qe") == before
    assert await handle.query(Approval.status) == "waiting"  # the workflow still answers
    await handle.signal(Approval.approve, "ada")
    await handle.signal("finish")
    assert await handle.result() == ["ada"]


async def test_a_closed_workflow_answers_from_its_final_state(engine: Engine) -> None:
    handle = await engine.start_workflow(Approval.run, 1, id="final")
    await handle.signal(Approval.approve, "ada")
    await handle.signal("finish")
    await handle.result()
    before = await history_length(engine, "final")
    assert await handle.query(Approval.status) == "approved"
    assert await handle.query(Approval.approved_by, "") == ["ada"]
    assert await history_length(engine, "final") == before


async def test_an_evicted_workflow_is_rehydrated_to_answer(store_url: str) -> None:
    async with Engine(store_url, workflows=WORKFLOWS, max_cached_workflows=1) as engine:
        first = await engine.start_workflow(Approval.run, 5, id="evicted")
        await first.signal(Approval.approve, "ada")
        for i in range(3):
            await engine.start_workflow(Approval.run, 5, id=f"other-{i}")
        assert engine.cached_workflows <= 2
        assert await first.query(Approval.approved_by, "") == ["ada"]


async def test_many_concurrent_queries_are_all_answered(engine: Engine) -> None:
    handle = await engine.start_workflow(Approval.run, 9, id="busy")
    signals = [handle.signal(Approval.approve, f"p{i}") for i in range(5)]
    answers = await asyncio.gather(*signals, *(handle.query(Approval.status) for _ in range(100)))
    assert answers[5:] == ["waiting"] * 100


async def test_unknown_workflow_queries_fail_cleanly(engine: Engine) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await engine.get_handle("ghost").query("status")


async def test_a_query_that_cannot_be_answered_in_time_times_out() -> None:
    async with Engine(
        "memory://", workflows=WORKFLOWS, restart_backoff=timedelta(seconds=30)
    ) as engine:
        await engine.start_workflow(crashing, id="held")
        with pytest.raises(QueryTimeout, match=r"no answer within 0\.2s"):
            await engine.get_handle("held").query("anything", timeout=timedelta(seconds=0.2))


class GatedStore(MemoryEventStore):
    """A memory store whose commits wait for a gate, to catch a query mid-step."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()

    async def append(self, batches: Sequence[AppendBatch]) -> list[SequenceConflictError | None]:
        await self.gate.wait()
        return await super().append(batches)


async def test_a_query_in_flight_when_the_workflow_closes_is_dropped() -> None:
    store = GatedStore()
    async with Engine(store, workflows=WORKFLOWS) as engine:
        handle = await engine.start_workflow(Approval.run, 0, id="drop")
        assert await handle.query(Approval.status) == "approved"
        store.gate.clear()
        closing = asyncio.create_task(handle.signal("finish"))
        await asyncio.sleep(0.01)  # the closing step is now waiting on its commit
        in_flight = asyncio.create_task(handle.query(Approval.status))
        await asyncio.sleep(0.01)
        store.gate.set()
        await closing
        with pytest.raises(QueryReplyDropped, match="closed"):
            await in_flight
        assert await handle.query(Approval.status) == "approved"  # asked again: final state


async def test_a_query_asked_of_a_stale_view_is_answered_from_the_final_state() -> None:
    """A runner whose view was stale when the query came (another writer closed the run)
    reloads it; the query then sees the run closed, and that is no close in flight."""
    store = GatedStore()
    async with (
        Engine(store, workflows=WORKFLOWS) as stale,
        Engine(store, workflows=WORKFLOWS) as other,
    ):
        handle = await stale.start_workflow(Approval.run, 0, id="stale-view")
        assert await handle.query(Approval.status) == "approved"  # cached here, open
        await other.get_handle("stale-view").signal("finish")  # closed by another writer
        store.gate.clear()
        signalling = asyncio.create_task(handle.signal(Approval.approve, "late"))
        await asyncio.sleep(0.01)  # the step on the stale view waits on its commit
        in_flight = asyncio.create_task(handle.query(Approval.status))
        await asyncio.sleep(0.01)
        store.gate.set()
        with pytest.raises(SequenceConflictError):
            await signalling
        assert await in_flight == "approved"


# --- updates -----------------------------------------------------------------------------------


async def test_an_update_returns_its_value_and_is_recorded(engine: Engine) -> None:
    handle = await engine.start_workflow(Approval.run, 1, id="upd")
    assert await handle.execute_update(Approval.add_item, "lamp") == 1
    assert await handle.execute_update("add_item", "book") == 2
    bodies = [e.body for e in await handle.history()]
    accepted = [b for b in bodies if isinstance(b, UpdateAccepted)]
    completed = [b for b in bodies if isinstance(b, UpdateCompleted)]
    assert [a.update_name for a in accepted] == ["add_item", "add_item"]
    assert [c.update_id for c in completed] == [a.update_id for a in accepted]


async def test_an_update_handler_error_reaches_the_caller(engine: Engine) -> None:
    handle = await engine.start_workflow(Approval.run, 1, id="upd-err")
    with pytest.raises(ApplicationError, match="forbidden") as caught:
        await handle.execute_update(Approval.add_item, "forbidden")
    assert caught.value.type == "Forbidden"
    assert await handle.execute_update(Approval.add_item, "fine") == 1  # the workflow lives on
    assert (await handle.describe()).status is WorkflowStatus.RUNNING


@pytest.mark.parametrize(
    ("update", "args", "message"),
    [
        (Approval.add_item, [""], "an item needs a name"),
        ("no_such_update", ["x"], "no update 'no_such_update'; known updates: add_item"),
        ("add_item", [1, 2], "takes 1 argument, got 2"),
    ],
)
async def test_a_rejected_update_appends_nothing(
    engine: Engine, update: object, args: list[object], message: str
) -> None:
    handle = await engine.start_workflow(Approval.run, 1, id="rejected")
    before = await history_length(engine, "rejected")
    with pytest.raises((UpdateRejectedError, PayloadValidationError), match=message):
        await handle.execute_update(update, *args)
    assert await history_length(engine, "rejected") == before


async def test_an_update_to_a_closed_run_is_refused(engine: Engine) -> None:
    handle = await engine.start_workflow(Approval.run, 0, id="upd-closed")
    await handle.signal("finish")
    await handle.result()
    before = await history_length(engine, "upd-closed")
    with pytest.raises(WorkflowClosedError):
        await handle.execute_update(Approval.add_item, "late")
    assert await history_length(engine, "upd-closed") == before


async def test_messages_survive_a_restart(store_url: str) -> None:
    store: str | MemoryEventStore = MemoryEventStore() if store_url == "memory://" else store_url
    async with Engine(store, workflows=WORKFLOWS) as engine:
        handle = await engine.start_workflow(Approval.run, 2, id="restart")
        await handle.signal(Approval.approve, "ada")
        assert await handle.execute_update(Approval.add_item, "lamp") == 1
        history = await handle.history()
    async with Engine(store, workflows=WORKFLOWS) as engine:
        handle = engine.get_handle("restart")
        assert await handle.query(Approval.approved_by, "") == ["ada"]
        assert await handle.execute_update(Approval.add_item, "book") == 2
        await handle.signal(Approval.approve, "bob")
        await handle.signal("finish")
        assert await handle.result() == ["ada", "bob"]
        assert (await handle.history())[: len(history)] == history
