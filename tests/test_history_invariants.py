"""The history checker the fault tests rely on names each broken invariant, and only those."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aion_core.events import (
    ActivityCompleted,
    ActivityFailed,
    ActivityScheduled,
    ActivityStarted,
    Event,
    EventBody,
    Failure,
    Payload,
    SignalReceived,
    TimerFired,
    TimerStarted,
    WorkflowCompleted,
    WorkflowContinuedAsNew,
    WorkflowFailed,
    WorkflowReopened,
    WorkflowStarted,
)
from aion_core.testing.store_contract import make_events

from .history_invariants import check_histories, history_problems

DONE = WorkflowCompleted(result=Payload())
FIRE_AT = datetime(2026, 1, 1, tzinfo=UTC)


def stream(*runs: tuple[str, list[EventBody]]) -> list[Event]:
    """One stream of `(run_id, bodies)` runs, seq numbered across them."""
    events: list[Event] = []
    for run_id, bodies in runs:
        events += make_events("wf", bodies, after_seq=len(events), run_id=run_id)
    return events


def job(*middle: EventBody) -> list[EventBody]:
    """A run that schedules activity 1, runs `middle`, and completes."""
    started = WorkflowStarted(workflow_type="Job")
    return [started, ActivityScheduled(activity_id=1, activity_type="double"), *middle, DONE]


def test_a_sound_stream_with_retries_timers_and_continue_as_new_has_no_problems() -> None:
    first = job(
        ActivityStarted(activity_id=1, attempt=1),
        ActivityFailed(
            activity_id=1, attempt=1, failure=Failure(message="flaky"), retry_at=FIRE_AT
        ),
        ActivityStarted(activity_id=1, attempt=2),
        ActivityCompleted(activity_id=1, attempt=2, result=Payload()),
        TimerStarted(timer_id=1, fire_at=FIRE_AT, duration=FIRE_AT - FIRE_AT),
        SignalReceived(signal_name="approve"),
        SignalReceived(signal_name="approve"),  # the same signal may be sent twice
        TimerFired(timer_id=1),
    )
    first[-1] = WorkflowContinuedAsNew(new_run_id="run-2", workflow_type="Job")
    second = job(
        ActivityStarted(activity_id=1, attempt=1),
        ActivityCompleted(activity_id=1, attempt=1, result=Payload()),
    )
    second[0] = WorkflowStarted(workflow_type="Job", parent_run_id="run-1")
    check_histories({"wf": stream(("run-1", first), ("run-2", second))})


def test_a_failed_run_reopened_may_issue_its_commands_again() -> None:
    failed = WorkflowFailed(failure=Failure(message="bug"))
    bodies = job(ActivityStarted(activity_id=1, attempt=1))
    bodies[-1] = failed
    bodies += [
        WorkflowReopened(rewind_from=2),
        ActivityScheduled(activity_id=1, activity_type="double"),
        ActivityStarted(activity_id=1, attempt=2),
        ActivityCompleted(activity_id=1, attempt=2, result=Payload()),
        DONE,
    ]
    assert history_problems("wf", stream(("run-1", bodies))) == []


@pytest.mark.parametrize(
    ("bodies", "problem"),
    [
        (
            job(*[ActivityStarted(activity_id=1, attempt=1)] * 2),
            "records attempt started 1/1 again",
        ),
        (
            job(ActivityCompleted(activity_id=1, attempt=1, result=Payload())),
            "answers attempt started 1/1, never recorded before",
        ),
        (
            job(
                ActivityStarted(activity_id=1, attempt=1),
                ActivityCompleted(activity_id=1, attempt=1, result=Payload()),
                ActivityCompleted(activity_id=1, attempt=1, result=Payload()),
            ),
            "records attempt ended 1/1 again",
        ),
        (
            job(
                TimerStarted(timer_id=1, fire_at=FIRE_AT, duration=FIRE_AT - FIRE_AT),
                TimerFired(timer_id=1),
                TimerFired(timer_id=1),
            ),
            "records timer ended 1 again",
        ),
        (job(TimerFired(timer_id=2)), "answers timer started 2, never recorded before"),
        ([*job(), SignalReceived(signal_name="late")], "follows the close of the run"),
        ([*job(), DONE], "follows the close of the run (WorkflowCompleted at seq 3)"),
    ],
)
def test_each_broken_invariant_is_named(bodies: list[EventBody], problem: str) -> None:
    problems = history_problems("wf", stream(("run-1", bodies)))
    assert any(problem in p for p in problems), problems
    with pytest.raises(AssertionError, match=r"problem\(s\) in 1 histories"):
        check_histories({"wf": stream(("run-1", bodies))})


def test_gaps_foreign_runs_and_broken_continue_as_new_are_named() -> None:
    events = stream(("run-1", job()))
    gap = [events[0], events[2].model_copy(update={"seq": 3})]
    assert "seq is not 1..2" in history_problems("wf", gap)[0]
    continued = job()
    continued[-1] = WorkflowContinuedAsNew(new_run_id="run-2", workflow_type="Job")
    unlinked = stream(("run-1", continued), ("run-3", job()))
    assert any("continued as new as run-2" in p for p in history_problems("wf", unlinked))
    never = stream(("run-1", continued))
    assert any("never started" in p for p in history_problems("wf", never))
    open_run = stream(("run-1", job()[:-1]), ("run-2", job()))
    assert any("run-1 is still open" in p for p in history_problems("wf", open_run))
