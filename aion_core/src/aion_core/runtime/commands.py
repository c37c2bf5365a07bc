"""How events divide into inputs, commands and engine records, and how commands match.

- Inputs are delivered to workflow code: the start, activity outcomes, timer
  fires, signals, cancel requests.
- Commands are what workflow code issues: schedule an activity, start or
  cancel a timer, record a marker, close the run. Each has a key (kind and
  per-run ordinal) that replay matches on.
- Everything else is recorded by the engine and never seen by the code:
  attempts starting, attempts failing with a retry ahead, pause, terminate.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType

from aion_core.events import (
    ActivityCancelRequested,
    ActivityFailed,
    ActivityScheduled,
    ActivityTimedOut,
    ChildWorkflowStarted,
    EventBody,
    ExternalSignalSent,
    MarkerRecorded,
    Payload,
    SearchAttributesUpserted,
    TimerCancelled,
    TimerStarted,
    UpdateCompleted,
)

__all__ = ["ContinueAsNew", "command_key", "describe", "is_input", "same_command", "source_line"]

_INPUT_TYPES = frozenset(
    {
        "WorkflowStarted",
        "ActivityCompleted",
        "ActivityCancelled",
        "TimerFired",
        "SignalReceived",
        "WorkflowCancelRequested",
        "ChildWorkflowStartFailed",
        "ChildWorkflowCompleted",
        "ChildWorkflowFailed",
        "ChildWorkflowCancelled",
        "ChildWorkflowTerminated",
        "ChildWorkflowTimedOut",
        "ExternalSignalDelivered",
        "ExternalSignalFailed",
        "ExternalQueryAnswered",
        "UpdateAccepted",
    }
)
_CLOSED_BY_CODE = frozenset(
    {"WorkflowCompleted", "WorkflowFailed", "WorkflowCancelled", "WorkflowContinuedAsNew"}
)
_RETRIED_OUTCOMES = frozenset({"ActivityFailed", "ActivityTimedOut"})
_KEYED_COMMANDS = frozenset(
    {
        "ActivityScheduled",
        "ActivityCancelRequested",
        "TimerStarted",
        "TimerCancelled",
        "MarkerRecorded",
        "ChildWorkflowStarted",
        "ExternalSignalSent",
        "UpdateCompleted",
        "SearchAttributesUpserted",
    }
)
# The sorting functions below look at an event's type name before testing its
# class: an isinstance test of a pydantic model costs a set lookup several times
# over, and they run for every event of every step.


class ContinueAsNew(BaseException):
    """Raised by `workflow.continue_as_new`; a BaseException so ``except Exception`` lets it by."""

    def __init__(self, payloads: tuple[Payload, ...]) -> None:
        super().__init__("continue as new")
        self.payloads = payloads


def is_input(body: EventBody) -> bool:
    """Whether the event is delivered to workflow code."""
    kind = body.type
    if kind in _RETRIED_OUTCOMES:
        assert isinstance(body, ActivityFailed | ActivityTimedOut)
        return body.retry_at is None  # a final outcome; with a retry ahead the engine handles it
    return kind in _INPUT_TYPES


def command_key(body: EventBody) -> tuple[str, object] | None:
    """The key replay matches a command by, or None when the event is not a command."""
    kind = body.type
    if kind not in _KEYED_COMMANDS:
        return ("close", 0) if kind in _CLOSED_BY_CODE else None
    if isinstance(body, ActivityScheduled):
        return ("activity", body.activity_id)
    if isinstance(body, ActivityCancelRequested):
        return ("activity-cancel", body.activity_id)
    if isinstance(body, TimerStarted):
        return ("timer", body.timer_id)
    if isinstance(body, TimerCancelled):
        return ("timer-cancel", body.timer_id)
    if isinstance(body, MarkerRecorded):
        marker_id = body.details.get("id")
        return (f"marker:{body.name}", marker_id.data if marker_id is not None else b"")
    if isinstance(body, ChildWorkflowStarted):
        return ("child", body.child_id)
    if isinstance(body, ExternalSignalSent):
        return ("signal-external", body.signal_id)
    if isinstance(body, UpdateCompleted):
        return ("update", body.update_id)
    assert isinstance(body, SearchAttributesUpserted)
    return ("search-attributes", None)  # numbered per run by the instance


def same_command(recorded: EventBody, issued: EventBody) -> bool:
    """Whether an issued command is the recorded one (same kind and identity)."""
    if recorded.type != issued.type:
        return False
    if isinstance(recorded, ActivityScheduled) and isinstance(issued, ActivityScheduled):
        return recorded.activity_type == issued.activity_type
    if isinstance(recorded, ChildWorkflowStarted) and isinstance(issued, ChildWorkflowStarted):
        return (recorded.workflow_type, recorded.workflow_id) == (
            issued.workflow_type,
            issued.workflow_id,
        )
    if isinstance(recorded, ExternalSignalSent) and isinstance(issued, ExternalSignalSent):
        return (recorded.target_workflow_id, recorded.signal_name) == (
            issued.target_workflow_id,
            issued.signal_name,
        )
    return True


_IDENTITY_FIELDS = (
    "activity_id",
    "activity_type",
    "timer_id",
    "duration",
    "name",
    "child_id",
    "workflow_id",
    "workflow_type",
    "signal_id",
    "signal_name",
    "target_workflow_id",
    "update_id",
)


def describe(body: EventBody) -> str:
    """A short readable form of an event, for nondeterminism diffs."""
    fields = [f"{name}={getattr(body, name)!r}" for name in _IDENTITY_FIELDS if hasattr(body, name)]
    return f"{body.type}({', '.join(fields)})"


_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
_ASYNCIO_DIR = os.path.dirname(os.path.abspath(sys.modules["asyncio"].__file__ or ""))
_LOOP_FILE = str(Path(__file__).resolve().with_name("loop.py"))


def source_line(frames: Iterable[FrameType] | None = None) -> str:
    """``file:line`` of the innermost frame of workflow code, for diffs; "" when there is none.

    Args:
        frames: Frames innermost first (a suspended task's stack, reversed);
            by default the caller's frame and those it was called from, up to
            the loop driving the workflow (frames below it are the engine's or
            the replayer's caller, not workflow code).
    """
    for frame in frames if frames is not None else _frames_on_the_loop(sys._getframe(1)):
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith((_PACKAGE_DIR, _ASYNCIO_DIR)):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
    return ""


def _frames_on_the_loop(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        code = frame.f_code
        if code.co_name == "run_ready" and os.path.abspath(code.co_filename) == _LOOP_FILE:
            return
        yield frame
        frame = frame.f_back
