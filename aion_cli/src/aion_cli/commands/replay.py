"""`aion replay (ID... | --all | --file FILE...) --module M`: check histories against current code.

Replay runs the workflow code against a recorded history without executing
anything (no activity, no timer, nothing written) and fails where the code
no longer issues what the history recorded: the check to run before
deploying a change to workflows that have open runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from aion_cli.connections import read_store, read_workflow
from aion_cli.exit_codes import DOMAIN_FAILURE
from aion_cli.loading import definitions_in, import_module
from aion_cli.options import store_option
from aion_cli.output import console
from aion_core.definitions import workflow_definition
from aion_core.errors import AionError, CorruptHistoryError, NondeterminismError
from aion_core.events import Event
from aion_core.history import history_from_json
from aion_core.plugins import Plugins
from aion_core.schedules.workflow import ScheduleWorkflow
from aion_core.store import EventStore, WorkflowFilter
from aion_core.testing import Replayer

__all__ = ["replay_command"]


@click.command("replay")
@click.argument("workflow_ids", nargs=-1, metavar="[ID]...")
@click.option(
    "--all",
    "replay_all",
    is_flag=True,
    help="Every workflow in the store of a type MODULE defines.",
)
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A history document, as aion history ID --json writes it (repeatable).",
)
@click.option(
    "--module",
    "-m",
    "modules",
    multiple=True,
    required=True,
    metavar="MODULE",
    help="Import the workflows to check from MODULE (repeatable).",
)
@store_option
@click.pass_obj
def replay_command(
    plugins: Plugins,
    workflow_ids: tuple[str, ...],
    replay_all: bool,
    files: tuple[Path, ...],
    modules: tuple[str, ...],
    store: str | None,
) -> None:
    """Check recorded histories against the current workflow code.

    Give workflow IDs (read from the store), --all (every workflow in the
    store whose type MODULE defines, with a progress bar) or --file. Nothing
    runs and nothing is written. At the first history the code no longer
    reproduces, prints where they part and exits with code 1.
    """
    if sum((bool(workflow_ids), replay_all, bool(files))) != 1:
        raise click.UsageError("give workflow IDs, --all or --file (one of them)")
    workflows, _ = definitions_in([import_module(name) for name in modules])
    if not workflows:
        raise click.BadParameter(f"no @workflow.defn found in {', '.join(modules)}")
    # Schedules are workflows every engine runs: their histories replay too.
    replayer = Replayer(workflows=[*workflows, ScheduleWorkflow])
    known = {workflow_definition(w).name for w in (*workflows, ScheduleWorkflow)}

    skipped: dict[str, int] = {}
    try:
        if files:
            for path in files:
                _replay_one(replayer, str(path), history_from_json(path.read_bytes()))
            checked = len(files)
        else:
            checked, skipped = asyncio.run(
                _replay_stored(plugins, store, replayer, known, workflow_ids, replay_all)
            )
    except _Diverged as diverged:
        _print_divergence(diverged.name, diverged.error)
        click.get_current_context().exit(DOMAIN_FAILURE)
    noun = "history" if checked == 1 else "histories"
    click.echo(f"{checked} {noun} replayed: the current code reproduces every one")
    if skipped:
        others = ", ".join(f"{name} ({count})" for name, count in sorted(skipped.items()))
        click.echo(f"skipped workflows of types the modules do not define: {others}")


async def _replay_stored(
    plugins: Plugins,
    store: str | None,
    replayer: Replayer,
    known: set[str],
    workflow_ids: Sequence[str],
    replay_all: bool,
) -> tuple[int, dict[str, int]]:
    """Replay the named workflows, or every one of a known type; (replayed, skipped by type)."""
    async with read_store(plugins, store) as opened:
        if not replay_all:
            for workflow_id in workflow_ids:
                _, events = await read_workflow(opened, workflow_id)
                _replay_one(replayer, workflow_id, events)
            return len(workflow_ids), {}
        everything = WorkflowFilter(limit=1)
        total = await opened.count_workflows(everything)
        records = await opened.list_workflows(WorkflowFilter(limit=max(total, 1)))
        chosen = [record for record in records if record.workflow_type in known]
        skipped: dict[str, int] = {}
        for record in records:
            if record.workflow_type not in known:
                skipped[record.workflow_type] = skipped.get(record.workflow_type, 0) + 1
        async for workflow_id, events in _with_progress(opened, [r.workflow_id for r in chosen]):
            _replay_one(replayer, workflow_id, events)
        return len(chosen), skipped


async def _with_progress(
    opened: EventStore, workflow_ids: list[str]
) -> AsyncIterator[tuple[str, list[Event]]]:
    """Each workflow's history, with a progress bar on stderr while they are replayed."""
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console(stderr=True), transient=True) as progress:
        task = progress.add_task("", total=len(workflow_ids))
        for workflow_id in workflow_ids:
            progress.update(task, description=workflow_id)
            yield workflow_id, await opened.read_events(workflow_id)
            progress.advance(task)


class _Diverged(Exception):
    """A history the code no longer reproduces (carried out of the event loop)."""

    def __init__(self, name: str, error: Exception) -> None:
        super().__init__(name)
        self.name = name
        self.error = error


def _replay_one(replayer: Replayer, name: str, events: list[Event]) -> None:
    """Replay one history (named `name` in messages).

    Raises:
        _Diverged: The code does not reproduce it.
    """
    try:
        replayer.replay(events)
    except (NondeterminismError, CorruptHistoryError) as error:
        raise _Diverged(name, error) from None
    except AionError:
        raise  # a history of an unknown type, a malformed one: not about this code
    except Exception as error:  # the workflow code itself raised while replaying
        raise _Diverged(name, error) from error


def _print_divergence(name: str, error: Exception) -> None:
    """Where the history and the code part, as a diff: what was recorded, what the code does."""
    out = console()
    if not isinstance(error, NondeterminismError):
        out.print(Text(f"{name}: replaying it failed", style="bold red"))
        out.print(f"  {type(error).__name__}: {error}")
        return
    where = f" at {error.source}" if error.source else ""
    out.print(Text(f"{name}: the current code does not reproduce this history", style="bold red"))
    out.print(f"  at event seq {error.seq}{where}")
    out.print(Text(f"  - recorded:     {error.found}", style="red"))
    out.print(Text(f"  + code issues:  {error.expected}", style="green"))
