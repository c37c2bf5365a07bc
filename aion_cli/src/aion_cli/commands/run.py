"""`aion run MODULE:WORKFLOW`: run one workflow to completion in this process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
from pydantic_core import to_json

from aion_cli.exit_codes import DOMAIN_FAILURE
from aion_cli.loading import definitions_in, import_module
from aion_cli.options import store_option
from aion_core import Engine, WorkflowFailureError
from aion_core.definitions import DEFINITION_ATTRIBUTE, WorkflowDefinition
from aion_core.engine import default_store_url
from aion_core.plugins import Plugins

__all__ = ["run_command"]


def _load(target: str) -> tuple[Any, list[Any], list[Any]]:
    """The workflow named by MODULE:NAME, and every workflow and activity of that module."""
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise click.BadParameter("expected MODULE:WORKFLOW, for example myapp.flows:Checkout")
    module = import_module(module_name)
    workflow = getattr(module, name, None)
    if not isinstance(getattr(workflow, DEFINITION_ATTRIBUTE, None), WorkflowDefinition):
        raise click.BadParameter(f"{target} is not a @workflow.defn workflow")
    workflows, activities = definitions_in([module])
    return workflow, workflows, activities


def _arguments(raw: str | None) -> list[Any]:
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise click.BadParameter(f"--input is not valid JSON: {error}") from None
    # A JSON array is the argument list; anything else is the single argument.
    return value if isinstance(value, list) else [value]


@click.command("run")
@click.argument("target", metavar="MODULE:WORKFLOW")
@click.option(
    "--input",
    "raw_input",
    metavar="JSON",
    help="The input: a JSON array of arguments, or one JSON value.",
)
@click.option("--id", "workflow_id", help="The workflow id (default: random).")
@store_option
@click.pass_obj
def run_command(
    plugins: Plugins, target: str, raw_input: str | None, workflow_id: str | None, store: str | None
) -> None:
    """Run a workflow to completion in this process and print its result as JSON."""
    workflow, workflows, activities = _load(target)
    arguments = _arguments(raw_input)
    url = store or default_store_url(plugins)

    async def run() -> Any:
        async with Engine(
            url, workflows=workflows, activities=activities, plugins=plugins
        ) as engine:
            return await engine.execute_workflow(workflow, *arguments, id=workflow_id)

    try:
        result = asyncio.run(run())
    except WorkflowFailureError as failure:
        cause = failure.__cause__
        click.echo(f"aion: {failure}" + (f" ({cause})" if cause else ""), err=True)
        raise SystemExit(DOMAIN_FAILURE) from None
    click.echo(to_json(result).decode())
