"""A corrupt row is reported for its own workflow; every other workflow reads and writes on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text

from aion_core.errors import CorruptHistoryError
from aion_core.events import SignalReceived, TimerStarted, WorkflowStarted
from aion_core.store.projection import batch_for
from aion_core.store.records import WorkflowFilter
from aion_core.testing.store_contract import T0, make_events
from aion_store_sql import SqlEventStore


@pytest_asyncio.fixture
async def store(sql_url: str) -> AsyncIterator[SqlEventStore]:
    async with SqlEventStore(sql_url) as store:
        for workflow_id in ("broken", "healthy"):
            events = make_events(
                workflow_id,
                [
                    WorkflowStarted(workflow_type="Checkout", search_attributes={"tenant": "acme"}),
                    SignalReceived(signal_name="go"),
                    TimerStarted(timer_id=1, fire_at=T0, duration=T0 - T0),
                ],
            )
            assert await store.append([batch_for(None, 0, events)]) == [None]
        yield store


async def _raw_sql(store: SqlEventStore, statement: str, **values: object) -> None:
    await store._db.write(lambda connection: connection.execute(text(statement), values))


async def _assert_healthy_still_works(store: SqlEventStore) -> None:
    assert [e.seq for e in await store.read_events("healthy")] == [1, 2, 3]
    record = await store.get_workflow("healthy")
    assert record is not None
    events = make_events("healthy", [SignalReceived(signal_name="more")], after_seq=3)
    assert await store.append([batch_for(record, 3, events)]) == [None]
    assert await store.last_seq("healthy") == 4


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("data", b'{"type": "SignalReceived", "signal_na'),  # truncated JSON
        ("data", b'{"type": "NoSuchEvent"}'),  # an event type this aion does not know
        ("data", b"\xff\xfe not even text"),
        ("type", "TimerFired"),  # the type column disagrees with the body
        ("run_id", ""),  # the envelope is no longer valid
    ],
    ids=["truncated-body", "unknown-type", "binary-garbage", "type-mismatch", "bad-envelope"],
)
async def test_a_corrupt_event_fails_only_its_own_history(
    store: SqlEventStore, column: str, value: object
) -> None:
    await _raw_sql(
        store,
        f"UPDATE aion_events SET {column} = :value WHERE workflow_id = 'broken' AND seq = 2",
        value=value,
    )
    with pytest.raises(CorruptHistoryError, match="'broken': event seq 2") as raised:
        await store.read_events("broken")
    assert (raised.value.workflow_id, raised.value.seq) == ("broken", 2)
    # The events before the bad one still read, and the other workflow is untouched.
    assert [e.seq for e in await store.read_events("broken", limit=1)] == [1]
    await _assert_healthy_still_works(store)


async def test_a_corrupt_visibility_row_fails_only_its_own_workflow(store: SqlEventStore) -> None:
    await _raw_sql(
        store, "UPDATE aion_workflows SET status = 'exploded' WHERE workflow_id = 'broken'"
    )
    with pytest.raises(CorruptHistoryError, match=r"'broken'.*visibility row"):
        await store.get_workflow("broken")
    listed = await store.list_workflows(WorkflowFilter())
    assert [record.workflow_id for record in listed] == ["healthy"]
    assert [r.workflow_id for r in await store.open_workflows()] == ["healthy"]
    await _assert_healthy_still_works(store)


async def test_a_corrupt_search_attribute_fails_only_its_own_workflow(
    store: SqlEventStore,
) -> None:
    await _raw_sql(
        store, "UPDATE aion_search_attributes SET kind = 'complex' WHERE workflow_id = 'broken'"
    )
    with pytest.raises(CorruptHistoryError, match="search attribute 'tenant'"):
        await store.get_workflow("broken")
    found = await store.list_workflows(WorkflowFilter(search_attributes={"tenant": "acme"}))
    assert [record.workflow_id for record in found] == ["healthy"]
    await _assert_healthy_still_works(store)


async def test_a_corrupt_timer_is_skipped_and_the_others_still_fire(store: SqlEventStore) -> None:
    await _raw_sql(store, "UPDATE aion_timers SET timer_id = 0 WHERE workflow_id = 'broken'")
    assert [t.workflow_id for t in await store.due_timers(T0)] == ["healthy"]


async def test_a_value_the_driver_cannot_convert_fails_only_its_own_history(
    tmp_path: Path,
) -> None:
    # SQLite stores any value in any column; a timestamp that is not one cannot even be fetched.
    async with SqlEventStore(f"sqlite:///{tmp_path / 'aion.db'}") as store:
        for workflow_id in ("broken", "healthy"):
            events = make_events(workflow_id, [WorkflowStarted(workflow_type="Checkout")])
            await store.append([batch_for(None, 0, events)])
        await _raw_sql(
            store, "UPDATE aion_events SET recorded_at = 'yesterday' WHERE workflow_id = 'broken'"
        )
        with pytest.raises(CorruptHistoryError, match="'broken'"):
            await store.read_events("broken")
        assert len(await store.read_events("healthy")) == 1
