"""The `EventStore` seam: what every backend (memory, SQLite, PostgreSQL, ...) provides.

Only the recorder writes. Reads come from the engine (replay, recovery), the
CLI and the query service. `aion_core.testing.StoreContract` is the
conformance suite every implementation passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from aion_core.errors import SequenceConflictError
from aion_core.events import Event
from aion_core.store.records import AppendBatch, TimerRecord, WorkflowFilter, WorkflowRecord

__all__ = ["EventStore", "EventStoreBase"]


@runtime_checkable
class EventStore(Protocol):
    """Append-only event streams, one per workflow id, with visibility rows and timers."""

    @property
    def url(self) -> str:
        """The URL the store was opened with, secrets removed."""
        ...

    async def open(self) -> None:
        """Connect and check the schema; called once before any other method."""
        ...

    async def close(self) -> None:
        """Release connections; committed data stays."""
        ...

    async def append(self, batches: Sequence[AppendBatch]) -> list[SequenceConflictError | None]:
        """Write several batches, each all-or-nothing, in as few commits as the backend allows.

        Batches are applied in order, so a later batch may continue a stream an
        earlier one extended. A batch whose `expected_seq` is not the stream's
        last seq writes nothing and gets a `SequenceConflictError` in its slot of
        the result; the others are unaffected. When the call returns, every
        batch with a None slot is durable.

        Raises:
            StoreError: The store failed; none of the batches is known to be written.
        """
        ...

    async def read_events(
        self, workflow_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events of one stream with seq > `after_seq`, in order, at most `limit` of them.

        Raises:
            CorruptHistoryError: A stored event of this workflow does not decode.
        """
        ...

    async def last_seq(self, workflow_id: str) -> int:
        """The seq of the last event of a stream; 0 when it has none."""
        ...

    async def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        """The visibility row of a workflow, or None when the id is unknown."""
        ...

    async def list_workflows(self, query: WorkflowFilter) -> list[WorkflowRecord]:
        """Visibility rows matching `query`, newest start first, then by workflow id."""
        ...

    async def count_workflows(self, query: WorkflowFilter) -> int:
        """How many workflows match `query` (its limit is ignored)."""
        ...

    async def open_workflows(
        self, *, after_id: str = "", limit: int = 1000
    ) -> list[WorkflowRecord]:
        """Workflows that are not closed, by workflow id, for recovery: page with `after_id`."""
        ...

    async def due_timers(self, until: datetime, *, limit: int = 1000) -> list[TimerRecord]:
        """Armed timers with `fire_at <= until`, earliest first."""
        ...

    async def next_timer_at(self) -> datetime | None:
        """When the earliest armed timer is due, or None when there are none."""
        ...


class EventStoreBase:
    """Optional base class for stores: the async context manager protocol over open/close."""

    async def open(self) -> None:
        """Connect; override when the backend needs it."""

    async def close(self) -> None:
        """Disconnect; override when the backend needs it."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
