"""Flow control on SQL: admitting queued runs within their queue's limits.

See `aion_core.store.queues` for the rule; this module reads and writes the rows.

An admission is one write transaction. On PostgreSQL it first row-locks the
queue's row in `aion_queues`, so admissions to one queue from many engines
take turns, and each reads the slots the one before it committed (READ
COMMITTED reads afresh at every statement). SQLite's single writer already
serialises them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, tuple_, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from aion_core.events import WorkflowStatus
from aion_core.store.queues import (
    Admission,
    DedupClaim,
    PartitionStats,
    QueuedRun,
    QueueLimits,
    QueueSlot,
    QueueStats,
    attempts_to_admit,
    choose_admissions,
    dedup_holds,
    places_to_read,
)
from aion_store_sql import visibility
from aion_store_sql.schema import (
    AttemptAdmissionRow,
    AttemptSlotRow,
    QueueAdmissionRow,
    QueueDedupRow,
    QueueRow,
    QueueSlotRow,
    WorkflowRow,
)

__all__ = [
    "admit_attempts",
    "admit_queued",
    "claim_dedup",
    "queue_names",
    "queue_stats",
    "release_attempts",
    "release_dedup",
    "renew_attempts",
]

_QUEUED = WorkflowStatus.QUEUED.value
_SLOT_RUN = and_(
    WorkflowRow.workflow_id == QueueSlotRow.workflow_id, WorkflowRow.run_id == QueueSlotRow.run_id
)
"""A slot's run: the visibility row of its workflow, while that row is still of its run."""


def admit_queued(
    connection: Connection,
    queue: str,
    limits: QueueLimits,
    *,
    engine_id: str,
    owns: Callable[[str], bool],
    clock: Callable[[], datetime],
    scan: int,
) -> list[Admission]:
    """`QueueStore.admit_queued`, inside the caller's write transaction."""
    _lock_queue(connection, queue)
    slots, pending = _open_slots(connection, queue)
    # Read after the slots: every close that freed one was stamped before this.
    now = clock()
    recent = 0
    if limits.period is not None:
        recent = _recent_admissions(
            connection, QueueAdmissionRow, queue, now - limits.period, prune=True
        )
    places = places_to_read(slots, recent, limits, scan)
    line = (
        connection.execute(
            select(
                WorkflowRow.workflow_id,
                WorkflowRow.run_id,
                WorkflowRow.priority,
                WorkflowRow.partition_key,
                WorkflowRow.start_time,
                WorkflowRow.queue_limited,
            )
            .where(
                WorkflowRow.task_queue == queue,
                WorkflowRow.status == _QUEUED,
                or_(WorkflowRow.ready_at.is_(None), WorkflowRow.ready_at <= now),
            )
            .order_by(WorkflowRow.priority.desc(), WorkflowRow.start_time, WorkflowRow.workflow_id)
            .limit(places)
        ).all()
        if places
        else []
    )
    queued = [QueuedRun(*row) for row in line]
    chosen = choose_admissions(queued, slots, recent, limits, engine_id=engine_id, owns=owns)
    if chosen:
        connection.execute(
            insert(QueueSlotRow),
            [
                {
                    "workflow_id": run.workflow_id,
                    "run_id": run.run_id,
                    "queue": queue,
                    "partition_key": run.partition_key,
                    "engine_id": engine_id,
                    "admitted_at": now,
                }
                for run in chosen
            ],
        )
        if limits.period is not None:
            connection.execute(
                insert(QueueAdmissionRow),
                [
                    {
                        "queue": queue,
                        "workflow_id": run.workflow_id,
                        "run_id": run.run_id,
                        "admitted_at": now,
                    }
                    for run in chosen
                ],
            )
    again = [
        Admission(slot.workflow_id, slot.run_id, slot.admitted_at, again=True)
        for slot in pending
        if owns(slot.workflow_id)
    ]
    return again + [Admission(run.workflow_id, run.run_id, now) for run in chosen]


