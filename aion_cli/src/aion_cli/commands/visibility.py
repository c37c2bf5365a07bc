"""`aion list`, `aion show ID`, `aion history ID`: what the store knows, read directly.

These open the store (``--store``) for reading and need no engine running;
they append nothing. A SQLite file that does not exist is an error, not a new
empty store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import click
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from aion_cli.arguments import search_attributes
from aion_cli.connections import read_workflow, run_with_store
from aion_cli.options import json_option, store_option
from aion_cli.output import console, echo_json, format_seconds, format_time, table
from aion_cli.summary import PendingActivity, WorkflowSummary, summarize
from aion_cli.timeline import TimelineRow, timeline
from aion_core.events import Event, WorkflowStatus
from aion_core.history import history_to_json
from aion_core.plugins import Plugins
from aion_core.store import EventStore, WorkflowFilter, WorkflowRecord

__all__ = [
    "STATUS_CHOICES",
    "history_command",
    "list_command",
    "show_command",
    "statuses_named",
]

_OPEN = frozenset(status for status in WorkflowStatus if not status.is_closed)
STATUS_CHOICES = ["open", "closed", *(status.value for status in WorkflowStatus)]
"""What ``--status`` accepts: a status, or ``open`` / ``closed`` for a group of them."""


def statuses_named(chosen: Sequence[str]) -> frozenset[WorkflowStatus] | None:
    """The statuses `chosen` names (each one of `STATUS_CHOICES`); None when it names none.

    Raises:
        ValueError: A name is not one of `STATUS_CHOICES`.
    """
    if not chosen:
        return None
    statuses: set[WorkflowStatus] = set()
    for name in chosen:
        if name == "open":
            statuses |= _OPEN
        elif name == "closed":
            statuses |= set(WorkflowStatus) - _OPEN
        else:
            statuses.add(WorkflowStatus(name))
    return frozenset(statuses)


@click.command("list")
@click.option(
    "--status",
    multiple=True,
    type=click.Choice(STATUS_CHOICES),
    help="Only workflows in this status (repeatable); open: queued, running, paused or suspended.",
)
@click.option("--type", "workflow_type", metavar="TYPE", help="Only workflows of this type.")
@click.option(
    "--search",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only workflows with this search attribute (repeatable; 3 and true match as JSON).",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most N rows."
)
@store_option
@json_option
@click.pass_obj
def list_command(
    plugins: Plugins,
    status: tuple[str, ...],
    workflow_type: str | None,
    search: tuple[str, ...],
    limit: int,
    store: str | None,
    as_json: bool,
) -> None:
    """List workflows in the store, newest start first.

    Each row is a workflow's latest run. With --json, a list of visibility
    records.
    """
    query = WorkflowFilter(
        statuses=statuses_named(status),
        workflow_type=workflow_type,
        search_attributes=search_attributes(search),
        limit=limit,
    )

    async def read(opened: EventStore) -> tuple[list[WorkflowRecord], int]:
        return await opened.list_workflows(query), await opened.count_workflows(query)

    records, total = run_with_store(plugins, store, read)
    if as_json:
        echo_json([record.model_dump(mode="json") for record in records])
        return
    listing = table("workflow id", "type", "status", "started", "closed", "task queue")
    for record in records:
        listing.add_row(
            record.workflow_id,
            record.workflow_type,
            record.status.value,
            format_time(record.start_time),
            format_time(record.close_time),
            record.task_queue,
        )
    out = console()
    out.print(listing)
    shown = f"{len(records)} of {total}" if total > len(records) else f"{total}"
    out.print(f"{shown} workflow{'' if total == 1 else 's'}", style="dim")


@click.command("show")
@click.argument("workflow_id")
@click.option(
    "--events",
    "last_events",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Show the last N events of the timeline (0: all of them).",
)
@store_option
@json_option
@click.pass_obj
def show_command(
    plugins: Plugins, workflow_id: str, last_events: int, store: str | None, as_json: bool
) -> None:
    """Show a workflow: status, times, pending work, errors, timeline.

    Prints WORKFLOW_ID's status, type, run and times, then the pending
    activities and timers, the children and the last error of its latest run,
    and a readable timeline. With --json, all of it (the whole timeline) as one
    object.
    """

    async def read(opened: EventStore) -> WorkflowSummary:
        return summarize(*await read_workflow(opened, workflow_id))

    summary = run_with_store(plugins, store, read)
    if as_json:
        echo_json(summary)
        return
    _print_summary(summary, last_events)


def _print_summary(summary: WorkflowSummary, last_events: int) -> None:
    record = summary.workflow
    out = console()
    out.print(
        Text.assemble(
            (record.workflow_id, "bold"), "  ", record.workflow_type, "  ", _status(record.status)
        )
    )
    facts = table("", "")
    facts.show_header = False
    facts.add_row("run", f"{record.run_id} (run {summary.runs} of this id)")
    facts.add_row("task queue", record.task_queue)
    facts.add_row("started", format_time(record.start_time))
    if record.close_time is not None:
        took = format_seconds((record.close_time - record.start_time).total_seconds())
        facts.add_row("closed", f"{format_time(record.close_time)} (after {took})")
    facts.add_row("updated", f"{format_time(record.updated_at)} (event {record.last_seq})")
    if record.parent_workflow_id is not None:
        facts.add_row("parent", f"{record.parent_workflow_id} (run {record.parent_run_id})")
    for key, value in sorted(record.search_attributes.items()):
        facts.add_row(f"search {key}", repr(value))
    out.print(facts)
    if summary.pending_activities:
        activities = table("#", "activity", "queue", "state", "attempt", "detail")
        for activity in summary.pending_activities:
            activities.add_row(
                str(activity.activity_id), activity.activity_type, activity.task_queue,
                activity.state, str(activity.attempt), _activity_detail(activity),
            )  # fmt: skip
        _section(out, "Pending activities", activities)
    if summary.pending_timers:
        now = datetime.now(UTC)
        timers = table("#", "fires at", "in")
        for timer in summary.pending_timers:
            left = format_seconds((timer.fire_at - now).total_seconds())
            timers.add_row(str(timer.timer_id), format_time(timer.fire_at), left)
        _section(out, "Pending timers", timers)
    if summary.children:
        children = table("#", "child workflow", "type", "status")
        for child in summary.children:
            children.add_row(
                str(child.child_id), child.workflow_id, child.workflow_type, child.status
            )
        _section(out, "Children", children)
    if (error := summary.last_error) is not None:
        where = f"event {error.seq}, {error.event_type}, {format_time(error.recorded_at)}"
        _section(out, "Last error", Text(f"{error.type}: {error.message}\n({where})"))
    rows = summary.timeline[-last_events:] if last_events else summary.timeline
    title = "Timeline"
    if len(rows) < len(summary.timeline):
        title += f" (last {len(rows)} of {len(summary.timeline)} events; aion history shows all)"
    _section(out, title, _timeline_table(rows))


def _section(out: Console, title: str, body: RenderableType) -> None:
    out.print()
    out.print(Text(title, style="bold"))
    out.print(body)


def _activity_detail(activity: PendingActivity) -> str:
    if activity.state == "retrying":
        return f"next attempt at {format_time(activity.retry_at)}; last: {activity.last_failure}"
    worker = f" on {activity.worker}" if activity.worker else ""
    return f"since {format_time(activity.since)}{worker}"


def _status(status: WorkflowStatus) -> Text:
    colour = {
        WorkflowStatus.COMPLETED: "green",
        WorkflowStatus.RUNNING: "cyan",
        WorkflowStatus.PAUSED: "yellow",
        WorkflowStatus.SUSPENDED: "yellow",
        WorkflowStatus.CONTINUED_AS_NEW: "cyan",
    }.get(status, "red")
    return Text(status.value, style=f"bold {colour}")


def _timeline_table(rows: list[TimelineRow]) -> Table:
    events = table("seq", "recorded at", "+s", "event", "detail")
    for row in rows:
        events.add_row(
            str(row.seq), format_time(row.recorded_at), f"{row.offset:.3f}", row.type, row.detail
        )
    return events


@click.command("history")
@click.argument("workflow_id")
@store_option
@json_option
@click.pass_obj
def history_command(plugins: Plugins, workflow_id: str, store: str | None, as_json: bool) -> None:
    """Print every event WORKFLOW_ID recorded, as a timeline.

    With --json, the versioned history document (docs/history-format.md) that
    aion replay --file and aion_core.testing.Replayer read.
    """

    async def read(opened: EventStore) -> list[Event]:
        return (await read_workflow(opened, workflow_id))[1]

    events = run_with_store(plugins, store, read)
    if as_json:
        click.echo(history_to_json(events, indent=2))
        return
    console().print(_timeline_table(timeline(events)))
