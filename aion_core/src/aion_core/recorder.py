"""The recorder: the single writer of one workflow's history (DESIGN 3).

Everything that happens to a workflow becomes an event through its recorder:
it stamps `seq` and `recorded_at`, projects the visibility row and timers, and
appends with the expected seq, so a second writer (a stale engine node) gets a
`SequenceConflictError` and writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from aion_core.events import Event, EventBody, stamped_event
from aion_core.group_commit import GroupCommitter
from aion_core.store.projection import batch_for
from aion_core.store.records import WorkflowRecord

__all__ = ["EventsRecorded", "NewEvent", "Recorder", "StoreRecorder", "step_time", "utc_now"]

NewEvent = tuple[str, EventBody]
"""An event to record: the run it belongs to and its body."""

EventsRecorded = Callable[[str, Sequence[Event]], None]
"""Called with (workflow_id, events) after events are durable."""


def utc_now() -> datetime:
    """The wall clock, in UTC: the recorder's default clock."""
    return datetime.now(UTC)


def step_time(now: datetime, workflow: WorkflowRecord | None) -> datetime:
    """`now`, or the time of the workflow's last event if the clock is behind it.

    Workflow time is derived from recorded_at, so it must never run backwards
    even if the wall clock does (NTP steps, another node taking over).
    """
    if workflow is not None and now < workflow.updated_at:
        return workflow.updated_at
    return now


@runtime_checkable
class Recorder(Protocol):
    """Appends events to one workflow's history; plugins may wrap it (`aion_recorder_wrapper`)."""

    @property
    def workflow_id(self) -> str:
        """The stream this recorder writes."""
        ...

    @property
    def last_seq(self) -> int:
        """The seq of the last event this recorder knows is durable (0 for a new stream)."""
        ...

    @property
    def workflow(self) -> WorkflowRecord | None:
        """The visibility row after the last durable append."""
        ...

    async def append(
        self, entries: Sequence[NewEvent], *, at: datetime | None = None
    ) -> list[Event]:
        """Record `entries` (run id, body) as the next events; return them once durable.

        A batch may span runs (a run closing and the next one starting). `at` is
        the time to stamp them with (the recorder's clock when None); it is
        moved forward to the last event's time if it lies before it.

        Raises:
            SequenceConflictError: Another writer appended first; nothing was written.
            StoreError: The store failed; the events are not known to be written.
        """
        ...


class StoreRecorder:
    """The `Recorder` on top of an engine's `GroupCommitter`.

    Args:
        committer: Where batches go (shared by every recorder of the engine).
        workflow_id: The stream written.
        last_seq: The stream's last seq when this writer took it over.
        workflow: The stream's visibility row at that point.
        clock: Source of `recorded_at`; UTC wall clock unless a test fakes it.
        on_recorded: Told about each durable append (plugins, live event feeds).
    """

    def __init__(
        self,
        committer: GroupCommitter,
        workflow_id: str,
        *,
        last_seq: int = 0,
        workflow: WorkflowRecord | None = None,
        clock: Callable[[], datetime] = utc_now,
        on_recorded: EventsRecorded | None = None,
    ) -> None:
        self._committer = committer
        self._workflow_id = workflow_id
        self._last_seq = last_seq
        self._workflow = workflow
        self._clock = clock
        self._on_recorded = on_recorded
        self._lock = asyncio.Lock()

    @classmethod
    async def load(
        cls,
        committer: GroupCommitter,
        workflow_id: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        on_recorded: EventsRecorded | None = None,
    ) -> StoreRecorder:
        """A recorder continuing the stream as it is in the store now."""
        store = committer.store
        workflow = await store.get_workflow(workflow_id)
        # A workflow's row carries its last seq; other streams (schedules) have no row.
        last_seq = workflow.last_seq if workflow is not None else await store.last_seq(workflow_id)
        return cls(
            committer,
            workflow_id,
            last_seq=last_seq,
            workflow=workflow,
            clock=clock,
            on_recorded=on_recorded,
        )

    @property
    def workflow_id(self) -> str:
        """The stream this recorder writes."""
        return self._workflow_id

    @property
    def last_seq(self) -> int:
        """The seq of the last durable event."""
        return self._last_seq

    @property
    def workflow(self) -> WorkflowRecord | None:
        """The visibility row after the last durable append."""
        return self._workflow

    async def append(
        self, entries: Sequence[NewEvent], *, at: datetime | None = None
    ) -> list[Event]:
        """Record `entries` (run id, body) as the next events; return them once durable."""
        if not entries:
            return []
        # The lock spans stamping and the append: seq numbers are assigned from
        # last_seq, which may only move once the previous append is durable.
        async with self._lock:
            recorded_at = step_time(at or self._clock(), self._workflow)
            events = [
                stamped_event(self._last_seq + offset, recorded_at, self._workflow_id, run_id, body)
                for offset, (run_id, body) in enumerate(entries, start=1)
            ]
            batch = batch_for(self._workflow, self._last_seq, events)
            await self._committer.append(batch)
            self._last_seq = batch.last_seq
            self._workflow = batch.workflow if batch.workflow is not None else self._workflow
        if self._on_recorded is not None:
            self._on_recorded(self._workflow_id, events)
        return events
