"""The runner of one workflow: everything that happens to it goes through here, in order.

Arrivals (a start, an activity outcome, a timer fire, an engine record such as
an attempt starting) queue up; the runner takes all that are waiting as one
step. Each input is delivered to the workflow code, which runs until it waits
again; the commands it issued join the step. The whole step (inputs, commands
and engine records, in order) is appended as one batch, and only once that
batch is durable does anything leave the step: replies, activity dispatch,
timer arming, close notifications (DESIGN 4.3). If the append fails, the
instance (which has seen the inputs) is discarded and rebuilt by replay next
time, so the workflow never acts on anything unrecorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from aion_core.errors import (
    AionError,
    SequenceConflictError,
    StoreError,
    WorkflowAlreadyStartedError,
    WorkflowClosedError,
    WorkflowNotFoundError,
)
from aion_core.events import (
    ActivityScheduled,
    ActivityStarted,
    EventBody,
    WorkflowContinuedAsNew,
    WorkflowStarted,
    WorkflowStatus,
    WorkflowTerminated,
    status_after,
)
from aion_core.history import check_contiguous
from aion_core.recorder import NewEvent, Recorder, StoreRecorder, step_time
from aion_core.runtime.commands import command_key, is_input
from aion_core.runtime.instance import WorkflowInstance

if TYPE_CHECKING:
    from aion_core.definitions import WorkflowDefinition
    from aion_core.engine.engine import Engine

__all__ = ["Arrival", "StartRequest", "WorkflowRunner"]

log = logging.getLogger("aion.engine")

ArrivalKind = Literal["start", "input", "record", "close"]
_MAX_CONTINUES_PER_STEP = 100

_REUSABLE_AFTER = {
    "allow": frozenset(s for s in WorkflowStatus if s.is_closed),
    "allow_failed_only": frozenset(
        {
            WorkflowStatus.FAILED,
            WorkflowStatus.CANCELLED,
            WorkflowStatus.TERMINATED,
            WorkflowStatus.TIMED_OUT,
        }
    ),
    "reject": frozenset[WorkflowStatus](),
}


@dataclass(frozen=True)
class StartRequest:
    """What `start_workflow` asks for, checked against the id's state inside the step."""

    definition: WorkflowDefinition
    run_id: str
    id_conflict: Literal["fail", "use_existing", "terminate_existing"]
    id_reuse: Literal["allow", "allow_failed_only", "reject"]


@dataclass
class Arrival:
    """Something to record for the workflow, with the future its sender awaits.

    `kind`: "start" begins a run; "input" is delivered to the code; "record" is
    an engine record the code never sees; "close" ends the run from outside.
    `run_id`, when set, is the run the arrival is meant for; another run refuses
    it. Once recorded, `done` resolves with the run the arrival went to.
    """

    kind: ArrivalKind
    body: EventBody
    done: asyncio.Future[str] = field(repr=False)
    run_id: str | None = None
    start: StartRequest | None = None


@dataclass
class _Step:
    """One step's batch and the state of the workflow as the batch grows."""

    at: datetime
    run_id: str
    status: WorkflowStatus | None
    entries: list[NewEvent] = field(default_factory=list)
    dispatch: list[tuple[str, ActivityScheduled]] = field(default_factory=list)
    continues: int = 0

    def add(self, body: EventBody) -> None:
        self.entries.append((self.run_id, body))
        self.status = status_after(body) or self.status

    def begin_run(self, run_id: str) -> None:
        self.run_id = run_id


