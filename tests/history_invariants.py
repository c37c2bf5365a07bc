"""What every stored history looks like, whatever crashed, paused or restarted while it was written.

`history_problems` names every way one workflow's stream breaks the event
model (DESIGN 4.1-4.8); `check_histories` asserts that none of many streams
does. The fault tests read histories from the store after killing, pausing and
restarting processes, and check them with these. The rules:

* seq runs 1, 2, 3, ... without a gap or a repeat; every event is of the stream;
* a stream is one run after another: each run begins with its `WorkflowStarted`
  and closes at most once; nothing of it follows its close but a
  `WorkflowReopened` (failed or cancelled runs); a run continued as new is
  followed at once by the run it names, whose ``parent_run_id`` is the old run;
  only the last run may be open;
* a fact is recorded once per run: an activity scheduled, an attempt started,
  an attempt ended, an activity ended (completed, cancelled or failed for
  good), a timer started and fired (or cancelled), a child started and ended,
  an external signal sent and answered, an update accepted and completed;
* an outcome follows its command: an attempt's start and end follow the
  activity's schedule, a completion follows its attempt's start, a timer's
  fire follows its start, and so on.

A reopen rewinds the run (`aion_core.runtime.rewind`): its code issues its
commands again, so the once-per-run count starts afresh after each
`WorkflowReopened`, while outcomes may still answer commands issued before it.
Signals are not counted: a workflow may be sent the same signal twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aion_core.events import (
    CLOSING_EVENT_TYPES,
    ActivityCancelled,
    ActivityCancelRequested,
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
    EventBody,
    ExternalQueryAnswered,
    ExternalSignalDelivered,
    ExternalSignalFailed,
    ExternalSignalSent,
    TimerCancelled,
    TimerFired,
    TimerStarted,
    UpdateAccepted,
    UpdateCompleted,
    WorkflowContinuedAsNew,
    WorkflowReopened,
    WorkflowStarted,
)

__all__ = ["check_histories", "history_problems"]

Fact = tuple[object, ...]
"""Something a run records at most once, such as ``("attempt started", 1, 2)``."""

_REOPENABLE_AFTER = frozenset({"WorkflowFailed", "WorkflowCancelled"})


def check_histories(events_by_workflow: Mapping[str, Sequence[Event]]) -> None:
    """Assert that every stream keeps the invariants of the event model (see the module doc).

    Args:
        events_by_workflow: Each workflow id's whole stream, in seq order, as stored.

    Raises:
        AssertionError: Listing every problem found, at most 50 lines.
    """
    problems = [
        problem
        for workflow_id, events in events_by_workflow.items()
        for problem in history_problems(workflow_id, events)
    ]
    if problems:
        shown = "\n".join(problems[:50])
        more = f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise AssertionError(
            f"{len(problems)} problem(s) in {len(events_by_workflow)} histories:\n{shown}{more}"
        )


def history_problems(workflow_id: str, events: Sequence[Event]) -> list[str]:
    """Every way the stream of `workflow_id` breaks the invariants, one line each; [] if none."""
    if not events:
        return [f"{workflow_id}: the stream is empty"]
    problems: list[str] = []
    seqs = [event.seq for event in events]
    if seqs != list(range(1, len(events) + 1)):
        problems.append(f"{workflow_id}: seq is not 1..{len(events)}: {_irregular(seqs)}")
    runs: list[_Run] = []
    for event in events:
        where = f"{workflow_id} seq {event.seq} ({event.type}, run {event.run_id})"
        if event.workflow_id != workflow_id:
            problems.append(f"{where}: belongs to stream {event.workflow_id!r}")
        run = runs[-1] if runs else None
        if isinstance(event.body, WorkflowStarted):
            problems += [f"{where}: {p}" for p in _run_start_problems(event, event.body, runs)]
            runs.append(_Run(event.run_id))
            continue
        if run is None or event.run_id != run.run_id:
            current = run.run_id if run else "none"
            problems.append(f"{where}: not of the current run ({current})")
            continue
        problems += [f"{where}: {p}" for p in run.take(event)]
    last = runs[-1] if runs else None
    if last is not None and last.continued_as is not None:
        problems.append(
            f"{workflow_id}: run {last.run_id} continued as new as {last.continued_as}, "
            "which never started"
        )
    return problems


def _run_start_problems(event: Event, body: WorkflowStarted, runs: list[_Run]) -> list[str]:
    """What is wrong with a run beginning here, after `runs`."""
    problems = []
    if any(run.run_id == event.run_id for run in runs):
        problems.append("the run started before")
    previous = runs[-1] if runs else None
    if previous is not None and previous.closed_by is None:
        problems.append(f"run {previous.run_id} is still open")
    continues = previous.continued_as if previous is not None else None
    if continues is not None:
        assert previous is not None
        if event.run_id != continues or body.parent_run_id != previous.run_id:
            problems.append(
                f"run {previous.run_id} continued as new as {continues}, but this run starts "
                f"with parent_run_id {body.parent_run_id}"
            )
        previous.continued_as = None
    elif body.parent_run_id is not None:
        problems.append(f"parent_run_id {body.parent_run_id} but no run continued as new here")
    return problems


@dataclass
class _Run:
    """One run of a stream, as its events go by."""

    run_id: str
    closed_by: str | None = None
    """The type and seq of the event that closed the run (None while open)."""
    continued_as: str | None = None
    """The run a `WorkflowContinuedAsNew` named, until that run starts."""
    recorded: Counter[Fact] = field(default_factory=Counter)
    """Facts recorded since the run began or was last reopened."""
    ever: set[Fact] = field(default_factory=set)
    """Facts recorded in the run at all (outcomes may answer commands from before a reopen)."""

    def take(self, event: Event) -> list[str]:
        """Account for the next event of this run; what is wrong with it."""
        body = event.body
        if isinstance(body, WorkflowReopened):
            if self.closed_by is not None and self.closed_by.split()[0] not in _REOPENABLE_AFTER:
                return [f"reopens a run closed by {self.closed_by}"]
            self.closed_by = None
            self.recorded.clear()  # the code issues its commands again
            return []
        if self.closed_by is not None:
            return [f"follows the close of the run ({self.closed_by})"]
        if body.type in CLOSING_EVENT_TYPES:
            self.closed_by = f"{body.type} at seq {event.seq}"
            if isinstance(body, WorkflowContinuedAsNew):
                self.continued_as = body.new_run_id
        problems = []
        once, answers = _facts_of(body)
        if answers is not None and answers not in self.ever:
            problems.append(f"answers {_describe(answers)}, never recorded before")
        for fact in once:
            if self.recorded[fact]:
                problems.append(f"records {_describe(fact)} again")
            self.recorded[fact] += 1
            self.ever.add(fact)
        return problems


def _facts_of(body: EventBody) -> tuple[tuple[Fact, ...], Fact | None]:
    """The facts `body` records (each at most once per run) and the fact it answers, if any."""
    match body:
        case ActivityScheduled(activity_id=activity):
            return (("activity scheduled", activity),), None
        case ActivityStarted(activity_id=activity, attempt=attempt):
            return (("attempt started", activity, attempt),), ("activity scheduled", activity)
        case ActivityCompleted(activity_id=activity, attempt=attempt):
            ended = (("attempt ended", activity, attempt), ("activity ended", activity))
            return ended, ("attempt started", activity, attempt)
        case (
            ActivityFailed(activity_id=activity, attempt=attempt, retry_at=retry_at)
            | ActivityTimedOut(activity_id=activity, attempt=attempt, retry_at=retry_at)
        ):
            # Without a retry the activity failed for good: it ends here.
            final = () if retry_at is not None else (("activity ended", activity),)
            return (("attempt ended", activity, attempt), *final), ("activity scheduled", activity)
        case ActivityCancelled(activity_id=activity):
            # Its attempt number is that of the last attempt, which may have ended already.
            return (("activity ended", activity),), ("activity scheduled", activity)
        case ActivityCancelRequested(activity_id=activity):
            return (("activity cancel requested", activity),), ("activity scheduled", activity)
        case TimerStarted(timer_id=timer):
            return (("timer started", timer),), None
        case TimerFired(timer_id=timer) | TimerCancelled(timer_id=timer):
            return (("timer ended", timer),), ("timer started", timer)
        case ChildWorkflowStarted(child_id=child):
            return (("child started", child),), None
        case (
            ChildWorkflowStartFailed(child_id=child)
            | ChildWorkflowCompleted(child_id=child)
            | ChildWorkflowFailed(child_id=child)
            | ChildWorkflowCancelled(child_id=child)
            | ChildWorkflowTerminated(child_id=child)
            | ChildWorkflowTimedOut(child_id=child)
        ):
            return (("child ended", child),), ("child started", child)
        case ExternalSignalSent(signal_id=signal):
            return (("signal sent", signal),), None
        case ExternalSignalDelivered(signal_id=signal) | ExternalSignalFailed(signal_id=signal):
            return (("signal answered", signal),), ("signal sent", signal)
        case ExternalQueryAnswered(query_id=query):
            return (("query answered", query),), None
        case UpdateAccepted(update_id=update):
            return (("update accepted", update),), None
        case UpdateCompleted(update_id=update):
            return (("update completed", update),), ("update accepted", update)
    return (), None


def _describe(fact: Fact) -> str:
    what, *ids = fact
    return f"{what} {'/'.join(map(str, ids))}"


def _irregular(seqs: list[int]) -> str:
    """Where `seqs` first leaves 1, 2, 3, ... (a whole list of thousands helps nobody)."""
    for expected, seq in enumerate(seqs, start=1):
        if seq != expected:
            return f"expected {expected} at position {expected}, found {seq}"
    return "the stream ends early"
