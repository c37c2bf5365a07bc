"""A live workflow run: its code on a deterministic loop, fed events, issuing commands.

The instance is a pure function of the events delivered to it. Inputs (the
start, activity outcomes, timer fires, signals, cancel requests) are delivered
one at a time, each followed by running the code until it waits again.
Commands (schedule an activity, start a timer, complete) are collected for the
engine to record. Replay delivers recorded inputs the same way; each command
the code issues is then matched, by kind and per-run ordinal, to the event that
recorded it (DESIGN 4.2) instead of being issued again.

Matching rules, checked as replay goes:

- a command the code issues must be the recorded one with the same key, with
  the same identity (activity type, patch id, ...);
- while recorded inputs remain to be delivered, the code may not issue a
  command the history does not have at that point;
- before a recorded input is delivered, every command recorded before it must
  have been issued again;
- a run the code completed, cancelled or continued as new must do so again,
  issuing nothing the history does not have.

A break of any rule is a `NondeterminismError`. It is never raised into
workflow code (which could swallow it): the instance stops and the engine
reports it.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from aion_core.converter import from_payloads, to_payload
from aion_core.definitions import HandlerDefinition, WorkflowDefinition
from aion_core.errors import NondeterminismError, QueryRefused
from aion_core.events import (
    CLOSING_EVENT_TYPES,
    ActivityScheduled,
    ChildWorkflowStarted,
    Event,
    EventBody,
    ExternalQueryAnswered,
    ExternalSignalDelivered,
    ExternalSignalFailed,
    ExternalSignalSent,
    MarkerRecorded,
    ParentWorkflow,
    Payload,
    SearchAttributesUpserted,
    SearchAttributeValue,
    SignalReceived,
    TimerCancelled,
    TimerFired,
    TimerStarted,
    UpdateAccepted,
    WorkflowCancelled,
    WorkflowCancelRequested,
    WorkflowCompleted,
    WorkflowContinuedAsNew,
    WorkflowFailed,
    WorkflowReopened,
    WorkflowStartDebounced,
    WorkflowStarted,
)
from aion_core.failures import DOMAIN_FAILURES, exception_from_failure, failure_from_exception
from aion_core.interceptors import WorkflowCall, WorkflowInterceptor, chain_calls
from aion_core.runtime.activities import ACTIVITY_OUTCOMES, Activities, ActivityState
from aion_core.runtime.children import CHILD_OUTCOMES, Children
from aion_core.runtime.commands import (
    ContinueAsNew,
    command_key,
    describe,
    is_input,
    same_command,
    source_line,
)
from aion_core.runtime.handlers import Handlers
from aion_core.runtime.loop import WorkflowEventLoop
from aion_core.runtime.queries_out import QueriesOut
from aion_core.runtime.rewind import effective_history

__all__ = ["WorkflowInfo", "WorkflowInstance"]

# Only workflow code ends a run this way; a failure may also be the engine's
# (supervision giving up), so a recorded failure does not oblige the code.
_CLOSED_ONLY_BY_CODE = frozenset(
    {"WorkflowCompleted", "WorkflowCancelled", "WorkflowContinuedAsNew"}
)


@dataclass(frozen=True)
class WorkflowInfo:
    """What a workflow knows about itself (`workflow.info()`)."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    start_time: datetime
    attempt: int
    code_version: str
    continued_from_run_id: str | None
    parent_workflow_id: str | None
    execution_timeout: timedelta | None = None
    parent: ParentWorkflow | None = None


@dataclass
class _Condition:
    predicate: Callable[[], bool]
    future: asyncio.Future[bool]


