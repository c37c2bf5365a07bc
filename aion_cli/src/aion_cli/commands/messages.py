"""`aion signal`, `aion query`, `aion update`: talk to a running workflow by handler name.

Arguments are plain JSON (``--input``), checked by the engine that runs the
workflow against the handler's type hints.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import click

from aion_cli.arguments import json_arguments
from aion_cli.connections import run_with_client
from aion_cli.options import client_options, input_option
from aion_cli.output import echo_value
from aion_core import Client
from aion_core.plugins import Plugins

__all__ = ["query_command", "signal_command", "update_command"]

Send = Callable[[Client, str, str, list[Any], float], Awaitable[Any]]


def _handler_command(verb: str, send: Send, help: str) -> click.Command:
    """A command ``aion VERB WORKFLOW_ID NAME [--input JSON]`` that calls `send`."""

    @click.command(verb, help=help)
    @click.argument("workflow_id")
    @click.argument("name")
    @input_option
    @client_options
    @click.pass_obj
    def command(
        plugins: Plugins,
        workflow_id: str,
        name: str,
        raw_input: str | None,
        transport: str,
        namespace: str | None,
        timeout: float,
    ) -> None:
        arguments = json_arguments(raw_input)

        async def call(client: Client) -> Any:
            return await send(client, workflow_id, name, arguments, timeout)

        value = run_with_client(plugins, transport, namespace, timeout, call)
        if verb == "signal":
            click.echo(f"signal {name} recorded for {workflow_id}")
        else:
            echo_value(value)

    return command


async def _signal(client: Client, workflow_id: str, name: str, args: list[Any], _: float) -> None:
    await client.signal(workflow_id, name, *args)


async def _query(
    client: Client, workflow_id: str, name: str, args: list[Any], timeout: float
) -> Any:
    return await client.query(workflow_id, name, *args, timeout=timedelta(seconds=timeout))


async def _update(client: Client, workflow_id: str, name: str, args: list[Any], _: float) -> Any:
    return await client.execute_update(workflow_id, name, *args)


signal_command = _handler_command(
    "signal",
    _signal,
    """Send signal NAME to WORKFLOW_ID; returns once it is recorded.

    The workflow receives signals in order, once it has a handler for NAME. A
    signal to an unknown id or to a closed run is refused and records nothing.
    """,
)
query_command = _handler_command(
    "query",
    _query,
    """Ask WORKFLOW_ID the query NAME and print the answer as JSON.

    A query never records anything; a closed workflow answers from its final state.
    """,
)
update_command = _handler_command(
    "update",
    _update,
    """Run update NAME on WORKFLOW_ID and print its value as JSON.

    Its validator runs first: a rejected update records nothing. A rejected update,
    or one whose handler raises, exits with code 1.
    """,
)
