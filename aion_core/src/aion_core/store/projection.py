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
    WorkflowReopened,
    WorkflowStartDebounced,
    WorkflowStarted,
    WorkflowStatus,
    construct_trusted,
    status_after,
)
from aion_core.store.records import AppendBatch, TimerKey, TimerRecord, WorkflowRecord

__all__ = ["TimerChanges", "batch_for", "project_timers", "project_workflow"]


def project_workflow(
    record: WorkflowRecord | None, events: Sequence[Event]
) -> WorkflowRecord | None:
    """The visibility row after `events`, starting from `record` (None before the first run)."""
    return _project_workflow(record, events)[0]


def _project_workflow(
    record: WorkflowRecord | None, events: Sequence[Event]
) -> tuple[WorkflowRecord | None, bool]:
    """`project_workflow`, and whether the events only moved an existing row on.

    Most events (activities, timers, signals) change nothing a listing filters
    by: the row only takes their time and seq, which a store can write far
    more cheaply than a whole row with its indexes and search attributes.
    """
    progress_only = record is not None
    for event in events:
        body = event.body
        if isinstance(body, WorkflowStarted):
            placement = body.queue
            record = WorkflowRecord(
                workflow_id=event.workflow_id,
                run_id=event.run_id,
                workflow_type=body.workflow_type,
                status=WorkflowStatus.RUNNING if placement is None else WorkflowStatus.QUEUED,
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
                priority=placement.priority if placement else 0,
                partition_key=placement.partition_key if placement else None,
                dedup_id=placement.dedup_id if placement else None,
                ready_at=(
                    event.recorded_at + placement.debounce
                    if placement and placement.debounce
                    else None
                ),
                queue_limited=placement.limited if placement else False,
            )
            progress_only = False
            continue
        if record is None:
            continue  # streams that are not workflows (schedules) have no row
        status = status_after(body)
        if status is None and not isinstance(body, _CHANGES_ROW):
            record = _moved_on(record, event)
            continue
        progress_only = False
        changes: dict[str, object] = {"updated_at": event.recorded_at, "last_seq": event.seq}
        if isinstance(body, WorkflowStartDebounced):
            changes["ready_at"] = event.recorded_at + body.debounce
        if status is not None:
            changes["status"] = status
            changes["close_time"] = event.recorded_at if status.is_closed else None
        if isinstance(body, SearchAttributesUpserted):
            changes["search_attributes"] = {**record.search_attributes, **body.attributes}
        record = record.model_copy(update=changes)
    return record, progress_only


_CHANGES_ROW = (SearchAttributesUpserted, WorkflowStartDebounced)
"""Events besides lifecycle ones that change more of the row than its time and seq."""
_MOVED_ON = frozenset({"updated_at", "last_seq"})


def _moved_on(record: WorkflowRecord, event: Event) -> WorkflowRecord:
    """`record` with the time and seq of a later event that changes nothing else in it.

    What ``record.model_copy(update=...)`` makes, at a third of its cost (it
    copies through the `copy` module): most appends pay it.
    """
    values = record.__dict__.copy()
    values["updated_at"] = event.recorded_at
    values["last_seq"] = event.seq
    fields_set = record.model_fields_set
    if not fields_set.issuperset(_MOVED_ON):
        fields_set = fields_set | _MOVED_ON
    # Shared with `record` when it already has both: pydantic copies a model's
    # fields set before changing it, and a frozen model's never changes.
    return construct_trusted(WorkflowRecord, values, fields_set)


_TIMER_ENDS = (TimerFired, TimerCancelled)


@dataclass(slots=True)
class TimerChanges:
    """The net effect of a batch on the timer table, applied in this order."""

    disarm_all: bool = False
    disarmed: set[TimerKey] = field(default_factory=set)
    armed: dict[TimerKey, TimerRecord] = field(default_factory=dict)


_NO_TIMER_CHANGES = TimerChanges()
"""What `batch_for` reads for a batch that touches no timer; never handed out (it is mutable)."""


def project_timers(events: Sequence[Event]) -> TimerChanges:
    """Which timers a batch arms and disarms; a closing run disarms all of its timers."""
    return _project_timers(events) or TimerChanges()


def _project_timers(events: Sequence[Event]) -> TimerChanges | None:
    """`project_timers`, or None when no event touches a timer (most batches)."""
    changes = None
    for event in events:
        body = event.body
        if isinstance(body, TimerStarted):
            changes = changes or TimerChanges()
            timer = TimerRecord(
                workflow_id=event.workflow_id,
                run_id=event.run_id,
                timer_id=body.timer_id,
                fire_at=body.fire_at,
            )
            changes.armed[timer.key] = timer
        elif isinstance(body, _TIMER_ENDS):
            changes = changes or TimerChanges()
            key = TimerKey(event.run_id, body.timer_id)
            if changes.armed.pop(key, None) is None:
                changes.disarmed.add(key)
        elif body.type in CLOSING_EVENT_TYPES:
            changes = TimerChanges(disarm_all=True)
        elif isinstance(body, WorkflowReopened):
            changes = changes or TimerChanges()
            # A reopened run waits again for the timers its close disarmed.
            for timer_id, fire_at in body.rearmed_timers.items():
                timer = TimerRecord(
                    workflow_id=event.workflow_id,
                    run_id=event.run_id,
                    timer_id=timer_id,
                    fire_at=fire_at,
                )
                changes.armed[timer.key] = timer
    return changes


def batch_for(
    record: WorkflowRecord | None, expected_seq: int, events: Sequence[Event]
) -> AppendBatch:
    """An append batch for `events` with its projected visibility row and timer changes."""
    workflow, progress_only = _project_workflow(record, events)
    timers = _project_timers(events) or _NO_TIMER_CHANGES
    return AppendBatch(
        workflow_id=events[0].workflow_id,
        expected_seq=expected_seq,
        events=tuple(events),
        workflow=workflow,
        timers_armed=tuple(timers.armed.values()),
        timers_disarmed=(
            tuple(sorted(timers.disarmed, key=lambda k: (k.run_id, k.timer_id)))
            if timers.disarmed
            else ()
        ),
        disarm_all_timers=timers.disarm_all,
        workflow_progress_only=progress_only,
    )
