"""Checking flow control from histories: when each run was past its queue, and how many at once.

A run is past its queue from when its slot was taken (`WorkflowDequeued.admitted_at`)
to the event that closed it.
Tests of queue limits (and users' own) read these spans from what was recorded,
so a limit is checked against durable facts rather than against the test's view::

    spans = [passage_of(await engine.get_handle(i).history()) for i in ids]
    assert most_at_once(spans) <= 3
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aion_core.events import (
    CLOSING_EVENT_TYPES,
    ActivityCompleted,
    ActivityFailed,
    ActivityStarted,
    ActivityTimedOut,
    Event,
    WorkflowDequeued,
)

__all__ = ["Passage", "attempt_spans", "most_at_once", "most_overlapping", "passage_of"]


@dataclass(frozen=True, slots=True)
class Passage:
    """One run's time past its queue: from its slot being taken until it closed.

    Attributes:
        workflow_id: The run's workflow.
        queue: The queue it left.
        admitted: When its slot was taken (the queue's limits count from here).
        dequeued: When `WorkflowDequeued` was recorded (its code started).
        closed: When its run closed (its slot is free from here).
        by: The engine that let it out.
    """

    workflow_id: str
    queue: str
    admitted: datetime
    dequeued: datetime
    closed: datetime
    by: str = ""


def passage_of(history: Sequence[Event]) -> Passage:
    """The passage of a history's last run that was dequeued and closed.

    Raises:
        AssertionError: The history has no such run, or a run dequeued twice.
    """
    dequeued = [e for e in history if isinstance(e.body, WorkflowDequeued)]
    assert dequeued, f"{history[0].workflow_id if history else '?'} was never dequeued"
    last = dequeued[-1]
    runs = [e for e in dequeued if e.run_id == last.run_id]
    assert len(runs) == 1, f"{last.workflow_id} run {last.run_id} was dequeued {len(runs)} times"
    closing = [e for e in history if e.run_id == last.run_id and e.type in CLOSING_EVENT_TYPES]
    assert closing, f"{last.workflow_id} run {last.run_id} is not closed"
    assert isinstance(last.body, WorkflowDequeued)
    return Passage(
        last.workflow_id,
        last.body.queue,
        last.body.admitted_at,
        last.recorded_at,
        closing[0].recorded_at,
        last.body.by,
    )


def most_at_once(passages: Iterable[Passage]) -> int:
    """The most runs past their queue at one instant (at a tie, a close counts first)."""
    return most_overlapping((p.admitted, p.closed) for p in passages)


def attempt_spans(history: Sequence[Event]) -> list[tuple[datetime, datetime]]:
    """Each ended activity attempt's time, from its recorded start to its recorded end."""
    started = {
        (e.body.activity_id, e.body.attempt): e.recorded_at
        for e in history
        if isinstance(e.body, ActivityStarted)
    }
    return [
        (started[(e.body.activity_id, e.body.attempt)], e.recorded_at)
        for e in history
        if isinstance(e.body, _ATTEMPT_ENDS) and (e.body.activity_id, e.body.attempt) in started
    ]


def most_overlapping(spans: Iterable[tuple[datetime, datetime]]) -> int:
    """The most of the `(start, end)` spans holding at one instant (an end first at a tie)."""
    edges = sorted(edge for start, end in spans for edge in ((start, 1), (end, -1)))
    now = most = 0
    for _, change in edges:
        now += change
        most = max(most, now)
    return most


_ATTEMPT_ENDS = (ActivityCompleted, ActivityFailed, ActivityTimedOut)
