"""The ``aion.schedule`` workflow: a schedule is a durable workflow that starts others.

Its state is its spec, its pause flag and the runs it started (`ScheduleState`).
Its loop computes the next fire time in workflow time, waits for it with a
durable timer raced against commands (signals: pause, resume, trigger,
update, delete), then fires through the ``aion.schedule.start`` activity.
Everything it decides comes from recorded events, so a restart replays it to
the same state and a long downtime is caught up from `considered_upto`.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from aion_core import activity, workflow
from aion_core.converter import from_payloads
from aion_core.errors import (
    ActivityError,
    ConfigurationError,
    PayloadValidationError,
    WorkflowAlreadyStartedError,
    WorkflowClosedError,
    WorkflowNotFoundError,
)
from aion_core.events import Payloads, ScheduleAction, ScheduleSpec
from aion_core.retry import RetryPolicy
from aion_core.schedules.spec import (
    LATE_FIRE_GRACE,
    CatchupPolicy,
    OverlapPolicy,
    ScheduleDescription,
    ScheduleRun,
    ScheduleState,
    changed_spec,
    fire_times,
    latest_fire_time,
    rule_of,
)

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine

__all__ = [
    "SCHEDULE_WORKFLOW_TYPE",
    "START_ACTIVITY_TYPE",
    "FireRequest",
    "FireResult",
    "ScheduleChange",
    "ScheduleWorkflow",
    "schedule_activities",
    "schedule_workflow_id",
    "scheduled_workflow_id",
]

SCHEDULE_WORKFLOW_TYPE = "aion.schedule"
START_ACTIVITY_TYPE = "aion.schedule.start"
CONTINUE_AS_NEW_AFTER = 500
"""Loop turns (fires, polls, commands) after which the schedule continues as new."""
RECENT_RUNS_KEPT = 10
MAX_CATCHUP_FIRES = 1000
"""With ``catchup="all"``, at most this many of the latest missed fire times run."""
BUFFER_POLL_FIRST = timedelta(seconds=1)
BUFFER_POLL_MAX = timedelta(minutes=1)
# Float seconds could wake the timer a hair before the fire time it waits for.
_TIMER_MARGIN = timedelta(milliseconds=1)
_START_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    # The target cannot be started as configured: retrying will not help.
    non_retryable_error_types=(ConfigurationError.__name__, PayloadValidationError.__name__),
)


def schedule_workflow_id(schedule_id: str) -> str:
    """The id of the workflow that is the schedule `schedule_id`."""
    return f"schedule:{schedule_id}"


def scheduled_workflow_id(schedule_id: str, fire_at: datetime) -> str:
    """The id of the run a schedule starts for `fire_at`: one fire time, one workflow."""
    return f"{schedule_id}-{fire_at.astimezone(UTC).isoformat().replace('+00:00', 'Z')}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FireRequest(_Model):
    """What the start activity is asked to do for one fire time."""

    schedule_id: str
    action: ScheduleAction
    fire_at: datetime
    overlap: OverlapPolicy
    previous_workflow_id: str | None = None


class FireResult(_Model):
    """What the start activity did: started a run, skipped, or found the previous run busy."""

    outcome: Literal["started", "skipped", "busy"]
    workflow_id: str | None = None
    run_id: str | None = None


class ScheduleChange(_Model):
    """What `ScheduleHandle.update` changes in a schedule; None keeps the current value.

    Fields were only ever added, each with a default, so changes recorded by
    older versions still decode.

    Attributes:
        spec: A new timing rule (its cron or interval; the zone comes from `time_zone`).
        overlap: A new overlap policy.
        catchup: A new catch-up policy.
        time_zone: A new time zone for the cron (None keeps the schedule's own).
        workflow_type: The workflow later fires start, given together with `input`:
            the input was checked against that workflow's signature.
        input: The input of the runs later fires start.
        task_queue: The task queue of the runs later fires start.
    """

    spec: ScheduleSpec | None = None
    overlap: OverlapPolicy | None = None
    catchup: CatchupPolicy | None = None
    time_zone: str | None = None
    workflow_type: str | None = None
    input: Payloads | None = None
    task_queue: str | None = None

    @model_validator(mode="after")
    def _input_travels_with_its_workflow_type(self) -> ScheduleChange:
        if (self.workflow_type is None) != (self.input is None):
            raise ValueError("workflow_type and input are changed together")
        return self

    @property
    def changes_only_the_target(self) -> bool:
        """Whether it changes what fires start but not when or how they fire."""
        timing = (self.spec, self.overlap, self.catchup, self.time_zone)
        return all(value is None for value in timing) and (
            self.workflow_type is not None or self.task_queue is not None
        )

    def applied_to(self, action: ScheduleAction) -> ScheduleAction:
        """`action` with the new workflow type, input and task queue, where given."""
        changes: dict[str, Any] = {}
        if self.workflow_type is not None:
            changes.update(workflow_type=self.workflow_type, input=self.input)
        if self.task_queue is not None:
            changes.update(task_queue=self.task_queue)
        return action.model_copy(update=changes)


@workflow.defn(name=SCHEDULE_WORKFLOW_TYPE)
class ScheduleWorkflow:
    """Fires a schedule's workflow at its fire times, until deleted."""

    def __init__(self) -> None:
        self._state: ScheduleState | None = None
        self._commands: collections.deque[tuple[str, Any]] = collections.deque()
        self._deleted = False
        self._poll = BUFFER_POLL_FIRST

    @property
    def state(self) -> ScheduleState:
        """The schedule's state (set when the run starts)."""
        assert self._state is not None
        return self._state

    @workflow.run
    async def run(self, state: ScheduleState) -> None:
        """Fire, wait, handle commands, until a delete command arrives."""
        self._state = state
        if state.created_at is None:
            state.created_at = workflow.now()
        if state.considered_upto is None:
            state.considered_upto = workflow.now()
        turns = 0
        while True:
            while self._commands:
                kind, value = self._commands.popleft()
                if kind == "delete":
                    self._deleted = True
                    return
                await self._handle(kind, value)
            if not state.paused:
                await self._retry_buffered()
                await self._fire_due(workflow.now())
            if self._commands:
                continue
            if turns >= CONTINUE_AS_NEW_AFTER:
                workflow.continue_as_new(state)
            wake_at = self._wake_at(workflow.now())
            timeout = (
                None
                if wake_at is None
                else max(wake_at - workflow.now(), timedelta(0)) + _TIMER_MARGIN
            )
            await workflow.wait_condition(lambda: bool(self._commands), timeout=timeout)
            turns += 1

    # --- commands (signals) and describe (query) -----------------------------------------------

    @workflow.signal
    def pause(self, note: str) -> None:
        """Stop firing until resumed (a manual trigger still fires)."""
        self._commands.append(("pause", note))

    @workflow.signal
    def resume(self, note: str) -> None:
        """Fire again from now on; fire times missed while paused are not caught up."""
        self._commands.append(("resume", note))

    @workflow.signal
    def trigger(self, overlap: OverlapPolicy | None) -> None:
        """Fire now (through `overlap`, or the schedule's own overlap policy)."""
        self._commands.append(("trigger", overlap))

    @workflow.signal
    def update(self, change: ScheduleChange) -> None:
        """Change the timing rule, time zone, policies and/or target from now on."""
        self._commands.append(("update", change))

    @workflow.signal
    def delete(self) -> None:
        """End the schedule; runs it started keep running."""
        self._commands.append(("delete", None))

    @workflow.query
    def describe(self) -> ScheduleDescription:
        """The schedule's spec, policies, pause state, next fire time and recent runs."""
        state = self.state
        return ScheduleDescription(
            schedule_id=state.schedule_id,
            cron=state.spec.cron,
            every=state.spec.every,
            time_zone=state.spec.timezone,
            workflow_type=state.action.workflow_type,
            task_queue=state.action.task_queue,
            overlap=state.overlap,
            catchup=state.catchup,
            paused=state.paused,
            note=state.note,
            created_at=state.created_at,
            next_fire_at=(
                None
                if state.paused or self._deleted or state.considered_upto is None
                else rule_of(state.spec).next_after(state.considered_upto)
            ),
            buffered_fire_at=state.buffered_fire_at,
            started_count=state.started_count,
            skipped_count=state.skipped_count,
            recent_runs=list(state.recent_runs),
            deleted=self._deleted,
        )

    async def _handle(self, kind: str, value: Any) -> None:
        state = self.state
        now = workflow.now()
        if kind == "pause":
            state.paused, state.note, state.buffered_fire_at = True, value, None
        elif kind == "resume":
            state.paused, state.note = False, value
            state.considered_upto = max(state.considered_upto or now, now)
        elif kind == "trigger":
            await self._fire(now, manual=True, overlap=value or state.overlap)
        elif kind == "update":
            change: ScheduleChange = value
            state.spec = changed_spec(state.spec, change.spec, change.time_zone)
            state.overlap = change.overlap or state.overlap
            state.catchup = change.catchup or state.catchup
            # Runs already started keep their input: it is recorded in their own history.
            state.action = change.applied_to(state.action)
            if not change.changes_only_the_target:
                # A new rule or policy applies from now on, not to fire times already passed;
                # a new target leaves a fire that is due now to start with it.
                state.considered_upto = max(state.considered_upto or now, now)

    # --- firing --------------------------------------------------------------------------------

    def _wake_at(self, now: datetime) -> datetime | None:
        state = self.state
        if state.paused or state.considered_upto is None:
            return None
        next_fire = rule_of(state.spec).next_after(state.considered_upto)
        if state.buffered_fire_at is not None:
            return min(next_fire, now + self._poll)
        return next_fire

    async def _fire_due(self, now: datetime) -> None:
        """Act on the fire times in (considered_upto, now] per the catch-up policy."""
        state = self.state
        after = state.considered_upto
        if after is None or now <= after:
            return
        rule = rule_of(state.spec)
        due: list[datetime]
        if state.catchup == "all":
            due = list(collections.deque(fire_times(rule, after, now), maxlen=MAX_CATCHUP_FIRES))
        else:
            latest = latest_fire_time(rule, after, now)
            on_time = latest is not None and now - latest <= LATE_FIRE_GRACE
            due = [latest] if latest is not None and (state.catchup == "latest" or on_time) else []
        # Recorded before firing: a fire that fails is not retried at the next wake.
        state.considered_upto = now
        for fire_at in due:
            await self._fire(fire_at, manual=False, overlap=state.overlap)

    async def _retry_buffered(self) -> None:
        state = self.state
        if state.buffered_fire_at is None:
            return
        result = await self._start(state.buffered_fire_at, "buffer_one", manual=False)
        if result is None or result.outcome != "busy":
            state.buffered_fire_at = None
        else:
            self._poll = min(self._poll * 2, BUFFER_POLL_MAX)

    async def _fire(self, fire_at: datetime, *, manual: bool, overlap: OverlapPolicy) -> None:
        state = self.state
        result = await self._start(fire_at, overlap, manual=manual)
        if result is None or result.outcome != "busy":
            return
        if state.buffered_fire_at is None:
            state.buffered_fire_at = fire_at
            self._poll = BUFFER_POLL_FIRST
            self._record(fire_at, "buffered", manual=manual)
        else:
            state.skipped_count += 1
            self._record(fire_at, "skipped", manual=manual)

    async def _start(
        self, fire_at: datetime, overlap: OverlapPolicy, *, manual: bool
    ) -> FireResult | None:
        """Run the start activity; record what it did (None when it failed for good)."""
        state = self.state
        request = FireRequest(
            schedule_id=state.schedule_id,
            action=state.action,
            fire_at=fire_at,
            overlap=overlap,
            previous_workflow_id=state.last_workflow_id,
        )
        try:
            answer = await workflow.execute_activity(
                START_ACTIVITY_TYPE,
                request.model_dump(mode="json"),
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=_START_RETRY,
            )
        except ActivityError as error:
            self._record(fire_at, "failed", manual=manual, error=str(error.__cause__ or error))
            return None
        result = FireResult.model_validate(answer)
        if result.outcome == "started":
            state.last_workflow_id = result.workflow_id
            state.started_count += 1
            self._record(
                fire_at, "started", manual=manual, workflow_id=result.workflow_id,
                run_id=result.run_id,
            )  # fmt: skip
        elif result.outcome == "skipped":
            state.skipped_count += 1
            self._record(fire_at, "skipped", manual=manual)
        return result

    def _record(
        self,
        fire_at: datetime,
        outcome: Literal["started", "skipped", "buffered", "failed"],
        *,
        manual: bool,
        workflow_id: str | None = None,
        run_id: str | None = None,
        error: str = "",
    ) -> None:
        runs = self.state.recent_runs
        runs.append(
            ScheduleRun(
                fire_at=fire_at,
                decided_at=workflow.now(),
                outcome=outcome,
                workflow_id=workflow_id,
                run_id=run_id,
                manual=manual,
                error=error,
            )
        )
        del runs[:-RECENT_RUNS_KEPT]


# --- the start activity ------------------------------------------------------------------------


async def start_scheduled_run(engine: Engine, request: FireRequest) -> FireResult:
    """Apply the overlap policy and start the run of one fire time, at most once.

    The run's id is derived from the fire time, so a retried attempt finds the
    run an earlier attempt started instead of starting a second one.
    """
    workflow_id = scheduled_workflow_id(request.schedule_id, request.fire_at)
    existing = await engine.store.get_workflow(workflow_id)
    if existing is not None:
        return FireResult(outcome="started", workflow_id=workflow_id, run_id=existing.run_id)
    previous = request.previous_workflow_id
    if previous is not None and request.overlap != "allow_all":
        record = await engine.store.get_workflow(previous)
        if record is not None and not record.status.is_closed:
            if request.overlap == "skip":
                return FireResult(outcome="skipped")
            if request.overlap == "buffer_one":
                return FireResult(outcome="busy")
            with contextlib.suppress(WorkflowClosedError, WorkflowNotFoundError):  # it closed
                await engine.get_handle(previous).cancel(
                    f"schedule {request.schedule_id!r} fired again (overlap=cancel_other)"
                )
    action = request.action
    definition = engine.workflow_definition(action.workflow_type)
    args = from_payloads(action.input, definition.param_types, f"workflow {definition.name!r}")
    try:
        handle = await engine.start_workflow(
            definition.name,
            *args,
            id=workflow_id,
            task_queue=action.task_queue,
            id_conflict="use_existing",
            id_reuse="reject",
        )
    except WorkflowAlreadyStartedError as started:  # an earlier attempt started it; it closed
        return FireResult(outcome="started", workflow_id=workflow_id, run_id=started.run_id)
    return FireResult(outcome="started", workflow_id=workflow_id, run_id=handle.run_id)


def schedule_activities(engine: Engine) -> list[Callable[..., Any]]:
    """The activities schedules need, bound to `engine` (registered by the engine itself)."""

    @activity.defn(name=START_ACTIVITY_TYPE)
    async def start_scheduled_workflow(request: FireRequest) -> FireResult:
        return await start_scheduled_run(engine, request)

    return [start_scheduled_workflow]
