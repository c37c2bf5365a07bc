"""Appending: one transaction per `append` call, one compare-and-set per stream head.

A call runs in three steps inside one write transaction:

1. Lock the head row of every stream the call touches, in id order (two calls
   then never wait on each other in a cycle), and read each last seq.
   PostgreSQL: one ``INSERT .. ON CONFLICT DO UPDATE .. RETURNING`` creates
   missing heads at seq 0 and row-locks existing ones; a concurrent append to
   the same stream waits on that lock until the first commits, then reads the
   new last seq and loses. SQLite: ``BEGIN IMMEDIATE`` already made this
   transaction the only writer, so a plain SELECT is the truth until commit.
2. `plan_append` decides in memory, batch by batch in call order, which batches
   continue their stream; a later batch may continue what an earlier one of
   the same call extended. A batch that does not is reported and writes nothing.
3. `write_plan` writes the winners with a few multi-row statements, however
   many batches the call holds: that is what makes group commit pay.

A call first tries `append_as_expected`, which skips the read: it plans as
if every head were where the call's first batch for it expects, and moves
each head with a compare-and-set whose count shows whether all were. They
are, unless a stale writer appends; then the transaction is rolled back and
the call is redone in the three steps above. On SQLite nobody else writes
until the commit; on PostgreSQL the compare-and-set row-locks the heads it
moves, and an append racing for one waits, then finds it moved.

On PostgreSQL every multi-row statement takes its rows as arrays, one per
column, in one ``unnest`` statement: asyncpg's executemany neither counts
rows nor goes out in one write, and a process frozen between its writes would
hold its locks beyond the reach of ``idle_in_transaction_session_timeout``.

The ``(workflow_id, seq)`` primary key of the events is the safety net behind the heads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Executable,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

from aion_core.errors import SequenceConflictError
from aion_core.events import Event
from aion_core.store.projection import TimerChanges
from aion_core.store.records import AppendBatch, WorkflowRecord
from aion_store_sql.compiled import compiled
from aion_store_sql.errors import is_deadlock
from aion_store_sql.rows import event_column, search_attribute_row, timer_row, workflow_column
from aion_store_sql.schema import (
    EventRow,
    SearchAttributeRow,
    StreamHeadRow,
    TimerRow,
    UtcDateTime,
    WorkflowRow,
)

__all__ = [
    "AppendPlan",
    "HeadsMovedError",
    "append_as_expected",
    "append_batches",
    "plan_append",
]

# Rows per statement where each row binds parameters: far below the 32,767
# bind parameters asyncpg and SQLite allow in one statement.
_CHUNK = 2000


@dataclass
class AppendPlan:
    """What one `append` call writes, decided before anything is written.

    Attributes:
        outcomes: Per batch, in call order: None when it is written, else its conflict.
        heads: The new last seq of every stream the call extends.
        events: The winning batches' events, in order.
        workflows: The final visibility row of every workflow the call changes.
        progressed: The workflows of `workflows` whose row every winning batch only moved
            on (`AppendBatch.workflow_progress_only`): just their time and seq are written.
        timers: The net timer changes per workflow across the call's winning batches.
    """

    outcomes: list[SequenceConflictError | None] = field(default_factory=list)
    heads: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    workflows: dict[str, WorkflowRecord] = field(default_factory=dict)
    progressed: set[str] = field(default_factory=set)
    timers: dict[str, TimerChanges] = field(default_factory=dict)


def plan_append(batches: Sequence[AppendBatch], heads: Mapping[str, int]) -> AppendPlan:
    """Decide which batches continue their stream, given each stream's last seq.

    Args:
        batches: The call's batches, in order.
        heads: The last seq of each stream as committed (absent: no events yet).
    """
    plan = AppendPlan()
    new_heads, workflows, progressed = plan.heads, plan.workflows, plan.progressed
    for batch in batches:
        workflow_id = batch.workflow_id
        last_seq = new_heads.get(workflow_id, heads.get(workflow_id, 0))
        if batch.expected_seq != last_seq:
            plan.outcomes.append(SequenceConflictError(workflow_id, batch.expected_seq, last_seq))
            continue
        plan.outcomes.append(None)
        new_heads[workflow_id] = batch.last_seq
        plan.events += batch.events
        if batch.workflow is not None:
            # Only moved on if every batch of this call only moved it on.
            if batch.workflow_progress_only and (
                workflow_id in progressed or workflow_id not in workflows
            ):
                progressed.add(workflow_id)
            else:
                progressed.discard(workflow_id)
            workflows[workflow_id] = batch.workflow
        if batch.disarm_all_timers or batch.timers_disarmed or batch.timers_armed:
            _add_timer_changes(plan.timers.setdefault(workflow_id, TimerChanges()), batch)
    return plan


def _add_timer_changes(changes: TimerChanges, batch: AppendBatch) -> None:
    """Fold a batch's timer changes into the call's net changes (applied: all, disarm, arm)."""
    if batch.disarm_all_timers:
        changes.disarm_all = True
        changes.disarmed.clear()
        changes.armed.clear()
    for key in batch.timers_disarmed:
        changes.armed.pop(key, None)
        changes.disarmed.add(key)
    for timer in batch.timers_armed:
        changes.armed[timer.key] = timer


def append_batches(
    connection: Connection, batches: Sequence[AppendBatch]
) -> list[SequenceConflictError | None]:
    """Apply `batches` inside the caller's write transaction; see the module docstring."""
    sql = _statements(connection.dialect.name)
    heads: dict[str, int] = {}
    for chunk in _chunks(sorted({batch.workflow_id for batch in batches})):
        heads.update(connection.execute(sql.lock_heads, {"ids": chunk}).all())
    plan = plan_append(batches, heads)
    write_plan(connection, plan)
    # Heads created at seq 0 only to hold the lock, for streams no batch extended.
    unused = [wid for wid, seq in heads.items() if seq == 0 and wid not in plan.heads]
    for chunk in _chunks(unused):
        connection.execute(sql.drop_unused_heads, {"ids": chunk})
    return plan.outcomes


