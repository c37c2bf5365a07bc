"""`aion schedule create|list|describe|pause|resume|trigger|delete`: schedules on the engines.

A schedule is a durable workflow the engine nodes run, so these commands go
through the transport (``--transport nats://...``), like `aion signal`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast, get_args

import click
from rich.text import Text

from aion_cli.arguments import json_arguments, parse_duration
from aion_cli.connections import run_with_client
from aion_cli.groups import InOrderGroup
from aion_cli.loading import workflow_or_name
from aion_cli.options import client_options, input_option, json_option
from aion_cli.output import console, echo_json, format_seconds, format_time, table
from aion_cli.schedules import (
    create_schedule,
    describe_schedule,
    list_schedules,
    signal_schedule,
)
from aion_core import Client
from aion_core.definitions import workflow_definition
from aion_core.plugins import Plugins
from aion_core.schedules.spec import CatchupPolicy, OverlapPolicy, ScheduleDescription

__all__ = ["schedule_group"]

_OVERLAP = click.Choice(get_args(OverlapPolicy))
_CATCHUP = click.Choice(get_args(CatchupPolicy))


@click.group("schedule", cls=InOrderGroup)
def schedule_group() -> None:
    """Create, list, describe, pause, trigger or delete schedules.

    A schedule starts a workflow at every fire time of a cron expression (read
    in a time zone) or a fixed interval, by itself, on the engine nodes; these
    commands reach them through --transport.
    """


@schedule_group.command("create")
@click.argument("schedule_id")
@click.argument("workflow")
@input_option
@click.option("--cron", metavar="EXPR", help="A 5-field cron expression, e.g. '30 2 * * *'.")
@click.option(
    "--every", metavar="DURATION", help="A fixed interval instead, e.g. 30s, 15m, 1h, 1d."
)
@click.option(
    "--time-zone",
    default="UTC",
    show_default=True,
    help="The IANA time zone the cron is read in, e.g. Europe/Berlin.",
)
@click.option(
    "--overlap",
    type=_OVERLAP,
    default="skip",
    show_default=True,
    help="What a fire does while the previous run is still open.",
)
@click.option(
    "--catchup",
    type=_CATCHUP,
    default="latest",
    show_default=True,
    help="Which fire times missed while no engine ran are run afterwards.",
)
@click.option("--task-queue", help="The task queue of the runs it starts.")
@client_options
@click.pass_obj
def create_command(
    plugins: Plugins,
    schedule_id: str,
    workflow: str,
    raw_input: str | None,
    cron: str | None,
    every: str | None,
    time_zone: str,
    overlap: str,
    catchup: str,
    task_queue: str | None,
    transport: str,
    namespace: str | None,
    timeout: float,
) -> None:
    """Create SCHEDULE_ID, which starts WORKFLOW with --input at every fire time.

    Give exactly one of --cron and --every. WORKFLOW is a workflow type name
    (the engine checks the input when the schedule fires) or MODULE:NAME (the
    input is checked here first). Runs get ids SCHEDULE_ID-<fire time>.
    """
    target = workflow_or_name(workflow)
    arguments = json_arguments(raw_input)
    interval = parse_duration(every) if every is not None else None

    async def create(client: Client) -> None:
        await create_schedule(
            client, schedule_id, target, arguments, cron=cron, every=interval,
            time_zone=time_zone, overlap=cast(OverlapPolicy, overlap),
            catchup=cast(CatchupPolicy, catchup), task_queue=task_queue,
        )  # fmt: skip

    run_with_client(plugins, transport, namespace, timeout, create)
    name = target if isinstance(target, str) else workflow_definition(target).name
    click.echo(f"schedule {schedule_id} created: starts {name} {_rule(cron, every, time_zone)}")


@schedule_group.command("list")
@client_options
@json_option
@click.pass_obj
def list_command(
    plugins: Plugins, transport: str, namespace: str | None, timeout: float, as_json: bool
) -> None:
    """List every schedule that is not deleted, by id, with its next fire time."""
    schedules = run_with_client(plugins, transport, namespace, timeout, list_schedules)
    if as_json:
        echo_json([schedule.model_dump(mode="json") for schedule in schedules])
        return
    listing = table("schedule", "workflow", "when", "next fire", "state", "started", "skipped")
    for schedule in schedules:
        listing.add_row(
            schedule.schedule_id, schedule.workflow_type, _when(schedule),
            format_time(schedule.next_fire_at), _state(schedule),
            str(schedule.started_count), str(schedule.skipped_count),
        )  # fmt: skip
    out = console()
    out.print(listing)
    out.print(f"{len(schedules)} schedule{'' if len(schedules) == 1 else 's'}", style="dim")


@schedule_group.command("describe")
@click.argument("schedule_id")
@client_options
@json_option
@click.pass_obj
def describe_command(
    plugins: Plugins,
    schedule_id: str,
    transport: str,
    namespace: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Show SCHEDULE_ID: its rule, policies, state, next fire time and recent runs."""

    async def describe(client: Client) -> ScheduleDescription:
        return await describe_schedule(client, schedule_id)

    schedule = run_with_client(plugins, transport, namespace, timeout, describe)
    if as_json:
        echo_json(schedule)
        return
    out = console()
    out.print(Text.assemble((schedule.schedule_id, "bold"), "  ", _state(schedule)))
    facts = table("", "")
    facts.show_header = False
    facts.add_row("starts", f"{schedule.workflow_type} on task queue {schedule.task_queue}")
    facts.add_row("when", _when(schedule))
    facts.add_row("policies", f"overlap {schedule.overlap}, catch-up {schedule.catchup}")
    if schedule.next_fire_at is not None:
        left = format_seconds((schedule.next_fire_at - datetime.now(UTC)).total_seconds())
        facts.add_row("next fire", f"{format_time(schedule.next_fire_at)} (in {left})")
    if schedule.buffered_fire_at is not None:
        facts.add_row("buffered", format_time(schedule.buffered_fire_at))
    facts.add_row("created", format_time(schedule.created_at))
    facts.add_row("runs", f"{schedule.started_count} started, {schedule.skipped_count} skipped")
    out.print(facts)
    if schedule.recent_runs:
        runs = table("fire time", "outcome", "workflow id", "how", "error")
        for run in schedule.recent_runs:
            runs.add_row(
                format_time(run.fire_at), run.outcome, run.workflow_id or "",
                "triggered" if run.manual else "on time", run.error,
            )  # fmt: skip
        out.print()
        out.print(Text("Recent runs", style="bold"))
        out.print(runs)


