"""The `memory://` store: everything in this process, gone when it exits.

For tests and for trying aion out. It keeps the same rules as the durable
stores (the store contract runs against it), so code that works here works
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aion_core.errors import SequenceConflictError
from aion_core.events import Event, WorkflowStatus
from aion_core.store.protocol import EventStoreBase
from aion_core.store.queues import (
    Admission,
    DedupClaim,
    QueuedRun,
    QueueLimits,
    QueueSlot,
    QueueStats,
    attempts_to_admit,
    choose_admissions,
    dedup_holds,
    places_to_read,
    queue_stats_of,
)
from aion_core.store.records import (
    AppendBatch,
    TimerKey,
    TimerRecord,
    WorkflowFilter,
    WorkflowRecord,
)

__all__ = ["MemoryEventStore"]


class MemoryEventStore(EventStoreBase):
    """An `EventStore` in dictionaries.

    Each append runs without awaiting, so on the event loop it is atomic: no
    other task can observe or interleave with a half-applied batch.
    """

    def __init__(self, url: str = "memory://") -> None:
        self._url = url
        self._events: dict[str, list[Event]] = {}
        self._workflows: dict[str, WorkflowRecord] = {}
        self._timers: dict[str, dict[TimerKey, TimerRecord]] = {}
        self._slots: dict[str, dict[tuple[str, str], QueueSlot]] = {}
        self._admitted_at: dict[str, list[datetime]] = {}
        self._dedup: dict[tuple[str, str], DedupClaim] = {}
        self._attempt_slots: dict[str, _AttemptSlot] = {}
        self._attempts_admitted_at: dict[str, list[datetime]] = {}

    @property
    def url(self) -> str:
        """The URL the store was made for."""
        return self._url

    async def append(self, batches: Sequence[AppendBatch]) -> list[SequenceConflictError | None]:
        """Apply each batch that continues its stream; report a conflict for the others."""
        return [self._apply(batch) for batch in batches]

    def _apply(self, batch: AppendBatch) -> SequenceConflictError | None:
        last_seq = len(self._events.get(batch.workflow_id, ()))
        if last_seq != batch.expected_seq:
            return SequenceConflictError(batch.workflow_id, batch.expected_seq, last_seq)
        self._events.setdefault(batch.workflow_id, []).extend(batch.events)
        if batch.workflow is not None:
            self._workflows[batch.workflow_id] = batch.workflow
        timers = self._timers.setdefault(batch.workflow_id, {})
        if batch.disarm_all_timers:
            timers.clear()
        for key in batch.timers_disarmed:
            timers.pop(key, None)
        for timer in batch.timers_armed:
            timers[timer.key] = timer
        return None

    async def read_events(
        self, workflow_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events after `after_seq` (seq n sits at index n - 1)."""
        stream = self._events.get(workflow_id, [])
        end = None if limit is None else after_seq + limit
        return stream[after_seq:end]

    async def last_seq(self, workflow_id: str) -> int:
        """The length of the stream."""
        return len(self._events.get(workflow_id, ()))

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        """The visibility row, if any."""
        return self._workflows.get(workflow_id)

    def _matching(self, query: WorkflowFilter) -> list[WorkflowRecord]:
        found = [record for record in self._workflows.values() if query.matches(record)]
        found.sort(key=lambda r: r.workflow_id)
        found.sort(key=lambda r: r.start_time, reverse=True)
        return found

    async def list_workflows(self, query: WorkflowFilter) -> list[WorkflowRecord]:
        """Matching rows, newest start first."""
        return self._matching(query)[: query.limit]

    async def count_workflows(self, query: WorkflowFilter) -> int:
        """Number of matching rows."""
        return len(self._matching(query))

    async def open_workflows(
        self, *, after_id: str = "", limit: int = 1000
    ) -> list[WorkflowRecord]:
        """Open workflows by id, after `after_id`."""
        found = sorted(
            (
                r
                for r in self._workflows.values()
                if not r.status.is_closed and r.workflow_id > after_id
            ),
            key=lambda r: r.workflow_id,
        )
        return found[:limit]

    def _all_timers(self) -> list[TimerRecord]:
        timers = [t for per_workflow in self._timers.values() for t in per_workflow.values()]
        timers.sort(key=lambda t: (t.fire_at, t.workflow_id, t.run_id, t.timer_id))
        return timers

    async def due_timers(self, until: datetime, *, limit: int = 1000) -> list[TimerRecord]:
        """Timers due by `until`, earliest first."""
        return [t for t in self._all_timers() if t.fire_at <= until][:limit]

    async def next_timer_at(self) -> datetime | None:
        """The earliest fire time."""
        timers = self._all_timers()
        return timers[0].fire_at if timers else None

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
        """Take slots for queued runs within the limits; runs without awaiting (atomic)."""
        slots = self._open_slots(queue)
        now = clock()
        times = self._admitted_at.setdefault(queue, [])
        if limits.period is not None:
            times[:] = [t for t in times if t > now - limits.period]
        places = places_to_read(list(slots.values()), len(times), limits, scan)
        waiting = [r for r in self._queued(queue) if self._ready(r, now)][:places]
        chosen = choose_admissions(
            waiting, list(slots.values()), len(times), limits, engine_id=engine_id, owns=owns
        )
        pending = [
            Admission(slot.workflow_id, slot.run_id, slot.admitted_at, again=True)
            for slot in slots.values()
            if self._workflows[slot.workflow_id].status is WorkflowStatus.QUEUED
            and owns(slot.workflow_id)
        ]
        for run in chosen:
            slots[(run.workflow_id, run.run_id)] = QueueSlot(
                queue, run.workflow_id, run.run_id, run.partition_key, engine_id, now
            )
            times.append(now)
        return pending + [Admission(run.workflow_id, run.run_id, now) for run in chosen]

    def _open_slots(self, queue: str) -> dict[tuple[str, str], QueueSlot]:
        """The queue's slots, those of runs no longer open dropped first."""
        slots = self._slots.setdefault(queue, {})
        for key in list(slots):
            record = self._workflows.get(key[0])
            if record is None or record.run_id != key[1] or record.status.is_closed:
                del slots[key]
        return slots

    def _ready(self, run: QueuedRun, now: datetime) -> bool:
        ready_at = self._workflows[run.workflow_id].ready_at
        return ready_at is None or ready_at <= now

    def _queued(self, queue: str) -> list[QueuedRun]:
        runs = [
            QueuedRun(
                r.workflow_id, r.run_id, r.priority, r.partition_key, r.start_time, r.queue_limited
            )
            for r in self._workflows.values()
            if r.task_queue == queue and r.status is WorkflowStatus.QUEUED
        ]
        runs.sort(key=lambda r: (-r.priority, r.start_time, r.workflow_id))
        return runs

    async def queue_stats(
        self, queue: str, *, now: datetime, period: timedelta | None
    ) -> QueueStats:
        """Counts of the queue's queued runs and slots."""
        slots = self._open_slots(queue)
        admitted = set(slots)
        waiting = [r for r in self._queued(queue) if (r.workflow_id, r.run_id) not in admitted]
        recent = self._recent(queue, now, period)
        stats = queue_stats_of(queue, waiting, list(slots.values()), recent)
        return replace(stats, attempts_running=self._attempts_held(queue, now))

    def _recent(self, queue: str, now: datetime, period: timedelta | None) -> int | None:
        if period is None:
            return None
        return sum(1 for t in self._admitted_at.get(queue, ()) if t > now - period)

    async def queue_names(self) -> list[str]:
        """Queues with a queued run or a slot."""
        queued = WorkflowStatus.QUEUED
        names = {r.task_queue for r in self._workflows.values() if r.status is queued}
        names.update(queue for queue in self._slots if self._open_slots(queue))
        names.update(slot.queue for slot in self._attempt_slots.values())
        return sorted(names)

    async def claim_dedup(
        self, queue: str, dedup_id: str, workflow_id: str, run_id: str, *, now: datetime
    ) -> DedupClaim:
        """Claim `dedup_id` on the queue for a run about to start (see `QueueStore`)."""
        key = (queue, dedup_id)
        held = self._dedup.get(key)
        if held is not None and dedup_holds(held, self._workflows.get(held.workflow_id), now):
            return held
        claim = DedupClaim(workflow_id, run_id, now)
        self._dedup[key] = claim
        return claim

    async def release_dedup(self, queue: str, dedup_id: str, run_id: str) -> None:
        """Drop the claim of a run that did not start."""
        held = self._dedup.get((queue, dedup_id))
        if held is not None and held.run_id == run_id:
            del self._dedup[(queue, dedup_id)]

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
        """Slots for waiting attempts within the limits (see `QueueStore.admit_attempts`)."""
        now = clock()
        for key in [k for k, slot in self._attempt_slots.items() if slot.expires_at <= now]:
            del self._attempt_slots[key]
        times = self._attempts_admitted_at.setdefault(queue, [])
        if limits.period is not None:
            times[:] = [t for t in times if t > now - limits.period]
        holders = {k: s.engine_id for k, s in self._attempt_slots.items() if s.queue == queue}
        again, admitted = attempts_to_admit(
            waiting, holders, len(times), limits, engine_id=engine_id
        )
        for key in [*again, *admitted]:
            self._attempt_slots[key] = _AttemptSlot(queue, engine_id, now + lease)
        times.extend(now for _ in admitted)
        return [*again, *admitted]

    async def renew_attempts(
        self, keys: Sequence[str], *, clock: Callable[[], datetime], lease: timedelta
    ) -> None:
        """Extend the leases of held attempt slots."""
        until = clock() + lease
        for key in keys:
            slot = self._attempt_slots.get(key)
            if slot is not None:
                self._attempt_slots[key] = _AttemptSlot(slot.queue, slot.engine_id, until)

    async def release_attempts(self, keys: Sequence[str]) -> None:
        """Free attempt slots."""
        for key in keys:
            self._attempt_slots.pop(key, None)

    def _attempts_held(self, queue: str, now: datetime) -> int:
        return sum(
            1 for s in self._attempt_slots.values() if s.queue == queue and s.expires_at > now
        )


@dataclass(frozen=True, slots=True)
class _AttemptSlot:
    queue: str
    engine_id: str
    expires_at: datetime
