"""The `memory://` store: everything in this process, gone when it exits.

For tests and for trying aion out. It keeps the same rules as the durable
stores (the store contract runs against it), so code that works here works
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aion_core.errors import SequenceConflictError
from aion_core.events import Event
from aion_core.store.protocol import EventStoreBase
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
