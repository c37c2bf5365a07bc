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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from aion_core.errors import (
    AionError,
    OwnershipLostError,
    QueryHandlerFailed,
    QueryReplyDropped,
    SequenceConflictError,
    StoreError,
    UpdateRejectedError,
    WorkflowAlreadyStartedError,
    WorkflowClosedError,
    WorkflowNotFoundError,
    WorkflowPausedError,
    WorkflowStateError,
)
from aion_core.events import (
    ActivityScheduled,
    ActivityStarted,
    Event,
    EventBody,
    Payload,
    SignalReceived,
    TimerFired,
    UpdateAccepted,
    WorkflowCancelled,
    WorkflowCancelRequested,
    WorkflowContinuedAsNew,
    WorkflowDequeued,
    WorkflowPaused,
    WorkflowReopened,
    WorkflowResumed,
    WorkflowStartDebounced,
    WorkflowStarted,
    WorkflowStatus,
    WorkflowTerminated,
    status_after,
)
from aion_core.history import check_contiguous
from aion_core.recorder import NewEvent, Recorder, StoreRecorder, step_time
from aion_core.runtime.commands import command_key, is_input
from aion_core.runtime.instance import WorkflowInstance
from aion_core.runtime.rewind import effective_history, pending_timers, rewind_point

if TYPE_CHECKING:
    from aion_core.definitions import WorkflowDefinition
    from aion_core.engine.engine import Engine
    from aion_core.store.records import WorkflowRecord

__all__ = ["Arrival", "StartRequest", "WorkflowRunner"]

log = logging.getLogger("aion.engine")

ArrivalKind = Literal["start", "input", "record", "close", "update", "query", "reopen"]
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
    signal: SignalReceived | None = None
    """Signal-with-start: delivered to the new run, or to the running one instead of starting."""


@dataclass(frozen=True)
class QueryRequest:
    """A query: handler name, arguments and headers, and where the run was seen open when asked.

    `open_in` is the runner's recorder that showed the run open as the query arrived
    (None if it did not). Only a close recorded through that same recorder while the
    query waited drops the answer: a recorder reloaded meanwhile (after a conflict, or
    the workflow moving between nodes) means the first view was stale, and the query
    is answered from the run's state now.
    """

    name: str
    args: tuple[Payload, ...]
    open_in: Recorder | None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Arrival:
    """Something to record for the workflow, with the future its sender awaits.

    `kind`: "start" begins a run; "input" is delivered to the code; "record" is
    an engine record the code never sees; "close" ends the run from outside;
    "update" is validated, then delivered; "query" is answered between steps
    and records nothing. `run_id`, when set, is the run the arrival is meant
    for; another run refuses it. Once recorded, `done` resolves with the run the
    arrival went to (a query: with its answer).
    """

    kind: ArrivalKind
    body: EventBody
    done: asyncio.Future[Any] = field(repr=False)
    run_id: str | None = None
    start: StartRequest | None = None
    query: QueryRequest | None = None


