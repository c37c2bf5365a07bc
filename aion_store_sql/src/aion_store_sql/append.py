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

The ``(workflow_id, seq)`` primary key of the events is the safety net behind the heads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BindParameter,
    Executable,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from aion_core.errors import SequenceConflictError
from aion_core.store.projection import TimerChanges
from aion_core.store.records import AppendBatch, WorkflowRecord
from aion_store_sql.rows import event_row, search_attribute_row, timer_row, workflow_row
from aion_store_sql.schema import EventRow, SearchAttributeRow, StreamHeadRow, TimerRow, WorkflowRow

__all__ = ["AppendPlan", "append_batches", "plan_append"]

# Rows per statement where each row binds parameters: far below the 32,767
# bind parameters asyncpg and SQLite allow in one statement.
_CHUNK = 2000


@dataclass
class AppendPlan:
    """What one `append` call writes, decided before anything is written.

    Attributes:
        outcomes: Per batch, in call order: None when it is written, else its conflict.
        heads: The new last seq of every stream the call extends.
        events: Rows of the winning batches' events, in order.
        workflows: The final visibility row of every workflow the call changes.
        timers: The net timer changes per workflow across the call's winning batches.
    """

    outcomes: list[SequenceConflictError | None] = field(default_factory=list)
    heads: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    workflows: dict[str, WorkflowRecord] = field(default_factory=dict)
    timers: dict[str, TimerChanges] = field(default_factory=dict)


def plan_append(batches: Sequence[AppendBatch], heads: Mapping[str, int]) -> AppendPlan:
    """Decide which batches continue their stream, given each stream's last seq.

    Args:
        batches: The call's batches, in order.
        heads: The last seq of each stream as committed (absent: no events yet).
    """
    plan = AppendPlan()
    for batch in batches:
        last_seq = plan.heads.get(batch.workflow_id, heads.get(batch.workflow_id, 0))
        if batch.expected_seq != last_seq:
            plan.outcomes.append(
                SequenceConflictError(batch.workflow_id, batch.expected_seq, last_seq)
            )
            continue
        plan.outcomes.append(None)
        plan.heads[batch.workflow_id] = batch.last_seq
        plan.events.extend(event_row(event) for event in batch.events)
        if batch.workflow is not None:
            plan.workflows[batch.workflow_id] = batch.workflow
        if batch.disarm_all_timers or batch.timers_disarmed or batch.timers_armed:
            _add_timer_changes(plan.timers.setdefault(batch.workflow_id, TimerChanges()), batch)
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
        heads.update((row[0], row[1]) for row in connection.execute(sql.lock_heads, {"ids": chunk}))
    plan = plan_append(batches, heads)
    write_plan(connection, plan)
    # Heads created at seq 0 only to hold the lock, for streams no batch extended.
    unused = [wid for wid, seq in heads.items() if seq == 0 and wid not in plan.heads]
    for chunk in _chunks(unused):
        connection.execute(sql.drop_unused_heads, {"ids": chunk})
    return plan.outcomes


def write_plan(connection: Connection, plan: AppendPlan) -> None:
    """Write what `plan` decided: heads, events, visibility rows, search attributes, timers."""
    sql = _statements(connection.dialect.name)
    if plan.heads:
        heads = [{"workflow_id": wid, "last_seq": seq} for wid, seq in plan.heads.items()]
        _execute_many(connection, sql.set_heads, heads)
    if plan.events:
        _execute_many(connection, sql.insert_events, plan.events)
    if plan.workflows:
        rows = [workflow_row(record) for record in plan.workflows.values()]
        _execute_many(connection, sql.upsert_workflows, rows)
        # A row's attributes are replaced as a whole: a new run may start without some.
        for chunk in _chunks(list(plan.workflows)):
            connection.execute(sql.delete_attributes, {"ids": chunk})
        attributes = [
            search_attribute_row(workflow_id, name, value)
            for workflow_id, record in plan.workflows.items()
            for name, value in record.search_attributes.items()
        ]
        if attributes:
            _execute_many(connection, sql.insert_attributes, attributes)
    _write_timers(connection, sql, plan.timers)


def _write_timers(
    connection: Connection, sql: _Statements, timers: Mapping[str, TimerChanges]
) -> None:
    disarm_all = [wid for wid, changes in timers.items() if changes.disarm_all]
    for chunk in _chunks(disarm_all):
        connection.execute(sql.disarm_all_timers, {"ids": chunk})
    disarmed = [
        {"w": wid, "r": key.run_id, "t": key.timer_id}
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
    insert_events: Executable
    upsert_workflows: Executable
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
        insert_events=insert(EventRow),
        upsert_workflows=_upsert(dialect, WorkflowRow, ["workflow_id"], workflow_columns),
        delete_attributes=delete(SearchAttributeRow).where(SearchAttributeRow.workflow_id.in_(ids)),
        insert_attributes=insert(SearchAttributeRow),
        disarm_all_timers=delete(TimerRow).where(TimerRow.workflow_id.in_(ids)),
        disarm_timer=delete(TimerRow).where(
            TimerRow.workflow_id == bindparam("w"),
            TimerRow.run_id == bindparam("r"),
            TimerRow.timer_id == bindparam("t"),
        ),
        # Re-arming a timer starts it afresh, unclaimed.
        arm_timers=_upsert(
            dialect,
            TimerRow,
            ["workflow_id", "run_id", "timer_id"],
            ["fire_at", "claimed_by", "claimed_until"],
        ),
    )


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
    """INSERT .. ON CONFLICT (keys) DO UPDATE SET columns = the new values."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in columns}
    )


def _execute_many(
    connection: Connection, statement: Executable, rows: list[dict[str, Any]]
) -> None:
    """Run `statement` once per row, handing the rows to the driver as tuples.

    SQLAlchemy's executemany spends longer preparing each row's parameters
    than SQLite spends writing the row; with a thousand batches per group
    commit that bookkeeping would be most of the commit. The statement is
    compiled by SQLAlchemy once, and each value still passes through its
    column type's own conversion, as SQLAlchemy would do.
    """
    bulk = _bulk(statement, connection.dialect)
    parameters = []
    for row in rows:
        values = list(bulk.pick(row))
        for position, convert in bulk.conversions:
            values[position] = convert(values[position])
        parameters.append(tuple(values))
    connection.exec_driver_sql(bulk.sql, parameters)


@dataclass(frozen=True)
class _Bulk:
    """A statement compiled for one dialect, and how to turn a row into its parameters."""

    sql: str
    pick: Callable[[dict[str, Any]], tuple[Any, ...]]
    conversions: tuple[tuple[int, Callable[[Any], Any]], ...]


@cache
def _bulk(statement: Executable, dialect: Dialect) -> _Bulk:
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    assert compiled.positiontup is not None, "both drivers take positional parameters"
    names = compiled.positiontup
    processors = [
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    pick = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    return _Bulk(
        sql=str(compiled),
        pick=pick,
        conversions=tuple((i, p) for i, p in enumerate(processors) if p is not None),
    )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
