"""How an append writes rows: the cheap paths group commit relies on keep every row right."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.engine import Connection

from aion_core.events import Event, SignalReceived, WorkflowStarted
from aion_core.store.projection import batch_for
from aion_core.testing.store_contract import make_events
from aion_store_sql import SqlEventStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def started() -> WorkflowStarted:
    return WorkflowStarted(workflow_type="Checkout", search_attributes={"customer": "c-7"})


async def test_an_event_that_only_moves_a_workflow_on_keeps_the_rest_of_its_row(
    sql_url: str,
) -> None:
    async with SqlEventStore(sql_url) as store:
        first = batch_for(None, 0, make_events("w", [started()], at=T0))
        await store.append([first])
        later = T0 + timedelta(hours=1)
        events = make_events("w", [SignalReceived(signal_name="go")], after_seq=1, at=later)
        moved = batch_for(first.workflow, 1, events)
        assert moved.workflow_progress_only
        assert await store.append([moved]) == [None]
        record = await store.get_workflow("w")
        assert record == moved.workflow
        assert record is not None
        assert (record.last_seq, record.updated_at) == (2, events[0].recorded_at)
        assert (record.start_time, record.search_attributes) == (
            T0 + timedelta(microseconds=1),
            {"customer": "c-7"},
        )


async def test_a_row_missing_under_an_event_that_moves_it_on_is_written_whole(
    sql_url: str,
) -> None:
    async with SqlEventStore(sql_url) as store:
        first = batch_for(None, 0, make_events("w", [started()]))
        await store.append([first])

        def forget_the_row(connection: Connection) -> None:
            connection.exec_driver_sql("DELETE FROM aion_search_attributes WHERE workflow_id = 'w'")
            connection.exec_driver_sql("DELETE FROM aion_workflows WHERE workflow_id = 'w'")

        await store._db.write(forget_the_row)
        events = make_events("w", [SignalReceived(signal_name="go")], after_seq=1)
        moved = batch_for(first.workflow, 1, events)
        assert await store.append([moved]) == [None]
        assert await store.get_workflow("w") == moved.workflow


async def test_a_start_and_a_later_event_in_one_commit_write_the_whole_row(sql_url: str) -> None:
    async with SqlEventStore(sql_url) as store:
        first = batch_for(None, 0, make_events("w", [started()]))
        events = make_events("w", [SignalReceived(signal_name="go")], after_seq=1)
        moved = batch_for(first.workflow, 1, events)
        assert await store.append([first, moved]) == [None, None]
        assert await store.get_workflow("w") == moved.workflow


async def test_times_in_a_daylight_saving_fold_keep_their_instants(tmp_path: Path) -> None:
    # 02:30 happens twice in Berlin on 2026-10-25; the two instants compare equal.
    berlin = ZoneInfo("Europe/Berlin")
    early = datetime(2026, 10, 25, 2, 30, tzinfo=berlin)
    late = early.replace(fold=1)
    times = [early, late, early.astimezone(UTC), late.astimezone(UTC)]
    async with SqlEventStore(f"sqlite:///{tmp_path / 'aion.db'}") as store:
        for n, at in enumerate(times):
            body = SignalReceived(signal_name="x")
            event = Event(seq=1, recorded_at=at, workflow_id=f"w{n}", run_id="r", body=body)
            await store.append([batch_for(None, 0, [event])])
        stored = [(await store.read_events(f"w{n}"))[0].recorded_at for n in range(4)]
    assert stored == [t.astimezone(UTC) for t in times]
    assert stored[1] - stored[0] == timedelta(hours=1)


async def test_an_append_chosen_to_break_a_deadlock_is_redone_in_lock_order(
    fresh_postgres_url: str,
) -> None:
    """PostgreSQL: the compare-and-set of several heads can deadlock with another
    transaction; PostgreSQL then aborts the append, which is redone taking the
    heads in order, and succeeds once the other transaction is done."""
    async with SqlEventStore(fresh_postgres_url) as store:
        firsts = [batch_for(None, 0, make_events(wid, [started()])) for wid in ("x", "y")]
        assert await store.append(firsts) == [None, None]
        moves = [
            batch_for(first.workflow, 1, make_events(first.workflow_id, [signal()], after_seq=1))
            for first in firsts
        ]
        other = await asyncpg.connect(fresh_postgres_url)
        try:
            async with other.transaction():
                await other.execute(_TOUCH_HEAD, "y")
                append = asyncio.create_task(store.append(moves))  # takes x, waits for y
                await asyncio.sleep(0.3)
                # Now this transaction waits for x: a cycle. The append has waited
                # longer, so its deadlock check runs first and aborts it.
                await other.execute(_TOUCH_HEAD, "x")
            assert await append == [None, None]
        finally:
            await other.close()
        for wid in ("x", "y"):
            assert [event.seq for event in await store.read_events(wid)] == [1, 2]


_TOUCH_HEAD = "UPDATE aion_stream_heads SET last_seq = last_seq WHERE workflow_id = $1"


def signal() -> SignalReceived:
    return SignalReceived(signal_name="go")