def _signal_command(
    command: str, done: str, help: str, option: Callable[[Any], Any] | None = None
) -> click.Command:
    """``aion schedule COMMAND SCHEDULE_ID [OPTION]``, sending the schedule workflow that signal.

    The value of `option`, if given, is the signal's argument.
    """

    @schedule_group.command(command, help=help)
    @click.argument("schedule_id")
    @client_options
    @click.pass_obj
    def signal(
        plugins: Plugins,
        /,
        schedule_id: str,
        transport: str,
        namespace: str | None,
        timeout: float,
        **options: Any,
    ) -> None:
        arguments = list(options.values())

        async def send(client: Client) -> None:
            await signal_schedule(client, schedule_id, command, *arguments)

        run_with_client(plugins, transport, namespace, timeout, send)
        click.echo(f"schedule {schedule_id}: {done}")

    if option is not None:
        option(signal)
    return signal


_note = click.option("--note", default="", help="Why, shown by aion schedule describe.")

pause_command = _signal_command(
    "pause", "paused", "Stop SCHEDULE_ID firing until resumed (a trigger still fires).", _note
)
resume_command = _signal_command(
    "resume",
    "resumed",
    "Let SCHEDULE_ID fire again; fire times missed while paused are not caught up.",
    _note,
)
trigger_command = _signal_command(
    "trigger",
    "triggered",
    "Fire SCHEDULE_ID now, even while paused.",
    click.option(
        "--overlap", type=_OVERLAP, default=None, help="Overlap policy (default: the schedule's)."
    ),
)
delete_command = _signal_command(
    "delete",
    "deleted",
    "Delete SCHEDULE_ID and wait until it has ended; runs it started keep running.",
)


def _rule(cron: str | None, every: str | None, time_zone: str) -> str:
    return f"at '{cron}' ({time_zone})" if cron is not None else f"every {every}"


def _when(schedule: ScheduleDescription) -> str:
    if schedule.cron is not None:
        return f"cron '{schedule.cron}' in {schedule.time_zone}"
    assert schedule.every is not None
    return f"every {format_seconds(schedule.every.total_seconds())}"


def _state(schedule: ScheduleDescription) -> str:
    if not schedule.paused:
        return "active"
    return f"paused: {schedule.note}" if schedule.note else "paused"
