"""The engine: runs workflows durably in this process (DESIGN 2.2, 3).

It owns the store, the group committer every recorder shares, one runner per
workflow in a bounded cache (residency), the in-process activity executor,
the timer service and the supervisor. On start it recovers every open
workflow from its history.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from aion_core.codec import PayloadCodecChain
from aion_core.converter import DEFAULT_MAX_PAYLOAD_BYTES, check_max_payload_bytes
from aion_core.definitions import (
    ActivityDefinition,
    WorkflowDefinition,
    activity_definition,
    workflow_definition,
)
from aion_core.engine.activities import ActivityExecutor
from aion_core.engine.children import ChildCoordinator
from aion_core.engine.clock import Clock, SystemClock
from aion_core.engine.collector import (
    DEFAULT_GC_THRESHOLD,
    DiscardedInstances,
    raise_gc_threshold,
)
from aion_core.engine.queries_out import QueryAsker
from aion_core.engine.queues import AppliesTo, QueueDispatcher, QueueSettings
from aion_core.engine.runner import WorkflowRunner
from aion_core.engine.serving import CallServing
from aion_core.engine.signals_out import SignalCourier
from aion_core.engine.supervision import OnExhausted, Supervisor
from aion_core.engine.timers import TimerService
from aion_core.errors import (
    AionError,
    ConfigurationError,
    UnknownURLSchemeError,
    WorkflowClosedError,
)
from aion_core.events import (
    CLOSING_EVENT_TYPES,
    ActivityCancelRequested,
    ActivityScheduled,
    Event,
    TimerStarted,
    UpdateCompleted,
    WorkflowContinuedAsNew,
    WorkflowReopened,
    WorkflowStarted,
    WorkflowStatus,
    WorkflowTimedOut,
)
from aion_core.group_commit import GroupCommitter
from aion_core.lifecycle import Service
from aion_core.observers import EngineObservers
from aion_core.plugins import Plugins, load_plugins
from aion_core.schedules import client as schedules
from aion_core.schedules.spec import CatchupPolicy, OverlapPolicy, ScheduleDescription
from aion_core.schedules.workflow import ScheduleWorkflow, schedule_activities
from aion_core.store.protocol import EventStore
from aion_core.store.records import WorkflowRecord
from aion_core.tasks import AttemptReport
from aion_core.transport import Ownership, TransportClient

__all__ = ["DEFAULT_SQLITE_URL", "Engine", "default_store_url"]

log = logging.getLogger("aion.engine")

DEFAULT_SQLITE_URL = "sqlite:///aion.db"
IdConflictPolicy = Literal["fail", "use_existing", "terminate_existing"]
IdReusePolicy = Literal["allow", "allow_failed_only", "reject"]
_D = TypeVar("_D", WorkflowDefinition, ActivityDefinition)


def default_store_url(plugins: Plugins) -> str:
    """``sqlite:///aion.db`` when a plugin handles SQLite (aion-store-sql), else ``memory://``."""
    try:
        plugins.event_store(DEFAULT_SQLITE_URL)
    except UnknownURLSchemeError:
        return "memory://"
    return DEFAULT_SQLITE_URL


