"""Flow control in the store: which queued runs may leave their queue now.

A run started on a flow-controlled task queue is recorded ``queued`` and waits.
Admitting it takes a *slot*: a row kept by the store until the run closes,
written in one transaction with the check that the queue's limits allow it, so
limits hold across every engine sharing the store, through crashes and
failover. After the slot is durable, the run's owner records `WorkflowDequeued`
and its code starts. Slots of runs that closed (or continued as new) are freed
by the next admission on their queue, in its transaction: freeing needs no
cooperation from the run's writer, and a slot is never leaked.

`choose_admissions` is the one rule every store applies; the stores only read
and write the rows around it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from aion_core.store.records import WorkflowRecord

__all__ = [
    "DEDUP_START_GRACE",
    "Admission",
    "DedupClaim",
    "PartitionStats",
    "QueueLimits",
    "QueueSlot",
    "QueueStats",
    "QueueStore",
    "QueuedRun",
    "attempts_to_admit",
    "choose_admissions",
    "dedup_holds",
    "places_to_read",
    "queue_stats_of",
    "throttled_by",
]


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """What may leave one queue at once.

    Attributes:
        concurrency: Runs of the queue open past the queue at once, over every engine.
        partition_concurrency: The same, per partition key (runs without a key: no limit).
        engine_concurrency: The same, admitted by one engine (its ``worker_concurrency``).
        rate: At most this many admissions ...
        period: ... within any window of this length (a sliding window).
        declared: The engine admitting declares the queue. When it does not, it lets out
            only runs queued without limits (`QueuePlacement.limited` false): a dedup id
            or a debounce on a queue without flow control.
    """

    concurrency: int | None = None
    partition_concurrency: int | None = None
    engine_concurrency: int | None = None
    rate: int | None = None
    period: timedelta | None = None
    declared: bool = True


@dataclass(frozen=True, slots=True)
class QueuedRun:
    """A run waiting in its queue, in the order it leaves: priority, then start time."""

    workflow_id: str
    run_id: str
    priority: int
    partition_key: str | None
    start_time: datetime
    limited: bool = True


@dataclass(frozen=True, slots=True)
class QueueSlot:
    """A run admitted past its queue: held until the run closes."""

    queue: str
    workflow_id: str
    run_id: str
    partition_key: str | None
    engine_id: str
    admitted_at: datetime


@dataclass(frozen=True, slots=True)
class Admission:
    """A run the engine that asked may now dequeue (record `WorkflowDequeued` for).

    Attributes:
        workflow_id: The run's workflow.
        run_id: The run.
        admitted_at: When its slot was taken.
        again: Its slot was taken earlier, and the run was not dequeued yet (the engine
            that admitted it stopped in between).
    """

    workflow_id: str
    run_id: str
    admitted_at: datetime
    again: bool = False


@dataclass(frozen=True, slots=True)
class PartitionStats:
    """What one partition key of a queue holds now."""

    queued: int
    running: int
    throttled: int = 0


@dataclass(frozen=True, slots=True)
class QueueStats:
    """What one queue holds now, for `aion queue list|describe` and `Engine.describe_queue`.

    Attributes:
        queue: The queue's name.
        queued: Runs waiting (not admitted).
        running: Runs admitted and open.
        by_partition: Per partition key; runs without a key are left out.
        recent_admissions: Admissions within the rate window, when one was given.
        throttled: Of the queued, those a full limit holds back right now (see
            `throttled_by`); 0 until the limits are known.
        attempts_running: Activity attempts on the queue holding a slot.
    """

    queue: str
    queued: int
    running: int
    by_partition: dict[str, PartitionStats]
    recent_admissions: int | None = None
    throttled: int = 0
    attempts_running: int = 0


@dataclass(frozen=True, slots=True)
class DedupClaim:
    """Which run holds a deduplication id of a queue, since when."""

    workflow_id: str
    run_id: str
    claimed_at: datetime


DEDUP_START_GRACE = timedelta(seconds=30)
"""How long a claim whose run is not recorded yet still holds: its start may be on its way."""


def dedup_holds(claim: DedupClaim, record: WorkflowRecord | None, now: datetime) -> bool:
    """Whether `claim` still keeps its dedup id from other starts.

    It does while its run is open, and for a grace period while its run is not
    recorded yet (the start is on its way); a claim whose run closed, or whose start
    never landed, is free to be taken.
    """
    if record is not None and record.run_id == claim.run_id:
        return not record.status.is_closed
    return now - claim.claimed_at < DEDUP_START_GRACE


@runtime_checkable
class QueueStore(Protocol):
    """The part of an event store that admits queued runs (memory, SQLite, PostgreSQL)."""

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
        """Free the slots of closed runs, then take slots for runs `owns` says are ours.

        `clock` gives the admission time; it is read inside the transaction, after the
        slots, so a run admitted in place of one that closed is admitted after that close.

        All in one transaction, serialised per queue across engines. Admitted are,
        among the queued runs in order (priority desc, start time, workflow id; the
        first `scan` of them), those that fit the limits and `owns` accepts; the
        ones it does not accept still count as taking their place in line, so
        each engine admits its share of the head of the queue and the order holds
        across engines. Runs admitted earlier and still queued come back with
        ``again=True``.
        """
        ...

    async def queue_stats(
        self, queue: str, *, now: datetime, period: timedelta | None
    ) -> QueueStats:
        """Counts of one queue; `period` counts admissions within that window."""
        ...

    async def queue_names(self) -> list[str]:
        """Every queue that holds a queued run or a slot, by name."""
        ...

    async def claim_dedup(
        self, queue: str, dedup_id: str, workflow_id: str, run_id: str, *, now: datetime
    ) -> DedupClaim:
        """Claim `dedup_id` on `queue` for a run about to start, atomically; the holder.

        The claim is the given run's unless another holds it (`dedup_holds`): then
        that one is returned, and the start must be refused or given that run.
        """
        ...

    async def release_dedup(self, queue: str, dedup_id: str, run_id: str) -> None:
        """Drop `run_id`'s claim (its start was refused); another run's claim stays."""
        ...

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
        """Take slots for activity attempts waiting on `queue`, first come first served.

        `waiting` are attempt keys in the order they began to wait. In one transaction,
        serialised per queue: slots whose lease ran out are dropped, then the first
        waiting attempts that fit the limits get a slot held for `lease` (renewed by
        `renew_attempts` while the attempt runs); their keys are returned. A key that
        holds a slot already keeps it (an attempt driven again after a restart).
        """
        ...

    async def renew_attempts(
        self, keys: Sequence[str], *, clock: Callable[[], datetime], lease: timedelta
    ) -> None:
        """Hold the slots of attempts still running for another `lease`."""
        ...

    async def release_attempts(self, keys: Sequence[str]) -> None:
        """Free the slots of attempts that ended."""
        ...


def places_to_read(
    slots: Sequence[QueueSlot], recent_admissions: int, limits: QueueLimits, scan: int
) -> int:
    """How many queued runs, from the head of the line, an admission needs to read.

    0 when the queue is full (by its concurrency or its rate): then nothing is read.
    Without partition limits only the free places matter, plus the runs admitted but
    not dequeued yet (they are still in line); with them, runs of full partitions are
    passed over, so up to `scan` are read.
    """
    free = scan
    if limits.concurrency is not None:
        free = min(free, limits.concurrency - len(slots))
    if limits.rate is not None:
        free = min(free, limits.rate - recent_admissions)
    if free <= 0:
        return 0
    if limits.partition_concurrency is not None:
        return scan
    return min(scan, free + len(slots))


def choose_admissions(
    queued: Sequence[QueuedRun],
    slots: Sequence[QueueSlot],
    recent_admissions: int,
    limits: QueueLimits,
    *,
    engine_id: str,
    owns: Callable[[str], bool],
) -> list[QueuedRun]:
    """The queued runs this engine admits now; see `QueueStore.admit_queued`.

    Args:
        queued: Queued runs in line order; those holding a slot already are skipped.
        slots: The queue's slots of open runs.
        recent_admissions: Admissions within the rate window (0 without a rate).
        limits: The queue's limits.
        engine_id: Who admits.
        owns: Whether this engine may dequeue a workflow (it owns it).
    """
    free = limits.concurrency - len(slots) if limits.concurrency is not None else len(queued)
    if limits.rate is not None:
        free = min(free, limits.rate - recent_admissions)
    engine_free = len(queued)
    if limits.engine_concurrency is not None:
        mine = sum(1 for slot in slots if slot.engine_id == engine_id)
        engine_free = limits.engine_concurrency - mine
    per_key = Counter(slot.partition_key for slot in slots if slot.partition_key is not None)
    admitted_already = {(slot.workflow_id, slot.run_id) for slot in slots}
    chosen: list[QueuedRun] = []
    for run in queued:
        if free <= 0:
            break
        if (run.workflow_id, run.run_id) in admitted_already:
            continue
        if run.limited and not limits.declared:
            continue  # queued under limits this engine does not know: not its to let out
        key = run.partition_key
        if (
            key is not None
            and limits.partition_concurrency is not None
            and per_key[key] >= limits.partition_concurrency
        ):
            continue  # its partition is full: runs behind it, of other keys, go first
        ours = owns(run.workflow_id)
        if ours and engine_free <= 0:
            continue
        # Next in line: it takes its place whoever admits it, so no engine admits
        # past the head of the queue while the head's owner has yet to.
        free -= 1
        if key is not None:
            per_key[key] += 1
        if ours:
            engine_free -= 1
            chosen.append(run)
    return chosen


def attempts_to_admit(
    waiting: Sequence[str],
    holders: Mapping[str, str],
    recent_admissions: int,
    limits: QueueLimits,
    *,
    engine_id: str,
) -> tuple[list[str], list[str]]:
    """Which waiting attempts hold a slot already, and which get one now (first come first).

    Args:
        waiting: Attempt keys in the order they began to wait.
        holders: The engine holding each slot of the queue's attempts now, by attempt key.
        recent_admissions: Attempts admitted within the rate window (0 without a rate).
        limits: The queue's limits.
        engine_id: Who admits.
    """
    again = [key for key in waiting if key in holders]
    fresh = [key for key in waiting if key not in holders]
    free = len(fresh)
    if limits.concurrency is not None:
        free = min(free, limits.concurrency - len(holders))
    if limits.engine_concurrency is not None:
        here = sum(1 for engine in holders.values() if engine == engine_id)
        free = min(free, limits.engine_concurrency - here)
    if limits.rate is not None:
        free = min(free, limits.rate - recent_admissions)
    return again, fresh[: max(free, 0)]


def queue_stats_of(
    queue: str,
    waiting: Sequence[QueuedRun],
    slots: Sequence[QueueSlot],
    recent_admissions: int | None,
) -> QueueStats:
    """The stats of a queue from its runs waiting (not admitted) and its slots of open runs."""
    queued_by = Counter(run.partition_key for run in waiting if run.partition_key is not None)
    running_by = Counter(slot.partition_key for slot in slots if slot.partition_key is not None)
    return QueueStats(
        queue=queue,
        queued=len(waiting),
        running=len(slots),
        by_partition={
            key: PartitionStats(queued_by[key], running_by[key])
            for key in sorted(queued_by | running_by)
        },
        recent_admissions=recent_admissions,
    )


def throttled_by(stats: QueueStats, limits: QueueLimits) -> QueueStats:
    """`stats` with the queued runs a full limit holds back now counted as throttled.

    All of the queue's queued runs are throttled while it is at its concurrency or
    its rate; otherwise those of partitions at their partition concurrency.
    (Each engine's own ``worker_concurrency`` is not counted: it is per process.)
    """
    full = (limits.concurrency is not None and stats.running >= limits.concurrency) or (
        limits.rate is not None and (stats.recent_admissions or 0) >= limits.rate
    )
    partitions = {}
    for key, partition in stats.by_partition.items():
        held = full or (
            limits.partition_concurrency is not None
            and partition.running >= limits.partition_concurrency
        )
        partitions[key] = replace(partition, throttled=partition.queued if held else 0)
    throttled = stats.queued if full else sum(p.throttled for p in partitions.values())
    return replace(stats, by_partition=partitions, throttled=throttled)