class WorkflowInstance:
    """One run of one workflow, live in memory.

    Args:
        definition: The workflow's code.
        workflow_id: Its id.
        run_id: The run.
        history: Recorded events of this run so far, for replay (empty for a new run).
        interceptors: The workflow interceptors its code runs through.
        max_payload_bytes: The engine's limit on one payload the code makes (None: none).
    """

    def __init__(
        self,
        definition: WorkflowDefinition,
        workflow_id: str,
        run_id: str,
        history: Sequence[Event] = (),
        interceptors: Sequence[WorkflowInterceptor] = (),
        max_payload_bytes: int | None = None,
    ) -> None:
        self.definition = definition
        self.max_payload_bytes = max_payload_bytes
        self.interceptors = tuple(interceptors)
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.loop = WorkflowEventLoop(self)  # type: ignore[abstract]
        self.random = random.Random(uuid.UUID(run_id).int if _is_uuid(run_id) else run_id)
        self.info: WorkflowInfo | None = None
        self.activity_states = Activities(self)
        self.closed = False
        self.cancel_requested = False
        self.fatal: BaseException | None = None
        """Why the instance cannot go on (a bug in workflow code, nondeterminism)."""
        self._now: datetime | None = None
        self._run_start: datetime | None = None
        self._code_started = False
        self._ordinals: dict[str, int] = {}
        self._commands: list[EventBody] = []
        self._recorded: dict[tuple[str, object], Event] = {}
        self._matched: set[tuple[str, object]] = set()
        self._next_input: Event | None = None
        self._replaying = False
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._timer_ids: dict[asyncio.TimerHandle, int] = {}
        self._conditions: list[_Condition] = []
        self._patches: dict[str, bool] = {}
        self.handlers = Handlers(self)
        self.children = Children(self)
        self.queries_out = QueriesOut(self)
        self._signals_out: dict[int, tuple[asyncio.Future[None], ExternalSignalSent]] = {}
        self.workflow_object: object | None = None
        self._main: asyncio.Task[None] | None = None
        self._history = effective_history(history)  # a reopened run skips what it rewound
        self._recorded_in_order: list[tuple[tuple[str, object], Event]] = []
        unnumbered: dict[str, int] = {}
        for event in self._history:
            key = command_key(event.body)
            if key is None:
                continue
            if key[1] is None:  # commands without an ordinal field are numbered in order
                unnumbered[key[0]] = unnumbered.get(key[0], 0) + 1
                key = (key[0], unnumbered[key[0]])
            self._recorded_in_order.append((key, event))
        self._recorded.update(self._recorded_in_order)
        self._unchecked = 0
        self._first_new_source = ""

    # --- time ----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """Workflow time: when the event being delivered was recorded."""
        assert self._now is not None, "the run has not started"
        return self._now

    def loop_time(self) -> float:
        """Workflow time as the loop reports it: seconds since the run started."""
        assert self._now is not None
        assert self._run_start is not None
        return (self._now - self._run_start).total_seconds()

    # --- replay --------------------------------------------------------------------------------

    def replay(self) -> None:
        """Deliver the recorded history; afterwards the instance is at the live edge.

        An instance whose replay fails is discarded: its code never runs again.

        Raises:
            NondeterminismError: The code no longer issues what the history recorded.
            BaseException: The code raised unexpectedly (left in `fatal` as well).
        """
        try:
            self._deliver_history()
        except BaseException:
            self.discard()
            raise

    def _delivery_plan(self) -> list[tuple[Event, Event]]:
        """Recorded inputs with the event they were delivered at, in delivery order.

        An input is delivered where it was recorded, except while the run was
        paused or suspended: such inputs were kept, and delivered when the run
        resumed (or was reopened). Inputs still kept are not delivered.
        """
        plan: list[tuple[Event, Event]] = []
        kept: list[Event] = []
        holding = False
        for event in self._history:
            if event.type in _HOLDS:
                holding = True
            elif is_queued_start(event.body):
                holding = True  # the code starts when the run is dequeued
                kept.append(event)
            elif isinstance(event.body, WorkflowStartDebounced) and kept:
                # A later start of the queued run: its code starts with the last input.
                start = kept[0]
                assert isinstance(start.body, WorkflowStarted)
                body = start.body.model_copy(update={"input": event.body.input})
                kept[0] = start.model_copy(update={"body": body})
            elif event.type in _RELEASES:
                holding = False
                plan.extend((held, event) for held in kept)
                kept = []
            elif is_input(event.body):
                if holding:
                    kept.append(event)
                else:
                    plan.append((event, event))
        return plan

    def _deliver_history(self) -> None:
        plan = self._delivery_plan()
        position = 0
        for event in self._history:
            if not is_input(event.body):
                self.observe(event)
            while position < len(plan) and plan[position][1] is event:
                delivered, at = plan[position]
                self._check_issued_before(at)
                # Commands caused here were recorded before the next place inputs
                # were delivered (several kept inputs share their resume event).
                self._next_input = next(
                    (later for _, later in plan[position + 1 :] if later is not at), None
                )
                self._replaying = True
                self._deliver(delivered.body, at.recorded_at)
                if self.fatal is not None:
                    raise self.fatal
                position += 1
        self._replaying = False
        self._next_input = None
        self._check_issued_before(None)
        self._check_closed_as_recorded()

    @property
    def payload_limit(self) -> int | None:
        """The size limit on a payload the code makes now: None while replaying.

        A payload the history holds was within the limit when it was recorded;
        checking it again against a lowered limit would break replay.
        """
        return None if self._replaying else self.max_payload_bytes

    @property
    def replaying(self) -> bool:
        """Whether the code is being handed recorded history (rather than new events)."""
        return self._replaying

    def take_commands(self) -> list[EventBody]:
        """Commands issued since the last call (after `replay`: those past the history's end)."""
        commands, self._commands = self._commands, []
        return commands

    def unmatched_commands(self) -> list[Event]:
        """Recorded commands the code has not issued again (after `replay`: none, when in step).

        A closing event recorded by the engine rather than the code (a failure
        after supervision gave up) counts: the code did not issue it.
        """
        return [event for key, event in self._recorded_in_order if key not in self._matched]

    def _check_issued_before(self, upto: Event | None) -> None:
        """Every command recorded before `upto` (or at all) must have been issued again."""
        while self._unchecked < len(self._recorded_in_order):
            key, event = self._recorded_in_order[self._unchecked]
            if upto is not None and event.seq >= upto.seq:
                return
            self._unchecked += 1
            if key in self._matched or event.body.type in CLOSING_EVENT_TYPES:
                continue
            self._fail_nondeterministic(
                event.seq, "nothing", describe(event.body), self._waiting_at()
            )
            raise self.fatal  # type: ignore[misc]

    def _check_closed_as_recorded(self) -> None:
        """A run the code closed must close again, with nothing issued past its history."""
        closing = self._history[-1] if self._history else None
        if closing is None or closing.body.type not in _CLOSED_ONLY_BY_CODE:
            return
        if not self._code_started:
            return  # closed while queued (cancelled): the code never ran
        if self._commands:
            first, source = self._commands[0], self._first_new_source
            self._fail_nondeterministic(
                closing.seq, describe(first), describe(closing.body), source
            )
        elif ("close", 0) not in self._matched:
            found = describe(closing.body)
            self._fail_nondeterministic(closing.seq, "nothing", found, self._waiting_at())
        if self.fatal is not None:
            raise self.fatal

    def observe(self, event: Event) -> None:
        """Track engine-recorded events the code never sees (attempts, retries)."""
        body = event.body
        if body.type in CLOSING_EVENT_TYPES:
            self.closed = True
        elif isinstance(body, WorkflowReopened):
            self.activity_states.reopened(event.recorded_at)
        else:
            self.activity_states.observe(body)

    # --- delivering inputs -----------------------------------------------------------------------

    def activate(self, body: EventBody, at: datetime) -> list[EventBody]:
        """Deliver a new input at workflow time `at`; return the commands it caused.

        Raises:
            BaseException: The code raised unexpectedly or broke determinism (see `fatal`).
        """
        self._deliver(body, at)
        if self.fatal is not None:
            raise self.fatal
        return self.take_commands()

    def accepts(self, body: EventBody) -> bool:
        """Whether an arriving input still means something to this run (not closed, pending)."""
        if self.closed:
            return False
        if isinstance(body, TimerFired):
            return body.timer_id in self._timers
        if isinstance(body, CHILD_OUTCOMES):
            return self.children.expects(body)
        if isinstance(body, ExternalSignalDelivered | ExternalSignalFailed):
            return body.signal_id in self._signals_out
        if isinstance(body, ExternalQueryAnswered):
            return self.queries_out.expects(body)
        if isinstance(body, ACTIVITY_OUTCOMES):
            return self.activity_states.expects(body)
        return True

    def _deliver(self, body: EventBody, at: datetime) -> None:
        if self._now is None or at > self._now:
            self._now = at
        if isinstance(body, WorkflowStarted):
            self._start(body, at)
        elif isinstance(body, TimerFired):
            handle = self._timers.pop(body.timer_id, None)
            if handle is not None:
                self._timer_ids.pop(handle, None)
                if not handle.cancelled():
                    self.loop.run_soon(handle._run)
        elif isinstance(body, ACTIVITY_OUTCOMES):
            self.activity_states.resolve(body)
        elif isinstance(body, SignalReceived):
            self.handlers.deliver_signal(body)
        elif isinstance(body, UpdateAccepted):
            self.handlers.accept_update(body)
        elif isinstance(body, CHILD_OUTCOMES):
            self.children.resolve(body)
        elif isinstance(body, ExternalSignalDelivered | ExternalSignalFailed):
            self._resolve_signal_out(body)
        elif isinstance(body, ExternalQueryAnswered):
            self.queries_out.resolve(body)
        elif isinstance(body, WorkflowCancelRequested):
            self.cancel_requested = True
            if self._main is not None and not self._main.done():
                self._main.cancel(body.reason or "workflow cancel requested")
        self._run_until_waiting()

    def _run_until_waiting(self) -> None:
        while True:
            self.loop.run_ready()
            if self.fatal is not None:
                return
            for condition in list(self._conditions):
                if condition.future.done():
                    self._conditions.remove(condition)
                    continue
                try:
                    satisfied = condition.predicate()
                except Exception as error:
                    self._conditions.remove(condition)
                    condition.future.set_exception(error)
                    continue
                if satisfied:
                    self._conditions.remove(condition)
                    condition.future.set_result(True)
            if not self.loop._ready:
                return

    # --- the run itself -------------------------------------------------------------------------

    def _start(self, body: WorkflowStarted, at: datetime) -> None:
        self._run_start = at
        self._code_started = True
        self.info = WorkflowInfo(
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            workflow_type=body.workflow_type,
            task_queue=body.task_queue,
            start_time=at,
            attempt=body.attempt,
            code_version=body.code_version,
            continued_from_run_id=body.parent_run_id,
            parent_workflow_id=body.parent.workflow_id if body.parent else None,
            execution_timeout=body.execution_timeout,
            parent=body.parent,
        )
        try:
            args = from_payloads(body.input, self.definition.param_types, "workflow input")
            if self.definition.cls is not None:
                self.workflow_object = self.definition.cls()
        except Exception as error:
            self.fatal = error
            return
        self.handlers.bind(self.workflow_object)
        call = WorkflowCall(
            self.definition.name, tuple(args), self.workflow_id, self.run_id,
            body.headers, replaying=self._replaying,
        )  # fmt: skip
        self._main = self.loop.create_task(
            self._run_main(call), name=f"workflow {self.workflow_id}"
        )

    async def _run_main(self, call: WorkflowCall) -> None:
        definition = self.definition
        workflow_object = self.workflow_object

        async def invoke(call: WorkflowCall) -> Any:
            if workflow_object is None:
                return await definition.run(*call.args)
            return await definition.run(workflow_object, *call.args)

        # Interceptors run inside the deterministic loop: like workflow code,
        # they must not read the wall clock or do I/O.
        chain = chain_calls([i.execute_workflow for i in self.interceptors], invoke)
        try:
            result = await chain(call)
        except ContinueAsNew as request:
            self._close(
                WorkflowContinuedAsNew(
                    new_run_id=str(uuid.UUID(int=self.random.getrandbits(128), version=4)),
                    workflow_type=definition.name,
                    input=request.payloads,
                    headers=dict(call.headers),  # the next run carries this run's context on
                )
            )
        except asyncio.CancelledError:
            if not self.cancel_requested:
                raise
            self._close(WorkflowCancelled(message="cancelled on request"))
        except DOMAIN_FAILURES as error:
            self._close(WorkflowFailed(failure=failure_from_exception(error)))
        except Exception as error:
            # A bug, not a decision of the workflow: supervision restarts it.
            self.fatal = error
        else:
            try:
                payload = to_payload(
                    result, definition.return_type, what="workflow result",
                    max_bytes=self.payload_limit,
                )  # fmt: skip
            except Exception as error:
                self._close(WorkflowFailed(failure=failure_from_exception(error)))
            else:
                self._close(WorkflowCompleted(result=payload))

    def close_run(self, body: EventBody) -> None:
        """End the run with a closing command (a handler failed the workflow)."""
        if not self.closed:
            self._close(body)

    def fail_fatally(self, error: BaseException) -> None:
        """Stop the instance: `error` is a bug in workflow code, for supervision."""
        if self.fatal is None:
            self.fatal = error

    def register_handler(self, definition: HandlerDefinition, fn: Callable[..., Any]) -> None:
        """Add a signal, query or update handler at run time."""
        self.handlers.register(definition, fn)

    def upsert_search_attributes(self, attributes: dict[str, SearchAttributeValue]) -> None:
        """Issue `SearchAttributesUpserted` (validated before anything is recorded)."""
        body = SearchAttributesUpserted(attributes=attributes)
        self.issue(("search-attributes", self.next_ordinal("search-attributes")), body)

    def _close(self, body: EventBody) -> None:
        self.issue(("close", 0), body)
        self.closed = True

    # --- commands ------------------------------------------------------------------------------

    def issue(self, key: tuple[str, object], body: EventBody) -> None:
        """Issue a command: matched to the history when it has it, else recorded as new.

        Raises:
            QueryRefused: The code is answering a query, which may not change anything.
        """
        if self.handlers.querying:
            raise QueryRefused(f"tried to issue {body.type} while answering a query")
        if self.loop.is_closed():
            return  # a discarded instance's last finally blocks: nobody records this
        recorded = self._recorded.get(key)
        if recorded is not None:
            if not same_command(recorded.body, body):
                self._fail_nondeterministic(
                    recorded.seq, describe(body), describe(recorded.body), source_line()
                )
            elif self._next_input is not None and recorded.seq > self._next_input.seq:
                # Issued too early: the history has other things to happen first.
                found = self._first_unmatched_before(self._next_input)
                self._fail_nondeterministic(
                    found.seq, describe(body), describe(found.body), source_line()
                )
            else:
                self._matched.add(key)
            return
        if self._next_input is not None:
            # The history has something else at this point: the first recorded
            # command not issued again, else the input the code should wait for.
            found = self._first_unmatched_before(self._next_input)
            self._fail_nondeterministic(
                found.seq, describe(body), describe(found.body), source_line()
            )
            return
        if self._replaying and not self._commands:
            self._first_new_source = source_line()
        self._commands.append(self._with_headers(body))

    def _with_headers(self, body: EventBody) -> EventBody:
        """`body` with the headers the interceptors give it, if it is a command carrying them."""
        if not self.interceptors or not isinstance(body, _CARRY_HEADERS):
            return body
        headers: Mapping[str, str] = body.headers
        for interceptor in self.interceptors:
            headers = interceptor.command_headers(body, headers)
        return body.model_copy(update={"headers": dict(headers)})

    def _first_unmatched_before(self, upto: Event) -> Event:
        for key, event in self._recorded_in_order[self._unchecked :]:
            if event.seq >= upto.seq:
                break
            if key not in self._matched:
                return event
        return upto

    def _fail_nondeterministic(self, seq: int, expected: str, found: str, source: str) -> None:
        if self.fatal is None:
            source = source or self._definition_line()
            self.fatal = NondeterminismError(self.workflow_id, seq, expected, found, source)

    def _waiting_at(self) -> str:
        """Where the workflow's code waits now (its main task's innermost frame of user code)."""
        if self._main is None or self._main.done():
            return ""
        # Follow the chain of awaits down from the main coroutine (a task's
        # own stack has only its outermost frame while it is suspended).
        frames: list[FrameType] = []
        awaiting: Any = self._main.get_coro()
        while (
            frame := getattr(awaiting, "cr_frame", None) or getattr(awaiting, "gi_frame", None)
        ) is not None:
            frames.append(frame)
            awaiting = getattr(awaiting, "cr_await", None) or getattr(
                awaiting, "gi_yieldfrom", None
            )
        return source_line(reversed(frames))

    def _definition_line(self) -> str:
        """Where the workflow's run function is defined, when no better line is known."""
        code = getattr(self.definition.run, "__code__", None)
        return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else ""

    def next_ordinal(self, kind: str) -> int:
        """The next per-run ordinal of a command kind (activity, timer, child, ...)."""
        value = self._ordinals.get(kind, 0) + 1
        self._ordinals[kind] = value
        return value

    # --- timers --------------------------------------------------------------------------------

    def start_timer(self, handle: asyncio.TimerHandle) -> None:
        """Turn a loop timer into a durable one (`TimerStarted`)."""
        delay = max(handle.when() - self.loop_time(), 0.0)
        timer_id = self.next_ordinal("timer")
        self._timers[timer_id] = handle
        self._timer_ids[handle] = timer_id
        duration = timedelta(seconds=delay)
        self.issue(
            ("timer", timer_id),
            TimerStarted(timer_id=timer_id, fire_at=self.now() + duration, duration=duration),
        )

    def cancel_timer(self, handle: asyncio.TimerHandle) -> None:
        """A pending timer the code no longer waits for (`TimerCancelled`)."""
        timer_id = self._timer_ids.pop(handle, None)
        if timer_id is not None and self._timers.pop(timer_id, None) is not None:
            self.issue(("timer-cancel", timer_id), TimerCancelled(timer_id=timer_id))

    # --- signals to other workflows ------------------------------------------------------------

    def send_signal(
        self, target: str, signal_name: str, args: tuple[Payload, ...]
    ) -> asyncio.Future[None]:
        """Issue `ExternalSignalSent`; the future resolves once the target recorded it."""
        signal_id = self.next_ordinal("signal-external")
        future: asyncio.Future[None] = self.loop.create_future()
        sent = ExternalSignalSent(
            signal_id=signal_id, target_workflow_id=target, signal_name=signal_name, args=args
        )
        self._signals_out[signal_id] = (future, sent)
        self.issue(("signal-external", signal_id), sent)
        return future

    def pending_signals_out(self) -> list[ExternalSignalSent]:
        """Signals sent whose delivery is not recorded yet, in order."""
        return [sent for _, (_, sent) in sorted(self._signals_out.items())]

    def _resolve_signal_out(self, body: ExternalSignalDelivered | ExternalSignalFailed) -> None:
        waiting = self._signals_out.pop(body.signal_id, None)
        if waiting is None or waiting[0].done():
            return
        future = waiting[0]
        if isinstance(body, ExternalSignalDelivered):
            future.set_result(None)
        else:
            future.set_exception(exception_from_failure(body.failure))

    # --- activities ----------------------------------------------------------------------------

    def schedule_activity(
        self, scheduled: ActivityScheduled, return_type: Any
    ) -> asyncio.Future[Any]:
        """Issue `ActivityScheduled`; the future resolves with the activity's outcome."""
        return self.activity_states.schedule(scheduled, return_type)

    def pending_activities(self) -> list[ActivityState]:
        """Activities scheduled and not finished, in schedule order."""
        return self.activity_states.pending()

    # --- conditions, markers, signals -----------------------------------------------------------

    def add_condition(self, predicate: Callable[[], bool]) -> asyncio.Future[bool]:
        """A future resolved once `predicate()` holds after the code has run."""
        future: asyncio.Future[bool] = self.loop.create_future()
        self._conditions.append(_Condition(predicate, future))
        return future

    def patched(self, patch_id: str) -> bool:
        """Whether this run takes the new branch of change `patch_id` (DESIGN 4.9)."""
        if patch_id in self._patches:
            return self._patches[patch_id]
        body = MarkerRecorded(name="patch", details={"id": to_payload(patch_id)})
        key = command_key(body)
        assert key is not None
        if self._replaying:
            # Old histories took the old branch unless they recorded the patch.
            decision = key in self._recorded
            if decision:
                self.issue(key, body)
        else:
            decision = True
            self.issue(key, body)
        self._patches[patch_id] = decision
        return decision

    def discard(self) -> None:
        """Stop the instance for good; its tasks never run again."""
        self.loop.close()


_CARRY_HEADERS = (
    ActivityScheduled,
    ChildWorkflowStarted,
    ExternalSignalSent,
    WorkflowContinuedAsNew,
)
"""The commands whose headers interceptors set (`WorkflowInterceptor.command_headers`)."""

_HOLDS = frozenset({"WorkflowPaused", "WorkflowSuspended"})
_RELEASES = frozenset({"WorkflowResumed", "WorkflowReopened", "WorkflowDequeued"})


def is_queued_start(body: EventBody) -> bool:
    """Whether `body` starts a run that waits on its queue before its code runs."""
    return isinstance(body, WorkflowStarted) and body.queue is not None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
