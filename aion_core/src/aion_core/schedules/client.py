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
from aion_core.definitions import WorkflowDefinition
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
from aion_core.schedules.workflow import (
    SCHEDULE_WORKFLOW_TYPE,
    ScheduleChange,
    schedule_workflow_id,
)

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine

__all__ = ["ScheduleHandle", "create_schedule", "list_schedules"]

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
        overlap: OverlapPolicy | None = None,
        catchup: CatchupPolicy | None = None,
    ) -> None:
        """Change the timing rule (one of `cron`, `every`) and/or policies from now on.

        Raises:
            ConfigurationError: An invalid rule or policy (nothing recorded).
        """
        spec = None if cron is None and every is None else build_spec(cron, every)
        check_policies(overlap, catchup)
        await self._signal("update", ScheduleChange(spec=spec, overlap=overlap, catchup=catchup))

    async def delete(self) -> None:
        """End the schedule and wait until it has ended; runs it started keep running."""
        await self._signal("delete")
        await self._engine.wait_closed(self.workflow_id)

    async def _signal(self, name: str, *args: Any) -> None:
        try:
            await self._engine.signal(self.workflow_id, name, *args)
        except (WorkflowNotFoundError, WorkflowClosedError):
            raise ScheduleNotFoundError(self.schedule_id) from None


async def create_schedule(
    engine: Engine,
    schedule_id: str,
    definition: WorkflowDefinition,
    args: Sequence[Any],
    *,
    cron: str | None,
    every: timedelta | None,
    overlap: OverlapPolicy,
    catchup: CatchupPolicy,
    task_queue: str | None,
) -> ScheduleHandle:
    """Check everything, then start the schedule's workflow (see `Engine.create_schedule`)."""
    if not schedule_id.strip():
        raise ConfigurationError("a schedule id must not be empty")
    spec = build_spec(cron, every)
    check_policies(overlap, catchup)
    action = ScheduleAction(
        workflow_type=definition.name,
        input=to_payloads(args, definition.param_types, f"workflow {definition.name!r}"),
        task_queue=task_queue or "default",
    )
    state = ScheduleState(
        schedule_id=schedule_id, spec=spec, action=action, overlap=overlap, catchup=catchup
    )
    try:
        await engine.start_workflow(
            SCHEDULE_WORKFLOW_TYPE, state, id=schedule_workflow_id(schedule_id), id_conflict="fail"
        )
    except WorkflowAlreadyStartedError:
        raise ScheduleAlreadyExistsError(schedule_id) from None
    return ScheduleHandle(engine, schedule_id)


async def list_schedules(engine: Engine) -> list[ScheduleDescription]:
    """Descriptions of every schedule that is not deleted, by schedule id."""
    records = await engine.list_workflows(
        status=_LISTED_STATUSES, type=SCHEDULE_WORKFLOW_TYPE, limit=_MAX_LISTED
    )
    descriptions = []
    for record in sorted(records, key=lambda r: r.workflow_id):
        description: ScheduleDescription = await engine.query(record.workflow_id, "describe")
        descriptions.append(description)
    return descriptions
