"""In-process activity execution: attempts, retries, timeouts, heartbeats, cancellation.

Each scheduled activity gets a lifecycle task that runs attempts until one
completes or the retry policy gives up. Every attempt is recorded: its start
(`ActivityStarted`, with the attempt number) before its code runs, its
outcome after. The engine, not the activity, enforces the timeouts
(DESIGN 4.6): an attempt past its start-to-close deadline, past the
schedule-to-close deadline of the whole activity, or silent for longer than
its heartbeat timeout is cancelled and recorded as timed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from aion_core.activity import ActivityContext, ActivityInfo
from aion_core.converter import from_payloads, to_payload
from aion_core.definitions import ActivityDefinition
from aion_core.engine.by_workflow import ByWorkflow
from aion_core.engine.remote_attempts import RemoteAttempt, RemoteAttempts
from aion_core.engine.waiting import Flag, first_of, record_until_durable
from aion_core.errors import (
    AionError,
    ApplicationError,
    WorkflowClosedError,
    WorkflowNotFoundError,
    WorkflowPausedError,
)
from aion_core.events import (
    ActivityCancelled,
    ActivityCompleted,
    ActivityFailed,
    ActivityScheduled,
    ActivityStarted,
    ActivityTimedOut,
    EventBody,
    Failure,
    Payload,
)
from aion_core.failures import failure_from_exception
from aion_core.interceptors import ActivityCall, ActivityInterceptor, invoke_activity
from aion_core.slots import Slots
from aion_core.tasks import ActivityTask, AttemptReport

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine
    from aion_core.runtime.activities import ActivityState

__all__ = ["ActivityExecutor"]

log = logging.getLogger("aion.activities")

TimeoutKind = Literal["start_to_close", "schedule_to_close", "heartbeat"]
ActivityKey = tuple[str, str, int]
"""(workflow id, run id, activity id)."""


@dataclass
class _Running:
    """One activity being driven by this executor."""

    scheduled: ActivityScheduled
    scheduled_at: datetime
    first_attempt: int = 1
    """The first attempt the retry policy counts from (a reopen grants a fresh budget)."""
    task: asyncio.Task[None] | None = None
    context: ActivityContext | None = None
    cancel_requested: Flag = field(default_factory=Flag)
    heartbeat: Flag = field(default_factory=Flag)
    last_heartbeat_at: datetime | None = None
    last_heartbeat_details: tuple[Any, ...] = ()
    remote: RemoteAttempt | None = None
    """The attempt in the hands of a worker, when the activity runs elsewhere."""
    handed_over: bool = False
    """Another engine owns the workflow now (or this one stops): leave workers alone."""
    reporting: bool = False
    """Its outcome is on its way to the history: closing the run need not cancel it."""


class ActivityExecutor:
    """Runs the activities of an engine's workflows in this process.

    Args:
        engine: The engine whose workflows scheduled the activities.
        definitions: Registered activities by name.
        max_concurrency: Attempts running at once; more wait their turn.
        interceptors: Wrap every attempt (outermost first).
    """

    def __init__(
        self,
        engine: Engine,
        definitions: Mapping[str, ActivityDefinition],
        *,
        max_concurrency: int,
        interceptors: list[ActivityInterceptor],
    ) -> None:
        self.engine = engine
        self.definitions = dict(definitions)
        self._slots = Slots(max_concurrency)
        self._per_queue: dict[str, Slots] = {}
        self._threads = ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="aion-activity"
        )
        self._interceptors = interceptors
        self._running: ByWorkflow[_Running] = ByWorkflow()
        self.attempts_in_progress = 0
        self.remote = RemoteAttempts(engine)

    @property
    def idle(self) -> bool:
        """Whether no activity code is running right now (waiting for a retry does not count)."""
        return self.attempts_in_progress == 0

    def is_driving(self, key: ActivityKey) -> bool:
        """Whether this executor already drives the activity."""
        return key in self._running

    # --- starting ------------------------------------------------------------------------------

    def launch(
        self,
        workflow_id: str,
        run_id: str,
        scheduled: ActivityScheduled,
        scheduled_at: datetime,
        *,
        attempt: int,
        started: bool,
        start_at: datetime | None = None,
        heartbeat_details: tuple[Payload, ...] = (),
        cancel_requested: bool = False,
        first_attempt: int = 1,
    ) -> None:
        """Drive an activity from `attempt` on (`started`: its start is recorded already).

        With `cancel_requested` the workflow has already asked it to stop: the cancellation
        is recorded instead of another attempt.
        """
        key = (workflow_id, run_id, scheduled.activity_id)
        if key in self._running:
            return
        running = _Running(scheduled, scheduled_at, first_attempt)
        if cancel_requested:
            running.cancel_requested.set()
        self._running[key] = running
        running.task = asyncio.create_task(
            self._lifecycle(key, running, attempt, started, start_at, heartbeat_details),
            name=f"aion-activity-{workflow_id}-{scheduled.activity_id}",
        )

    def resume(self, workflow_id: str, run_id: str, state: ActivityState, now: datetime) -> None:
        """Continue an activity found pending in a history (recovery, rehydration)."""
        key = (workflow_id, run_id, state.scheduled.activity_id)
        if key in self._running or state.done:
            return
        if state.cancel_requested:
            # The workflow asked it to stop, and the engine that was running it died
            # before recording that it did: record the cancellation, start no attempt.
            self.launch(
                workflow_id, run_id, state.scheduled, state.scheduled_at,
                attempt=state.attempt + 1, started=False, cancel_requested=True,
                first_attempt=state.first_attempt,
            )  # fmt: skip
            return
        if state.running and self._runs_elsewhere(state.scheduled):
            # A worker may still be running it (or have reported): hand out the same
            # attempt again; the transport de-duplicates it by task id.
            self.launch(
                workflow_id, run_id, state.scheduled, state.scheduled_at,
                attempt=state.attempt, started=True,
                heartbeat_details=state.last_heartbeat_details,
                first_attempt=state.first_attempt,
            )  # fmt: skip
            return
        if state.running:
            # Its attempt started but this process is not running it: the
            # engine that ran it is gone. That attempt counts as failed.
            failure = Failure(
                message=f"attempt {state.attempt} was lost: the engine running it stopped",
                type="ActivityAttemptLost",
            )
            # Its own heartbeats died with it; the last recorded details carry on.
            outcome = self._failed_attempt(
                state.scheduled,
                state.scheduled_at,
                state.attempt,
                failure,
                now,
                state.last_heartbeat_details,
                state.first_attempt,
            )
            self._running[key] = running = _Running(
                state.scheduled, state.scheduled_at, state.first_attempt
            )
            running.task = asyncio.create_task(
                self._record_outcome_then_continue(key, running, state.attempt, outcome)
            )
            return
        self.launch(
            workflow_id,
            run_id,
            state.scheduled,
            state.scheduled_at,
            attempt=state.attempt + 1,
            started=False,
            start_at=state.retry_at,
            heartbeat_details=state.last_heartbeat_details,
            first_attempt=state.first_attempt,
        )

    # --- stopping ------------------------------------------------------------------------------

    def cancel(self, workflow_id: str, run_id: str, activity_id: int) -> None:
        """The workflow asked the activity to stop: cancel its attempt, record the cancellation."""
        running = self._running.get((workflow_id, run_id, activity_id))
        if running is not None:
            running.cancel_requested.set()
            if running.context is not None:
                running.context.cancel()

    def abandon_workflows(self, owns: Callable[[str], bool]) -> None:
        """`abandon_workflow` for every workflow `owns` selects whose activities are driven here."""
        for workflow_id in self._running.workflow_ids():
            if owns(workflow_id):
                self.abandon_workflow(workflow_id)

    def abandon_workflow(self, workflow_id: str) -> None:
        """Another engine owns the workflow now: stop driving its activities, record nothing.

        Workers running its attempts carry on; the new owner takes their reports.
        """
        for key in self._running.keys_of(workflow_id):
            running = self._running.pop(key)
            assert running is not None
            running.handed_over = True
            if running.context is not None:
                running.context.cancel()
            if running.task is not None:
                running.task.cancel()
        self.remote.forget_workflow(workflow_id)

    async def reported(self, report: AttemptReport) -> bool:
        """A worker's report on an attempt (see `EngineRuntime.attempt_reported`)."""
        return await self.remote.reported(report)

    def _runs_elsewhere(self, scheduled: ActivityScheduled) -> bool:
        """Whether workers run this activity (it is not registered here and they can)."""
        return scheduled.activity_type not in self.definitions and (
            self.engine.handle.serves_task_queue(scheduled.task_queue)
        )

    def abandon_run(self, workflow_id: str, run_id: str) -> None:
        """The run closed: stop its activities and record nothing more for them.

        An activity whose last outcome is being recorded (often what closed the run)
        finishes on its own: cancelling it would only raise into its task.
        """
        for key in self._running.keys_of(workflow_id, run_id):
            running = self._running.pop(key)
            assert running is not None
            if running.context is not None:
                running.context.cancel()
            if running.task is not None and not running.reporting:
                running.task.cancel()

    async def close(self) -> None:
        """Stop every activity (engine shutdown); they resume on the next start."""
        tasks = [r.task for r in self._running.values() if r.task is not None]
        for running in self._running.values():
            running.handed_over = True  # attempts with workers resume after the next start
            if running.context is not None:
                running.context.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)

    # --- the lifecycle -------------------------------------------------------------------------

    async def _lifecycle(
        self,
        key: ActivityKey,
        running: _Running,
        attempt: int,
        started: bool,
        start_at: datetime | None,
        heartbeat_details: tuple[Payload, ...],
    ) -> None:
        try:
            while True:
                if start_at is not None:
                    await self._wait_for_retry(start_at, running)
                if running.cancel_requested.is_set():
                    await self._record(
                        key,
                        "input",
                        ActivityCancelled(activity_id=key[2], attempt=max(attempt - 1, 1)),
                    )
                    return
                slot = await self._queue_slot(key, running, attempt)
                if slot is None:
                    continue  # cancelled while waiting for its queue: recorded above
                try:
                    if not started:
                        body = ActivityStarted(
                            activity_id=key[2], attempt=attempt, worker=self.engine.identity
                        )
                        await self._record(key, "record", body)
                    outcome = await self._attempt(key, running, attempt, heartbeat_details)
                finally:
                    if slot:
                        self.engine.queues.release_attempt(slot)
                retry_at = getattr(outcome, "retry_at", None)
                running.reporting = retry_at is None
                await self._record(key, "record" if retry_at is not None else "input", outcome)
                self._settle_remote(running)
                if retry_at is None:
                    return
                attempt, started, start_at = attempt + 1, False, retry_at
                heartbeat_details = outcome.last_heartbeat_details  # type: ignore[union-attr]
        except _Stop:
            pass
        finally:
            self._settle_remote(running)
            if self._running.get(key) is running:
                self._running.pop(key)

    def _queue_slots(self, queue: str) -> Slots | contextlib.nullcontext[None]:
        """The queue's ``worker_concurrency`` in this process, when it declares one."""
        settings = self.engine.queues.activity_settings(queue)
        if settings is None or settings.worker_concurrency is None:
            return contextlib.nullcontext()
        slots = self._per_queue.get(queue)
        if slots is None:
            slots = self._per_queue[queue] = Slots(settings.worker_concurrency)
        return slots

    async def _queue_slot(self, key: ActivityKey, running: _Running, attempt: int) -> str | None:
        """Wait for a slot of the attempt's task queue when its limits call for one.

        Returns the slot's key ("" when the queue has no global or rate limit), or None
        when the workflow cancelled the activity while it waited.
        """
        queue = running.scheduled.task_queue
        queues = self.engine.queues
        if not queues.limits_attempts(queue):
            return ""
        slot = f"{key[0]}/{key[1]}/{key[2]}/{attempt}"
        given, _ = await first_of(queues.attempt_slot(queue, slot), running.cancel_requested.wait())
        return slot if given else None

    def _settle_remote(self, running: _Running) -> None:
        if running.remote is not None:
            self.remote.settle(running.remote)
            running.remote = None

    async def _wait_for_retry(self, moment: datetime, running: _Running) -> None:
        """Sleep until the next attempt is due, unless the workflow cancels first."""
        await first_of(self.engine.clock.sleep_until(moment), running.cancel_requested.wait())

    async def _record_outcome_then_continue(
        self, key: ActivityKey, running: _Running, attempt: int, outcome: ActivityFailed
    ) -> None:
        try:
            await self._record(key, "record" if outcome.retry_at else "input", outcome)
        except _Stop:
            self._running.pop(key)
            return
        self._running.pop(key)
        if outcome.retry_at is not None:
            self.launch(
                key[0], key[1], running.scheduled, running.scheduled_at,
                attempt=attempt + 1, started=False, start_at=outcome.retry_at,
                heartbeat_details=outcome.last_heartbeat_details,
                first_attempt=running.first_attempt,
            )  # fmt: skip

    async def _record(
        self, key: ActivityKey, kind: Literal["input", "record"], body: EventBody
    ) -> None:
        """Record through the workflow's runner, retrying while the store is down.

        A new attempt also waits while the workflow is paused.
        """
        try:
            await record_until_durable(
                lambda: self.engine.runner(key[0]).submit(kind, body, run_id=key[1]),
                what=f"{body.type} of {key[0]}",
                retry_also=(WorkflowPausedError,),
            )
        except (WorkflowClosedError, WorkflowNotFoundError):
            raise _Stop from None
        except AionError as error:
            log.error("cannot record %s of %s: %s", body.type, key[0], error)
            raise _Stop from None

    # --- one attempt ---------------------------------------------------------------------------

    async def _attempt(
        self,
        key: ActivityKey,
        running: _Running,
        attempt: int,
        heartbeat_details: tuple[Payload, ...],
    ) -> ActivityCompleted | ActivityFailed | ActivityTimedOut | ActivityCancelled:
        scheduled = running.scheduled
        clock = self.engine.clock
        if self._runs_elsewhere(scheduled):
            return await self._remote_attempt(key, running, attempt, heartbeat_details)
        async with self._slots, self._queue_slots(scheduled.task_queue):
            started_at = clock.now()
            definition = self.definitions.get(scheduled.activity_type)
            if definition is None:
                error: BaseException = ApplicationError(
                    f"no activity named {scheduled.activity_type!r} is registered with this "
                    f"engine; registered: {', '.join(sorted(self.definitions)) or 'none'}",
                    type="ActivityNotRegistered",
                )
                return self._failed_attempt(
                    scheduled,
                    running.scheduled_at,
                    attempt,
                    failure_from_exception(error),
                    clock.now(),
                    heartbeat_details,
                    running.first_attempt,
                )
            try:
                args = from_payloads(
                    scheduled.input, definition.param_types, f"activity {definition.name!r}"
                )
                previous = tuple(from_payloads(heartbeat_details, None, "heartbeat details"))
            except AionError as invalid:
                failure = failure_from_exception(invalid).model_copy(update={"non_retryable": True})
                return self._failed_attempt(
                    scheduled,
                    running.scheduled_at,
                    attempt,
                    failure,
                    clock.now(),
                    heartbeat_details,
                    running.first_attempt,
                )
            info = ActivityInfo(
                activity_id=scheduled.activity_id,
                activity_type=scheduled.activity_type,
                attempt=attempt,
                workflow_id=key[0],
                run_id=key[1],
                task_queue=scheduled.task_queue,
                scheduled_at=running.scheduled_at,
                idempotency_key=f"{key[0]}:{key[1]}:{scheduled.activity_id}",
                heartbeat_details=previous,
            )
            loop = asyncio.get_running_loop()

            def on_heartbeat(details: tuple[Any, ...]) -> None:
                def note() -> None:
                    running.last_heartbeat_at = clock.now()
                    running.last_heartbeat_details = details
                    running.heartbeat.set()

                with contextlib.suppress(RuntimeError):  # the engine stopped
                    loop.call_soon_threadsafe(note)

            context = ActivityContext(info, on_heartbeat)
            running.context = context
            running.last_heartbeat_at = started_at
            # Until this attempt heartbeats, the last details are those it was handed.
            running.last_heartbeat_details = previous
            running.heartbeat.clear()
            call = ActivityCall(
                scheduled.activity_type, tuple(args), key[0], attempt, scheduled.headers
            )
            work = asyncio.ensure_future(self._invoke(definition, context, call))
            self.attempts_in_progress += 1
            try:
                outcome = await self._supervise(work, running, started_at)
            except asyncio.CancelledError:
                # The lifecycle itself was cancelled (the run closed, the engine stops):
                # the attempt is a task of its own and must be stopped explicitly.
                self._stop(work, running)
                raise
            finally:
                self.attempts_in_progress -= 1
                running.context = None
            return self._outcome(scheduled, running, attempt, work, outcome)

    async def _remote_attempt(
        self,
        key: ActivityKey,
        running: _Running,
        attempt: int,
        heartbeat_details: tuple[Payload, ...],
    ) -> ActivityCompleted | ActivityFailed | ActivityTimedOut | ActivityCancelled:
        """Hand the attempt to a worker and supervise it from here (timeouts, cancellation)."""
        scheduled = running.scheduled
        task = ActivityTask(
            workflow_id=key[0], run_id=key[1], activity_id=key[2], attempt=attempt,
            activity_type=scheduled.activity_type, task_queue=scheduled.task_queue,
            input=scheduled.input, heartbeat_details=heartbeat_details,
            scheduled_at=running.scheduled_at,
            start_to_close_timeout=scheduled.start_to_close_timeout,
            heartbeat_timeout=scheduled.heartbeat_timeout, headers=scheduled.headers,
        )  # fmt: skip
        # The task crosses the transport: its payloads leave encoded, as the store holds them.
        task = await self.engine.codec.encode_payloads_in(task)
        remote = running.remote = self.remote.open(task)
        started_at = self.engine.clock.now()
        running.last_heartbeat_at = started_at
        running.last_heartbeat_details = _details_or_nothing(heartbeat_details)
        running.heartbeat.clear()
        helpers = [
            asyncio.create_task(self.remote.dispatch(remote)),
            asyncio.create_task(self._take_heartbeats(remote, running)),
        ]
        try:
            how = await self._supervise(remote.outcome, running, started_at)
        except asyncio.CancelledError:
            if not running.handed_over:
                self.remote.cancel(remote)  # the run closed: the worker may stop
            raise
        finally:
            for helper in helpers:
                helper.cancel()
        if how != "done":
            self.remote.cancel(remote)
        return self._outcome(scheduled, running, attempt, remote.outcome, how)

    async def _take_heartbeats(self, remote: RemoteAttempt, running: _Running) -> None:
        while True:
            report = await remote.heartbeats.get()
            running.last_heartbeat_at = self.engine.clock.now()
            running.last_heartbeat_details = _details_or_nothing(report.heartbeat_details)
            running.heartbeat.set()

    async def _invoke(
        self, definition: ActivityDefinition, context: ActivityContext, call: ActivityCall
    ) -> Any:
        return await invoke_activity(
            definition, context, call, interceptors=self._interceptors, threads=self._threads
        )

    async def _supervise(
        self, work: asyncio.Future[Any], running: _Running, started_at: datetime
    ) -> TimeoutKind | Literal["done", "cancelled"]:
        """Wait for the attempt, a deadline, or a cancel request, whichever comes first."""
        scheduled = running.scheduled
        while True:
            deadlines: list[tuple[datetime, TimeoutKind]] = []
            if scheduled.start_to_close_timeout is not None:
                deadlines.append((started_at + scheduled.start_to_close_timeout, "start_to_close"))
            if scheduled.schedule_to_close_timeout is not None:
                deadlines.append(
                    (
                        running.scheduled_at + scheduled.schedule_to_close_timeout,
                        "schedule_to_close",
                    )
                )
            if scheduled.heartbeat_timeout is not None and running.last_heartbeat_at is not None:
                deadlines.append(
                    (running.last_heartbeat_at + scheduled.heartbeat_timeout, "heartbeat")
                )
            moment: datetime | None = None
            kind: TimeoutKind = "start_to_close"
            if deadlines:
                moment, kind = min(deadlines)
            deadline_passed = await self._first_of(work, running, moment)
            running.heartbeat.clear()
            # A requested cancellation wins over an attempt that ended because
            # it noticed the request (a sync activity polling is_cancelled()).
            if running.cancel_requested.is_set():
                self._stop(work, running)
                return "cancelled"
            if work.done():
                return "done"
            if deadline_passed:
                self._stop(work, running)
                return kind

    async def _first_of(
        self, work: asyncio.Future[Any], running: _Running, moment: datetime | None
    ) -> bool:
        """Wait for the attempt to end, a cancel request, a heartbeat or `moment`.

        Never cancels the attempt. Returns whether `moment` came. Callbacks, not a
        task per wait: thousands of attempts may be supervised at once.
        """
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def rouse(_: object = None) -> None:
            if not wake.done():
                wake.set_result(None)

        work.add_done_callback(rouse)
        running.cancel_requested.wake(wake)
        running.heartbeat.wake(wake)
        sleep = None
        if moment is not None:
            sleep = asyncio.ensure_future(self.engine.clock.sleep_until(moment))
            sleep.add_done_callback(rouse)
        try:
            await wake
        finally:
            work.remove_done_callback(rouse)
            running.cancel_requested.forget(wake)
            running.heartbeat.forget(wake)
            if sleep is not None and not sleep.done():
                sleep.cancel()
                await asyncio.gather(sleep, return_exceptions=True)
        return sleep is not None and sleep.done() and not sleep.cancelled()

    def _stop(self, work: asyncio.Future[Any], running: _Running) -> None:
        if running.context is not None:
            running.context.cancel()
        work.cancel()  # a sync activity's thread runs on; its late result is ignored
        work.add_done_callback(lambda f: f.cancelled() or f.exception())

    def _outcome(
        self,
        scheduled: ActivityScheduled,
        running: _Running,
        attempt: int,
        work: asyncio.Future[Any],
        how: str,
    ) -> ActivityCompleted | ActivityFailed | ActivityTimedOut | ActivityCancelled:
        now = self.engine.clock.now()
        details = self._heartbeat_payloads(running)
        if how == "cancelled":
            return ActivityCancelled(activity_id=scheduled.activity_id, attempt=attempt)
        if how != "done":
            kind: TimeoutKind = how  # type: ignore[assignment]
            in_budget = attempt - running.first_attempt + 1
            retry_at = (
                None
                if kind == "schedule_to_close"
                else self._retry_at(
                    scheduled, running.scheduled_at, in_budget, "TimeoutError", False, now
                )
            )
            return ActivityTimedOut(
                activity_id=scheduled.activity_id, attempt=attempt, timeout_kind=kind,
                retry_at=retry_at, last_heartbeat_details=details,
            )  # fmt: skip
        error = work.exception() if not work.cancelled() else asyncio.CancelledError()
        if error is None and isinstance(work.result(), AttemptReport):
            report: AttemptReport = work.result()
            if report.kind == "completed" and report.result is not None:
                return ActivityCompleted(
                    activity_id=scheduled.activity_id, attempt=attempt, result=report.result
                )
            failure = report.failure or Failure(message="the worker reported no outcome")
            return self._failed_attempt(
                scheduled, running.scheduled_at, attempt, failure, now, details,
                running.first_attempt,
            )  # fmt: skip
        if error is None:
            definition = self.definitions[scheduled.activity_type]
            try:
                result = to_payload(
                    work.result(), definition.return_type, what="activity result",
                    max_bytes=self.engine.max_payload_bytes,
                )  # fmt: skip
            except AionError as invalid:
                failure = failure_from_exception(invalid).model_copy(update={"non_retryable": True})
                return self._failed_attempt(
                    scheduled, running.scheduled_at, attempt, failure, now, details,
                    running.first_attempt,
                )  # fmt: skip
            return ActivityCompleted(
                activity_id=scheduled.activity_id, attempt=attempt, result=result
            )
        return self._failed_attempt(
            scheduled, running.scheduled_at, attempt, failure_from_exception(error), now, details,
            running.first_attempt,
        )  # fmt: skip

    def _heartbeat_payloads(self, running: _Running) -> tuple[Payload, ...]:
        try:
            return tuple(to_payload(detail) for detail in running.last_heartbeat_details)
        except AionError:
            return (to_payload(repr(running.last_heartbeat_details)),)

    def _failed_attempt(
        self,
        scheduled: ActivityScheduled,
        scheduled_at: datetime,
        attempt: int,
        failure: Failure,
        now: datetime,
        details: tuple[Payload, ...],
        first_attempt: int = 1,
    ) -> ActivityFailed:
        # The policy counts the attempts of the current budget (a reopen starts a new one).
        retry_at = self._retry_at(
            scheduled, scheduled_at, attempt - first_attempt + 1, failure.type,
            failure.non_retryable, now,
        )  # fmt: skip
        return ActivityFailed(
            activity_id=scheduled.activity_id, attempt=attempt, failure=failure,
            retry_at=retry_at, last_heartbeat_details=details,
        )  # fmt: skip

    def _retry_at(
        self,
        scheduled: ActivityScheduled,
        scheduled_at: datetime,
        attempt: int,
        error_type: str,
        non_retryable: bool,
        now: datetime,
    ) -> datetime | None:
        policy = scheduled.retry_policy
        if not policy.retries_error(error_type, non_retryable=non_retryable):
            return None
        if not policy.allows_attempt(attempt + 1):
            return None
        retry_at = now + policy.interval_after(attempt)
        limit = scheduled.schedule_to_close_timeout
        if limit is not None and retry_at >= scheduled_at + limit:
            return None  # the next attempt could not finish in time
        return retry_at


def _details_or_nothing(payloads: tuple[Payload, ...]) -> tuple[Any, ...]:
    try:
        return tuple(from_payloads(payloads, None, "heartbeat details"))
    except AionError:
        return ()


class _Stop(Exception):
    """The workflow run no longer wants this activity (closed, replaced)."""
