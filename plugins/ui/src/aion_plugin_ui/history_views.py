"""A workflow as the detail page shows it: summary, outcome, timeline, pending work, children.

The facts come from aion_cli's `summarize` (the same pending activities,
timers, children and last error `aion show` prints), computed on the history
with its payloads decoded, so the console and the CLI never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aion_cli.connections import read_workflow
from aion_cli.output import format_seconds, format_time
from aion_cli.summary import ChildSummary, WorkflowSummary, summarize
from aion_core.events import (
    Event,
    Failure,
    WorkflowCancelled,
    WorkflowCompleted,
    WorkflowContinuedAsNew,
    WorkflowFailed,
    WorkflowSuspended,
    WorkflowTerminated,
    WorkflowTimedOut,
)
from aion_core.store import EventStore, WorkflowRecord

from aion_plugin_ui.payloads import PayloadDecoder, PayloadView, payload_fields, view_payload

__all__ = [
    "ChildNode",
    "EventView",
    "Outcome",
    "WorkflowDetail",
    "event_kind",
    "read_detail",
]

MAX_CHILD_DEPTH = 4
"""How deep the children tree goes; deeper descendants are a link away."""
MAX_CHILDREN = 200
"""How many descendants the tree reads from the store at most, for one page."""


@dataclass(frozen=True)
class EventView:
    """One event of the timeline.

    Attributes:
        seq: Its seq.
        recorded_at: When it was recorded, in UTC, for people.
        offset: Time since the first event, for people.
        type: The event type.
        detail: What it means, in a few words (as `aion show` says it).
        kind: Its family, for colour: start, good, bad, activity, timer, input, child, other.
        payloads: Its payloads, to expand.
        stack_trace: The stack trace of a recorded failure, if any.
    """

    seq: int
    recorded_at: str
    offset: str
    type: str
    detail: str
    kind: str
    payloads: list[PayloadView]
    stack_trace: str = ""


@dataclass(frozen=True)
class Outcome:
    """How the latest run ended: its result, its failure, or what closed it.

    Attributes:
        title: What happened, in a few words.
        good: Whether it completed.
        result: The result, when it completed.
        message: The failure or reason, when there is one.
        stack_trace: The failure's stack trace, if recorded.
    """

    title: str
    good: bool
    result: PayloadView | None = None
    message: str = ""
    stack_trace: str = ""


@dataclass(frozen=True)
class ChildNode:
    """A child workflow, how it stands now, and its own children.

    Attributes:
        child: What the parent's history says of it.
        status: Its status in the store now (the parent's view when the store has no row).
        children: Its own children, as far as the tree goes.
        unexplored: Whether the tree stops here (too deep or too many): its own page
            shows its children.
    """

    child: ChildSummary
    status: str
    children: list[ChildNode] = field(default_factory=list)
    unexplored: bool = False


@dataclass(frozen=True)
class WorkflowDetail:
    """Everything the detail page shows about one workflow."""

    record: WorkflowRecord
    summary: WorkflowSummary
    events: list[EventView]
    outcome: Outcome | None
    children: list[ChildNode]
    undecoded: int
    """Events whose payloads stayed encoded (no key, unknown key)."""

    @property
    def took(self) -> str:
        """How long the latest run took, once closed."""
        if self.record.close_time is None:
            return ""
        return format_seconds((self.record.close_time - self.record.start_time).total_seconds())


_KINDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Timer",), "timer"),  # a timer cancelled or fired is routine, never a failure
    (("Failed", "TimedOut", "Terminated", "Suspended", "Cancelled"), "bad"),
    (("WorkflowCompleted", "ChildWorkflowCompleted"), "good"),
    (("WorkflowStarted", "WorkflowContinuedAsNew", "WorkflowReopened"), "start"),
    (("Activity",), "activity"),
    (("Signal", "Update", "Query", "CancelRequested", "Paused", "Resumed"), "input"),
    (("Child",), "child"),
)


def event_kind(event_type: str) -> str:
    """The family of an event type, which the timeline colours it by."""
    for needles, kind in _KINDS:
        if any(needle in event_type for needle in needles):
            return kind
    return "other"


def _stack_trace(event: Event) -> str:
    failure = getattr(event.body, "failure", None)
    return failure.stack_trace if isinstance(failure, Failure) else ""


def _outcome(events: Sequence[Event]) -> Outcome | None:
    """How the last run closed, from its closing event (None while it is open)."""
    if not events:
        return None
    body = events[-1].body
    if isinstance(body, WorkflowCompleted):
        return Outcome("completed", True, result=view_payload("result", body.result))
    if isinstance(body, WorkflowFailed | WorkflowSuspended):
        failure = body.failure
        title = "failed" if isinstance(body, WorkflowFailed) else "suspended"
        return Outcome(
            title, False, message=f"{failure.type}: {failure.message}",
            stack_trace=failure.stack_trace,
        )  # fmt: skip
    if isinstance(body, WorkflowCancelled):
        return Outcome("cancelled", False, message=body.message)
    if isinstance(body, WorkflowTerminated):
        return Outcome("terminated", False, message=body.reason)
    if isinstance(body, WorkflowTimedOut):
        limit = format_seconds(body.execution_timeout.total_seconds())
        return Outcome("timed out", False, message=f"execution timeout {limit}")
    if isinstance(body, WorkflowContinuedAsNew):
        return Outcome("continued as new", True, message=f"new run {body.new_run_id}")
    return None


def event_views(summary: WorkflowSummary, events: Sequence[Event]) -> list[EventView]:
    """The timeline rows of `summary` with each event's payloads to expand."""
    return [
        EventView(
            seq=row.seq,
            recorded_at=format_time(row.recorded_at),
            offset=f"+{format_seconds(row.offset)}",
            type=row.type,
            detail=row.detail,
            kind=event_kind(row.type),
            payloads=[view_payload(label, p) for label, p in payload_fields(event.body)],
            stack_trace=_stack_trace(event),
        )
        for row, event in zip(summary.timeline, events, strict=True)
    ]


async def _child_nodes(
    store: EventStore, children: Sequence[ChildSummary], depth: int, budget: list[int]
) -> list[ChildNode]:
    """`children` with their status now and, while depth and budget last, their children."""
    nodes: list[ChildNode] = []
    for child in children:
        record = await store.get_workflow(child.workflow_id)
        status = record.status.value if record is not None else child.status
        if record is None:
            nodes.append(ChildNode(child, status))
        elif depth >= MAX_CHILD_DEPTH or budget[0] <= 0:
            nodes.append(ChildNode(child, status, unexplored=True))
        else:
            found = summarize(record, await store.read_events(child.workflow_id)).children
            budget[0] -= len(found)
            grandchildren = await _child_nodes(store, found, depth + 1, budget)
            nodes.append(ChildNode(child, status, grandchildren))
    return nodes


async def read_detail(
    store: EventStore, decoder: PayloadDecoder, workflow_id: str
) -> WorkflowDetail:
    """The detail of `workflow_id`, read from `store`, payloads decoded where possible.

    Raises:
        WorkflowNotFoundError: The store has no such workflow.
    """
    record, stored = await read_workflow(store, workflow_id)
    events, undecoded = await decoder.decode_all(stored)
    summary = summarize(record, events)
    children = await _child_nodes(store, summary.children, 1, [MAX_CHILDREN])
    return WorkflowDetail(
        record=record,
        summary=summary,
        events=event_views(summary, events),
        outcome=_outcome(events) if record.status.is_closed else None,
        children=children,
        undecoded=undecoded,
    )
