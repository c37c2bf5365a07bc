"""A history as people read it: one line per event, with times relative to the start."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from aion_core.converter import JSON_ENCODING
from aion_core.events import (
    ActivityCancelled,
    ActivityCompleted,
    ActivityFailed,
    ActivityScheduled,
    ActivityStarted,
    ActivityTimedOut,
    ChildWorkflowCompleted,
    ChildWorkflowFailed,
    ChildWorkflowStarted,
    ChildWorkflowStartFailed,
    Event,
    ExternalSignalSent,
    Payload,
    SignalReceived,
    TimerCancelled,
    TimerFired,
    TimerStarted,
    UpdateAccepted,
    UpdateCompleted,
    WorkflowCompleted,
    WorkflowContinuedAsNew,
    WorkflowFailed,
    WorkflowStarted,
    WorkflowSuspended,
    WorkflowTerminated,
)

__all__ = ["TimelineRow", "describe_event", "show_payload", "timeline"]

_MAX_PAYLOAD = 80


class TimelineRow(BaseModel):
    """One event, for display (and for ``--json``).

    Attributes:
        seq: The event's seq.
        recorded_at: When it was recorded.
        offset: Seconds since the first event.
        type: The event type.
        detail: What it means, in a few words.
    """

    model_config = ConfigDict(frozen=True)

    seq: int
    recorded_at: datetime
    offset: float
    type: str
    detail: str


def show_payload(payload: Payload) -> str:
    """A payload as short JSON text; encoded (encrypted, compressed) payloads say so."""
    if payload.metadata.get("encoding") != JSON_ENCODING:
        return f"<{payload.metadata.get('encoding', 'binary')}, {len(payload.data)} bytes>"
    try:
        text = json.dumps(json.loads(payload.data), ensure_ascii=False)
    except ValueError:
        text = repr(payload.data)
    return text if len(text) <= _MAX_PAYLOAD else text[: _MAX_PAYLOAD - 1] + "…"


def _args(payloads: Sequence[Payload]) -> str:
    return ", ".join(show_payload(p) for p in payloads)


def describe_event(event: Event) -> str:
    """What an event means, in a few words."""
    body = event.body
    if isinstance(body, WorkflowStarted):
        return f"{body.workflow_type}({_args(body.input)}) started, run {event.run_id[:8]}"
    if isinstance(body, WorkflowCompleted):
        return f"completed → {show_payload(body.result)}"
    if isinstance(body, WorkflowFailed | WorkflowSuspended):
        return f"{body.failure.type}: {body.failure.message}"
    if isinstance(body, WorkflowTerminated):
        return f"terminated: {body.reason}" if body.reason else "terminated"
    if isinstance(body, WorkflowContinuedAsNew):
        return f"continued as new run {body.new_run_id[:8]} with ({_args(body.input)})"
    if isinstance(body, ActivityScheduled):
        return f"activity #{body.activity_id} {body.activity_type}({_args(body.input)})"
    if isinstance(body, ActivityStarted):
        return f"activity #{body.activity_id} attempt {body.attempt} started"
    if isinstance(body, ActivityCompleted):
        return f"activity #{body.activity_id} attempt {body.attempt} → {show_payload(body.result)}"
    if isinstance(body, ActivityFailed | ActivityTimedOut):
        what = (
            f"{body.failure.type}: {body.failure.message}"
            if isinstance(body, ActivityFailed)
            else f"{body.timeout_kind} timeout"
        )
        then = (
            f"; retry in {(body.retry_at - event.recorded_at).total_seconds():.2f}s"
            if body.retry_at is not None
            else "; no more retries"
        )
        return f"activity #{body.activity_id} attempt {body.attempt} failed ({what}){then}"
    if isinstance(body, ActivityCancelled):
        return f"activity #{body.activity_id} attempt {body.attempt} cancelled"
    if isinstance(body, TimerStarted):
        return f"timer #{body.timer_id} for {body.duration.total_seconds():g}s"
    if isinstance(body, TimerFired):
        return f"timer #{body.timer_id} fired"
    if isinstance(body, TimerCancelled):
        return f"timer #{body.timer_id} cancelled"
    if isinstance(body, SignalReceived):
        return f"signal {body.signal_name}({_args(body.args)})"
    if isinstance(body, ExternalSignalSent):
        sent = f"signal #{body.signal_id} {body.signal_name}({_args(body.args)})"
        return f"{sent} to {body.target_workflow_id}"
    if isinstance(body, UpdateAccepted):
        return f"update {body.update_name}({_args(body.args)}) accepted"
    if isinstance(body, UpdateCompleted):
        if body.failure is not None:
            return f"update failed: {body.failure.type}: {body.failure.message}"
        return f"update → {show_payload(body.result)}" if body.result is not None else "update done"
    if isinstance(body, ChildWorkflowStarted):
        started = f"{body.workflow_type}({_args(body.input)})"
        return f"child #{body.child_id} {started} as {body.workflow_id}"
    if isinstance(body, ChildWorkflowCompleted):
        return f"child #{body.child_id} → {show_payload(body.result)}"
    if isinstance(body, ChildWorkflowFailed | ChildWorkflowStartFailed):
        return f"child #{body.child_id} failed: {body.failure.message}"
    fields = body.model_dump(exclude={"type"}, mode="json")
    return ", ".join(f"{k}={v}" for k, v in fields.items() if not isinstance(v, list | dict))


def timeline(events: Sequence[Event]) -> list[TimelineRow]:
    """Every event as a row, with its time relative to the first event."""
    if not events:
        return []
    start = events[0].recorded_at
    return [
        TimelineRow(
            seq=event.seq,
            recorded_at=event.recorded_at,
            offset=(event.recorded_at - start).total_seconds(),
            type=event.type,
            detail=describe_event(event),
        )
        for event in events
    ]
