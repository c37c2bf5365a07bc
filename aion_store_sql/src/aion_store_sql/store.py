"""`SqlEventStore`: the `EventStore` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from aion_core.errors import CorruptHistoryError, SequenceConflictError, StoreError
from aion_core.events import Event
from aion_core.store.protocol import EventStoreBase
from aion_core.store.queues import Admission, DedupClaim, QueueLimits, QueueStats
from aion_core.store.records import AppendBatch, TimerRecord, WorkflowFilter, WorkflowRecord
from aion_store_sql import queues, timers, visibility
from aion_store_sql.append import (
    HeadsMovedError,
    append_as_expected,
    append_batches,
)
from aion_store_sql.compiled import fetch_mappings
from aion_store_sql.config import PostgresConfig, StoreConfig, parse_store_url
from aion_store_sql.database import Database
from aion_store_sql.errors import is_deadlock, is_lock_timeout, store_errors
from aion_store_sql.migrations import ensure_schema
from aion_store_sql.rows import Row, event_from_row
from aion_store_sql.schema import EventRow, StreamHeadRow
from aion_store_sql.stalled import end_stalled_sessions

__all__ = ["SqlEventStore"]

log = logging.getLogger("aion.store.sql")

_DEADLOCK_ATTEMPTS = 5
"""Times the locked append is tried when PostgreSQL picks it to break a deadlock."""
_FEW_BATCHES = 16
"""Appends of up to this many batches are `Database.write_few`: lone or lightly loaded
workflows. Larger group commits go to SQLite's writer thread, and the engine goes on
meanwhile."""


class SqlEventStore(EventStoreBase):
    """An event store in a SQL database: ``sqlite:///path.db`` or ``postgresql://...``.

    Opening an empty database creates the schema; a database whose schema is
    older or newer than this code is refused (`SchemaVersionError`) and must be
    migrated explicitly (``aion store migrate``). Use it as an async context
    manager, or call `open` and `close`.

    Args:
        url: The store URL; see `aion_store_sql.config` for its parameters.

    Raises:
        ConfigurationError: The URL is malformed or has a parameter it does not accept.
    """

    def __init__(self, url: str) -> None:
        self._config: StoreConfig = parse_store_url(url)
        self._database: Database | None = None
        self._lock_wait = (
            self._config.lock_wait if isinstance(self._config, PostgresConfig) else 0.0
        )

    @property
    def url(self) -> str:
        """The URL the store was made for, password removed."""
        return self._config.url

    @property
    def _secret(self) -> str | None:
        return self._config.password

    @property
    def _db(self) -> Database:
        if self._database is None:
            raise StoreError(f"SQL store {self.url} is not open; call open() first")
        return self._database

    async def open(self) -> None:
        """Connect, and check (or, in an empty database, create) the schema.

        Raises:
            SchemaVersionError: The schema is older or newer than this code.
            StoreUnavailableError: The database cannot be reached.
        """
        if self._database is not None:
            return
        database = Database(self._config)
        try:
            with store_errors(self.url, "opening", self._secret):
                await ensure_schema(database)
        except BaseException:
            await database.dispose()
            raise
        self._database = database

    async def close(self) -> None:
        """Close every connection; committed data stays."""
        database, self._database = self._database, None
        if database is not None:
            with store_errors(self.url, "closing", self._secret):
                await database.dispose()

    async def append(self, batches: Sequence[AppendBatch]) -> list[SequenceConflictError | None]:
        """Write the batches in one transaction, each all-or-nothing.

        A batch that does not continue its stream writes nothing and gets its
        `SequenceConflictError`; the others are unaffected.

        Raises:
            StoreUnavailableError: The database could not be reached or was busy; nothing of
                the call is known to be written, and it may be retried.
            StoreError: The database failed otherwise; nothing is known to be written.
        """
        if not batches:
            return []
        with store_errors(self.url, "appending events", self._secret):
            return await self._append(batches)

    async def _append(self, batches: Sequence[AppendBatch]) -> list[SequenceConflictError | None]:
        # A commit of a few batches is over sooner than a hand-off to the writer thread.
        write = self._db.write_few if len(batches) <= _FEW_BATCHES else self._db.write
        apply: Callable[[Connection, Sequence[AppendBatch]], list[SequenceConflictError | None]]
        apply = append_as_expected
        loop = asyncio.get_running_loop()
        give_up_waiting = loop.time() + self._lock_wait
        attempt = 1
        while True:
            try:
                return await write(apply, batches)
            except HeadsMovedError:
                # Rolled back: a stale writer's batch, or a stream that exists.
                apply = append_batches
                continue
            except DBAPIError as error:
                # The heads are locked in order by `append_batches`, but another
                # append's compare-and-set takes them in no particular order:
                # PostgreSQL may roll this one back to break the deadlock. And a lock
                # held by a process frozen mid-append is freed in a bounded time (by
                # the server, or by `end_stalled_sessions`); the caller should not see
                # that wait fail. Nothing was written either way.
                if is_deadlock(error) and attempt < _DEADLOCK_ATTEMPTS:
                    await asyncio.sleep(random.uniform(0, 0.01 * attempt))
                    attempt += 1
                elif not is_lock_timeout(error) or loop.time() >= give_up_waiting:
                    raise
                else:
                    log.warning(
                        "appending events to %s: waited too long for a stream lock another "
                        "session holds; trying again for %.1f s more",
                        self.url, give_up_waiting - loop.time(),
                    )  # fmt: skip
                    await self._end_stalled_sessions()

    async def _end_stalled_sessions(self) -> None:
        config = self._config
        if isinstance(config, PostgresConfig):
            await self._db.read(end_stalled_sessions, config.idle_in_transaction_ms)

    async def read_events(
        self, workflow_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events of one stream with seq > `after_seq`, in order, at most `limit` of them.

        Raises:
            CorruptHistoryError: A stored event of this workflow does not decode.
        """
        with store_errors(self.url, f"reading the events of {workflow_id!r}", self._secret):
            rows = await self._db.read(_event_rows, workflow_id, after_seq, limit)
        return [event_from_row(row) for row in rows]

    async def last_seq(self, workflow_id: str) -> int:
        """The seq of the last event of a stream; 0 when it has none."""
        with store_errors(self.url, f"reading the last seq of {workflow_id!r}", self._secret):
            return await self._db.read(_last_seq, workflow_id)

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        """The visibility row of a workflow, or None when the id is unknown.

        Raises:
            CorruptHistoryError: Its row does not decode.
        """
        with store_errors(self.url, f"reading workflow {workflow_id!r}", self._secret):
            return await self._db.read(visibility.get_workflow, workflow_id)

    async def list_workflows(self, query: WorkflowFilter) -> list[WorkflowRecord]:
        """Visibility rows matching `query`, newest start first, then by workflow id.

        A row that does not decode is logged and left out, so one bad row does not hide
        every other workflow.
        """
        with store_errors(self.url, "listing workflows", self._secret):
            return await self._db.scan(visibility.list_workflows, query)

    async def count_workflows(self, query: WorkflowFilter) -> int:
        """How many workflows match `query` (its limit is ignored)."""
        with store_errors(self.url, "counting workflows", self._secret):
            return await self._db.scan(visibility.count_workflows, query)

    async def open_workflows(
        self, *, after_id: str = "", limit: int = 1000
    ) -> list[WorkflowRecord]:
        """Workflows that are not closed, by workflow id, for recovery: page with `after_id`."""
        with store_errors(self.url, "listing open workflows", self._secret):
            return await self._db.scan(visibility.open_workflows, after_id, limit)

    async def due_timers(self, until: datetime, *, limit: int = 1000) -> list[TimerRecord]:
        """Armed timers with `fire_at <= until`, earliest first (claimed ones included)."""
        with store_errors(self.url, "reading due timers", self._secret):
            return await self._db.scan(timers.due_timers, until, limit)

    async def next_timer_at(self) -> datetime | None:
        """When the earliest armed timer is due, or None when there are none."""
        with store_errors(self.url, "reading the next timer", self._secret):
            return await self._db.read(timers.next_timer_at)

    async def claim_due_timers(
        self,
        until: datetime,
        *,
        owner: str,
        lease: timedelta,
        limit: int = 1000,
        now: datetime | None = None,
    ) -> list[TimerRecord]:
        """Lease timers due by `until` to `owner`, so engines sharing the store split the firing.

        A leased timer is not handed out again (to anyone) until its lease runs out, so
        an engine that dies holding timers only delays them by `lease`. Firing a timer
        (its `TimerFired` event) removes it; a re-armed timer starts unclaimed. Not part
        of the `EventStore` protocol.

        Args:
            until: Claim timers with ``fire_at <= until``.
            owner: Who claims (an engine node id).
            lease: How long the claim holds.
            limit: At most this many timers, earliest first.
            now: The current time (default: the wall clock, UTC).
        """
        with store_errors(self.url, "claiming due timers", self._secret):
            return await self._db.write(
                timers.claim_due_timers,
                until,
                owner=owner,
                now=now or datetime.now(UTC),
                lease=lease,
                limit=limit,
            )

    # --- flow control (see aion_core.store.queues) ---------------------------------------------

    async def admit_queued(
        self,
        queue: str,
        limits: QueueLimits,
        *,
        engine_id: str,
        owns: Callable[[str], bool],
        clock: Callable[[], datetime],
        scan: int = 1000,
    ) -> list[Admission]:
        """Take slots for queued runs within the queue's limits, in one write transaction."""
        with store_errors(self.url, f"admitting runs of queue {queue!r}", self._secret):
            return await self._db.write(
                queues.admit_queued,
                queue,
                limits,
                engine_id=engine_id,
                owns=owns,
                clock=clock,
                scan=scan,
            )

    async def queue_stats(
        self, queue: str, *, now: datetime, period: timedelta | None
    ) -> QueueStats:
        """Counts of one queue: queued, running, per partition key, recent admissions."""
        with store_errors(self.url, f"counting queue {queue!r}", self._secret):
            return await self._db.read(queues.queue_stats, queue, now, period)

    async def queue_names(self) -> list[str]:
        """Queues holding a queued run or a slot."""
        with store_errors(self.url, "listing queues", self._secret):
            return await self._db.read(queues.queue_names)

    async def claim_dedup(
        self, queue: str, dedup_id: str, workflow_id: str, run_id: str, *, now: datetime
    ) -> DedupClaim:
        """Claim a queue's dedup id for a run about to start; the run that holds it."""
        with store_errors(self.url, f"claiming dedup id {dedup_id!r}", self._secret):
            return await self._db.write(
                queues.claim_dedup, queue, dedup_id, workflow_id, run_id, now
            )

    async def admit_attempts(
        self,
        queue: str,
        limits: QueueLimits,
        waiting: Sequence[str],
        *,
        engine_id: str,
        clock: Callable[[], datetime],
        lease: timedelta,
    ) -> list[str]:
        """Slots for activity attempts waiting on a queue, in one write transaction."""
        with store_errors(self.url, f"admitting attempts of queue {queue!r}", self._secret):
            return await self._db.write(
                queues.admit_attempts,
                queue,
                limits,
                waiting,
                engine_id=engine_id,
                clock=clock,
                lease=lease,
            )

    async def renew_attempts(
        self, keys: Sequence[str], *, clock: Callable[[], datetime], lease: timedelta
    ) -> None:
        """Extend the leases of attempt slots still held."""
        with store_errors(self.url, "renewing attempt slots", self._secret):
            await self._db.write(queues.renew_attempts, keys, clock, lease)

    async def release_attempts(self, keys: Sequence[str]) -> None:
        """Free the slots of attempts that ended."""
        with store_errors(self.url, "releasing attempt slots", self._secret):
            await self._db.write(queues.release_attempts, keys)

    async def release_dedup(self, queue: str, dedup_id: str, run_id: str) -> None:
        """Drop a run's claim on a dedup id (its start was refused)."""
        with store_errors(self.url, f"releasing dedup id {dedup_id!r}", self._secret):
            await self._db.write(queues.release_dedup, queue, dedup_id, run_id)


