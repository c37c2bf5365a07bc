"""Schedules driven through a `Client`: what `aion schedule ...` does on the engine nodes.

A schedule is the durable workflow ``aion.schedule`` with id
``schedule:<id>`` (aion_core.schedules), so a client steers it like any
workflow: creating it is starting that workflow with its `ScheduleState`,
pause, resume, trigger and delete are its signals, describe is its query.
`Engine.create_schedule` and `ScheduleHandle` do the same inside an engine;
this module does it from outside, where only the transport reaches them.

Everything that can be checked here is checked before anything is sent: the
timing rule, the time zone, the policies, and (when the workflow is given as
``MODULE:NAME``) the input against the workflow's signature. A workflow given
by name is checked by the engine when the schedule fires.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aion_core import Client
from aion_core.definitions import workflow_definition
from aion_core.errors import (
    AionError,
    WorkflowClosedError,
    WorkflowNotFoundError,
)
from aion_core.schedules.client import list_schedules, start_schedule
from aion_core.schedules.spec import (
    CatchupPolicy,
    OverlapPolicy,
    ScheduleAlreadyExistsError,
    ScheduleDescription,
    ScheduleNotFoundError,
    check_policies,
)
from aion_core.schedules.workflow import schedule_workflow_id

__all__ = [
    "ScheduleExistsError",
    "create_schedule",
    "describe_schedule",
    "list_schedules",
    "signal_schedule",
]


class ScheduleExistsError(AionError):
    """A schedule with this id exists and is not deleted."""

    def __init__(self, schedule_id: str) -> None:
        self.schedule_id = schedule_id
        super().__init__(
            f"schedule {schedule_id!r} already exists; aion schedule describe {schedule_id} "
            f"shows it, aion schedule delete {schedule_id} removes it"
        )


async def create_schedule(
    client: Client,
    schedule_id: str,
    workflow: object,
    args: Sequence[Any],
    *,
    cron: str | None,
    every: timedelta | None,
    time_zone: str,
    overlap: OverlapPolicy,
    catchup: CatchupPolicy,
    task_queue: str | None,
) -> None:
    """Start the schedule's workflow on the engines, once everything checks out.

    Raises:
        ConfigurationError: An empty id, an invalid rule, time zone or policy.
        PayloadValidationError: `args` do not fit `workflow` (when given as a definition).
        ScheduleExistsError: A schedule with this id exists.
    """
    definition = None if isinstance(workflow, str) else workflow_definition(workflow)
    try:
        await start_schedule(
            client, schedule_id, definition.name if definition else str(workflow),
            definition.param_types if definition else None, args, cron=cron, every=every,
            time_zone=time_zone, overlap=overlap, catchup=catchup, task_queue=task_queue,
        )  # fmt: skip
    except ScheduleAlreadyExistsError:
        raise ScheduleExistsError(schedule_id) from None


async def describe_schedule(client: Client, schedule_id: str) -> ScheduleDescription:
    """Its spec, policies, pause state, next fire time and recent runs (records nothing).

    Raises:
        ScheduleNotFoundError: No such schedule, or it was deleted.
    """
    workflow_id = schedule_workflow_id(schedule_id)
    try:
        record = await client.describe(workflow_id)
    except WorkflowNotFoundError:
        raise ScheduleNotFoundError(schedule_id) from None
    if record.status.is_closed:
        raise ScheduleNotFoundError(schedule_id)
    return ScheduleDescription.model_validate(await client.query(workflow_id, "describe"))


async def signal_schedule(client: Client, schedule_id: str, command: str, *args: Any) -> None:
    """Send the schedule one of its commands: pause, resume, trigger or delete.

    A delete returns once the schedule has ended; runs it started keep running.

    Raises:
        ConfigurationError: A trigger's overlap policy is not one.
        ScheduleNotFoundError: No such schedule, or it was deleted.
    """
    if command == "trigger":
        check_policies(args[0] if args else None, None)
    workflow_id = schedule_workflow_id(schedule_id)
    try:
        await client.signal(workflow_id, command, *args)
    except (WorkflowNotFoundError, WorkflowClosedError):
        raise ScheduleNotFoundError(schedule_id) from None
    if command == "delete":
        await client.wait_closed(workflow_id)
