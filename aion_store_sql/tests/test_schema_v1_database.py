"""A database written by the first schema version still migrates, opens and reads back.

``data/schema_v1.db`` was written through `SqlEventStore` at schema revision
``0001_initial`` by `write_sample` below, and is never regenerated: every later
schema change must ship a migration that carries this file forward.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from aion_core.events import (
    ActivityCompleted,
    ActivityScheduled,
    Event,
    ParentWorkflow,
    Payload,
    SignalReceived,
    TimerCancelled,
    TimerStarted,
    WorkflowCompleted,
    WorkflowStarted,
    WorkflowStatus,
)
from aion_core.store.projection import batch_for
from aion_core.store.protocol import EventStore
from aion_core.store.records import WorkflowFilter
from aion_core.testing.store_contract import T0, make_events
from aion_store_sql import SchemaState, SqlEventStore, migrations

SCHEMA_V1_DB = Path(__file__).parent / "data" / "schema_v1.db"
HOUR = timedelta(hours=1)


def sample_histories() -> dict[str, list[Event]]:
    """The histories in schema_v1.db, each appended as one batch."""
    return {
        "order-1": make_events(
            "order-1",
            [
                WorkflowStarted(
                    workflow_type="Checkout",
                    input=(Payload(metadata={"encoding": "json/plain"}, data=b'{"id": 1}'),),
                    search_attributes={"tenant": "acme", "vip": True, "items": 3, "total": 12.5},
                ),
                ActivityScheduled(activity_id=1, activity_type="charge"),
                ActivityCompleted(activity_id=1, attempt=1, result=Payload(data=b"\x00\xff")),
                TimerStarted(timer_id=1, fire_at=T0 + HOUR, duration=HOUR),
                SignalReceived(signal_name="approve ✓", args=(Payload(data=b'"ada"'),)),
            ],
        ),
        "order-2": make_events(
            "order-2",
            [
                WorkflowStarted(workflow_type="Checkout", search_attributes={"vip": 1}),
                WorkflowCompleted(result=Payload(data=b"42")),
            ],
            at=T0 + HOUR,
        ),
        "ship-1": make_events(
            "ship-1",
            [
                WorkflowStarted(
                    workflow_type="Shipping",
                    parent=ParentWorkflow(workflow_id="order-1", run_id="run-1"),
                ),
                TimerStarted(timer_id=1, fire_at=T0 + 2 * HOUR, duration=2 * HOUR),
                TimerStarted(timer_id=2, fire_at=T0 + 24 * HOUR, duration=24 * HOUR),
                TimerCancelled(timer_id=2),
            ],
            at=T0 + 2 * HOUR,
        ),
    }


async def write_sample(store: EventStore) -> None:
    """What made schema_v1.db (kept to document it, not run by the tests)."""
    batches = [batch_for(None, 0, events) for events in sample_histories().values()]
    assert await store.append(batches) == [None] * len(batches)


async def test_the_first_schema_version_migrates_opens_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "aion.db"
    shutil.copyfile(SCHEMA_V1_DB, path)
    url = f"sqlite:///{path}"
    before = await migrations.status(url)
    assert before.current == "0001_initial"
    assert before.state in (SchemaState.CURRENT, SchemaState.OLDER)
    assert (await migrations.migrate(url)).state is SchemaState.CURRENT

    async with SqlEventStore(url) as store:
        for workflow_id, events in sample_histories().items():
            assert await store.read_events(workflow_id) == events
            assert await store.last_seq(workflow_id) == len(events)

        order = await store.get_workflow("order-1")
        assert order is not None
        assert (order.workflow_type, order.status, order.last_seq) == (
            "Checkout",
            WorkflowStatus.RUNNING,
            5,
        )
        assert order.search_attributes == {"tenant": "acme", "vip": True, "items": 3, "total": 12.5}
        done = await store.get_workflow("order-2")
        assert done is not None
        assert done.status is WorkflowStatus.COMPLETED
        assert done.close_time == T0 + HOUR + 2 * timedelta(microseconds=1)
        ship = await store.get_workflow("ship-1")
        assert ship is not None
        assert (ship.parent_workflow_id, ship.parent_run_id) == ("order-1", "run-1")

        vip = await store.list_workflows(WorkflowFilter(search_attributes={"vip": True}))
        assert [record.workflow_id for record in vip] == ["order-1"]
        assert [r.workflow_id for r in await store.open_workflows()] == ["order-1", "ship-1"]
        due = await store.due_timers(T0 + 48 * HOUR)
        assert [(t.workflow_id, t.timer_id) for t in due] == [("order-1", 1), ("ship-1", 1)]

        # And the migrated database takes new appends.
        more = make_events("order-1", [SignalReceived(signal_name="ship")], after_seq=5)
        assert await store.append([batch_for(order, 5, more)]) == [None]
        assert await store.last_seq("order-1") == 6