class HeadsMovedError(Exception):
    """A stream head was not where `append_as_expected` assumed: roll back, append again."""


def append_as_expected(
    connection: Connection, batches: Sequence[AppendBatch]
) -> list[SequenceConflictError | None]:
    """Apply `batches` as `append_batches` does, without reading the heads first (SQLite).

    The heads move by compare-and-set, and stay put until the commit (SQLite's
    ``BEGIN IMMEDIATE`` makes this the only writer; PostgreSQL row-locks what
    it updates or inserts), so the count says whether every head was where expected.

    Raises:
        HeadsMovedError: A head was elsewhere (or a new stream exists); part of the
            call may be written, so the transaction must be rolled back.
    """
    sql = _statements(connection.dialect.name)
    expected: dict[str, int] = {}
    for batch in batches:
        expected.setdefault(batch.workflow_id, batch.expected_seq)
    plan = plan_append(batches, expected)
    created = [(wid, seq, 0) for wid, seq in plan.heads.items() if expected[wid] == 0]
    moved = [(wid, seq, expected[wid]) for wid, seq in plan.heads.items() if expected[wid] != 0]
    try:
        count = 0
        if created:
            count += _execute_many(connection, sql.create_heads, created, _head_column)
        if moved:
            count += _execute_many(connection, sql.move_heads, moved, _head_column)
    except DBAPIError as error:
        # PostgreSQL: heads compared and set in no particular order can deadlock
        # with another append (only a stale writer's); the locked path takes them in order.
        if is_deadlock(error):
            raise HeadsMovedError from error
        raise
    if count != len(plan.heads):
        raise HeadsMovedError
    write_rows(connection, plan)
    return plan.outcomes


def write_plan(connection: Connection, plan: AppendPlan) -> None:
    """Write what `plan` decided: heads, events, visibility rows, search attributes, timers."""
    if plan.heads:
        sql = _statements(connection.dialect.name)
        _execute_many(connection, sql.set_heads, list(plan.heads.items()), _head_column)
    write_rows(connection, plan)


