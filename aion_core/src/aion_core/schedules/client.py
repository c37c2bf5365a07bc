"""Creating, finding and steering schedules: what `Engine.create_schedule` and friends call.

Every command is a signal to the schedule's workflow and `describe` is a
query, so a schedule is steered exactly like any other workflow, and every
check that can fail happens before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aion_core.converter import to_payloads
from aion_core.definitions import WorkflowDefinition, workflow_definition
from aion_core.errors import (
    ConfigurationError,
    WorkflowAlreadyStartedError,
    WorkflowClosedError,
    WorkflowNotFoundError,
)
from aion_core.events import ScheduleAction, WorkflowStatus
from aion_core.schedules.spec import (
    CatchupPolicy,
    OverlapPolicy,
    ScheduleAlreadyExistsError,
    ScheduleDescription,
    ScheduleNotFoundError,
    ScheduleState,
    build_spec,
    check_policies,
)
from aion_core.schedules.time_zones import DEFAULT_TIME_ZONE, load_time_zone
from aion_core.schedules.workflow import (
    SCHEDULE_WORKFLOW_TYPE,
    ScheduleChange,
    schedule_workflow_id,
)

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine
    from aion_core.operations import WorkflowOperations

__all__ = ["ScheduleHandle", "create_schedule", "list_schedules", "start_schedule"]

_LISTED_STATUSES = frozenset({WorkflowStatus.RUNNING, WorkflowStatus.PAUSED})
_MAX_LISTED = 10_000


class ScheduleHandle:
    """Refers to a schedule by id; every method raises `ScheduleNotFoundError` once it is deleted.

    Attributes:
        schedule_id: The schedule's id.
        workflow_id: The id of the workflow that is the schedule (``schedule:<schedule_id>``).
    """

    def __init__(self, engine: Engine, schedule_id: str) -> None:
        self._engine = engine
        self.schedule_id = schedule_id
        self.workflow_id = schedule_workflow_id(schedule_id)

    def __repr__(self) -> str:
        return f"ScheduleHandle({self.schedule_id!r})"

    async def describe(self) -> ScheduleDescription:
        """Its spec, policies, pause state, next fire time and recent runs (records nothing).

        Raises:
            ScheduleNotFoundError: No such schedule, or it was deleted.
        """
        record = await self._engine.store.get_workflow(self.workflow_id)
        if record is None or record.status.is_closed:
            raise ScheduleNotFoundError(self.schedule_id)
        description: ScheduleDescription = await self._engine.query(self.workflow_id, "describe")
        return description

    async def pause(self, note: str = "") -> None:
        """Stop firing until `resume` (a `trigger` still fires); returns once recorded."""
        await self._signal("pause", note)

    async def resume(self, note: str = "") -> None:
        """Fire again from now on; fire times missed while paused are not caught up."""
        await self._signal("resume", note)

    async def trigger(self, overlap: OverlapPolicy | None = None) -> None:
        """Fire now, even while paused, through `overlap` (default: the schedule's policy)."""
        check_policies(overlap, None)
        await self._signal("trigger", overlap)

    async def update(
        self,
        *,
        cron: str | None = None,
        every: timedelta | None = None,
        time_zone: str | None = None,
        overlap: OverlapPolicy | None = None,
        catchup: CatchupPolicy | None = None,
        workflow: object | None = None,
        args: Sequence[Any] | None = None,
        task_queue: str | None = None,
    ) -> None:
        """Change what is given, for fires from now on; returns once recorded.

        Every check happens before anything is recorded. Runs already started
        keep their input; a fire that is buffered or due starts with the new one.

        Args:
            cron: A new cron expression; it keeps the schedule's time zone unless
                `time_zone` is given.
            every: A new interval instead (absolute, so the time zone becomes UTC).
            time_zone: A new IANA time zone for the cron (see `Engine.create_schedule`).
            overlap: A new overlap policy.
            catchup: A new catch-up policy.
            workflow: A new workflow to start (class, run method, function or type
                name); needs `args` too (``args=()`` for none).
            args: The input of the runs later fires start, as a sequence
                (``args=("finance",)``), checked against the workflow's signature.
            task_queue: The task queue of the runs later fires start.

        Raises:
            ConfigurationError: An invalid rule, time zone or policy, a time zone for
                an interval schedule, `workflow` without `args` or not registered, or
                nothing to change.
            PayloadValidationError: `args` do not fit the workflow.
            ScheduleNotFoundError: No such schedule, or it was deleted.
        """
        spec = (
            None
            if cron is None and every is None
            else build_spec(cron, every, time_zone or DEFAULT_TIME_ZONE)
        )
        if time_zone is not None:
            load_time_zone(time_zone)
        check_policies(overlap, catchup)
        if workflow is not None and args is None:
            raise ConfigurationError(
                "update(workflow=...) needs args=... too (args=() for none): the input "
                "of later runs is checked against the new workflow's signature"
            )
        if isinstance(args, str | bytes):
            raise ConfigurationError(f"args= takes a sequence of arguments: args=({args!r},)")
        given = (cron, every, time_zone, overlap, catchup, args, task_queue)
        if all(value is None for value in given):
            raise ConfigurationError(
                "nothing to update: give cron=, every=, time_zone=, overlap=, catchup=, "
                "args= (with workflow= to change it) or task_queue="
            )
        zone_only = spec is None and time_zone is not None
        # What the schedule fires now comes from a query, which records nothing.
        current = (
            await self.describe() if zone_only or (args is not None and workflow is None) else None
        )
        if zone_only and current is not None and current.cron is None:
            raise ConfigurationError(
                f"schedule {self.schedule_id!r} fires every {current.every}; time_zone= "
                "applies to cron schedules only (give cron=... with it)"
            )
        target: dict[str, Any] = {}
        if args is not None:
            if workflow is None:
                assert current is not None
                workflow = current.workflow_type
            definition = _registered_definition(self._engine, workflow)
            # The input travels with the workflow type it was checked against, so an
            # update racing this one can never pair it with another workflow.
            target = {
                "workflow_type": definition.name,
                "input": to_payloads(
                    args,
                    definition.param_types,
                    f"workflow {definition.name!r}",
                    max_bytes=self._engine.max_payload_bytes,
                ),
            }
        change = ScheduleChange(
            spec=spec, time_zone=time_zone, overlap=overlap, catchup=catchup,
            task_queue=task_queue, **target,
        )  # fmt: skip
        await self._signal("update", change)

    async def delete(self) -> None:
        """End the schedule and wait until it has ended; runs it started keep running."""
        await self._signal("delete")
        await self._engine.wait_closed(self.workflow_id)

    async def _signal(self, name: str, *args: Any) -> None:
        try:
            await self._engine.signal(self.workflow_id, name, *args)
        except (WorkflowNotFoundError, WorkflowClosedError):
            raise ScheduleNotFoundError(self.schedule_id) from None


def _registered_definition(engine: Engine, workflow: object) -> WorkflowDefinition:
    """The registered definition of a workflow given as class, run method, function or name."""
    name = workflow if isinstance(workflow, str) else workflow_definition(workflow).name
    return engine.workflow_definition(name)


async def create_schedule(
    engine: Engine,
    schedule_id: str,
    definition: WorkflowDefinition,
    args: Sequence[Any],
    *,
    cron: str | None,
    every: timedelta | None,
    time_zone: str,
    overlap: OverlapPolicy,
    catchup: CatchupPolicy,
    task_queue: str | None,
) -> ScheduleHandle:
    """Check everything, then start the schedule's workflow (see `Engine.create_schedule`)."""
    await start_schedule(
        engine, schedule_id, definition.name, definition.param_types, args, cron=cron,
        every=every, time_zone=time_zone, overlap=overlap, catchup=catchup, task_queue=task_queue,
    )  # fmt: skip
    return ScheduleHandle(engine, schedule_id)


async def start_schedule(
    operations: WorkflowOperations,
    schedule_id: str,
    workflow_type: str,
    param_types: Sequence[Any] | None,
    args: Sequence[Any],
    *,
    cron: str | None,
    every: timedelta | None,
    time_zone: str,
    overlap: OverlapPolicy,
    catchup: CatchupPolicy,
    task_queue: str | None,
) -> None:
    """Check everything, then start the schedule's workflow through an engine or a client.

    Args:
        operations: The `Engine` or `Client` to start it with.
        schedule_id: The schedule's id.
        workflow_type: The workflow each fire starts.
        param_types: Its parameter types, to check `args` against; None when the
            workflow is known only by name (the engine checks when it fires).
        args: The input of each run.
        cron: See `Engine.create_schedule`.
        every: See `Engine.create_schedule`.
        time_zone: See `Engine.create_schedule`.
        overlap: See `Engine.create_schedule`.
        catchup: See `Engine.create_schedule`.
        task_queue: See `Engine.create_schedule`.

    Raises:
        ConfigurationError: An empty id, an invalid rule, time zone or policy.
        PayloadValidationError: `args` do not fit `param_types`.
        ScheduleAlreadyExistsError: A schedule with this id exists.
    """
    if not schedule_id.strip():
        raise ConfigurationError("a schedule id must not be empty")
    spec = build_spec(cron, every, time_zone)
    check_policies(overlap, catchup)
    action = ScheduleAction(
        workflow_type=workflow_type,
        input=to_payloads(
            args, param_types, f"workflow {workflow_type!r}", max_bytes=operations.max_payload_bytes
        ),
        task_queue=task_queue or "default",
    )
    state = ScheduleState(
        schedule_id=schedule_id, spec=spec, action=action, overlap=overlap, catchup=catchup
    )
    try:
        # As JSON: a client has no definition of the schedule workflow to convert with.
        await operations.start_workflow(
            SCHEDULE_WORKFLOW_TYPE,
            state.model_dump(mode="json"),
            id=schedule_workflow_id(schedule_id),
            id_conflict="fail",
        )
    except WorkflowAlreadyStartedError:
        raise ScheduleAlreadyExistsError(schedule_id) from None


async def list_schedules(operations: WorkflowOperations) -> list[ScheduleDescription]:
    """Descriptions of every schedule that is not deleted, by schedule id (engine or client)."""
    records = await operations.list_workflows(
        status=_LISTED_STATUSES, type=SCHEDULE_WORKFLOW_TYPE, limit=_MAX_LISTED
    )
    return [
        ScheduleDescription.model_validate(await operations.query(record.workflow_id, "describe"))
        for record in sorted(records, key=lambda r: r.workflow_id)
    ]
