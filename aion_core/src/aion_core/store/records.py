"""What an event store keeps besides events: visibility rows, timers, and append batches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from aion_core.events import Event, SearchAttributeValue, WorkflowStatus

__all__ = ["AppendBatch", "TimerKey", "TimerRecord", "WorkflowFilter", "WorkflowRecord"]


class WorkflowRecord(BaseModel):
    """The visibility row of one workflow: a projection of its history, for listing.

    It always describes the latest run of the workflow id.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    workflow_id: str
    run_id: str
    workflow_type: str
    status: WorkflowStatus
    task_queue: str = "default"
    start_time: AwareDatetime
    close_time: AwareDatetime | None = None
    updated_at: AwareDatetime
    last_seq: int = Field(ge=1)
    parent_workflow_id: str | None = None
    parent_run_id: str | None = None
    search_attributes: dict[str, SearchAttributeValue] = Field(default_factory=dict)
    priority: int = 0
    """Flow control (queued runs): higher leaves the queue first."""
    partition_key: str | None = None
    """Flow control: runs sharing a key share the queue's per-partition concurrency."""
    dedup_id: str | None = None
    """Flow control: no two open runs of a queue share one."""
    ready_at: AwareDatetime | None = None
    """Flow control (debounced starts): the run may not leave its queue before this."""
    queue_limited: bool = False
    """Flow control: queued under limits (`QueuePlacement.limited`)."""


class TimerRecord(BaseModel):
    """A durable timer waiting to fire."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workflow_id: str
    run_id: str
    timer_id: int = Field(ge=1)
    fire_at: AwareDatetime

    @property
    def key(self) -> TimerKey:
        """The timer's identity within its workflow."""
        return TimerKey(self.run_id, self.timer_id)


@dataclass(frozen=True, slots=True)
class TimerKey:
    """A timer's identity within its workflow: timer ids are per-run ordinals."""

    run_id: str
    timer_id: int


@dataclass(frozen=True, slots=True)
class AppendBatch:
    """Events for one workflow, appended all-or-nothing after `expected_seq`.

    The recorder also hands the store the projection of these events (the new
    visibility row and timer changes), so every store applies the same rules
    and a store needs no knowledge of event kinds.

    Attributes:
        workflow_id: The stream appended to.
        expected_seq: The last seq the writer saw; the events continue from it.
        events: Contiguous events, seq expected_seq + 1, + 2, ...
        workflow: The visibility row after these events (None for streams that are not
            workflows, such as schedules).
        timers_armed: Timers to add.
        timers_disarmed: Timers to remove.
        disarm_all_timers: Remove every timer of the workflow first (the run closed).
        workflow_progress_only: `workflow` differs from the row before this batch only in
            `updated_at` and `last_seq` (no run started, no status or search attribute
            changed), so a store may write just those two columns of an existing row.
    """

    workflow_id: str
    expected_seq: int
    events: tuple[Event, ...]
    workflow: WorkflowRecord | None = None
    timers_armed: tuple[TimerRecord, ...] = ()
    timers_disarmed: tuple[TimerKey, ...] = ()
    disarm_all_timers: bool = False
    workflow_progress_only: bool = False

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError("an append batch needs at least one event")
        for offset, event in enumerate(self.events, start=1):
            if event.workflow_id != self.workflow_id or event.seq != self.expected_seq + offset:
                raise ValueError(
                    f"batch for {self.workflow_id!r} after seq {self.expected_seq} holds "
                    f"event {event.workflow_id!r}#{event.seq} out of order"
                )

    @property
    def last_seq(self) -> int:
        """The seq of the last event once the batch is written."""
        return self.expected_seq + len(self.events)


@dataclass(frozen=True, slots=True)
class WorkflowFilter:
    """Which workflows a listing returns; every given condition must hold.

    Results come newest start first, then by workflow id.
    """

    statuses: frozenset[WorkflowStatus] | None = None
    workflow_type: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    parent_workflow_id: str | None = None
    search_attributes: Mapping[str, SearchAttributeValue] = field(default_factory=dict)
    limit: int = 100

    def matches(self, record: WorkflowRecord) -> bool:
        """Whether a record passes the filter (the memory store's and tests' reference)."""
        return (
            (self.statuses is None or record.status in self.statuses)
            and (self.workflow_type is None or record.workflow_type == self.workflow_type)
            and (self.started_after is None or record.start_time > self.started_after)
            and (self.started_before is None or record.start_time < self.started_before)
            and (
                self.parent_workflow_id is None
                or record.parent_workflow_id == self.parent_workflow_id
            )
            and all(
                key in record.search_attributes
                and _same_value(record.search_attributes[key], value)
                for key, value in self.search_attributes.items()
            )
        )


def _same_value(stored: SearchAttributeValue, wanted: SearchAttributeValue) -> bool:
    # bool is an int in Python; a search for True must not match 1.
    return type(stored) is type(wanted) and stored == wanted