class _Fatal(Exception):
    """The instance cannot go on (a bug in workflow code, nondeterminism)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class WorkflowRunner:
    """Serialises and records everything that happens to one workflow."""

    def __init__(self, engine: Engine, workflow_id: str) -> None:
        self.engine = engine
        self.workflow_id = workflow_id
        self.recorder: Recorder | None = None
        self.instance: WorkflowInstance | None = None
        self._arrivals: list[Arrival] = []
        self._drainer: asyncio.Task[None] | None = None
        self._held = False
        """Set while supervision backs off: arrivals wait instead of replaying failing code."""

    @property
    def busy(self) -> bool:
        """Whether arrivals are waiting or a step is running (a busy runner is never evicted)."""
        return bool(self._arrivals) or self._drainer is not None

    async def submit(
        self,
        kind: ArrivalKind,
        body: EventBody,
        *,
        run_id: str | None = None,
        start: StartRequest | None = None,
    ) -> str:
        """Queue an arrival and wait until it is recorded; return the run it went to.

        Raises:
            WorkflowNotFoundError: No such workflow (nothing created).
            WorkflowClosedError: The run is closed; nothing was recorded.
            WorkflowAlreadyStartedError: A start the id policies refuse.
            SequenceConflictError, StoreError: Recording failed; nothing was recorded.
        """
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        arrival = Arrival(kind, body, done, run_id, start)
        if self._held and kind == "close":
            # Ending the run (supervision giving up, terminate) needs no code: go first.
            self._arrivals.insert(0, arrival)
            self._held = False
        else:
            self._arrivals.append(arrival)
        if self._drainer is None and not self._held:
            self._drainer = asyncio.create_task(self._drain(), name=f"aion-{self.workflow_id}")
        # A sender that stops waiting cancels only its own future: the step
        # goes on and may still record the arrival.
        return await done

    async def stop(self) -> None:
        """Cancel the step in progress (engine shutdown); waiting arrivals are cancelled."""
        drainer = self._drainer
        if drainer is not None:
            drainer.cancel()
            await asyncio.gather(drainer, return_exceptions=True)
        for arrival in self._arrivals:
            arrival.done.cancel()
        self._arrivals.clear()
        self.forget()

    async def ensure_live(self) -> None:
        """Rebuild the instance of an open run (recovery, supervision restarts)."""
        self._held = False
        await self.submit("record", _WAKE)

    async def _drain(self) -> None:
        try:
            while self._arrivals and not self._held:
                arrivals, self._arrivals = self._arrivals, []
                await self._step(arrivals)
        finally:
            self._drainer = None
            self.engine.runner_idle(self)

    def forget(self) -> None:
        """Drop the live instance and the recorder; the next step reloads both."""
        if self.instance is not None:
            self.instance.discard()
        self.instance = None
        self.recorder = None

    # --- a step --------------------------------------------------------------------------------

    async def _step(self, arrivals: list[Arrival]) -> None:
        try:
            recorder = await self._load_recorder()
        except AionError as error:
            for arrival in arrivals:
                _settle(arrival.done, error=error)
            return
        record = recorder.workflow
        step = _Step(
            at=step_time(self.engine.clock.now(), record),
            run_id=record.run_id if record else "",
            status=record.status if record else None,
        )
        accepted: list[Arrival] = []
        fatal: BaseException | None = None
        for position, arrival in enumerate(arrivals):
            try:
                await self._take(arrival, step)
            except _Fatal as stop:
                fatal = stop.error
                accepted.append(arrival)
                self._arrivals[:0] = arrivals[position + 1 :]  # they wait for the restart
                break
            except AionError as error:
                _settle(arrival.done, error=error)
                continue
            accepted.append(arrival)
        if step.entries:
            await self._record(recorder, step, accepted)
        else:
            for arrival in accepted:
                _settle(arrival.done, result=arrival.run_id or step.run_id)
        if fatal is not None:
            self.forget()
            self._held = True
            self.engine.supervisor.failed(self.workflow_id, fatal)

    async def _take(self, arrival: Arrival, step: _Step) -> None:
        """Add what one arrival means to the step; raise to refuse it (nothing added)."""
        if arrival.kind == "start":
            await self._take_start(arrival, step)
            return
        if step.status is None:
            raise WorkflowNotFoundError(self.workflow_id)
        if arrival.run_id is not None and arrival.run_id != step.run_id:
            raise WorkflowClosedError(self.workflow_id, "a newer run replaced it")
        if step.status.is_closed:
            raise WorkflowClosedError(self.workflow_id, step.status.value)
        arrival.run_id = step.run_id
        if arrival.body is _WAKE:
            await self._instance_for(step)
            return
        if arrival.kind in ("record", "close"):
            step.add(arrival.body)
            return
        try:
            instance = await self._instance_for(step)
        except _Fatal:
            step.add(arrival.body)  # keep the input for after the restart
            raise
        if instance is None:  # suspended: keep the input; the replay after reopen delivers it
            step.add(arrival.body)
            return
        if not instance.accepts(arrival.body):
            raise WorkflowClosedError(self.workflow_id, "the event is no longer expected")
        await self._activate(instance, arrival.body, step)

    async def _take_start(self, arrival: Arrival, step: _Step) -> None:
        request = arrival.start
        assert request is not None
        assert isinstance(arrival.body, WorkflowStarted)
        if step.status is not None and not step.status.is_closed:
            if request.id_conflict == "fail":
                raise WorkflowAlreadyStartedError(self.workflow_id, step.run_id, "it is running")
            if request.id_conflict == "use_existing":
                arrival.run_id = step.run_id
                return
            step.add(WorkflowTerminated(reason="terminated to start a new run"))
        elif step.status is not None and step.status not in _REUSABLE_AFTER[request.id_reuse]:
            raise WorkflowAlreadyStartedError(
                self.workflow_id,
                step.run_id,
                f"its last run ended {step.status.value} and id_reuse={request.id_reuse!r}",
            )
        arrival.run_id = request.run_id
        await self._begin_run(request.definition, request.run_id, arrival.body, step)

    async def _begin_run(
        self,
        definition: WorkflowDefinition,
        run_id: str,
        started: WorkflowStarted,
        step: _Step,
    ) -> None:
        if self.instance is not None:
            self.instance.discard()
        step.begin_run(run_id)
        self.instance = WorkflowInstance(
            definition, self.workflow_id, run_id, interceptors=self.engine.workflow_interceptors
        )
        await self._activate(self.instance, started, step)

    async def _activate(self, instance: WorkflowInstance, body: EventBody, step: _Step) -> None:
        mark = len(step.entries), len(step.dispatch)
        decoded = await self.engine.codec.decode_payloads_in(body)
        try:
            commands = instance.activate(decoded, step.at)
        except BaseException as error:
            del step.entries[mark[0] :], step.dispatch[mark[1] :]
            step.add(body)  # the input is kept; what the code made of it is not
            raise _Fatal(error) from None
        step.add(body)
        self._add_commands(commands, step)
        request = next((c for c in commands if isinstance(c, WorkflowContinuedAsNew)), None)
        if request is not None:
            await self._continue_as_new(instance, request, step)

    def _add_commands(self, commands: Sequence[EventBody], step: _Step) -> None:
        for command in commands:
            step.add(command)
            if isinstance(command, ActivityScheduled):
                # The first attempt starts with the command, in the same batch.
                step.add(
                    ActivityStarted(
                        activity_id=command.activity_id, attempt=1, worker=self.engine.identity
                    )
                )
                step.dispatch.append((step.run_id, command))

    async def _continue_as_new(
        self, instance: WorkflowInstance, request: WorkflowContinuedAsNew, step: _Step
    ) -> None:
        # The next run starts in the same batch: a history never ends in
        # continued-as-new without the new run's start.
        step.continues += 1
        if step.continues > _MAX_CONTINUES_PER_STEP:
            raise _Fatal(RuntimeError("the workflow continues as new in a loop without waiting"))
        assert instance.info is not None
        started = WorkflowStarted(
            workflow_type=request.workflow_type,
            input=request.input,
            task_queue=instance.info.task_queue,
            code_version=instance.definition.code_version,
            parent_run_id=instance.run_id,
        )
        await self._begin_run(instance.definition, request.new_run_id, started, step)

    # --- loading and replay --------------------------------------------------------------------

    async def _load_recorder(self) -> Recorder:
        if self.recorder is None:
            engine = self.engine
            base = await StoreRecorder.load(
                engine.committer,
                self.workflow_id,
                clock=engine.clock.now,
                on_recorded=engine.plugins.events_recorded,
            )
            self.recorder = engine.plugins.wrap_recorder(base)
        return self.recorder

    async def _instance_for(self, step: _Step) -> WorkflowInstance | None:
        """The live instance of the step's run, rebuilt by replay when needed."""
        instance = self.instance
        if instance is not None and instance.run_id == step.run_id:
            return instance
        if step.status is WorkflowStatus.SUSPENDED:
            return None
        try:
            instance = await self._replay(step.run_id)
        except (_Fatal, AionError):
            raise  # code errors go to supervision; load errors refuse the arrival
        except Exception as error:
            raise _Fatal(error) from None
        self.instance = instance
        # Commands the code issues past the end of its history (it had
        # failed there before, or the engine stopped mid-step) join this step.
        self._add_commands(instance.take_commands(), step)
        return instance

    async def _replay(self, run_id: str) -> WorkflowInstance:
        recorder = self.recorder
        assert recorder is not None
        assert recorder.workflow is not None
        definition = self.engine.workflow_definition(recorder.workflow.workflow_type)
        events = await self.engine.store.read_events(self.workflow_id)
        check_contiguous(events)
        start = max(
            index
            for index, event in enumerate(events)
            if isinstance(event.body, WorkflowStarted) and event.run_id == run_id
        )
        decode = self.engine.codec.decode_payloads_in
        run_events = [
            event.model_copy(update={"body": await decode(event.body)}) for event in events[start:]
        ]
        instance = WorkflowInstance(
            definition,
            self.workflow_id,
            run_id,
            run_events,
            interceptors=self.engine.workflow_interceptors,
        )
        try:
            instance.replay()  # discards the instance itself when it fails
        except Exception as error:
            raise _Fatal(error) from None
        return instance

    # --- recording -----------------------------------------------------------------------------

    async def _record(self, recorder: Recorder, step: _Step, accepted: list[Arrival]) -> None:
        encode = self.engine.codec.encode_payloads_in
        try:
            entries = [(run_id, await encode(body)) for run_id, body in step.entries]
            events = await recorder.append(entries, at=step.at)
        except BaseException as error:
            if isinstance(error, SequenceConflictError):
                log.warning("workflow %s: %s", self.workflow_id, error)
            self.forget()
            for arrival in accepted:
                _settle(arrival.done, error=error)
            if not isinstance(error, SequenceConflictError | StoreError):
                raise
            return
        for arrival in accepted:
            _settle(arrival.done, result=arrival.run_id or step.run_id)
        instance = self.instance
        if instance is not None:
            for event in events:
                if event.run_id == instance.run_id and _is_engine_record(event.body):
                    instance.observe(event)
        self.engine.after_append(self, events, step.dispatch)


_WAKE = WorkflowTerminated(reason="internal: wake the instance")
"""A sentinel arrival that only rebuilds the instance; never recorded."""


def _is_engine_record(body: EventBody) -> bool:
    return not is_input(body) and command_key(body) is None


def _settle(
    future: asyncio.Future[str], *, result: str = "", error: BaseException | None = None
) -> None:
    if future.done():
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