def _open_slots(connection: Connection, queue: str) -> tuple[list[QueueSlot], list[QueueSlot]]:
    """The queue's slots of open runs, and those of them not dequeued yet.

    Slots of runs that closed (or were replaced by a newer run) are deleted here.
    """
    rows = connection.execute(
        select(
            QueueSlotRow.workflow_id,
            QueueSlotRow.run_id,
            QueueSlotRow.partition_key,
            QueueSlotRow.engine_id,
            QueueSlotRow.admitted_at,
            WorkflowRow.status,
        )
        .outerjoin(
            WorkflowRow,
            _SLOT_RUN,
        )
        .where(QueueSlotRow.queue == queue)
    ).all()
    slots: list[QueueSlot] = []
    pending: list[QueueSlot] = []
    gone: list[tuple[str, str]] = []
    for workflow_id, run_id, partition_key, engine_id, admitted_at, status in rows:
        if status is None or WorkflowStatus(status).is_closed:
            gone.append((workflow_id, run_id))
            continue
        slot = QueueSlot(queue, workflow_id, run_id, partition_key, engine_id, admitted_at)
        slots.append(slot)
        if status == _QUEUED:
            pending.append(slot)
    if gone:
        connection.execute(
            delete(QueueSlotRow).where(
                tuple_(QueueSlotRow.workflow_id, QueueSlotRow.run_id).in_(gone)
            )
        )
    return slots, pending


def _recent_admissions(
    connection: Connection,
    table: type[QueueAdmissionRow | AttemptAdmissionRow],
    queue: str,
    since: datetime,
    *,
    prune: bool,
) -> int:
    """Admissions to the queue (of runs, or of attempts) after `since`.

    With `prune`, older ones are deleted first.
    """
    if prune:
        connection.execute(delete(table).where(table.queue == queue, table.admitted_at <= since))
    count: int = connection.execute(
        select(func.count()).where(table.queue == queue, table.admitted_at > since)
    ).scalar_one()
    return count


def queue_stats(
    connection: Connection, queue: str, now: datetime, period: timedelta | None
) -> QueueStats:
    """`QueueStore.queue_stats`: counted in the database (a queue may hold very many runs)."""
    rows = connection.execute(
        select(QueueSlotRow.workflow_id, QueueSlotRow.partition_key, WorkflowRow.status)
        .join(
            WorkflowRow,
            _SLOT_RUN,
        )
        .where(QueueSlotRow.queue == queue)
    ).all()
    running = [row for row in rows if not WorkflowStatus(row.status).is_closed]
    admitted_waiting = Counter(row.partition_key for row in running if row.status == _QUEUED)
    waiting: Counter[str | None] = Counter()
    for key, count in connection.execute(
        select(WorkflowRow.partition_key, func.count())
        .where(WorkflowRow.task_queue == queue, WorkflowRow.status == _QUEUED)
        .group_by(WorkflowRow.partition_key)
    ).all():
        waiting[key] = count - admitted_waiting[key]
    running_by = Counter(row.partition_key for row in running)
    keys = sorted(k for k in set(waiting) | set(running_by) if k is not None)
    recent = None
    if period is not None:
        recent = _recent_admissions(connection, QueueAdmissionRow, queue, now - period, prune=False)
    return QueueStats(
        queue=queue,
        queued=sum(waiting.values()),
        running=len(running),
        by_partition={key: PartitionStats(waiting[key], running_by[key]) for key in keys},
        recent_admissions=recent,
        attempts_running=_attempts_held(connection, queue, now),
    )


def queue_names(connection: Connection) -> list[str]:
    """Queues holding a queued run or a slot."""
    names: Any = union(
        select(WorkflowRow.task_queue.label("name")).where(WorkflowRow.status == _QUEUED),
        select(QueueSlotRow.queue.label("name")),
        select(AttemptSlotRow.queue.label("name")),
    ).subquery()
    return sorted(connection.execute(select(names.c.name).distinct()).scalars())


