"""Activities of one instance: the schedule command, attempts as recorded, and outcomes.

The code awaits a future per scheduled activity; its final outcome (completed,
failed or timed out for good, cancelled) resolves it. Alongside, the state of
each activity's attempts is tracked from the engine's records, so an engine
that rebuilds the instance knows which attempt comes next.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aion_core.converter import from_payload
from aion_core.errors import ActivityError, TimeoutError
from aion_core.events import (
    ActivityCancelled,
    ActivityCancelRequested,
    ActivityCompleted,
    ActivityFailed,
    ActivityScheduled,
    ActivityStarted,
    ActivityTimedOut,
    EventBody,
    Payload,
)
from aion_core.failures import exception_from_failure

if TYPE_CHECKING:
    from aion_core.runtime.instance import WorkflowInstance

__all__ = ["ACTIVITY_OUTCOMES", "Activities", "ActivityOutcome", "ActivityState"]

ActivityOutcome = ActivityCompleted | ActivityFailed | ActivityTimedOut | ActivityCancelled
ACTIVITY_OUTCOMES = (ActivityCompleted, ActivityFailed, ActivityTimedOut, ActivityCancelled)


@dataclass
class ActivityState:
    """Where one scheduled activity stands, for the engine that executes it."""

    scheduled: ActivityScheduled
    scheduled_at: datetime
    attempt: int = 0
    """The last attempt started (0: none yet)."""
    running: bool = False
    """The last attempt started and has no recorded outcome."""
    retry_at: datetime | None = None
    last_heartbeat_details: tuple[Payload, ...] = ()
    done: bool = False
    cancel_requested: bool = False
    first_attempt: int = 1
    """The first attempt of the current retry budget (a reopen starts a new one)."""


@dataclass
class _Waiting:
    future: asyncio.Future[Any]
    activity_type: str
    return_type: Any


class Activities:
    """The activities one instance scheduled."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self._instance = instance
        self._states: dict[int, ActivityState] = {}
        self._waiting: dict[int, _Waiting] = {}

    def schedule(self, scheduled: ActivityScheduled, return_type: Any) -> asyncio.Future[Any]:
        """Issue `ActivityScheduled`; the future resolves with the activity's outcome.

        Cancelling the future (the code stopped waiting) issues `ActivityCancelRequested`.
        """
        instance = self._instance
        future: asyncio.Future[Any] = instance.loop.create_future()
        activity_id = scheduled.activity_id
        self._waiting[activity_id] = _Waiting(future, scheduled.activity_type, return_type)
        self._states[activity_id] = state = ActivityState(scheduled, instance.now())
        instance.issue(("activity", activity_id), scheduled)

        def on_done(done: asyncio.Future[Any]) -> None:
            if done.cancelled() and not state.done and not instance.closed:
                state.cancel_requested = True
                instance.issue(
                    ("activity-cancel", activity_id),
                    ActivityCancelRequested(activity_id=activity_id),
                )

        future.add_done_callback(on_done)
        return future

    def observe(self, body: EventBody) -> None:
        """Track an engine record about attempts (started, failed with a retry ahead)."""
        state = self._states.get(getattr(body, "activity_id", 0))
        if state is None:
            return
        if isinstance(body, ActivityStarted):
            state.attempt, state.running, state.retry_at = body.attempt, True, None
        elif isinstance(body, ActivityFailed | ActivityTimedOut):
            state.running, state.retry_at = False, body.retry_at
            state.last_heartbeat_details = body.last_heartbeat_details

    def reopened(self, at: datetime) -> None:
        """The run was reopened at `at`: activities retried because of it get a fresh budget.

        Those are the ones whose final failure the rewind turned into a retry due at `at`
        (runtime.rewind); their deadlines and attempt limits count from the reopen.
        """
        for state in self._states.values():
            if not state.done and not state.running and state.retry_at == at:
                state.first_attempt = state.attempt + 1
                state.scheduled_at = at

    def expects(self, outcome: ActivityOutcome) -> bool:
        """Whether the outcome is for an activity still pending."""
        state = self._states.get(outcome.activity_id)
        return state is not None and not state.done

    def resolve(self, outcome: ActivityOutcome) -> None:
        """Hand an activity's final outcome to the code waiting for it."""
        state = self._states.get(outcome.activity_id)
        if state is not None:
            state.done, state.running, state.attempt = True, False, outcome.attempt
        waiting = self._waiting.pop(outcome.activity_id, None)
        if waiting is None or waiting.future.done():
            return
        future = waiting.future
        if isinstance(outcome, ActivityCompleted):
            try:
                value = from_payload(outcome.result, waiting.return_type, what="activity result")
            except Exception as invalid:
                future.set_exception(invalid)
                return
            future.set_result(value)
        elif isinstance(outcome, ActivityFailed):
            failed = ActivityError(waiting.activity_type, outcome.attempt, outcome.failure.message)
            failed.__cause__ = exception_from_failure(outcome.failure)
            future.set_exception(failed)
        elif isinstance(outcome, ActivityTimedOut):
            timed_out = ActivityError(
                waiting.activity_type, outcome.attempt, f"{outcome.timeout_kind} timeout"
            )
            timed_out.__cause__ = TimeoutError(outcome.timeout_kind)
            future.set_exception(timed_out)
        else:
            future.cancel()

    def pending(self) -> list[ActivityState]:
        """Activities scheduled and not finished, in schedule order."""
        return [state for _, state in sorted(self._states.items()) if not state.done]
