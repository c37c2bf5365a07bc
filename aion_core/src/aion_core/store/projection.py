"""Projection of events onto the visibility row and the timer table.

Pure functions shared by every store: the recorder, as the single writer of a
workflow, keeps the current row and passes the projected changes along with
the events, so every backend derives visibility and timers by the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aion_core.events import (
    CLOSING_EVENT_TYPES,
    Event,
    SearchAttributesUpserted,
    TimerCancelled,
    TimerFired,
    TimerStarted,
    WorkflowStarted,
    WorkflowStatus,
    status_after,
)
from aion_core.store.records import AppendBatch, TimerKey, TimerRecord, WorkflowRecord

__all__ = ["TimerChanges", "batch_for", "project_timers", "project_workflow"]


def project_workflow(
    record: WorkflowRecord | None, events: Sequence[Event]
) -> WorkflowRecord | None:
    """The visibility row after `events`, starting from `record` (None before the first run)."""
    for event in events:
        body = event.body
        if isinstance(body, WorkflowStarted):
            record = WorkflowRecord(
                workflow_id=event.workflow_id,
                run_id=event.run_id,
                workflow_type=body.workflow_type,
                status=WorkflowStatus.RUNNING,
                task_queue=body.task_queue,
                start_time=event.recorded_at,
                updated_at=event.recorded_at,
                last_seq=event.seq,
                parent_workflow_id=body.parent.workflow_id if body.parent else None,
                parent_run_id=body.parent.run_id if body.parent else None,
                # A continued run keeps the attributes it was searchable by.
                search_attributes={
                    **(record.search_attributes if record else {}),
                    **body.search_attributes,
                },
            )
            continue
        if record is None:
            continue  # streams that are not workflows (schedules) have no row
        changes: dict[str, object] = {"updated_at": event.recorded_at, "last_seq": event.seq}
        status = status_after(body)
        if status is not None:
            changes["status"] = status
            changes["close_time"] = event.recorded_at if status.is_closed else None
        if isinstance(body, SearchAttributesUpserted):
            changes["search_attributes"] = {**record.search_attributes, **body.attributes}
        record = record.model_copy(update=changes)
    return record


@dataclass
class TimerChanges:
    """The net effect of a batch on the timer table, applied in this order."""

    disarm_all: bool = False
    disarmed: set[TimerKey] = field(default_factory=set)
    armed: dict[TimerKey, TimerRecord] = field(default_factory=dict)


def project_timers(events: Sequence[Event]) -> TimerChanges:
    """Which timers a batch arms and disarms; a closing run disarms all of its timers."""
    changes = TimerChanges()
    for event in events:
        body = event.body
        if isinstance(body, TimerStarted):
            timer = TimerRecord(
                workflow_id=event.workflow_id,
                run_id=event.run_id,
                timer_id=body.timer_id,
                fire_at=body.fire_at,
            )
            changes.armed[timer.key] = timer
        elif isinstance(body, TimerFired | TimerCancelled):
            key = TimerKey(event.run_id, body.timer_id)
            if changes.armed.pop(key, None) is None:
                changes.disarmed.add(key)
        elif body.type in CLOSING_EVENT_TYPES:
            changes = TimerChanges(disarm_all=True)
    return changes


def batch_for(
    record: WorkflowRecord | None, expected_seq: int, events: Sequence[Event]
) -> AppendBatch:
    """An append batch for `events` with its projected visibility row and timer changes."""
    timers = project_timers(events)
    return AppendBatch(
        workflow_id=events[0].workflow_id,
        expected_seq=expected_seq,
        events=tuple(events),
        workflow=project_workflow(record, events),
        timers_armed=tuple(timers.armed.values()),
        timers_disarmed=tuple(sorted(timers.disarmed, key=lambda k: (k.run_id, k.timer_id))),
        disarm_all_timers=timers.disarm_all,
    )
