"""`StoreContract`: the conformance suite every `EventStore` passes (DESIGN 5).

Subclass it in a test module and provide an async fixture ``store`` that
yields an opened, empty store::

    class TestMyStore(StoreContract):
        @pytest_asyncio.fixture
        async def store(self, tmp_path):
            async with MyStore(tmp_path / "db") as store:
                yield store

Needs pytest and pytest-asyncio (``pip install aion-core[testing]``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from aion_core.errors import SequenceConflictError
from aion_core.events import (
    ActivityCompleted,
    ActivityScheduled,
    Event,
    EventBody,
    Failure,
    MarkerRecorded,
    ParentWorkflow,
    Payload,
    SearchAttributesUpserted,
    SignalReceived,
    TimerCancelled,
    TimerFired,
    TimerStarted,
    WorkflowCompleted,
    WorkflowContinuedAsNew,
    WorkflowFailed,
    WorkflowPaused,
    WorkflowStarted,
    WorkflowStatus,
)
from aion_core.store.projection import batch_for
from aion_core.store.protocol import EventStore
from aion_core.store.records import AppendBatch, WorkflowFilter, WorkflowRecord

__all__ = ["T0", "StoreContract", "make_events"]

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
"""A fixed point in time the contract's events are recorded at (microseconds included)."""


def make_events(
    workflow_id: str,
    bodies: Sequence[EventBody],
    *,
    after_seq: int = 0,
    run_id: str = "run-1",
    at: datetime = T0,
) -> list[Event]:
    """Events continuing a stream after `after_seq`, one microsecond apart from `at`."""
    return [
        Event(
            seq=after_seq + offset,
            recorded_at=at + timedelta(microseconds=offset),
            workflow_id=workflow_id,
            run_id=run_id,
            body=body,
        )
        for offset, body in enumerate(bodies, start=1)
    ]


def _started(workflow_type: str = "Checkout", **fields: object) -> WorkflowStarted:
    return WorkflowStarted.model_validate({"workflow_type": workflow_type, **fields})


def _timer(timer_id: int, fire_at: datetime) -> TimerStarted:
    return TimerStarted(timer_id=timer_id, fire_at=fire_at, duration=fire_at - T0)