def claim_dedup(
    connection: Connection,
    queue: str,
    dedup_id: str,
    workflow_id: str,
    run_id: str,
    now: datetime,
) -> DedupClaim:
    """`QueueStore.claim_dedup`, inside the caller's write transaction.

    PostgreSQL: the claim row is created if missing and row-locked, so two engines
    claiming one id take turns and the second sees the first's claim.
    """
    ours = {"queue": queue, "dedup_id": dedup_id, "workflow_id": workflow_id, "run_id": run_id,
            "claimed_at": now}  # fmt: skip
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    create = dialect.insert(QueueDedupRow).values(**ours).on_conflict_do_nothing()
    if connection.execute(create).rowcount == 1:
        return DedupClaim(workflow_id, run_id, now)
    key = (QueueDedupRow.queue == queue, QueueDedupRow.dedup_id == dedup_id)
    held = connection.execute(
        select(QueueDedupRow.workflow_id, QueueDedupRow.run_id, QueueDedupRow.claimed_at)
        .where(*key)
        .with_for_update()
    ).one()
    claim = DedupClaim(held.workflow_id, held.run_id, held.claimed_at)
    if (claim.workflow_id, claim.run_id) == (workflow_id, run_id):
        return claim
    record = visibility.get_workflow(connection, claim.workflow_id)
    if dedup_holds(claim, record, now):
        return claim
    connection.execute(
        update(QueueDedupRow)
        .where(*key)
        .values(workflow_id=workflow_id, run_id=run_id, claimed_at=now)
    )
    return DedupClaim(workflow_id, run_id, now)


def release_dedup(connection: Connection, queue: str, dedup_id: str, run_id: str) -> None:
    """`QueueStore.release_dedup`: only `run_id`'s own claim is dropped."""
    connection.execute(
        delete(QueueDedupRow).where(
            QueueDedupRow.queue == queue,
            QueueDedupRow.dedup_id == dedup_id,
            QueueDedupRow.run_id == run_id,
        )
    )


def admit_attempts(
    connection: Connection,
    queue: str,
    limits: QueueLimits,
    waiting: Sequence[str],
    *,
    engine_id: str,
    clock: Callable[[], datetime],
    lease: timedelta,
) -> list[str]:
    """`QueueStore.admit_attempts`, inside the caller's write transaction."""
    _lock_queue(connection, queue)
    now = clock()
    connection.execute(
        delete(AttemptSlotRow).where(
            AttemptSlotRow.queue == queue, AttemptSlotRow.expires_at <= now
        )
    )
    held = connection.execute(
        select(AttemptSlotRow.key, AttemptSlotRow.engine_id).where(AttemptSlotRow.queue == queue)
    ).all()
    holders: dict[str, str] = {str(row.key): str(row.engine_id) for row in held}
    recent = 0
    if limits.period is not None:
        since = now - limits.period
        recent = _recent_admissions(connection, AttemptAdmissionRow, queue, since, prune=True)
    again, admitted = attempts_to_admit(waiting, holders, recent, limits, engine_id=engine_id)
    until = now + lease
    if again:
        connection.execute(
            update(AttemptSlotRow)
            .where(AttemptSlotRow.key.in_(again))
            .values(engine_id=engine_id, expires_at=until)
        )
    if admitted:
        connection.execute(
            insert(AttemptSlotRow),
            [
                {"key": key, "queue": queue, "engine_id": engine_id, "admitted_at": now,
                 "expires_at": until}
                for key in admitted
            ],
        )  # fmt: skip
        if limits.period is not None:
            connection.execute(
                insert(AttemptAdmissionRow),
                [{"queue": queue, "key": key, "admitted_at": now} for key in admitted],
            )
    return [*again, *admitted]


def renew_attempts(
    connection: Connection, keys: Sequence[str], clock: Callable[[], datetime], lease: timedelta
) -> None:
    """`QueueStore.renew_attempts`."""
    if keys:
        connection.execute(
            update(AttemptSlotRow)
            .where(AttemptSlotRow.key.in_(keys))
            .values(expires_at=clock() + lease)
        )


def release_attempts(connection: Connection, keys: Sequence[str]) -> None:
    """`QueueStore.release_attempts`."""
    if keys:
        connection.execute(delete(AttemptSlotRow).where(AttemptSlotRow.key.in_(keys)))


def _attempts_held(connection: Connection, queue: str, now: datetime) -> int:
    count: int = connection.execute(
        select(func.count()).where(AttemptSlotRow.queue == queue, AttemptSlotRow.expires_at > now)
    ).scalar_one()
    return count


def _lock_queue(connection: Connection, queue: str) -> None:
    """PostgreSQL: row-lock the queue's row until commit, so admissions take turns."""
    if connection.dialect.name == "postgresql":
        lock = postgresql.insert(QueueRow).values(name=queue)
        connection.execute(
            lock.on_conflict_do_update(index_elements=["name"], set_={"name": lock.excluded.name})
        )
