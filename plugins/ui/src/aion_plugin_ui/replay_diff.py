"""The replay view: a stored history against the current workflow code, first mismatch side by side.

The check ``aion replay`` runs, on one workflow: the history (payloads
decoded) is replayed by `aion_core.testing.Replayer`, which runs no
activity, fires no timer and writes nothing. The workflow code comes only from
the modules given to ``aion ui --module``: the console never imports a module
named in a request.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

import anyio.to_thread
import click
from aion_cli.loading import definitions_in, import_module
from aion_cli.timeline import describe_event
from aion_core.definitions import workflow_definition
from aion_core.errors import AionError, CorruptHistoryError, NondeterminismError
from aion_core.events import Event
from aion_core.schedules.workflow import ScheduleWorkflow
from aion_core.testing import Replayer

__all__ = [
    "CONTEXT_EVENTS",
    "DiffRow",
    "ReplayReport",
    "WorkflowCode",
    "replay_history",
    "source_under_import_root",
]

CONTEXT_EVENTS = 6
"""Events shown before the mismatch (and half as many after), for orientation."""


@dataclass(frozen=True)
class DiffRow:
    """One line of the side-by-side view.

    Attributes:
        seq: The event's seq.
        recorded: What the history holds there.
        code: What the current code does there ("" past the mismatch: not reached).
        mismatch: Whether this is where they part.
    """

    seq: int
    recorded: str
    code: str
    mismatch: bool = False


@dataclass(frozen=True)
class ReplayReport:
    """What replaying one history found.

    Attributes:
        workflow_id: The workflow replayed.
        events: How many events the history has.
        reproduced: Whether the code reproduces the history.
        seq: Where they part.
        source: The workflow source line of the mismatching command, when known, as a
            path under its import root (``myapp/flows.py:27``).
        expected: What the code issues now.
        found: What the history recorded.
        error: Why replaying failed, when it was not a mismatch (the code raised, ...).
        rows: The side-by-side lines around the mismatch.
    """

    workflow_id: str
    events: int
    reproduced: bool
    seq: int | None = None
    source: str = ""
    expected: str = ""
    found: str = ""
    error: str = ""
    rows: list[DiffRow] = field(default_factory=list)


class WorkflowCode:
    """The workflows of the modules named on the command line, and a replayer for them.

    Args:
        modules: Module names (``myapp.flows``), imported now.

    Raises:
        click.BadParameter: A module cannot be imported or defines no workflow.
    """

    def __init__(self, modules: Sequence[str]) -> None:
        self.modules = tuple(modules)
        workflows, _ = definitions_in([import_module(name) for name in self.modules])
        if self.modules and not workflows:
            raise click.BadParameter(f"no @workflow.defn found in {', '.join(self.modules)}")
        # Schedules are workflows every engine runs: their histories replay too.
        self.replayer = Replayer(workflows=[*workflows, ScheduleWorkflow])
        self.workflow_types = sorted(workflow_definition(w).name for w in workflows)


def source_under_import_root(source: str) -> str:
    """`source` (``/abs/dir/myapp/flows.py:27``) as the file under the import root holding it.

    The deepest ``sys.path`` entry the file is under is where its module was found
    (``myapp/flows.py:27``): that names the file as well as the absolute path, and the
    page does not show the folders of the machine the console runs on. A file under
    no entry is shown as it is.
    """
    path, colon, line = source.rpartition(":")
    file = PurePath(path)
    if not colon or not file.is_absolute():
        return source
    roots = [PurePath(os.path.abspath(entry or os.curdir)) for entry in sys.path]
    holding = [root for root in roots if file.is_relative_to(root)]
    if not holding:
        return source
    root = max(holding, key=lambda root: len(root.parts))
    return f"{file.relative_to(root).as_posix()}:{line}"


def _recorded(event: Event) -> str:
    return f"{event.type}: {describe_event(event)}"


def _rows(events: Sequence[Event], error: NondeterminismError) -> list[DiffRow]:
    start, end = error.seq - CONTEXT_EVENTS, error.seq + CONTEXT_EVENTS // 2
    rows = []
    for event in events:
        if start <= event.seq < error.seq:
            rows.append(DiffRow(event.seq, _recorded(event), "✓ the same"))
        elif event.seq == error.seq:
            rows.append(DiffRow(event.seq, _recorded(event), error.expected, mismatch=True))
        elif error.seq < event.seq <= end:
            rows.append(DiffRow(event.seq, _recorded(event), ""))
    if not any(row.mismatch for row in rows):  # the code goes on where the history ended
        rows.append(DiffRow(error.seq, error.found, error.expected, mismatch=True))
    return rows


async def replay_history(code: WorkflowCode, workflow_id: str, events: list[Event]) -> ReplayReport:
    """Replay `events` against `code`; where and how they part, if they do.

    Raises:
        AionError: The history is of a type the modules do not define, or malformed.
    """
    try:
        # In a thread: replaying a long history must not stall the live pages.
        await anyio.to_thread.run_sync(code.replayer.replay, events)
    except NondeterminismError as error:
        return ReplayReport(
            workflow_id, len(events), False, seq=error.seq,
            source=source_under_import_root(error.source),
            expected=error.expected, found=error.found, rows=_rows(events, error),
        )  # fmt: skip
    except CorruptHistoryError as error:
        return ReplayReport(workflow_id, len(events), False, error=str(error))
    except AionError:
        raise  # not about this code: an unknown type, a malformed history
    except Exception as error:  # the workflow code itself raised while replaying
        return ReplayReport(
            workflow_id, len(events), False, error=f"{type(error).__name__}: {error}"
        )
    return ReplayReport(workflow_id, len(events), True)
