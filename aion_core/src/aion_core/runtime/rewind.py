"""Reopening a closed run: where it rewinds to, and the history replay then sees.

A failed or cancelled run is reopened by appending `WorkflowReopened`; nothing
recorded is removed or changed. Replay reads the run through `effective_history`:

- what the code did from the rewind point on is skipped: its commands, the
  outcomes of things it commanded there, the close, and, for a run closed by
  cancellation, the cancel requests it honoured;
- facts from outside stay: signals and updates received, and outcomes of
  activities, timers, children and signals commanded before the rewind point;
- an activity whose final failure (or timeout, or cancellation) lies past the
  rewind point is replayed as failed with a retry due at the reopen, so the
  engine runs its next attempt and the attempt trail continues.

The rewind point is the earliest of: the close, the first cancel request of a
run closed by cancellation, and the first final activity failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from aion_core.events import (
    CLOSING_EVENT_TYPES,
    ActivityCancelled,
    ActivityFailed,
    ActivityTimedOut,
    Event,
    EventBody,
    ExternalSignalDelivered,
    ExternalSignalFailed,
    ExternalSignalSent,
    Failure,
    TimerCancelled,
    TimerFired,
    TimerStarted,
    UpdateAccepted,
    UpdateCompleted,
    WorkflowCancelled,
    WorkflowCancelRequested,
    WorkflowReopened,
)
from aion_core.runtime.commands import command_key

__all__ = ["effective_history", "pending_timers", "rewind_point"]

_FINAL_FAILURES = (ActivityFailed, ActivityTimedOut, ActivityCancelled)


def rewind_point(run_events: Sequence[Event]) -> int:
    """The seq a closed run is rewound to when reopened (see the module docstring).

    Args:
        run_events: The run's events, from its `WorkflowStarted` to its closing event.
    """
    since = _since_last_reopen(run_events)
    closing = run_events[-1]
    assert closing.body.type in CLOSING_EVENT_TYPES, "only a closed run is rewound"
    candidates = [closing.seq]
    if isinstance(closing.body, WorkflowCancelled):
        candidates += [e.seq for e in since if isinstance(e.body, WorkflowCancelRequested)][:1]
    candidates += [e.seq for e in since if _is_final_failure(e.body)][:1]
    return min(candidates)


def effective_history(run_events: Sequence[Event]) -> list[Event]:
    """The run's events as replay sees them once reopened (unchanged if never reopened)."""
    events = list(run_events)
    reopens = [e for e in run_events if isinstance(e.body, WorkflowReopened)]
    for reopen in reopens:  # each in turn: a later reopen rewinds what the earlier left
        assert isinstance(reopen.body, WorkflowReopened)
        if reopen.body.rewind_from is not None:
            position = events.index(reopen)
            events = _rewound(events, position, reopen.body.rewind_from, reopen.recorded_at)
    return events


def pending_timers(run_events: Sequence[Event]) -> dict[int, datetime]:
    """Timers started and neither fired nor cancelled in `run_events`: id to fire time."""
    pending: dict[int, datetime] = {}
    for event in run_events:
        body = event.body
        if isinstance(body, TimerStarted):
            pending[body.timer_id] = body.fire_at
        elif isinstance(body, TimerFired | TimerCancelled):
            pending.pop(body.timer_id, None)
    return pending


def _rewound(
    events: list[Event], reopen_at: int, rewind_from: int, reopened_at: datetime
) -> list[Event]:
    before = [e for e in events[:reopen_at] if e.seq < rewind_from]
    skipped = [e for e in events[:reopen_at] if e.seq >= rewind_from]
    commanded = {_thread(e.body) for e in before if command_key(e.body) is not None}
    cancelled_run = any(isinstance(e.body, WorkflowCancelled) for e in skipped)
    kept: list[Event] = []
    for event in skipped:
        body = event.body
        if body.type in CLOSING_EVENT_TYPES:
            continue
        if isinstance(body, WorkflowCancelRequested):
            if not cancelled_run:
                kept.append(event)
            continue
        if isinstance(body, UpdateAccepted | UpdateCompleted):
            kept.append(event)  # the caller has its answer: the update stays done
            continue
        if command_key(body) is not None:
            continue  # the code issues its commands again, or others, when it replays
        thread = _thread(body)
        if thread is None:
            kept.append(event)  # signals, pause and resume, query answers: facts from outside
        elif thread in commanded:
            kept.append(_retried(event, reopened_at) if _is_final_failure(body) else event)
    return [*before, *kept, *events[reopen_at:]]


def _retried(event: Event, reopened_at: datetime) -> Event:
    """A final activity failure replayed as a failed attempt with a retry due at the reopen."""
    body = event.body
    if isinstance(body, ActivityCancelled):
        failure = Failure(message="the attempt was cancelled", type="ActivityCancelled")
        retried: EventBody = ActivityFailed(
            activity_id=body.activity_id, attempt=body.attempt, failure=failure,
            retry_at=reopened_at,
        )  # fmt: skip
    else:
        assert isinstance(body, ActivityFailed | ActivityTimedOut)
        retried = body.model_copy(update={"retry_at": reopened_at})
    return event.model_copy(update={"body": retried})


def _is_final_failure(body: EventBody) -> bool:
    if isinstance(body, ActivityCancelled):
        return True
    return isinstance(body, ActivityFailed | ActivityTimedOut) and body.retry_at is None


def _thread(body: EventBody) -> tuple[str, object] | None:
    """What a command and its outcomes share: (kind, id); None for other events."""
    for kind, field in _THREAD_FIELDS:
        value = getattr(body, field, None)
        if value is not None:
            return (kind, value)
    if isinstance(body, ExternalSignalSent | ExternalSignalDelivered | ExternalSignalFailed):
        return ("signal-out", body.signal_id)
    return None


_THREAD_FIELDS: Iterable[tuple[str, str]] = (
    ("activity", "activity_id"),
    ("timer", "timer_id"),
    ("child", "child_id"),
)


def _since_last_reopen(run_events: Sequence[Event]) -> list[Event]:
    last = max(
        (i for i, e in enumerate(run_events) if isinstance(e.body, WorkflowReopened)), default=-1
    )
    return list(run_events[last + 1 :])