def write_rows(connection: Connection, plan: AppendPlan) -> None:
    """Write what `plan` decided but the heads: events, visibility rows, attributes, timers."""
    sql = _statements(connection.dialect.name)
    if plan.events:
        _execute_many(connection, sql.insert_events, plan.events, event_column)
    changed = dict(plan.workflows)
    if plan.progressed:
        # Most batches only move a row on: two columns, and none of its indexes
        # or search attributes. A row that is missing (deleted, or never written)
        # shows in the count, and then every one of them is written whole below.
        moved = [changed[workflow_id] for workflow_id in plan.progressed]
        if _execute_many(connection, sql.progress_workflows, moved, workflow_column) == len(moved):
            for workflow_id in plan.progressed:
                del changed[workflow_id]
    if changed:
        _execute_many(connection, sql.upsert_workflows, list(changed.values()), workflow_column)
        # A row's attributes are replaced as a whole: a new run may start without some.
        _execute_many(connection, sql.delete_attributes, list(changed), _workflow_id)
        attributes = [
            search_attribute_row(workflow_id, name, value)
            for workflow_id, record in changed.items()
            for name, value in record.search_attributes.items()
        ]
        if attributes:
            _execute_many(connection, sql.insert_attributes, attributes)
    _write_timers(connection, sql, plan.timers)


def _head_column(name: str) -> Callable[[tuple[str, int, int]], Any]:
    """Reads a column of `aion_stream_heads` (or the last seq expected before) from a tuple.

    Rows are (workflow_id, last_seq) or (workflow_id, last_seq, expected).
    """
    return itemgetter(("workflow_id", "last_seq", "expected").index(name))


def _write_timers(
    connection: Connection, sql: _Statements, timers: Mapping[str, TimerChanges]
) -> None:
    disarm_all = [wid for wid, changes in timers.items() if changes.disarm_all]
    if disarm_all:
        _execute_many(connection, sql.disarm_all_timers, disarm_all, _workflow_id)
    disarmed = [
        {"workflow_id": wid, "run_id": key.run_id, "timer_id": key.timer_id}
        for wid, changes in timers.items()
        for key in changes.disarmed
    ]
    if disarmed:
        _execute_many(connection, sql.disarm_timer, disarmed)
    armed = [timer_row(t) for changes in timers.values() for t in changes.armed.values()]
    if armed:
        _execute_many(connection, sql.arm_timers, armed)


@dataclass(frozen=True)
class _Statements:
    """Every statement of an append, built once per dialect.

    Building a statement costs SQLAlchemy far more than running it through its
    compiled cache; a lone append would otherwise spend more time here than in SQLite.
    Statements with a list parameter ``ids`` take up to `_CHUNK` ids.
    """

    lock_heads: Executable
    drop_unused_heads: Executable
    set_heads: Executable
    create_heads: Executable
    move_heads: Executable
    insert_events: Executable
    upsert_workflows: Executable
    progress_workflows: Executable
    delete_attributes: Executable
    insert_attributes: Executable
    disarm_all_timers: Executable
    disarm_timer: Executable
    arm_timers: Executable


@cache
def _statements(dialect: str) -> _Statements:
    ids: BindParameter[str] = bindparam("ids", expanding=True)
    workflow_columns = [c.name for c in WorkflowRow.__table__.columns if c.name != "workflow_id"]
    return _Statements(
        lock_heads=_lock_heads(dialect),
        drop_unused_heads=delete(StreamHeadRow).where(
            StreamHeadRow.workflow_id.in_(ids), StreamHeadRow.last_seq == 0
        ),
        set_heads=_upsert(dialect, StreamHeadRow, ["workflow_id"], ["last_seq"]),
        create_heads=_create_heads(dialect),
        move_heads=_move_heads(dialect),
        insert_events=_insert_rows(dialect, EventRow),
        upsert_workflows=_upsert(dialect, WorkflowRow, ["workflow_id"], workflow_columns),
        progress_workflows=_progress_workflows(dialect),
        delete_attributes=_delete_matching(dialect, SearchAttributeRow, ["workflow_id"]),
        insert_attributes=_insert_rows(dialect, SearchAttributeRow),
        disarm_all_timers=_delete_matching(dialect, TimerRow, ["workflow_id"]),
        disarm_timer=_delete_matching(dialect, TimerRow, ["workflow_id", "run_id", "timer_id"]),
        # Re-arming a timer starts it afresh, unclaimed.
        arm_timers=_upsert(
            dialect,
            TimerRow,
            ["workflow_id", "run_id", "timer_id"],
            ["fire_at", "claimed_by", "claimed_until"],
        ),
    )