# Built once: building a statement costs SQLAlchemy more than running it from its cache.
_EVENTS_AFTER = (
    select(EventRow)
    .where(EventRow.workflow_id == bindparam("workflow_id"), EventRow.seq > bindparam("after_seq"))
    .order_by(EventRow.seq)
)
_SOME_EVENTS_AFTER = _EVENTS_AFTER.limit(bindparam("limit", type_=Integer))
_LAST_SEQ = select(StreamHeadRow.last_seq).where(
    StreamHeadRow.workflow_id == bindparam("workflow_id")
)


def _event_rows(
    connection: Connection, workflow_id: str, after_seq: int, limit: int | None
) -> list[Row]:
    statement = _EVENTS_AFTER if limit is None else _SOME_EVENTS_AFTER
    parameters = {"workflow_id": workflow_id, "after_seq": after_seq, "limit": limit}
    try:
        return fetch_mappings(connection, statement, parameters)
    except (ValueError, TypeError, OverflowError) as error:
        # A column the driver itself cannot convert (SQLite keeps any value in any column).
        raise CorruptHistoryError(workflow_id, None, str(error)) from None


def _last_seq(connection: Connection, workflow_id: str) -> int:
    rows = fetch_mappings(connection, _LAST_SEQ, {"workflow_id": workflow_id})
    return int(rows[0]["last_seq"]) if rows else 0
