"""The tables of the SQL store: one schema for SQLite and PostgreSQL (DESIGN 6).

This module describes the schema the current code reads and writes. The
revisions in `aion_store_sql.migrations` build it step by step, and a test
checks that a migrated database matches these tables exactly.

Every table carries an ``aion_`` prefix, so the store can share a database
(and an Alembic setup, see `VERSION_TABLE`) with the application it serves.
Schedules get their own table with the issue that adds them, as a migration.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Double,
    Index,
    LargeBinary,
    MetaData,
    String,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "VERSION_TABLE",
    "AttemptAdmissionRow",
    "AttemptSlotRow",
    "Base",
    "Blob",
    "EventRow",
    "QueueAdmissionRow",
    "QueueDedupRow",
    "QueueRow",
    "QueueSlotRow",
    "SearchAttributeRow",
    "StreamHeadRow",
    "TimerRow",
    "UtcDateTime",
    "WorkflowRow",
]

VERSION_TABLE = "aion_alembic_version"
"""Where Alembic records the schema revision; not ``alembic_version``, which the app may own."""

# Ids are compared by code point everywhere (the byte order of UTF-8), as the
# memory store compares Python strings: paging by `workflow_id > after_id` and
# ORDER BY then agree on every database, whatever its default collation.
ID: TypeEngine[str] = String().with_variant(String(collation="C"), "postgresql")

_NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Named constraints, so later migrations (SQLite batch mode included) can address them."""


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC with microseconds; read back aware, in UTC.

    PostgreSQL keeps ``timestamptz``. SQLite keeps SQLAlchemy's fixed-width text
    form of the UTC time, so comparing and sorting the text compares instants.
    A naive datetime given as a bound (a filter's ``started_after``) is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """To UTC (PostgreSQL)."""
        return None if value is None else _utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware, in UTC (PostgreSQL)."""
        return None if value is None else _utc(value)

    # SQLite: one conversion each way, straight between the datetime and its
    # text, where SQLAlchemy's DATETIME would add a second (regex) step.
    # The text is the same as DATETIME's, so files written either way agree.

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """SQLite: the UTC time as ``YYYY-MM-DD HH:MM:SS.ffffff``."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        """SQLite: the aware UTC time of the text."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return lambda value: None if value is None else _sqlite_datetime(value)


class Blob(TypeDecorator[bytes]):
    """Bytes, such as an event body's JSON.

    SQLite: bound as they are. SQLAlchemy's ``LargeBinary`` would wrap each value
    in ``sqlite3.Binary`` (a memoryview), which the driver binds no differently,
    at the price of two objects per row for the garbage collector to track.
    """

    impl = LargeBinary
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """SQLite: none."""
        if dialect.name == "sqlite":
            return None
        return super().bind_processor(dialect)


def _utc(value: datetime) -> datetime:
    """`value` in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_SQLITE_SECONDS: dict[tuple[int, int, int, int, int, int], str] = {}
"""The text of recent seconds, ``YYYY-MM-DD HH:MM:SS.``: a commit's times fall in a few."""
_SQLITE_SECONDS_KEPT = 4096


def _sqlite_text(value: datetime | None) -> str | None:
    # ``_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")``, at a
    # third of the cost: every append converts a few times.
    if value is None:
        return None
    utc = value if value.tzinfo is UTC else _utc(value)
    second = (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)
    text = _SQLITE_SECONDS.get(second)
    if text is None:
        text = "%04d-%02d-%02d %02d:%02d:%02d." % second  # noqa: UP031
        if len(_SQLITE_SECONDS) >= _SQLITE_SECONDS_KEPT:
            _SQLITE_SECONDS.clear()
        _SQLITE_SECONDS[second] = text
    return text + "%06d" % utc.microsecond  # noqa: UP031


def _sqlite_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """The declarative base of the store's tables."""

    metadata = MetaData(naming_convention=_NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        int: BigInteger(),
        str: String(),
        bool: Boolean(),
    }


class StreamHeadRow(Base):
    """The last seq of each stream: the row every append compares and sets.

    Appends to one stream serialise on this row (a row lock on PostgreSQL, the
    single writer on SQLite); the events' primary key is the safety net behind it.
    """

    __tablename__ = "aion_stream_heads"

    workflow_id: Mapped[str] = mapped_column(ID, primary_key=True)
    last_seq: Mapped[int]


class EventRow(Base):
    """One event: the envelope in columns, the body as the JSON bytes of its stored form."""

    __tablename__ = "aion_events"

    workflow_id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str]
    type: Mapped[str]
    recorded_at: Mapped[datetime]
    data: Mapped[bytes] = mapped_column(Blob)


