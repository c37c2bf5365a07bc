"""Activity tasks and attempt reports, as they cross a transport to workers and back.

An engine hands an attempt of an activity to workers as an `ActivityTask`
(`task_id` = ``<workflow>:<run>:<activity>:<attempt>``, which the transport uses
to de-duplicate). A worker answers with `AttemptReport`s: heartbeats while the
attempt runs, then its outcome. The engine that owns the workflow records the
outcome, once, and enforces every timeout itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, TypeAdapter

from aion_core.calls import WireMessage, decode_wire
from aion_core.events import Failure, Payload

__all__ = ["ActivityTask", "AttemptReport", "decode_report", "decode_task"]


class ActivityTask(WireMessage):
    """One attempt of an activity, for a worker serving `task_queue`."""

    workflow_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    activity_id: int = Field(ge=1)
    attempt: int = Field(ge=1)
    activity_type: str = Field(min_length=1)
    task_queue: str = Field(min_length=1)
    input: tuple[Payload, ...] = ()
    heartbeat_details: tuple[Payload, ...] = ()
    scheduled_at: datetime
    start_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @property
    def task_id(self) -> str:
        """``<workflow>:<run>:<activity>:<attempt>``: the same for every copy of this attempt."""
        return f"{self.workflow_id}:{self.run_id}:{self.activity_id}:{self.attempt}"

    @property
    def idempotency_key(self) -> str:
        """Stable across the attempts of one activity."""
        return f"{self.workflow_id}:{self.run_id}:{self.activity_id}"


class AttemptReport(WireMessage):
    """What a worker tells the owning engine about an attempt."""

    workflow_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    activity_id: int = Field(ge=1)
    attempt: int = Field(ge=1)
    kind: Literal["heartbeat", "completed", "failed"]
    worker: str = ""
    result: Payload | None = None
    failure: Failure | None = None
    heartbeat_details: tuple[Payload, ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        """(workflow id, run id, activity id)."""
        return (self.workflow_id, self.run_id, self.activity_id)


_TASK: TypeAdapter[ActivityTask] = TypeAdapter(ActivityTask)
_REPORT: TypeAdapter[AttemptReport] = TypeAdapter(AttemptReport)


def decode_task(data: bytes) -> ActivityTask:
    """A task from JSON bytes; `WireFormatError` for anything else."""
    return decode_wire(_TASK, data, "activity task")


def decode_report(data: bytes) -> AttemptReport:
    """A report from JSON bytes; `WireFormatError` for anything else."""
    return decode_wire(_REPORT, data, "attempt report")
