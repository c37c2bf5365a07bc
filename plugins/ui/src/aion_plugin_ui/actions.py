"""What the console's buttons do: the CLI's verbs, sent through a `Client` to the engines.

Input is checked here first (JSON that does not parse is refused before
anything is sent) and then by the engine that runs the workflow, against the
handler's type hints; either way a refused action records nothing. A start
names its workflow type, as ``aion start TYPE`` does: the engine that runs it
knows the type, the console does not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click
from aion_cli.arguments import json_arguments
from aion_cli.schedules import signal_schedule
from aion_core import Client, WorkflowHandle
from pydantic_core import to_json

__all__ = [
    "HANDLER_ACTIONS",
    "LIFECYCLE_ACTIONS",
    "SCHEDULE_ACTIONS",
    "ActionInput",
    "ActionResult",
    "InputError",
    "StartInput",
    "parse_input",
    "parse_start_input",
    "run_schedule_action",
    "run_workflow_action",
    "start_workflow",
]

HANDLER_ACTIONS = ("signal", "query", "update")
"""Actions that call a handler by name with arguments."""
LIFECYCLE_ACTIONS = ("cancel", "terminate", "pause", "resume", "reopen")
"""Actions that change a workflow's course, with a reason."""
SCHEDULE_ACTIONS = ("pause", "resume", "trigger")

_DONE = {
    "cancel": "cancellation requested",
    "terminate": "terminated",
    "pause": "paused",
    "resume": "resumed",
    "reopen": "reopened",
    "trigger": "triggered",
}


class InputError(ValueError):
    """An action's input does not parse; nothing was sent."""


@dataclass(frozen=True)
class ActionInput:
    """A form's fields, parsed.

    Attributes:
        name: The handler's name (signal, query, update).
        arguments: The arguments, from the JSON input.
        reason: Why (lifecycle actions), recorded in the history.
    """

    name: str = ""
    arguments: tuple[Any, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class ActionResult:
    """What an action did.

    Attributes:
        message: One line for the page.
        answer: The query's answer or the update's value, as indented JSON.
    """

    message: str
    answer: str | None = None


@dataclass(frozen=True)
class StartInput:
    """The start form's fields, parsed.

    Attributes:
        workflow_type: The workflow type's name, as registered with the engines.
        arguments: Its input, from the JSON.
        workflow_id: The id to start it as (None: a random one).
        task_queue: Its task queue (and default of its activities).
    """

    workflow_type: str
    arguments: tuple[Any, ...] = ()
    workflow_id: str | None = None
    task_queue: str = "default"


def _arguments(raw_input: str) -> tuple[Any, ...]:
    # One value, or an array of arguments, exactly as `--input` on the command line.
    try:
        return tuple(json_arguments(raw_input if raw_input.strip() else None, option="input"))
    except click.BadParameter as error:
        raise InputError(error.message) from None


def parse_input(action: str, name: str, raw_input: str, reason: str) -> ActionInput:
    """The parsed fields of `action`'s form.

    Raises:
        InputError: No handler name for a handler action, or input that is not JSON.
    """
    if action in HANDLER_ACTIONS and not name.strip():
        raise InputError(f"name the {action} to send")
    return ActionInput(name.strip(), _arguments(raw_input), reason.strip())


def parse_start_input(
    workflow_type: str, workflow_id: str, raw_input: str, task_queue: str
) -> StartInput:
    """The parsed fields of the start form; a blank id or task queue takes the default.

    Raises:
        InputError: No workflow type, or input that is not JSON.
    """
    if not workflow_type.strip():
        raise InputError("name the workflow type to start")
    return StartInput(
        workflow_type.strip(),
        _arguments(raw_input),
        workflow_id.strip() or None,
        task_queue.strip() or "default",
    )


def _answer(value: Any) -> str:
    return to_json(value, indent=2).decode()


async def run_workflow_action(
    client: Client, action: str, workflow_id: str, given: ActionInput, query_seconds: float
) -> ActionResult:
    """Do `action` on `workflow_id`; returns once the engine recorded it (or answered).

    Raises:
        AionError: The engine refused it (see `aion_plugin_ui.problems` for the kinds).
        ValueError: `action` is not one the console offers.
    """
    if action == "signal":
        await client.signal(workflow_id, given.name, *given.arguments)
        return ActionResult(f"signal {given.name} recorded")
    if action == "query":
        value = await client.query(
            workflow_id, given.name, *given.arguments, timeout=timedelta(seconds=query_seconds)
        )
        return ActionResult(f"query {given.name} answered", _answer(value))
    if action == "update":
        value = await client.execute_update(workflow_id, given.name, *given.arguments)
        return ActionResult(f"update {given.name} done", _answer(value))
    if action in LIFECYCLE_ACTIONS:
        act: Callable[[str, str], Awaitable[None]] = getattr(client, action)
        await act(workflow_id, given.reason)
        return ActionResult(_DONE[action])
    raise ValueError(f"no such action: {action}")


async def start_workflow(client: Client, given: StartInput) -> WorkflowHandle:
    """Start `given` on the engines; returns once its start is durable.

    A run already open with the same id is refused (the id policy of ``aion start``).

    Raises:
        ConfigurationError: The engine does not run this workflow type (nothing started).
        PayloadValidationError: The input does not fit the workflow's signature.
        WorkflowAlreadyStartedError: A run with this id is open.
    """
    return await client.start_workflow(
        given.workflow_type,
        *given.arguments,
        id=given.workflow_id,
        task_queue=given.task_queue,
    )


async def run_schedule_action(
    client: Client, action: str, schedule_id: str, note: str
) -> ActionResult:
    """Pause, resume or trigger `schedule_id` (a trigger fires now, even while paused).

    Raises:
        ScheduleNotFoundError: No such schedule, or it was deleted.
        ValueError: `action` is not one the console offers.
    """
    if action not in SCHEDULE_ACTIONS:
        raise ValueError(f"no such schedule action: {action}")
    # pause and resume take a note; trigger takes an overlap policy (None: the schedule's).
    await signal_schedule(client, schedule_id, action, None if action == "trigger" else note)
    return ActionResult(f"schedule {schedule_id}: {_DONE[action]}")
