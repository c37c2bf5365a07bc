"""`aion run MODULE:WORKFLOW`: run one workflow to completion in this process."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from aion_cli.arguments import json_arguments
from aion_cli.config import config_of
from aion_cli.connections import store_url
from aion_cli.loading import definitions_in, import_workflow
from aion_cli.options import input_option, max_payload_option, store_option
from aion_cli.output import echo_value, failure_message
from aion_core import Engine, WorkflowFailureError
from aion_core.plugins import Plugins

__all__ = ["run_command"]


@click.command("run")
@click.argument("target", metavar="MODULE:WORKFLOW")
@input_option
@click.option("--id", "workflow_id", help="The workflow id (default: random).")
@store_option
@max_payload_option
@click.pass_obj
def run_command(
    plugins: Plugins,
    target: str,
    raw_input: str | None,
    workflow_id: str | None,
    store: str | None,
    max_payload_bytes: int,
) -> None:
    """Run a workflow to completion here and print its result as JSON.

    The engine runs the workflows and activities of MODULE; the history is kept
    in the store, so `aion show ID` and `aion history ID` look at it afterwards.
    """
    workflow, module = import_workflow(target)
    workflows, activities = definitions_in([module])
    arguments = json_arguments(raw_input)
    url = store_url(plugins, store)
    queues = config_of(click.get_current_context()).queues

    async def run() -> Any:
        async with Engine(
            url, workflows=workflows, activities=activities, plugins=plugins,
            max_payload_bytes=max_payload_bytes, queues=queues,
        ) as engine:  # fmt: skip
            return await engine.execute_workflow(workflow, *arguments, id=workflow_id)

    try:
        result = asyncio.run(run())
    except WorkflowFailureError as failure:
        raise click.ClickException(failure_message(failure)) from None
    echo_value(result)
