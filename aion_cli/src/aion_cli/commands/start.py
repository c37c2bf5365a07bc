"""`aion start` and `aion result`: start a workflow on the engine nodes, wait for its result."""

from __future__ import annotations

from typing import Any, cast

import click

from aion_cli.arguments import json_arguments, parse_duration, search_attributes
from aion_cli.connections import run_with_client
from aion_cli.loading import workflow_or_name
from aion_cli.options import (
    client_options,
    input_option,
    json_option,
    namespace_option,
    transport_option,
)
from aion_cli.output import echo_json, echo_value, failure_message
from aion_core import Client, WorkflowFailureError, WorkflowHandle
from aion_core.definitions import workflow_definition
from aion_core.errors import ConfigurationError
from aion_core.operations import IdConflictPolicy
from aion_core.plugins import Plugins

__all__ = ["result_command", "start_command"]


@click.command("start")
@click.argument("workflow")
@input_option
@click.option("--id", "workflow_id", help="The workflow id (default: random).")
@click.option("--task-queue", help="Task queue of the workflow and default of its activities.")
@click.option(
    "--id-conflict",
    type=click.Choice(["fail", "use_existing", "terminate_existing"]),
    default="fail",
    show_default=True,
    help="What to do when a run with this id is open.",
)
@click.option(
    "--search",
    "search",
    multiple=True,
    metavar="KEY=VALUE",
    help="A search attribute to find it by with aion list --search (repeatable).",
)
@click.option(
    "--execution-timeout",
    metavar="DURATION",
    help="Longest a run may stay open, e.g. 90s, 30m, 2h, 1d; then it times out.",
)
@click.option(
    "--priority",
    type=int,
    default=0,
    show_default=True,
    help="On a flow-controlled task queue: higher leaves the queue first.",
)
@click.option(
    "--partition-key",
    metavar="KEY",
    help="On a flow-controlled task queue: runs sharing it share its partition_concurrency.",
)
@click.option(
    "--dedup-id",
    metavar="ID",
    help="Refused (exit 1) while an open run of the task queue holds it; with "
    "--id-conflict use_existing, prints that run instead.",
)
@click.option(
    "--debounce",
    metavar="DURATION",
    help="Collapse starts of this --id within DURATION into one run with the last input.",
)
@client_options
@json_option
@click.pass_obj
def start_command(
    plugins: Plugins,
    workflow: str,
    raw_input: str | None,
    workflow_id: str | None,
    task_queue: str | None,
    id_conflict: str,
    search: tuple[str, ...],
    execution_timeout: str | None,
    priority: int,
    partition_key: str | None,
    dedup_id: str | None,
    debounce: str | None,
    transport: str,
    namespace: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Start a workflow on the engine nodes and print its id.

    It does not wait for the result: aion result ID does.

    WORKFLOW is a workflow type name (the engine that runs it checks the input)
    or MODULE:NAME (the input is checked here first, against the run method's
    type hints).
    """
    target = workflow_or_name(workflow)
    type_name = target if isinstance(target, str) else workflow_definition(target).name
    arguments = json_arguments(raw_input)
    if workflow_id is not None and not workflow_id.strip():
        raise click.BadParameter("a workflow id must not be empty", param_hint="--id")
    attributes = search_attributes(search)
    limit = parse_duration(execution_timeout) if execution_timeout is not None else None
    window = parse_duration(debounce) if debounce is not None else None
    if window is not None and workflow_id is None:
        raise click.BadParameter("a debounced start needs --id", param_hint="--debounce")

    async def start(client: Client) -> WorkflowHandle:
        try:
            return await client.start_workflow(
                target, *arguments, id=workflow_id, task_queue=task_queue,
                id_conflict=cast(IdConflictPolicy, id_conflict),
                search_attributes=attributes, execution_timeout=limit, priority=priority,
                partition_key=partition_key, dedup_id=dedup_id, debounce=window,
            )  # fmt: skip
        except ConfigurationError as refused:
            # Everything this side checks was checked above: the engine refused the
            # workflow type (not registered there), which is not a usage mistake here.
            raise click.ClickException(str(refused)) from None

    handle = run_with_client(plugins, transport, namespace, timeout, start)
    if as_json:
        echo_json(
            {"workflow_id": handle.workflow_id, "run_id": handle.run_id, "workflow_type": type_name}
        )
    else:
        click.echo(f"started {type_name} as {handle.workflow_id} (run {handle.run_id})")


@click.command("result")
@click.argument("workflow_id")
@transport_option
@namespace_option
@click.pass_obj
def result_command(
    plugins: Plugins, workflow_id: str, transport: str, namespace: str | None
) -> None:
    """Wait until WORKFLOW_ID closes and print its result as JSON.

    Follows continue-as-new to the last run. A workflow that failed, was
    cancelled, terminated or timed out prints why and exits with code 1.
    """

    async def result(client: Client) -> Any:
        try:
            return await client.get_handle(workflow_id).result()
        except WorkflowFailureError as failure:
            raise click.ClickException(failure_message(failure)) from None

    echo_value(run_with_client(plugins, transport, namespace, 30.0, result))