class WorkflowRow(Base):
    """The visibility row of a workflow (its latest run), for listing and recovery."""

    __tablename__ = "aion_workflows"

    workflow_id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str]
    workflow_type: Mapped[str]
    status: Mapped[str]
    task_queue: Mapped[str]
    start_time: Mapped[datetime]
    close_time: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    last_seq: Mapped[int]
    parent_workflow_id: Mapped[str | None] = mapped_column(ID)
    parent_run_id: Mapped[str | None]
    priority: Mapped[int] = mapped_column(server_default="0")
    partition_key: Mapped[str | None]
    dedup_id: Mapped[str | None]
    ready_at: Mapped[datetime | None]
    queue_limited: Mapped[bool] = mapped_column(server_default=false())

    __table_args__ = (
        # Listings: newest start first, then by id.
        Index(None, "start_time", "workflow_id"),
        # Recovery pages through open workflows by id.
        Index(None, "status", "workflow_id"),
        Index(None, "workflow_type"),
        Index(None, "parent_workflow_id"),
        # A queue's line: its queued runs by priority (highest first), then start time.
        Index(
            "ix_aion_workflows_queue_line",
            "task_queue",
            "status",
            priority.desc(),
            "start_time",
            "workflow_id",
        ),
    )


class QueueRow(Base):
    """One row per flow-controlled queue: admissions to it lock it (PostgreSQL), one at a time."""

    __tablename__ = "aion_queues"

    name: Mapped[str] = mapped_column(ID, primary_key=True)


class QueueSlotRow(Base):
    """A run admitted past its queue (see `aion_core.store.queues`); freed once it closed."""

    __tablename__ = "aion_queue_slots"

    workflow_id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(primary_key=True)
    queue: Mapped[str] = mapped_column(ID)
    partition_key: Mapped[str | None]
    engine_id: Mapped[str]
    admitted_at: Mapped[datetime]

    __table_args__ = (Index(None, "queue"),)


class QueueAdmissionRow(Base):
    """When a run was admitted: the sliding window of a queue's rate limit counts these."""

    __tablename__ = "aion_queue_admissions"

    queue: Mapped[str] = mapped_column(ID, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(primary_key=True)
    admitted_at: Mapped[datetime]

    __table_args__ = (Index(None, "queue", "admitted_at"),)


class SearchAttributeRow(Base):
    """One search attribute of a workflow, in the column of its type.

    `kind` is part of every match, so a search for ``True`` never finds ``1``
    (bools live in `int_value` as 0/1). Integers beyond 64 bits keep their
    decimal text in `text_value`.
    """

    __tablename__ = "aion_search_attributes"

    workflow_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(primary_key=True)
    kind: Mapped[str]
    text_value: Mapped[str | None]
    int_value: Mapped[int | None]
    float_value: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        Index(None, "name", "text_value"),
        Index(None, "name", "int_value"),
        Index(None, "name", "float_value"),
    )


class TimerRow(Base):
    """An armed timer; `claimed_by` / `claimed_until` lease it to one engine for firing."""

    __tablename__ = "aion_timers"

    workflow_id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(primary_key=True)
    timer_id: Mapped[int] = mapped_column(primary_key=True)
    fire_at: Mapped[datetime]
    claimed_by: Mapped[str | None]
    claimed_until: Mapped[datetime | None]

    __table_args__ = (
        # Due timers come earliest first, ties by key: the index serves the whole ORDER BY.
        Index(None, "fire_at", "workflow_id", "run_id", "timer_id"),
    )


class QueueDedupRow(Base):
    """Which run holds a deduplication id of a queue (see `aion_core.store.queues.dedup_holds`)."""

    __tablename__ = "aion_queue_dedup"

    queue: Mapped[str] = mapped_column(ID, primary_key=True)
    dedup_id: Mapped[str] = mapped_column(ID, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ID)
    run_id: Mapped[str]
    claimed_at: Mapped[datetime]


class AttemptSlotRow(Base):
    """An activity attempt holding a slot of its queue, until it ends or its lease runs out."""

    __tablename__ = "aion_attempt_slots"

    key: Mapped[str] = mapped_column(ID, primary_key=True)
    queue: Mapped[str] = mapped_column(ID)
    engine_id: Mapped[str]
    admitted_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (Index(None, "queue"),)


class AttemptAdmissionRow(Base):
    """When an attempt got its slot: a queue's rate limit on attempts counts these."""

    __tablename__ = "aion_attempt_admissions"

    queue: Mapped[str] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(ID, primary_key=True)
    admitted_at: Mapped[datetime]

    __table_args__ = (Index(None, "queue", "admitted_at"),)