class Engine(CallServing, Service):
    """Runs workflows and their activities durably, in this process.

    Use it as an async context manager::

        async with Engine(store="sqlite:///aion.db", workflows=[Checkout],
                          activities=[charge]) as engine:
            handle = await engine.start_workflow(Checkout.run, order, id="order-42")
            receipt = await handle.result()

    Args:
        store: A store URL or store; default ``sqlite:///aion.db`` when
            aion-store-sql is installed, else ``memory://``.
        workflows: Workflow classes or functions (``@workflow.defn``) this engine runs.
        activities: Activity functions (``@activity.defn``) this engine executes.
        transport: Where engines, workers and clients meet: ``inproc://`` (default: this
            process only) or a plugin's URL such as ``nats://host:4222``.
        namespace: Keeps engines sharing a transport apart.
        plugins: The loaded plugins (default: `load_plugins()`).
        clock: Source of time (tests pass a skipping clock).
        max_cached_workflows: Live instances kept in memory; idle ones beyond
            are evicted and rebuilt by replay on their next event.
        max_concurrent_activities: Activity attempts running at once.
        max_restarts: Restarts of a failing workflow within `restart_within`.
        restart_within: The window supervision counts restarts in.
        restart_backoff: The wait before the first restart (doubles after).
        on_exhausted: ``"fail"`` the workflow or ``"suspend"`` it when restarts run out.
        query_timeout: How long a query may wait for its answer by default.
        gc_threshold: Python's garbage collector's generation-0 threshold to set when the
            engine starts, if the process still has Python's default (700): with thousands
            of workflows in memory, the default makes the collector scan a large heap very
            often (see `aion_core.engine.collector`). None leaves the collector alone.
        max_payload_bytes: Largest JSON of one payload this engine records: a workflow
            input, signal or update argument, query argument, activity input or result,
            child input, workflow or update result. Above it a caller gets
            `PayloadTooLargeError` and nothing is recorded; an activity attempt whose
            result is too large fails (not retried); workflow code gets the error where it
            passes the value (so a workflow result too large fails the workflow). Calls
            from other processes are checked against it too. Payloads already in a history
            are never checked again, so lowering it leaves running workflows alone.
            Default `DEFAULT_MAX_PAYLOAD_BYTES` (2 MiB); None for no limit.
        queues: Flow-controlled task queues (see `configure_queue`).
    """

    def __init__(
        self,
        store: str | EventStore | None = None,
        *,
        workflows: Iterable[object] = (),
        activities: Iterable[object] = (),
        transport: str = "inproc://",
        namespace: str = "default",
        plugins: Plugins | None = None,
        clock: Clock | None = None,
        max_cached_workflows: int = 1000,
        max_concurrent_activities: int = 100,
        max_restarts: int = 3,
        restart_within: timedelta = timedelta(seconds=60),
        restart_backoff: timedelta = timedelta(milliseconds=100),
        on_exhausted: OnExhausted = "fail",
        query_timeout: timedelta = timedelta(seconds=10),
        gc_threshold: int | None = DEFAULT_GC_THRESHOLD,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        queues: Iterable[QueueSettings] = (),
    ) -> None:
        if max_cached_workflows < 1:
            raise ConfigurationError("max_cached_workflows must be at least 1")
        self.max_payload_bytes = check_max_payload_bytes(max_payload_bytes)
        self.plugins = plugins or load_plugins()
        if store is None:
            store = default_store_url(self.plugins)
        self.store: EventStore = (
            self.plugins.event_store(store) if isinstance(store, str) else store
        )
        self.namespace = namespace
        self.clock: Clock = clock or SystemClock()
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        # Schedules are built-in workflows; their start activity reaches this engine.
        workflows = [*workflows, ScheduleWorkflow]
        activities = [*activities, *schedule_activities(self)]
        self._workflows = _by_name((workflow_definition(w) for w in workflows), "workflow")
        activity_definitions = _by_name((activity_definition(a) for a in activities), "activity")
        self.max_cached_workflows = max_cached_workflows
        self.gc_threshold = gc_threshold
        self.discarded = DiscardedInstances()
        """Counts discarded workflow instances, and collects their cycles now and then."""
        self.observers = EngineObservers(self.plugins.engine_observers())
        self.committer = GroupCommitter(self.store, observers=self.observers)
        self.codec = PayloadCodecChain(self.plugins.payload_codecs())
        self.workflow_interceptors = self.plugins.workflow_interceptors()
        self.client_interceptors = self.plugins.client_interceptors()
        self.activities = ActivityExecutor(
            self,
            activity_definitions,
            max_concurrency=max_concurrent_activities,
            interceptors=self.plugins.activity_interceptors(),
        )
        self.supervisor = Supervisor(
            self,
            max_restarts=max_restarts,
            within=restart_within,
            backoff=restart_backoff,
            on_exhausted=on_exhausted,
        )
        self.timers = TimerService(self)
        self.queues = QueueDispatcher(self)
        for settings in queues:
            self.queues.store()
            self.queues.configure(settings)
        self.children = ChildCoordinator(self)
        self.signals_out = SignalCourier(self)
        self.queries_out = QueryAsker(self)
        self._runners: collections.OrderedDict[str, WorkflowRunner] = collections.OrderedDict()
        self._close_waiters: dict[str, list[asyncio.Future[Event | None]]] = {}
        self._update_waiters: dict[tuple[str, str], asyncio.Future[UpdateCompleted]] = {}
        self._deadlines: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.query_timeout = query_timeout
        self._timer_task: asyncio.Task[None] | None = None
        self._queue_task: asyncio.Task[None] | None = None
        self._started = False
        self._adopting = 0
        self.call_timeout = 30.0
        self._events_client: TransportClient | None = None
        self.transport = transport
        self.handle = self.plugins.engine_handle(transport, self)
        self.query_service = self.plugins.query_service(transport, self)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, start firing timers, and recover every open workflow."""
        if self._started:
            return
        await self.store.open()
        if self.gc_threshold is not None:
            raise_gc_threshold(self.gc_threshold)
        self._started = True
        self._timer_task = asyncio.create_task(self.timers.run(), name="aion-timers")
        self._queue_task = asyncio.create_task(self.queues.run(), name="aion-queues")
        try:
            await self.query_service.start()
            await self.handle.start()  # claims ownership: `adopt` recovers what is ours
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop timers, activities and restarts, then close the store. Nothing recorded is lost."""
        if not self._started:
            return
        self._started = False
        # Other nodes take over our workflows first; nothing new arrives after this.
        await self.handle.close()
        await self.query_service.close()
        for task in (self._timer_task, self._queue_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.supervisor.close()
        await self.children.close()
        await self.signals_out.close()
        await self.queries_out.close()
        await self.activities.close()
        for deadline in self._deadlines.values():
            deadline.cancel()
        await asyncio.gather(*self._deadlines.values(), return_exceptions=True)
        self._deadlines.clear()
        # Steps in flight stop before the store closes under them; whatever
        # they had not committed is replayed or retried on the next start.
        await asyncio.gather(*(runner.stop() for runner in self._runners.values()))
        self._runners.clear()
        await self.committer.close()
        if self._events_client is not None:
            await self._events_client.close()
            self._events_client = None
        for waiters in self._close_waiters.values():
            for waiter in waiters:
                waiter.cancel()
        await self.store.close()
        self.observers.engine_closed()

    async def adopt(self, owns: Ownership) -> None:
        """Workflows for which `owns` holds are ours now: recover the open ones (transport)."""
        self._adopting += 1
        try:
            after = ""
            while page := await self.store.open_workflows(after_id=after, limit=500):
                ours = [record for record in page if owns(record.workflow_id)]
                await asyncio.gather(*(self._recover_one(record) for record in ours))
                after = page[-1].workflow_id
        finally:
            self._adopting -= 1
        self.timers.ownership_changed()

    async def release(self, owns: Ownership) -> None:
        """Workflows for which `owns` holds are another engine's now: drop them from memory."""
        for workflow_id in [w for w in self._runners if owns(w)]:
            # Gone already if evicted (or released by a concurrent call) while another stopped.
            runner = self._runners.pop(workflow_id, None)
            if runner is not None:
                await runner.stop()  # (which may resume its activities: abandoned below)
            self.activities.abandon_workflow(workflow_id)
        # Whoever waits here for one of them to close asks its new owner instead.
        for workflow_id in [w for w in self._close_waiters if owns(w)]:
            for waiter in self._close_waiters.pop(workflow_id):
                if not waiter.done():
                    waiter.set_result(None)
        # Evicted workflows too: their activities are still driven, their deadlines armed.
        self.activities.abandon_workflows(owns)
        for key in [k for k in self._deadlines if owns(k[0])]:
            self._deadlines.pop(key).cancel()
        self.timers.ownership_changed()

    @property
    def adopting(self) -> bool:
        """Whether workflows are being recovered after a change of ownership."""
        return self._adopting > 0

    async def attempt_reported(self, report: AttemptReport) -> bool:
        """A worker's report on an activity attempt (see `EngineRuntime.attempt_reported`)."""
        return await self.activities.reported(report)

    async def _recover_one(self, record: WorkflowRecord) -> None:
        if record.status is WorkflowStatus.SUSPENDED:
            return
        if record.workflow_type not in self._workflows:
            log.warning(
                "workflow %s of type %r is open but not registered with this engine",
                record.workflow_id,
                record.workflow_type,
            )
            return
        if record.status is WorkflowStatus.QUEUED:
            self.queues.recovered(record.task_queue)
        try:
            await self.runner(record.workflow_id).ensure_live()
        except AionError as error:
            log.error("workflow %s not recovered: %s", record.workflow_id, error)

    # --- runners and residency -----------------------------------------------------------------

    def runner(self, workflow_id: str) -> WorkflowRunner:
        """The runner of `workflow_id` (created on first use, most recently used last)."""
        runner = self._runners.get(workflow_id)
        if runner is None:
            runner = self._runners[workflow_id] = WorkflowRunner(self, workflow_id)
        else:
            self._runners.move_to_end(workflow_id)
        return runner

    def cached_runner(self, workflow_id: str) -> WorkflowRunner | None:
        """The runner of `workflow_id` if it is in memory (never creates one)."""
        return self._runners.get(workflow_id)

    def runner_idle(self, runner: WorkflowRunner) -> None:
        """A runner finished its steps: drive its unfinished activities, then evict.

        Least recently used idle runners beyond the cache are evicted. Before that, every
        activity the live instance still waits for is handed to the executor: a replay that
        recorded nothing (recovery of a workflow waiting on an activity whose attempt died
        with the old engine, a supervision restart) has no append whose effects would do it,
        and the instance may be evicted right below.
        """
        if self._started:
            self._resume_activities(runner)
            self._arm_deadline(runner)
            self.children.resume(runner)
            self.signals_out.resume(runner)
            self.queries_out.resume(runner)
        excess = len(self._runners) - self.max_cached_workflows
        evicted = 0
        for workflow_id in list(self._runners) if excess > 0 else ():
            if evicted == excess:
                break
            candidate = self._runners[workflow_id]
            if not candidate.busy:
                candidate.forget()
                del self._runners[workflow_id]
                evicted += 1
        if self.observers:
            self.observers.cache_changed(len(self._runners), evicted)

    @property
    def cached_workflows(self) -> int:
        """How many workflows have a runner in memory."""
        return len(self._runners)

    @property
    def busy_workflows(self) -> int:
        """How many cached workflows have a step running or arrivals waiting (never evicted)."""
        return sum(1 for runner in self._runners.values() if runner.busy)

    def is_idle(self) -> bool:
        """Whether nothing runs: no workflow step and no activity attempt (time skipping)."""
        return (
            self.activities.idle
            and not self.timers.busy
            and not any(r.busy for r in self._runners.values())
        )

    def workflow_definition(self, name: str) -> WorkflowDefinition:
        """The registered workflow named `name`.

        Raises:
            ConfigurationError: No workflow of that name is registered.
        """
        try:
            return self._workflows[name]
        except KeyError:
            raise ConfigurationError(
                f"workflow type {name!r} is not registered with this engine; "
                f"registered: {', '.join(sorted(self._workflows)) or 'none'}"
            ) from None

    # --- flow control --------------------------------------------------------------------------

    def configure_queue(
        self,
        name: str,
        *,
        worker_concurrency: int | None = None,
        global_concurrency: int | None = None,
        rate_limit: tuple[int, timedelta] | None = None,
        partition_concurrency: int | None = None,
        applies_to: AppliesTo = "workflows",
    ) -> None:
        """Put a task queue under flow control (declare it alike on every engine).

        Workflows started on it are recorded ``queued`` and their code runs once the
        queue lets them out: highest priority first, then in start order, within
        every limit given. The limits are kept in the store, so they hold across all
        engines sharing it, through restarts and failover.

        Args:
            name: The task queue.
            worker_concurrency: Runs of the queue this engine lets out at once.
            global_concurrency: Runs of the queue open past the queue at once, over
                every engine.
            rate_limit: ``(count, period)``: at most `count` runs let out within any
                window of `period` (a sliding window).
            partition_concurrency: Like `global_concurrency`, per partition key
                (``start_workflow(..., partition_key=)``).
            applies_to: ``"workflows"`` (runs started on the queue) or ``"activities"``
                (attempts of activities scheduled on it, ``execute_activity(...,
                task_queue=)``): a queue for activities limits their attempts over every
                engine and worker, and ``worker_concurrency`` the attempts one process runs.

        Raises:
            ConfigurationError: A limit that is not a positive integer, a bad rate limit,
                or a store without flow control.
        """
        settings = QueueSettings(
            name,
            worker_concurrency=worker_concurrency,
            global_concurrency=global_concurrency,
            rate_limit=rate_limit,
            partition_concurrency=partition_concurrency,
            applies_to=applies_to,
        )
        self.queues.store()  # refuse a store without flow control now, not at the first start
        self.queues.configure(settings)

    # --- after each durable append -------------------------------------------------------------

    def after_append(
        self,
        runner: WorkflowRunner,
        events: Sequence[Event],
        dispatch: Sequence[tuple[str, ActivityScheduled, bool]],
    ) -> None:
        """Let effects of a durable step happen: dispatch, arm, cancel, notify."""
        workflow_id = runner.workflow_id
        recorded_at = events[0].recorded_at
        self.handle.published(workflow_id, events)
        for run_id, scheduled, started in dispatch:
            self.activities.launch(
                workflow_id, run_id, scheduled, recorded_at, attempt=1, started=started
            )
        for event in events:
            body = event.body
            self.children.recorded(runner, event)
            self.signals_out.recorded(runner, event)
            if body.type not in _HAS_EFFECTS:
                continue
            if isinstance(body, TimerStarted):
                self.timers.armed(body.fire_at)
            elif isinstance(body, WorkflowReopened):
                for fire_at in body.rearmed_timers.values():
                    self.timers.armed(fire_at)
            elif isinstance(body, ActivityCancelRequested):
                self.activities.cancel(workflow_id, event.run_id, body.activity_id)
            elif isinstance(body, WorkflowStarted) and body.queue is not None:
                self.queues.wake(body.task_queue)
            elif isinstance(body, UpdateCompleted):
                waiter = self._update_waiters.pop((workflow_id, body.update_id), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(body)
            elif body.type in CLOSING_EVENT_TYPES:
                self.activities.abandon_run(workflow_id, event.run_id)
                deadline = self._deadlines.pop((workflow_id, event.run_id), None)
                if deadline is not None and deadline is not asyncio.current_task():
                    deadline.cancel()
                self._drop_update_waiters(workflow_id, body.type)
                self.queues.wake()  # a slot may be free
                if not isinstance(body, WorkflowContinuedAsNew):
                    self._notify_closed(workflow_id, event)

    def _resume_activities(self, runner: WorkflowRunner) -> None:
        """Hand every unfinished activity of the live instance to the executor.

        Idempotent: activities the executor already drives are left alone.
        """
        instance = runner.instance
        if instance is None or instance.closed:
            return
        now = self.clock.now()
        for state in instance.pending_activities():
            self.activities.resume(runner.workflow_id, instance.run_id, state, now)

    def _arm_deadline(self, runner: WorkflowRunner) -> None:
        """Close the live run as timed out once its execution timeout passes (idempotent)."""
        instance = runner.instance
        if instance is None or instance.closed or instance.info is None:
            return
        timeout = instance.info.execution_timeout
        key = (runner.workflow_id, instance.run_id)
        if timeout is None or key in self._deadlines:
            return
        deadline = instance.info.start_time + timeout
        self._deadlines[key] = asyncio.create_task(
            self._time_out(runner.workflow_id, instance.run_id, deadline, timeout),
            name=f"aion-deadline-{runner.workflow_id}",
        )

    async def _time_out(
        self, workflow_id: str, run_id: str, deadline: datetime, timeout: timedelta
    ) -> None:
        await self.clock.sleep_until(deadline)
        try:
            await self.runner(workflow_id).submit(
                "close", WorkflowTimedOut(execution_timeout=timeout), run_id=run_id
            )
        except AionError as error:
            log.info("workflow %s did not time out: %s", workflow_id, error)
        finally:
            self._deadlines.pop((workflow_id, run_id), None)

    def _drop_update_waiters(self, workflow_id: str, closed_by: str) -> None:
        for key in [k for k in self._update_waiters if k[0] == workflow_id]:
            waiter = self._update_waiters.pop(key)
            if not waiter.done():
                waiter.set_exception(WorkflowClosedError(workflow_id, closed_by))

    def _notify_closed(self, workflow_id: str, event: Event) -> None:
        for waiter in self._close_waiters.pop(workflow_id, []):
            if not waiter.done():
                waiter.set_result(event)

    # --- starting and following workflows ------------------------------------------------------

    def _definition_of(self, workflow: object) -> WorkflowDefinition:
        if isinstance(workflow, str):
            return self.workflow_definition(workflow)
        definition = workflow_definition(workflow)
        registered = self._workflows.get(definition.name)
        if registered is None:
            raise ConfigurationError(
                f"workflow {definition.name!r} is not registered with this engine; "
                "pass it in Engine(workflows=[...])"
            )
        return registered

    async def events(self, workflow_id: str) -> AsyncIterator[Event]:
        """The workflow's events as they become durable, from now on (through the transport)."""
        if self._events_client is None:
            client = self.plugins.transport_client(self.transport)
            await client.connect()
            self._events_client = client
        async for event in self._events_client.events(workflow_id):
            yield event

    # --- schedules (DESIGN 4.8; the logic lives in aion_core.schedules) -------------------------

    async def create_schedule(
        self,
        schedule_id: str,
        workflow: object,
        *args: Any,
        cron: str | None = None,
        every: timedelta | None = None,
        time_zone: str = "UTC",
        overlap: OverlapPolicy = "skip",
        catchup: CatchupPolicy = "latest",
        task_queue: str | None = None,
    ) -> schedules.ScheduleHandle:
        """Create a schedule that starts `workflow(*args)` at every fire time, by itself.

        Args:
            schedule_id: The schedule's id; runs it starts get ids ``<schedule_id>-<fire time>``.
            workflow: The workflow (class, run method, function) or its type name.
            *args: The input of every run, checked against the workflow's signature.
            cron: A 5-field cron expression, read as wall-clock time in `time_zone`
                (exactly one of `cron` and `every`).
            every: A fixed interval, counted from the Unix epoch (``hours=1`` fires on the
                hour); absolute, so it takes no time zone.
            time_zone: The IANA time zone of `cron` (``"Europe/Berlin"``), recorded with the
                schedule. Across daylight saving changes each matching wall time fires
                once: a repeated one (clocks fall back) at its first occurrence, a skipped
                one (clocks spring forward) at the first instant after the gap, so a
                daily job never misses a day. Zones other than UTC need the machine's time
                zone database (or ``pip install tzdata``) on every engine that runs it.
            overlap: When the previous run is still open: ``"skip"`` this fire,
                ``"buffer_one"`` (start it when the previous closes), ``"cancel_other"``
                (cancel the previous, then start) or ``"allow_all"``.
            catchup: Fire times missed while no engine ran: ``"all"``, only the
                ``"latest"``, or ``"none"``.
            task_queue: The task queue of the runs it starts.

        Raises:
            ConfigurationError: Invalid cron, interval, time zone or policy, a time zone with
                `every`, or an unregistered workflow.
            PayloadValidationError: `args` do not fit the workflow.
            ScheduleAlreadyExistsError: A schedule with this id exists.
        """
        return await schedules.create_schedule(
            self, schedule_id, self._definition_of(workflow), args, cron=cron, every=every,
            time_zone=time_zone, overlap=overlap, catchup=catchup, task_queue=task_queue,
        )  # fmt: skip

    def get_schedule(self, schedule_id: str) -> schedules.ScheduleHandle:
        """A handle to an existing schedule (describe, pause, resume, trigger, update, delete)."""
        return schedules.ScheduleHandle(self, schedule_id)

    async def list_schedules(self) -> list[ScheduleDescription]:
        """Every schedule that is not deleted, described, by schedule id."""
        return await schedules.list_schedules(self)


_HAS_EFFECTS = CLOSING_EVENT_TYPES | {
    "TimerStarted",
    "WorkflowReopened",
    "ActivityCancelRequested",
    "WorkflowStarted",
    "UpdateCompleted",
}
"""Event types `Engine.after_append` acts on itself, by name: a pydantic isinstance test
costs a set lookup several times over, and every event of every step passes by."""


def _by_name(definitions: Iterable[_D], kind: str) -> dict[str, _D]:
    found: dict[str, _D] = {}
    for definition in definitions:
        if definition.name in found and found[definition.name] is not definition:
            raise ConfigurationError(f"two {kind}s are registered as {definition.name!r}")
        found[definition.name] = definition
    return found