class StoreContract:
    """Behaviour every event store must show; subclasses provide the ``store`` fixture."""

    pytestmark = pytest.mark.asyncio

    # --- helpers -------------------------------------------------------------------------------

    async def _append_one(self, store: EventStore, batch: AppendBatch) -> None:
        [conflict] = await store.append([batch])
        if conflict is not None:
            raise conflict

    async def _write(
        self,
        store: EventStore,
        workflow_id: str,
        bodies: Sequence[EventBody],
        *,
        run_id: str = "run-1",
        at: datetime = T0,
    ) -> list[Event]:
        """Append like the recorder does: continue the stream with its current projection."""
        last = await store.last_seq(workflow_id)
        record = await store.get_workflow(workflow_id)
        events = make_events(workflow_id, bodies, after_seq=last, run_id=run_id, at=at)
        await self._append_one(store, batch_for(record, last, events))
        return events

    async def _snapshot(self, store: EventStore, workflow_id: str) -> tuple[object, ...]:
        return (
            await store.read_events(workflow_id),
            await store.last_seq(workflow_id),
            await store.get_workflow(workflow_id),
            await store.due_timers(T0 + timedelta(days=3650)),
        )

    # --- append and read -----------------------------------------------------------------------

    async def test_unknown_stream_is_empty(self, store: EventStore) -> None:
        assert await store.read_events("nobody") == []
        assert await store.last_seq("nobody") == 0
        assert await store.get_workflow("nobody") is None

    async def test_appended_events_read_back_equal(self, store: EventStore) -> None:
        events = await self._write(
            store,
            "order-1",
            [
                _started(input=(Payload(metadata={"encoding": "json/plain"}, data=b'{"id": 1}'),)),
                ActivityScheduled(activity_id=1, activity_type="charge"),
                ActivityCompleted(activity_id=1, attempt=1, result=Payload(data=b"\x00\xff\xfe")),
            ],
        )
        assert await store.read_events("order-1") == events
        assert await store.last_seq("order-1") == 3

    async def test_unicode_binary_and_microseconds_survive(self, store: EventStore) -> None:
        workflow_id = "zahlung-ü-✓-🚀"
        events = await self._write(
            store,
            workflow_id,
            [
                _started("Überweisung", search_attributes={"kunde": "Zoë", "betrag": 12.5}),
                SignalReceived(signal_name="approve ✓", args=(Payload(data=bytes(range(256))),)),
                MarkerRecorded(name="patch", details={"id": Payload(data=b"v2")}),
            ],
            at=datetime(2026, 3, 4, 5, 6, 7, 654320, tzinfo=UTC),
        )
        read = await store.read_events(workflow_id)
        assert read == events
        assert read[0].recorded_at.microsecond == 654321
        assert read[0].recorded_at.utcoffset() == timedelta(0)

    async def test_reads_take_ranges(self, store: EventStore) -> None:
        events = await self._write(
            store, "w", [_started(), *(SignalReceived(signal_name=f"s{i}") for i in range(9))]
        )
        assert await store.read_events("w", after_seq=4) == events[4:]
        assert await store.read_events("w", after_seq=2, limit=3) == events[2:5]
        assert await store.read_events("w", after_seq=10) == []
        assert await store.read_events("w", limit=0) == []

    async def test_appends_continue_a_stream(self, store: EventStore) -> None:
        first = await self._write(store, "w", [_started()])
        second = await self._write(store, "w", [SignalReceived(signal_name="go")])
        assert [e.seq for e in await store.read_events("w")] == [1, 2]
        assert await store.read_events("w") == first + second

    # --- optimistic concurrency ----------------------------------------------------------------

    async def test_expected_seq_conflict_writes_nothing(self, store: EventStore) -> None:
        await self._write(store, "w", [_started(), _timer(1, T0 + timedelta(hours=1))])
        before = await self._snapshot(store, "w")
        record = await store.get_workflow("w")
        stale = make_events(
            "w",
            [
                SignalReceived(signal_name="late"),
                _timer(2, T0),
                WorkflowCompleted(result=Payload()),
            ],
            after_seq=1,
        )
        [conflict] = await store.append([batch_for(record, 1, stale)])
        assert isinstance(conflict, SequenceConflictError)
        assert conflict.workflow_id == "w"
        assert conflict.expected_seq == 1
        assert await self._snapshot(store, "w") == before

    async def test_conflict_on_a_new_stream_creates_nothing(self, store: EventStore) -> None:
        events = make_events("ghost", [_started()], after_seq=4)
        [conflict] = await store.append([batch_for(None, 4, events)])
        assert isinstance(conflict, SequenceConflictError)
        assert await store.read_events("ghost") == []
        assert await store.get_workflow("ghost") is None
        assert await store.count_workflows(WorkflowFilter()) == 0

    async def test_concurrent_appends_at_one_seq_have_exactly_one_winner(
        self, store: EventStore
    ) -> None:
        await self._write(store, "w", [_started()])
        record = await store.get_workflow("w")
        contenders = [
            batch_for(
                record, 1, make_events("w", [SignalReceived(signal_name=f"c{i}")] * 2, after_seq=1)
            )
            for i in range(16)
        ]
        results = await asyncio.gather(*(store.append([batch]) for batch in contenders))
        winners = [i for i, [conflict] in enumerate(results) if conflict is None]
        assert len(winners) == 1
        assert all(isinstance(c, SequenceConflictError) for [c] in results if c is not None)
        stored = await store.read_events("w")
        assert [e.seq for e in stored] == [1, 2, 3]
        assert stored[1:] == list(contenders[winners[0]].events)

    async def test_concurrent_starts_of_one_new_stream_have_exactly_one_winner(
        self, store: EventStore
    ) -> None:
        contenders = [
            batch_for(None, 0, make_events("new", [_started(f"Type{i}")])) for i in range(16)
        ]
        results = await asyncio.gather(*(store.append([batch]) for batch in contenders))
        winners = [i for i, [conflict] in enumerate(results) if conflict is None]
        assert len(winners) == 1
        record = await store.get_workflow("new")
        assert record is not None
        assert record.workflow_type == f"Type{winners[0]}"
        assert [e.seq for e in await store.read_events("new")] == [1]

    async def test_calls_crossing_the_same_streams_in_opposite_orders_each_win_or_lose_whole(
        self, store: EventStore
    ) -> None:
        ids = ["x", "y", "z"]
        for workflow_id in ids:
            await self._write(store, workflow_id, [_started()])
        records = {workflow_id: await store.get_workflow(workflow_id) for workflow_id in ids}

        def moves(order: list[str], tag: str) -> list[AppendBatch]:
            signal = SignalReceived(signal_name=tag)
            return [
                batch_for(records[wid], 1, make_events(wid, [signal], after_seq=1)) for wid in order
            ]

        calls = [moves(ids if i % 2 else ids[::-1], f"c{i}") for i in range(8)]
        results = await asyncio.gather(*(store.append(call) for call in calls))
        for position, workflow_id in enumerate(ids):
            stored = await store.read_events(workflow_id)
            assert [e.seq for e in stored] == [1, 2]
            won = [
                i
                for i, outcome in enumerate(results)
                if outcome[position if i % 2 else len(ids) - 1 - position] is None
            ]
            assert len(won) == 1
            assert stored[1].body == SignalReceived(signal_name=f"c{won[0]}")

    async def test_batches_of_one_call_succeed_or_conflict_independently(
        self, store: EventStore
    ) -> None:
        await self._write(store, "b", [_started()])
        ok_a = batch_for(None, 0, make_events("a", [_started()]))
        stale_b = batch_for(None, 0, make_events("b", [_started("Other")]))
        ok_c = batch_for(None, 0, make_events("c", [_started()]))
        conflicts = await store.append([ok_a, stale_b, ok_c])
        assert conflicts[0] is None
        assert isinstance(conflicts[1], SequenceConflictError)
        assert conflicts[2] is None
        assert await store.last_seq("a") == 1
        assert await store.last_seq("c") == 1
        record_b = await store.get_workflow("b")
        assert record_b is not None
        assert record_b.workflow_type == "Checkout"

    async def test_batches_of_one_call_apply_in_order(self, store: EventStore) -> None:
        first_events = make_events("w", [_started()])
        first = batch_for(None, 0, first_events)
        second = batch_for(
            first.workflow, 1, make_events("w", [SignalReceived(signal_name="x")], after_seq=1)
        )
        assert await store.append([first, second]) == [None, None]
        assert [e.seq for e in await store.read_events("w")] == [1, 2]

    # --- visibility ----------------------------------------------------------------------------

    async def test_visibility_row_follows_the_lifecycle(self, store: EventStore) -> None:
        await self._write(
            store,
            "w",
            [_started(task_queue="emails", parent=ParentWorkflow(workflow_id="p", run_id="pr"))],
        )
        running = await store.get_workflow("w")
        assert running is not None
        assert running.status is WorkflowStatus.RUNNING
        assert (running.workflow_type, running.task_queue, running.last_seq) == (
            "Checkout",
            "emails",
            1,
        )
        assert (running.parent_workflow_id, running.parent_run_id) == ("p", "pr")
        assert running.start_time == T0 + timedelta(microseconds=1)
        assert running.close_time is None
        done = await self._write(store, "w", [WorkflowCompleted(result=Payload(data=b"1"))])
        closed = await store.get_workflow("w")
        assert closed is not None
        assert closed.status is WorkflowStatus.COMPLETED
        assert closed.close_time == done[0].recorded_at
        assert closed.last_seq == 2

    async def test_continue_as_new_keeps_the_stream_and_starts_a_new_run(
        self, store: EventStore
    ) -> None:
        await self._write(store, "w", [_started(search_attributes={"tenant": "acme"})])
        await self._write(
            store,
            "w",
            [WorkflowContinuedAsNew(new_run_id="run-2", workflow_type="Checkout")],
        )
        await self._write(store, "w", [_started(parent_run_id="run-1")], run_id="run-2")
        record = await store.get_workflow("w")
        assert record is not None
        assert (record.run_id, record.status, record.last_seq) == (
            "run-2",
            WorkflowStatus.RUNNING,
            3,
        )
        assert record.search_attributes == {"tenant": "acme"}
        assert [e.run_id for e in await store.read_events("w")] == ["run-1", "run-1", "run-2"]

    async def _populate(self, store: EventStore) -> None:
        day = timedelta(days=1)
        await self._write(
            store,
            "a",
            [_started("Checkout", search_attributes={"tenant": "acme", "vip": True})],
            at=T0,
        )
        await self._write(
            store,
            "b",
            [_started("Checkout", search_attributes={"tenant": "globex", "vip": 1})],
            at=T0 + day,
        )
        await self._write(
            store,
            "c",
            [_started("Shipping", parent=ParentWorkflow(workflow_id="a", run_id="run-1"))],
            at=T0 + 2 * day,
        )
        await self._write(
            store, "c", [WorkflowFailed(failure=Failure(message="boom"))], at=T0 + 2 * day
        )
        await self._write(
            store,
            "d",
            [_started("Checkout", search_attributes={"tenant": "acme"})],
            at=T0 + 3 * day,
        )
        await self._write(store, "d", [WorkflowPaused(reason="ops")], at=T0 + 3 * day)
        await self._write(store, "e", [_started("Checkout")], at=T0 + 3 * day)

    async def _ids(self, store: EventStore, query: WorkflowFilter) -> list[str]:
        records = await store.list_workflows(query)
        assert await store.count_workflows(query) >= len(records)
        return [record.workflow_id for record in records]

    async def test_list_is_newest_first_then_by_id(self, store: EventStore) -> None:
        await self._populate(store)
        assert await self._ids(store, WorkflowFilter()) == ["d", "e", "c", "b", "a"]
        assert await self._ids(store, WorkflowFilter(limit=2)) == ["d", "e"]
        assert await store.count_workflows(WorkflowFilter(limit=2)) == 5

    async def test_list_filters_by_status_type_time_parent_and_search(
        self, store: EventStore
    ) -> None:
        await self._populate(store)
        day = timedelta(days=1)
        running = frozenset({WorkflowStatus.RUNNING})
        cases: list[tuple[WorkflowFilter, list[str]]] = [
            (WorkflowFilter(statuses=running), ["e", "b", "a"]),
            (
                WorkflowFilter(statuses=frozenset({WorkflowStatus.FAILED, WorkflowStatus.PAUSED})),
                ["d", "c"],
            ),
            (WorkflowFilter(workflow_type="Shipping"), ["c"]),
            (WorkflowFilter(started_after=T0 + day + timedelta(microseconds=1)), ["d", "e", "c"]),
            (WorkflowFilter(started_before=T0 + day), ["a"]),
            (WorkflowFilter(parent_workflow_id="a"), ["c"]),
            (WorkflowFilter(search_attributes={"tenant": "acme"}), ["d", "a"]),
            (WorkflowFilter(search_attributes={"tenant": "acme", "vip": True}), ["a"]),
            (WorkflowFilter(search_attributes={"vip": 1}), ["b"]),
            (WorkflowFilter(search_attributes={"tenant": "initech"}), []),
            (
                WorkflowFilter(
                    statuses=running, workflow_type="Checkout", search_attributes={"tenant": "acme"}
                ),
                ["a"],
            ),
        ]
        for query, expected in cases:
            assert await self._ids(store, query) == expected, query
            assert await store.count_workflows(query) == len(expected), query

    async def test_search_attributes_can_be_upserted(self, store: EventStore) -> None:
        await self._write(store, "w", [_started(search_attributes={"stage": "new", "n": 1})])
        await self._write(store, "w", [SearchAttributesUpserted(attributes={"stage": "paid"})])
        record = await store.get_workflow("w")
        assert record is not None
        assert record.search_attributes == {"stage": "paid", "n": 1}
        assert await self._ids(store, WorkflowFilter(search_attributes={"stage": "paid"})) == ["w"]
        assert await self._ids(store, WorkflowFilter(search_attributes={"stage": "new"})) == []

    # --- timers --------------------------------------------------------------------------------

    async def test_due_timers_come_earliest_first(self, store: EventStore) -> None:
        hour = timedelta(hours=1)
        await self._write(store, "a", [_started(), _timer(1, T0 + 3 * hour), _timer(2, T0 + hour)])
        await self._write(store, "b", [_started(), _timer(1, T0 + 2 * hour)])
        assert await store.next_timer_at() == T0 + hour
        due = await store.due_timers(T0 + 2 * hour)
        assert [(t.workflow_id, t.timer_id, t.fire_at) for t in due] == [
            ("a", 2, T0 + hour),
            ("b", 1, T0 + 2 * hour),
        ]
        assert [t.timer_id for t in await store.due_timers(T0 + 5 * hour, limit=1)] == [2]
        assert await store.due_timers(T0) == []

    async def test_fired_and_cancelled_timers_are_disarmed(self, store: EventStore) -> None:
        await self._write(
            store,
            "w",
            [_started(), _timer(1, T0), _timer(2, T0), _timer(3, T0 + timedelta(days=1))],
        )
        await self._write(store, "w", [TimerFired(timer_id=1), TimerCancelled(timer_id=2)])
        assert [t.timer_id for t in await store.due_timers(T0 + timedelta(days=2))] == [3]
        assert await store.next_timer_at() == T0 + timedelta(days=1)

    async def test_closing_a_workflow_disarms_its_timers(self, store: EventStore) -> None:
        await self._write(store, "w", [_started(), _timer(1, T0), _timer(2, T0)])
        await self._write(store, "other", [_started(), _timer(1, T0)])
        await self._write(store, "w", [WorkflowCompleted(result=Payload())])
        assert [t.workflow_id for t in await store.due_timers(T0 + timedelta(days=1))] == ["other"]

    async def test_a_timer_started_and_fired_in_one_batch_is_never_armed(
        self, store: EventStore
    ) -> None:
        await self._write(store, "w", [_started(), _timer(1, T0), TimerFired(timer_id=1)])
        assert await store.due_timers(T0 + timedelta(days=1)) == []
        assert await store.next_timer_at() is None

    # --- recovery ------------------------------------------------------------------------------

    async def test_open_workflows_pages_by_id(self, store: EventStore) -> None:
        await self._populate(store)
        assert [r.workflow_id for r in await store.open_workflows()] == ["a", "b", "d", "e"]
        assert [r.workflow_id for r in await store.open_workflows(limit=2)] == ["a", "b"]
        assert [r.workflow_id for r in await store.open_workflows(after_id="b")] == ["d", "e"]
        assert await store.open_workflows(after_id="e") == []

    async def test_recovery_queries_are_idempotent(self, store: EventStore) -> None:
        await self._populate(store)
        await self._write(store, "a", [_timer(1, T0)])

        async def recovery_view() -> tuple[list[WorkflowRecord], object, object, object]:
            return (
                await store.open_workflows(),
                await store.due_timers(T0 + timedelta(days=30)),
                await store.next_timer_at(),
                [await store.read_events(w) for w in "abcde"],
            )

        first = await recovery_view()
        assert await recovery_view() == first
        assert await recovery_view() == first