def _insert_rows(dialect: str, table: type[Any]) -> Executable:
    """INSERT rows of every column of `table`; on PostgreSQL from one array per column."""
    if dialect != "postgresql":
        return insert(table)
    names = [column.name for column in table.__table__.columns]
    rows = _unnest(**{column.name: column.type for column in table.__table__.columns})
    return postgresql.insert(table).from_select(names, select(*(rows.c[n] for n in names)))


def _delete_matching(dialect: str, table: type[Any], keys: list[str]) -> Executable:
    """Delete the rows of `table` whose `keys` columns match a row given."""
    columns = table.__table__.c
    if dialect != "postgresql":
        return delete(table).where(*(columns[key] == bindparam(key) for key in keys))
    rows = _unnest(**{key: columns[key].type for key in keys})
    return delete(table).where(*(columns[key] == rows.c[key] for key in keys))


def _workflow_id(name: str) -> Callable[[str], str]:
    """Reads the ``workflow_id`` column from a row that is the workflow id itself."""
    assert name == "workflow_id", name
    return _itself


def _itself(value: str) -> str:
    return value


def _create_heads(dialect: str) -> Executable:
    """Insert heads ``(workflow_id, last_seq)`` of new streams; an existing one is not counted."""
    if dialect != "postgresql":
        return sqlite.insert(StreamHeadRow).on_conflict_do_nothing()
    rows = _unnest(workflow_id=String(), last_seq=BigInteger())
    return (
        postgresql.insert(StreamHeadRow)
        .from_select(["workflow_id", "last_seq"], select(rows.c.workflow_id, rows.c.last_seq))
        .on_conflict_do_nothing()
    )


def _move_heads(dialect: str) -> Executable:
    """Set heads to ``last_seq`` where they are at ``expected``; only those are counted."""
    if dialect != "postgresql":
        return (
            update(StreamHeadRow)
            .where(
                StreamHeadRow.workflow_id == bindparam("workflow_id"),
                StreamHeadRow.last_seq == bindparam("expected"),
            )
            .values(last_seq=bindparam("last_seq"))
        )
    rows = _unnest(workflow_id=String(), last_seq=BigInteger(), expected=BigInteger())
    return (
        update(StreamHeadRow)
        .where(
            StreamHeadRow.workflow_id == rows.c.workflow_id,
            StreamHeadRow.last_seq == rows.c.expected,
        )
        .values(last_seq=rows.c.last_seq)
    )


def _progress_workflows(dialect: str) -> Executable:
    """Move visibility rows on (time and seq); rows that exist are counted."""
    if dialect != "postgresql":
        return (
            update(WorkflowRow)
            .where(WorkflowRow.workflow_id == bindparam("workflow_id"))
            .values(updated_at=bindparam("updated_at"), last_seq=bindparam("last_seq"))
        )
    rows = _unnest(workflow_id=String(), updated_at=UtcDateTime(), last_seq=BigInteger())
    return (
        update(WorkflowRow)
        .where(WorkflowRow.workflow_id == rows.c.workflow_id)
        .values(updated_at=rows.c.updated_at, last_seq=rows.c.last_seq)
    )


def _unnest(**columns: TypeEngine[Any]) -> TableValuedAlias:
    """PostgreSQL: rows from one array parameter per column, ``all_<column>``."""
    arrays = [
        bindparam(_ALL + name, type_=postgresql.ARRAY(type_)) for name, type_ in columns.items()
    ]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name="given")


