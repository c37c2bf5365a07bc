"""`aion watch ID`: follow a workflow's events live, through the transport, until it closes."""

from __future__ import annotations

import asyncio

import click
from pydantic_core import to_json

from aion_cli.connections import connect_client
from aion_cli.options import client_options, json_option
from aion_cli.timeline import describe_event
from aion_core.events import CLOSING_EVENT_TYPES, WorkflowContinuedAsNew
from aion_core.plugins import Plugins

__all__ = ["watch_command"]


@click.command("watch")
@click.argument("workflow_id")
@client_options
@json_option
@click.pass_obj
def watch_command(
    plugins: Plugins,
    workflow_id: str,
    transport: str,
    namespace: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Print WORKFLOW_ID's events live, until its last run closes.

    Events recorded before the command started are not repeated (aion history
    shows them). With --json, each event is one line of JSON. Needs a transport
    the engines share, such as nats://host:4222?namespace=NS.
    """

    async def watch() -> None:
        async with connect_client(plugins, transport, namespace, timeout) as client:
            record = await client.describe(workflow_id)  # WorkflowNotFoundError: exit 1
            click.echo(f"watching {workflow_id} ({record.workflow_type}, {record.status.value})")
            if record.status.is_closed and record.status.value != "continued_as_new":
                return
            async for event in client.events(workflow_id):
                if as_json:
                    click.echo(to_json(event).decode())
                else:
                    line = f"{event.seq:>5}  {event.recorded_at:%H:%M:%S.%f}  {event.type:<24} "
                    click.echo(line + describe_event(event))
                closing = event.type in CLOSING_EVENT_TYPES
                if closing and not isinstance(event.body, WorkflowContinuedAsNew):
                    return

    asyncio.run(watch())