@dataclass
class _Step:
    """One step's batch and the state of the workflow as the batch grows."""

    at: datetime
    run_id: str
    status: WorkflowStatus | None
    entries: list[NewEvent] = field(default_factory=list)
    dispatch: list[tuple[str, ActivityScheduled, bool]] = field(default_factory=list)
    """Activities to launch once durable: run, command, whether its first attempt started."""
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
        self._taken: list[Arrival] = []
        """Arrivals the step in progress took; `stop` answers them if it cancels the step."""
        self._committing = False
        """Set while the step's append is on its way to the store."""
        self._committed: asyncio.Future[None] | None = None
        """What `stop` waits on while an append is on its way."""
        self._stopping = False
        """Set while `stop` lets a commit land: no further step begins."""
        self._guessed_new = False
        """The recorder assumes a stream nobody wrote yet (a start, not read first)."""
        self._may_guess_new = True
        """Cleared once such a guess has failed: this workflow exists."""

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
        result: str = await self._queue(Arrival(kind, body, self._future(), run_id, start))
        return result

    async def query(
        self, name: str, args: tuple[Payload, ...], headers: Mapping[str, str] | None = None
    ) -> Payload:
        """Answer a query between steps; records nothing, in any outcome.

        Raises:
            QueryError: Unknown query, the handler failed or was refused, or the
                workflow closed while the query was in flight.
            WorkflowNotFoundError: No such workflow.
        """
        recorder = self.recorder
        record = recorder.workflow if recorder is not None else None
        open_in = recorder if record is not None and not record.status.is_closed else None
        request = QueryRequest(name, args, open_in, headers or {})
        answer: Payload = await self._queue(Arrival("query", _WAKE, self._future(), query=request))
        return answer

    @property
    def record(self) -> WorkflowRecord | None:
        """The visibility row as of this runner's last durable append (None: not loaded)."""
        return self.recorder.workflow if self.recorder is not None else None

    def _future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _queue(self, arrival: Arrival) -> Any:
        kind, done = arrival.kind, arrival.done
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
        """Cancel the step in progress (engine shutdown); waiting arrivals are cancelled.

        A step whose append is on its way to the store is let finish first: a commit
        cannot be called back once sent, and had it landed after the stop, whoever
        takes the workflow next (another node) could load the history just before it
        and serve queries from a stale view. Its senders hear that it is recorded.
        """
        drainer, taken = self._drainer, self._taken
        if drainer is not None:
            if self._committing:
                self._stopping = True
                self._committed = asyncio.get_running_loop().create_future()
                try:
                    await self._committed
                finally:
                    self._stopping = False
            drainer.cancel()
            await asyncio.gather(drainer, return_exceptions=True)
        # Whoever sent what was waiting or in the cancelled step hears so: what the step
        # had not committed is not recorded, what it had is found again after a restart.
        for arrival in [*taken, *self._arrivals]:
            arrival.done.cancel()
        self._arrivals.clear()
        self._taken = []
        self.forget()

    async def ensure_live(self) -> None:
        """Rebuild the instance of an open run (recovery, supervision restarts)."""
        self._held = False
        await self.submit("record", _WAKE)

    async def _drain(self) -> None:
        try:
            while self._arrivals and not self._held and not self._stopping:
                arrivals, self._arrivals = self._arrivals, []
                self._taken = arrivals
                queries = [a for a in arrivals if a.kind == "query"]
                if queries:  # answered at the last durable state, before the new inputs
                    await self._answer(queries)
                    arrivals = [a for a in arrivals if a.kind != "query"]
                if arrivals:
                    await self._step(arrivals)
        finally:
            self._taken = []
            self._drainer = None
            self.engine.runner_idle(self)

    def forget(self) -> None:
        """Drop the live instance and the recorder; the next step reloads both."""
        self._discard_instance()
        self.recorder = None

    def _discard_instance(self) -> None:
        """Stop the live instance for good, if there is one."""
        if self.instance is not None:
            self.instance.discard()
            self.engine.discarded.add()
        self.instance = None

    # --- a step --------------------------------------------------------------------------------

    async def _step(self, arrivals: list[Arrival]) -> None:
        try:
            recorder = await self._load_recorder(starts_only=_starts_only(arrivals))
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
            if not await self._record(recorder, step, accepted):
                return  # the workflow existed after all: its arrivals are taken again
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
        if arrival.kind == "reopen":
            await self._take_reopen(arrival, step)
            return
        if arrival.run_id is not None and arrival.run_id != step.run_id:
            raise WorkflowClosedError(self.workflow_id, "a newer run replaced it")
        if step.status.is_closed:
            raise WorkflowClosedError(self.workflow_id, step.status.value)
        arrival.run_id = step.run_id
        if arrival.body is _WAKE:
            await self._instance_for(step)
            return
        if arrival.kind == "update":
            await self._take_update(arrival, step)
            return
        if arrival.kind in ("record", "close"):
            self._check_pause_state(arrival.body, step)
            step.add(arrival.body)
            if isinstance(arrival.body, WorkflowPaused | WorkflowResumed | WorkflowDequeued):
                # Paused: inputs are kept, not delivered. Resumed or dequeued: the next
                # step replays and delivers them. Either way the live instance is stale.
                self._discard_instance()
            return
        if step.status is WorkflowStatus.QUEUED and isinstance(
            arrival.body, WorkflowCancelRequested
        ):
            # Its code never ran: nothing to ask, the run leaves the queue cancelled.
            step.add(arrival.body)
            step.add(WorkflowCancelled(message="cancelled while queued"))
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
        if isinstance(arrival.body, SignalReceived):
            instance.handlers.check_signal(await self.engine.codec.decode_payloads_in(arrival.body))
        await self._activate(instance, arrival.body, step)

    def _check_pause_state(self, body: EventBody, step: _Step) -> None:
        """Refuse pause/resume in the wrong state, and new attempts while paused."""
        paused = step.status is WorkflowStatus.PAUSED
        if isinstance(body, WorkflowDequeued) and step.status is not WorkflowStatus.QUEUED:
            state = step.status.value if step.status else "unknown"
            raise WorkflowStateError(f"workflow {self.workflow_id!r} is {state}, not queued")
        if isinstance(body, WorkflowPaused) and step.status is not WorkflowStatus.RUNNING:
            state = step.status.value if step.status else "unknown"
            raise WorkflowStateError(
                f"workflow {self.workflow_id!r} is {state}; only a running workflow can be paused"
            )
        if isinstance(body, WorkflowResumed) and not paused:
            raise WorkflowStateError(f"workflow {self.workflow_id!r} is not paused")
        if isinstance(body, ActivityStarted) and paused:
            raise WorkflowPausedError(
                f"workflow {self.workflow_id!r} is paused: no new activity attempts"
            )

    async def _take_reopen(self, arrival: Arrival, step: _Step) -> None:
        """Revive a failed, cancelled or suspended run; replay then rewinds it (runtime.rewind)."""
        assert isinstance(arrival.body, WorkflowReopened)
        status = step.status
        if status not in _REOPENABLE:
            state = status.value if status else "unknown"
            raise WorkflowStateError(
                f"workflow {self.workflow_id!r} is {state}; only a failed, cancelled or "
                "suspended run can be reopened"
            )
        body = arrival.body
        if status is not WorkflowStatus.SUSPENDED:
            events = await self.engine.store.read_events(self.workflow_id)
            run_events = _run_events(events, step.run_id)
            rewind_from = rewind_point(run_events)
            seen = effective_history(run_events)
            # Timers started before the rewind point that never fired wait again.
            fired = {e.body.timer_id for e in seen if isinstance(e.body, TimerFired)}
            waiting = pending_timers([e for e in seen if e.seq < rewind_from])
            rearmed = {k: v for k, v in waiting.items() if k not in fired}
            body = body.model_copy(update={"rewind_from": rewind_from, "rearmed_timers": rearmed})
        arrival.run_id = step.run_id
        step.add(body)
        self._discard_instance()

    async def _take_update(self, arrival: Arrival, step: _Step) -> None:
        assert isinstance(arrival.body, UpdateAccepted)
        instance = await self._instance_for(step)
        if instance is None:
            status = step.status.value if step.status else "unknown"
            raise UpdateRejectedError(f"workflow {self.workflow_id!r} is {status}")
        # Read-only: a rejected update records nothing.
        instance.handlers.validate_update(arrival.body.update_name, arrival.body.args)
        await self._activate(instance, arrival.body, step)

    async def _take_start(self, arrival: Arrival, step: _Step) -> None:
        request = arrival.start
        assert request is not None
        assert isinstance(arrival.body, WorkflowStarted)
        if step.run_id == request.run_id:
            # This very run exists already (a child started again after a restart).
            arrival.run_id = step.run_id
            return
        placement = arrival.body.queue
        if step.status is WorkflowStatus.QUEUED and placement and placement.debounce:
            # Debounced while its run still waits: the run takes this start's input, and
            # waits the debounce again (a signal given with it is kept for the run too).
            arrival.run_id = step.run_id
            step.add(WorkflowStartDebounced(input=arrival.body.input, debounce=placement.debounce))
            if request.signal is not None:
                step.add(request.signal)
            return
        if step.status is not None and not step.status.is_closed:
            # Signal-with-start signals a running workflow instead of starting one.
            if request.id_conflict == "use_existing" or request.signal is not None:
                arrival.run_id = step.run_id
                if request.signal is not None:
                    instance = await self._instance_for(step)
                    if instance is None:  # suspended: keep the signal for after reopen
                        step.add(request.signal)
                    else:
                        signal = await self.engine.codec.decode_payloads_in(request.signal)
                        instance.handlers.check_signal(signal)
                        await self._activate(instance, request.signal, step)
                return
            if request.id_conflict == "fail":
                raise WorkflowAlreadyStartedError(self.workflow_id, step.run_id, "it is running")
            step.add(WorkflowTerminated(reason="terminated to start a new run"))
        elif step.status is not None and step.status not in _REUSABLE_AFTER[request.id_reuse]:
            raise WorkflowAlreadyStartedError(
                self.workflow_id,
                step.run_id,
                f"its last run ended {step.status.value} and id_reuse={request.id_reuse!r}",
            )
        arrival.run_id = request.run_id
        if arrival.body.queue is not None:
            # Queued: recorded now, its code runs once the queue's dispatcher dequeues it.
            self._discard_instance()
            step.begin_run(request.run_id)
            step.add(arrival.body)
            if request.signal is not None:
                step.add(request.signal)  # kept, delivered after the start
            return
        await self._begin_run(request.definition, request.run_id, arrival.body, step)
        if request.signal is not None and self.instance is not None:
            await self._activate(self.instance, request.signal, step)

    async def _begin_run(
        self,
        definition: WorkflowDefinition,
        run_id: str,
        started: WorkflowStarted,
        step: _Step,
    ) -> None:
        self._discard_instance()
        step.begin_run(run_id)
        self.instance = WorkflowInstance(
            definition, self.workflow_id, run_id, interceptors=self.engine.workflow_interceptors,
            max_payload_bytes=self.engine.max_payload_bytes,
        )  # fmt: skip
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
                if self.engine.queues.limits_attempts(command.task_queue):
                    # Its queue has a global or rate limit: the attempt starts (and is
                    # recorded as started) once it holds a slot of the queue.
                    step.dispatch.append((step.run_id, command, False))
                    continue
                # The first attempt starts with the command, in the same batch.
                step.add(
                    ActivityStarted(
                        activity_id=command.activity_id, attempt=1, worker=self.engine.identity
                    )
                )
                step.dispatch.append((step.run_id, command, True))

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
            execution_timeout=instance.info.execution_timeout,
            parent=instance.info.parent,
            headers=request.headers,
        )
        await self._begin_run(instance.definition, request.new_run_id, started, step)

    # --- loading and replay --------------------------------------------------------------------

    async def _load_recorder(self, *, starts_only: bool = False) -> Recorder:
        """The recorder, loaded from the store when there is none.

        A step of nothing but starts, for a workflow this runner never saw, skips the
        reads and assumes a stream nobody wrote yet: most starts are of new ids. If
        the stream exists, its append conflicts (nothing is written) and `_record`
        hands the arrivals back to be taken again, with the workflow read first.
        """
        if self.recorder is None:
            engine = self.engine
            self._guessed_new = starts_only and self._may_guess_new
            if self._guessed_new:
                base = StoreRecorder(
                    engine.committer,
                    self.workflow_id,
                    clock=engine.clock.now,
                    on_recorded=engine.plugins.events_recorded,
                )
            else:
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
        if step.status in _KEEPING_INPUTS:
            return None  # inputs are kept, not delivered, until the run resumes
        instance = self.instance
        if instance is None or instance.run_id != step.run_id:
            instance = self.instance = await self._rebuild(step.run_id)
        # Commands the code issues past the end of its history (it had
        # failed there before, or the engine stopped mid-step) join this step.
        self._add_commands(instance.take_commands(), step)
        return instance

    async def _rebuild(self, run_id: str) -> WorkflowInstance:
        try:
            return await self._replay(run_id)
        except (_Fatal, AionError):
            raise  # code errors go to supervision; load errors refuse the arrival
        except Exception as error:
            raise _Fatal(error) from None

    async def _answer(self, queries: list[Arrival]) -> None:
        """Answer queries from the instance at its last durable state."""
        try:
            recorder = await self._load_recorder()
            record = recorder.workflow
            if record is None:
                raise WorkflowNotFoundError(self.workflow_id)
            instance = self.instance
            if instance is None or instance.run_id != record.run_id:
                instance = await self._rebuild(record.run_id)
                if not record.status.is_closed and record.status not in _KEEPING_INPUTS:
                    self.instance = instance
        except _Fatal as stop:
            error: AionError = QueryHandlerFailed(
                f"the workflow cannot be replayed to answer queries: {stop.error}"
            )
            for arrival in queries:
                _settle(arrival.done, error=error)
            return
        except AionError as refusal:
            for arrival in queries:
                _settle(arrival.done, error=refusal)
            return
        for arrival in queries:
            request = arrival.query
            assert request is not None
            if request.open_in is recorder and record.status.is_closed:
                _settle(
                    arrival.done,
                    error=QueryReplyDropped(
                        f"workflow {self.workflow_id!r} closed ({record.status.value}) while the "
                        "query was in flight; ask again to read its final state"
                    ),
                )
                continue
            try:
                answer = instance.handlers.answer_query(request.name, request.args, request.headers)
                _settle(arrival.done, result=answer)
            except AionError as error:
                _settle(arrival.done, error=error)

    async def _replay(self, run_id: str) -> WorkflowInstance:
        recorder = self.recorder
        assert recorder is not None
        assert recorder.workflow is not None
        definition = self.engine.workflow_definition(recorder.workflow.workflow_type)
        began = time.perf_counter()
        events = await self.engine.store.read_events(self.workflow_id)
        check_contiguous(events)
        decode = self.engine.codec.decode_payloads_in
        run_events = [
            event.model_copy(update={"body": await decode(event.body)})
            for event in _run_events(events, run_id)
        ]
        instance = WorkflowInstance(
            definition,
            self.workflow_id,
            run_id,
            run_events,
            interceptors=self.engine.workflow_interceptors,
            max_payload_bytes=self.engine.max_payload_bytes,
        )
        try:
            instance.replay()  # discards the instance itself when it fails
        except Exception as error:
            raise _Fatal(error) from None
        if self.engine.observers:
            seconds = time.perf_counter() - began
            self.engine.observers.workflow_replayed(definition.name, len(run_events), seconds)
        return instance

    # --- recording -----------------------------------------------------------------------------

    async def _record(self, recorder: Recorder, step: _Step, accepted: list[Arrival]) -> bool:
        """Append the step; settle its arrivals. False: the arrivals wait to be taken again."""
        codec = self.engine.codec
        try:
            entries = step.entries
            if codec.codecs:  # (two coroutines per event otherwise, for nothing)
                entries = [(run, await codec.encode_payloads_in(body)) for run, body in entries]
            # Last thing before the append: a node whose lease may have lapsed (NATS
            # away, the process frozen) must not write where a new owner may be writing.
            if not self.engine.may_record(self.workflow_id):
                raise OwnershipLostError(
                    f"this engine node no longer holds workflow {self.workflow_id!r} "
                    "(its partition's lease lapsed); nothing was recorded"
                )
            self._committing = True
            try:
                events = await recorder.append(entries, at=step.at)
            finally:
                self._committing = False
                committed, self._committed = self._committed, None
                if committed is not None and not committed.done():  # `stop` waits for it
                    committed.set_result(None)
        except BaseException as error:
            guessed, self._guessed_new = self._guessed_new, False
            self.forget()
            if isinstance(error, SequenceConflictError) and guessed:
                self._may_guess_new = False
                self._arrivals[:0] = accepted
                return False
            if isinstance(error, SequenceConflictError):
                log.warning("workflow %s: %s", self.workflow_id, error)
            for arrival in accepted:
                _settle(arrival.done, error=error)
            if not isinstance(error, SequenceConflictError | StoreError | OwnershipLostError):
                raise
            return True
        self._guessed_new = False
        for arrival in accepted:
            _settle(arrival.done, result=arrival.run_id or step.run_id)
        instance = self.instance
        if instance is not None:
            for event in events:
                if event.run_id == instance.run_id and _is_engine_record(event.body):
                    instance.observe(event)
        self.engine.after_append(self, events, step.dispatch)
        return True


_WAKE = WorkflowTerminated(reason="internal: wake the instance")
_KEEPING_INPUTS = frozenset(
    {WorkflowStatus.QUEUED, WorkflowStatus.PAUSED, WorkflowStatus.SUSPENDED}
)
"""A sentinel arrival that only rebuilds the instance; never recorded."""


_REOPENABLE = frozenset({WorkflowStatus.FAILED, WorkflowStatus.CANCELLED, WorkflowStatus.SUSPENDED})


def _run_events(events: Sequence[Event], run_id: str) -> list[Event]:
    """The events of `run_id`: from its `WorkflowStarted` to the end of the stream."""
    start = max(
        index
        for index, event in enumerate(events)
        if isinstance(event.body, WorkflowStarted) and event.run_id == run_id
    )
    return list(events[start:])


def _starts_only(arrivals: Sequence[Arrival]) -> bool:
    return all(arrival.kind == "start" for arrival in arrivals)


def _is_engine_record(body: EventBody) -> bool:
    return not is_input(body) and command_key(body) is None


def _settle(
    future: asyncio.Future[Any], *, result: object = "", error: BaseException | None = None
) -> None:
    if future.done():
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