def _lock_heads(dialect: str) -> Executable:
    """Rows (workflow_id, last_seq) of the heads of ``ids``, locked until commit."""
    if dialect != "postgresql":
        # SQLite: BEGIN IMMEDIATE has locked the whole file already.
        return select(StreamHeadRow.workflow_id, StreamHeadRow.last_seq).where(
            StreamHeadRow.workflow_id.in_(bindparam("ids", expanding=True))
        )
    # Create missing heads at seq 0 and row-lock all of them, in id order (by code
    # point, as the chunks are cut, so every call locks in one global order).
    ids = select(
        func.unnest(bindparam("ids", type_=postgresql.ARRAY(String))).label("id")
    ).subquery()
    lock = postgresql.insert(StreamHeadRow).from_select(
        ["workflow_id", "last_seq"], select(ids.c.id, literal(0)).order_by(ids.c.id.collate("C"))
    )
    return lock.on_conflict_do_update(
        index_elements=[StreamHeadRow.workflow_id], set_={"last_seq": StreamHeadRow.last_seq}
    ).returning(StreamHeadRow.workflow_id, StreamHeadRow.last_seq)


def _upsert(dialect: str, table: type[Any], keys: list[str], columns: list[str]) -> Executable:
    """INSERT .. ON CONFLICT (keys) DO UPDATE SET columns = the new values.

    On PostgreSQL the rows come from one array per column, as `_insert_rows`; no two
    may share a key (one statement cannot update a row twice), and none do here: the
    rows of a call are keyed by workflow, timer or stream.
    """
    statement = _insert_rows(dialect, table) if dialect == "postgresql" else sqlite.insert(table)
    assert isinstance(statement, postgresql.Insert | sqlite.Insert)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in columns}
    )


_ALL = "all_"


@cache
def _array_columns(statement: Executable) -> tuple[str, ...]:
    """The columns of an ``unnest`` statement's arrays."""
    assert isinstance(statement, ClauseElement)
    return tuple(name.removeprefix(_ALL) for name in statement.compile().params)


def _execute_many(
    connection: Connection,
    statement: Executable,
    rows: Sequence[Any],
    read: Callable[[str], Callable[[Any], Any]] = itemgetter,
) -> int:
    """Run `statement` once per row; how many rows it touched.

    SQLite: the rows go to the driver's executemany as tuples. SQLAlchemy's own
    executemany spends longer preparing each row's parameters than SQLite spends
    writing the row; with a thousand batches per group commit that bookkeeping
    would be most of the commit. The statement is compiled by SQLAlchemy once,
    and each value still passes through its column type's own conversion, as
    SQLAlchemy would do. The parameters are built a column at a time, so the
    per-row loops run inside ``map`` and ``zip``.

    PostgreSQL: `statement` is one ``unnest`` statement (see `_unnest`) taking a list
    per column, sent as one message. asyncpg's executemany does not count its rows,
    and it streams its rows in several writes: a process frozen between two of them
    leaves its transaction, locks held, waiting for the rest of a statement, where
    ``idle_in_transaction_session_timeout`` does not reach it.

    Args:
        connection: Where to run it.
        statement: An insert, update or delete with one bound parameter per column.
        rows: One item per execution.
        read: Makes, from a column name, the function that reads that column's value from
            a row: `itemgetter` for dicts by column name, or one of `aion_store_sql.rows`
            for records.
    """
    if connection.dialect.name == "postgresql":
        arrays = {_ALL + name: list(map(read(name), rows)) for name in _array_columns(statement)}
        return connection.execute(statement, arrays).rowcount
    bulk = compiled(statement, connection.dialect)
    columns = [list(map(read(name), rows)) for name in bulk.names]
    for position, convert in bulk.conversions:
        columns[position] = list(map(convert, columns[position]))
    # On the driver's own connection, inside the transaction SQLAlchemy began on it:
    # its execution bookkeeping costs more than SQLite's work on a lone append.
    driver = connection.connection.driver_connection
    assert driver is not None
    cursor = driver.executemany(bulk.sql, list(zip(*columns, strict=True)))
    count: int = cursor.rowcount
    cursor.close()
    return count


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
