"""Metrics from the events an engine makes durable (the `aion_events_recorded` hook).

Histories say what happened but not always to whom: an ActivityFailed names
its activity by id, a WorkflowCompleted carries no workflow type. So the
observer remembers, per open workflow, its type, its start time and its
pending activities, and forgets them when the workflow closes. That memory is
bounded (least recently used workflows are dropped first): a metric about a
forgotten workflow is still counted, under the type ``unknown``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from aion_core import Event
from aion_core.events import (
    CLOSING_EVENT_TYPES,
    ActivityCancelled,
    ActivityCompleted,
    ActivityFailed,
    ActivityScheduled,
    ActivityStarted,
    ActivityTimedOut,
    WorkflowStarted,
    status_after,
)

from aion_plugin_metrics.metrics import UNKNOWN, AionMetrics

__all__ = ["DEFAULT_MAX_OPEN_WORKFLOWS", "RecordedEventMetrics"]

DEFAULT_MAX_OPEN_WORKFLOWS = 10_000
"""How many open workflows the observer remembers before forgetting the oldest."""

_AttemptOutcome = ActivityCompleted | ActivityFailed | ActivityTimedOut | ActivityCancelled


@dataclass
class _PendingActivity:
    activity_type: str
    scheduled_at: datetime | None  # None once attempt 1 started: measured only once


@dataclass
class _OpenWorkflow:
    workflow_type: str = UNKNOWN
    started_at: datetime | None = None
    activities: dict[int, _PendingActivity] = field(default_factory=dict)


class RecordedEventMetrics:
    """Updates `metrics` from durable appends, remembering at most `max_open_workflows`.

    Args:
        metrics: The metrics to update.
        max_open_workflows: Bound of the per-workflow memory (type, start, pending activities).
    """

    def __init__(
        self, metrics: AionMetrics, max_open_workflows: int = DEFAULT_MAX_OPEN_WORKFLOWS
    ) -> None:
        self._metrics = metrics
        self._max_open = max_open_workflows
        self._open: OrderedDict[str, _OpenWorkflow] = OrderedDict()
        # Engines on other threads may share this object; the memory must not
        # be changed by two appends at once (the metrics lock themselves).
        self._lock = threading.Lock()

    def open_workflows(self) -> int:
        """How many workflows are remembered right now (at most `max_open_workflows`)."""
        with self._lock:
            return len(self._open)

    def record_append(self, workflow_id: str, events: Sequence[Event]) -> None:
        """Count one durable append of `workflow_id` and the events in it."""
        self._metrics.append_events.observe(len(events))
        with self._lock:
            for event in events:
                self._record_event(workflow_id, event)

    def _record_event(self, workflow_id: str, event: Event) -> None:
        body = event.body
        if isinstance(body, WorkflowStarted):
            # A new run (also after continue-as-new): forget the previous one's state.
            self._open.pop(workflow_id, None)
            state = self._remember(workflow_id)
            state.workflow_type, state.started_at = body.workflow_type, event.recorded_at
            self._metrics.workflows_started.labels(body.workflow_type).inc()
        elif body.type in CLOSING_EVENT_TYPES:
            self._record_close(workflow_id, event)
        elif isinstance(body, ActivityScheduled):
            self._remember(workflow_id).activities[body.activity_id] = _PendingActivity(
                body.activity_type, event.recorded_at
            )
        elif isinstance(body, ActivityStarted):
            self._record_activity_start(workflow_id, body, event.recorded_at)
        elif isinstance(body, _AttemptOutcome):
            self._record_attempt_outcome(workflow_id, body)

    def _record_close(self, workflow_id: str, event: Event) -> None:
        status = status_after(event.body)
        assert status is not None  # every closing event type has a status
        state = self._open.pop(workflow_id, None) or _OpenWorkflow()
        self._metrics.workflows_closed.labels(state.workflow_type, status.value).inc()
        if state.started_at is not None:
            seconds = (event.recorded_at - state.started_at).total_seconds()
            self._metrics.workflow_duration.labels(state.workflow_type, status.value).observe(
                max(seconds, 0.0)
            )

    def _record_activity_start(
        self, workflow_id: str, body: ActivityStarted, recorded_at: datetime
    ) -> None:
        pending = self._remember(workflow_id).activities.get(body.activity_id)
        if pending is None or pending.scheduled_at is None or body.attempt != 1:
            return
        seconds = (recorded_at - pending.scheduled_at).total_seconds()
        self._metrics.activity_schedule_to_start.observe(max(seconds, 0.0))
        pending.scheduled_at = None

    def _record_attempt_outcome(self, workflow_id: str, body: _AttemptOutcome) -> None:
        activities = self._remember(workflow_id).activities
        pending = activities.get(body.activity_id)
        activity_type = pending.activity_type if pending is not None else UNKNOWN
        self._metrics.activity_attempts.labels(activity_type, _outcome_of(body)).inc()
        retried = isinstance(body, ActivityFailed | ActivityTimedOut) and body.retry_at is not None
        if not retried:  # the activity is over: nothing more will name it
            activities.pop(body.activity_id, None)

    def _remember(self, workflow_id: str) -> _OpenWorkflow:
        """The state of `workflow_id`, made most recently used; the oldest goes past the bound."""
        state = self._open.get(workflow_id)
        if state is None:
            state = self._open[workflow_id] = _OpenWorkflow()
            while len(self._open) > self._max_open:
                self._open.popitem(last=False)
        else:
            self._open.move_to_end(workflow_id)
        return state


def _outcome_of(body: _AttemptOutcome) -> str:
    if isinstance(body, ActivityCompleted):
        return "completed"
    if isinstance(body, ActivityFailed):
        return "failed"
    if isinstance(body, ActivityTimedOut):
        return "timed_out"
    return "cancelled"
