"""What `aion show` reports about a workflow, derived from its visibility row and history.

Pending activities, timers, children and the last error all come from the
latest run's history as replay sees it (after a reopen, the rewound run), so
they agree with what the engine will do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from aion_cli.timeline import TimelineRow, timeline
from aion_core.events import (
    ActivityCancelled,
    ActivityCompleted,
    ActivityFailed,
    ActivityScheduled,
    ActivityStarted,
    ActivityTimedOut,
    ChildWorkflowCancelled,
    ChildWorkflowCompleted,
    ChildWorkflowFailed,
    ChildWorkflowStarted,
    ChildWorkflowStartFailed,
    ChildWorkflowTerminated,
    ChildWorkflowTimedOut,
    Event,
    Failure,
    WorkflowStarted,
)
from aion_core.runtime.rewind import effective_history, pending_timers
from aion_core.store.records import WorkflowRecord

__all__ = [
    "ChildSummary",
    "LastError",
    "PendingActivity",
    "PendingTimer",
    "WorkflowSummary",
    "latest_run",
    "pending_activities",
    "summarize",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PendingActivity(_Model):
    """An activity of the latest run that has not completed, failed for good or been cancelled.

    Attributes:
        activity_id: Its ordinal in the run.
        activity_type: The activity's name.
        task_queue: The queue its attempts go to.
        state: ``running`` (an attempt is out), ``retrying`` (waiting for `retry_at`)
            or ``scheduled`` (no attempt yet, e.g. while the workflow is paused).
        attempt: The latest attempt's number (0: none yet).
        scheduled_at: When the workflow asked for it.
        since: When its state last changed.
        retry_at: When the next attempt is due, while retrying.
        last_failure: How the latest attempt failed, if it did.
        worker: Who runs the current attempt, when known.
    """

    activity_id: int
    activity_type: str
    task_queue: str
    state: Literal["scheduled", "running", "retrying"]
    attempt: int
    scheduled_at: datetime
    since: datetime
    retry_at: datetime | None = None
    last_failure: str | None = None
    worker: str = ""


class PendingTimer(_Model):
    """A durable timer of the latest run that has neither fired nor been cancelled."""

    timer_id: int
    fire_at: datetime


class ChildSummary(_Model):
    """A child workflow the latest run started, and how it ended as far as the parent knows."""

    child_id: int
    workflow_id: str
    workflow_type: str
    status: str
    """``running``, or how it closed: completed, failed, cancelled, terminated, timed_out,
    start_failed."""


class LastError(_Model):
    """The latest failure recorded in the latest run (activity, child, update or the run)."""

    seq: int
    recorded_at: datetime
    event_type: str
    type: str
    message: str


class WorkflowSummary(_Model):
    """Everything `aion show` prints, as ``--json`` prints it."""

    workflow: WorkflowRecord
    runs: int
    events: int
    pending_activities: list[PendingActivity]
    pending_timers: list[PendingTimer]
    children: list[ChildSummary]
    last_error: LastError | None
    timeline: list[TimelineRow]


def latest_run(events: Sequence[Event]) -> list[Event]:
    """The events of the last run (from its `WorkflowStarted`), as replay sees them."""
    starts = [i for i, event in enumerate(events) if isinstance(event.body, WorkflowStarted)]
    return effective_history(events[starts[-1] :] if starts else events)


def pending_activities(run_events: Sequence[Event]) -> list[PendingActivity]:
    """The run's activities that still have work to do, by activity id."""
    pending: dict[int, PendingActivity] = {}
    for event in run_events:
        body = event.body
        if isinstance(body, ActivityScheduled):
            pending[body.activity_id] = PendingActivity(
                activity_id=body.activity_id, activity_type=body.activity_type,
                task_queue=body.task_queue, state="scheduled", attempt=0,
                scheduled_at=event.recorded_at, since=event.recorded_at,
            )  # fmt: skip
            continue
        activity_id = getattr(body, "activity_id", None)
        current = pending.get(activity_id) if isinstance(activity_id, int) else None
        if current is None:
            continue
        if isinstance(body, ActivityStarted):
            pending[current.activity_id] = current.model_copy(
                update={"state": "running", "attempt": body.attempt, "since": event.recorded_at,
                        "retry_at": None, "worker": body.worker}
            )  # fmt: skip
        elif isinstance(body, ActivityFailed | ActivityTimedOut) and body.retry_at is not None:
            failure = (
                f"{body.failure.type}: {body.failure.message}"
                if isinstance(body, ActivityFailed)
                else f"{body.timeout_kind} timeout"
            )
            pending[current.activity_id] = current.model_copy(
                update={"state": "retrying", "attempt": body.attempt, "since": event.recorded_at,
                        "retry_at": body.retry_at, "last_failure": failure, "worker": ""}
            )  # fmt: skip
        elif isinstance(
            body, ActivityCompleted | ActivityFailed | ActivityTimedOut | ActivityCancelled
        ):
            del pending[current.activity_id]  # done, cancelled, or failed with no retry left
    return list(pending.values())


_CHILD_OUTCOMES: dict[type, str] = {
    ChildWorkflowCompleted: "completed",
    ChildWorkflowFailed: "failed",
    ChildWorkflowCancelled: "cancelled",
    ChildWorkflowTerminated: "terminated",
    ChildWorkflowTimedOut: "timed_out",
    ChildWorkflowStartFailed: "start_failed",
}


def _children(run_events: Sequence[Event]) -> list[ChildSummary]:
    children: dict[int, ChildSummary] = {}
    for event in run_events:
        body = event.body
        if isinstance(body, ChildWorkflowStarted):
            children[body.child_id] = ChildSummary(
                child_id=body.child_id, workflow_id=body.workflow_id,
                workflow_type=body.workflow_type, status="running",
            )  # fmt: skip
        elif (outcome := _CHILD_OUTCOMES.get(type(body))) is not None:
            child_id = getattr(body, "child_id", None)
            if isinstance(child_id, int) and child_id in children:
                children[child_id] = children[child_id].model_copy(update={"status": outcome})
    return list(children.values())


def _last_error(run_events: Sequence[Event]) -> LastError | None:
    for event in reversed(run_events):
        failure = getattr(event.body, "failure", None)
        if isinstance(failure, Failure):
            type_, message = failure.type, failure.message
        elif isinstance(event.body, ActivityTimedOut):
            type_, message = "ActivityTimedOut", f"{event.body.timeout_kind} timeout"
        else:
            continue
        return LastError(
            seq=event.seq, recorded_at=event.recorded_at, event_type=event.type,
            type=type_, message=message,
        )  # fmt: skip
    return None


def summarize(record: WorkflowRecord, events: Sequence[Event]) -> WorkflowSummary:
    """The summary of a workflow from its visibility row and its whole history."""
    run = latest_run(events)
    return WorkflowSummary(
        workflow=record,
        runs=sum(1 for event in events if isinstance(event.body, WorkflowStarted)),
        events=len(events),
        pending_activities=[] if record.status.is_closed else pending_activities(run),
        pending_timers=[]
        if record.status.is_closed
        else [
            PendingTimer(timer_id=timer_id, fire_at=fire_at)
            for timer_id, fire_at in sorted(pending_timers(run).items())
        ],
        children=_children(run),
        last_error=_last_error(run),
        timeline=timeline(events),
    )
