"""What callers do to workflows: start, signal, query, update, pause, cancel, wait, list.

Shared by `Engine` (embedded, or one node of many) and `Client` (remote):
each operation becomes a `Call` (aion_core.calls) that `route` carries to the
engine owning the workflow. Arguments are checked against the workflow's
type hints where its definition is known here, and by the owner otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast, get_args

from pydantic import ValidationError

from aion_core.calls import (
    Call,
    CountCall,
    DescribeCall,
    HistoryCall,
    ListCall,
    QueryCall,
    QueuesCall,
    StartCall,
    SubmitCall,
    UpdateCall,
    WaitCall,
)
from aion_core.codec import PayloadCodecChain
from aion_core.converter import from_payload, to_payloads
from aion_core.definitions import HandlerKind, WorkflowDefinition, workflow_definition
from aion_core.errors import (
    ConfigurationError,
    DuplicateStartError,
    NoReplyError,
    WorkflowFailureError,
    WorkflowNotFoundError,
)
from aion_core.events import (
    Event,
    EventBody,
    Payload,
    QueuePlacement,
    SearchAttributeValue,
    SignalReceived,
    UpdateAccepted,
    UpdateCompleted,
    WorkflowCancelRequested,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowPaused,
    WorkflowReopened,
    WorkflowResumed,
    WorkflowStarted,
    WorkflowStatus,
    WorkflowTerminated,
    status_after,
)
from aion_core.failures import exception_from_failure
from aion_core.handle import WorkflowHandle
from aion_core.interceptors import ClientCall, ClientInterceptor, chain_calls
from aion_core.store.queues import QueueStats
from aion_core.store.records import WorkflowRecord
from aion_core.workflow import HANDLER_MARK, handler_definition

__all__ = ["WAIT_SLICE", "IdConflictPolicy", "IdReusePolicy", "WorkflowOperations"]

IdConflictPolicy = Literal["fail", "use_existing", "terminate_existing"]
IdReusePolicy = Literal["allow", "allow_failed_only", "reject"]

_T = TypeVar("_T")

WAIT_SLICE = 20.0
"""How long one wait for a close lasts before the caller asks again (owners can change)."""


class WorkflowOperations:
    """Everything a caller does to workflows, as calls routed to their owner.

    `Engine` routes a call to itself when it owns the workflow and forwards it
    otherwise; `Client` sends every call through the transport. Subclasses
    provide `route` and `ask`.
    """

    codec: PayloadCodecChain
    max_payload_bytes: int | None
    identity: str
    query_timeout: timedelta
    client_interceptors: Sequence[ClientInterceptor]
    _workflows: dict[str, WorkflowDefinition]

    async def route(self, call: Call, timeout: float | None = None) -> Any:
        """Carry out `call` on the engine that owns its workflow; its reply value.

        `call` carries its payloads decoded; replies carry them as stored (encoded).
        Queries go through `ask`, which decodes the answer.
        """
        raise NotImplementedError

    async def ask(self, call: QueryCall) -> Payload:
        """The answer to the query `call` asks; never records anything.

        The call's arguments and the answer are decoded; implementations encode what they send.
        """
        raise NotImplementedError

    async def _send(
        self,
        operation: Literal["start", "signal", "query", "update"],
        workflow_id: str,
        name: str,
        action: Callable[[dict[str, str]], Awaitable[_T]],
    ) -> _T:
        """`action(headers)` through the client interceptors (they set the headers)."""
        if not self.client_interceptors:
            return await action({})

        async def proceed(call: ClientCall) -> object:
            return await action(dict(call.headers))

        chain = chain_calls([i.send for i in self.client_interceptors], proceed)
        return cast(_T, await chain(ClientCall(operation, workflow_id, name)))

    async def submit(
        self,
        workflow_id: str,
        kind: Literal["input", "record", "close", "reopen"],
        body: EventBody,
        *,
        run_id: str | None = None,
    ) -> str:
        """Record `body` for `workflow_id` through its owner's runner; the run it went to."""
        _check_workflow_id(workflow_id)
        call = SubmitCall(workflow_id=workflow_id, kind=kind, body=body, run_id=run_id)
        run: str = await self.route(call)
        return run

    async def wait_closed(self, workflow_id: str, *, open_run: str | None = None) -> Event:
        """The event that closed the workflow's last run (following continue-as-new).

        `open_run`: a run the caller started, not seen closed (see `WaitCall`); only the
        first ask carries it.

        Raises:
            WorkflowNotFoundError: No such workflow.
        """
        _check_workflow_id(workflow_id)
        while True:
            call = WaitCall(workflow_id=workflow_id, wait=WAIT_SLICE, open_run=open_run)
            open_run = None
            try:
                closing: Event | None = await self.route(call, WAIT_SLICE + 10)
            except NoReplyError:
                continue  # a busy owner answered late: waiting changes nothing, ask again
            if closing is not None:
                return closing

    def events(self, workflow_id: str) -> AsyncIterator[Event]:
        """The workflow's events as they become durable, from now on."""
        raise NotImplementedError

    def _definition_of(self, workflow: object) -> WorkflowDefinition | None:
        """The definition of `workflow` (None: only its name is known, the owner has it)."""
        if isinstance(workflow, str):
            return self._workflows.get(workflow)
        return workflow_definition(workflow)

    def _handler_types(
        self, kind: HandlerKind, handler: object, workflow_type: str | None
    ) -> tuple[str, tuple[Any, ...] | None, Any]:
        """Name, parameter types and return type of a handler given by method or by name."""
        if isinstance(handler, str):
            definition = self._workflows.get(workflow_type) if workflow_type else None
            declared = definition.handler(kind, handler) if definition is not None else None
            if declared is None:
                return handler, None, Any  # a dynamic handler: plain JSON
            return handler, declared.param_types, declared.return_type
        mark = getattr(handler, HANDLER_MARK, None)
        if mark is None or mark[0] != kind:
            raise ConfigurationError(f"{handler!r} is not a @workflow.{kind} handler")
        found = handler_definition(kind, mark[1], handler, skip_self=True)  # type: ignore[arg-type]
        return found.name, found.param_types, found.return_type

    async def _handler_types_in(
        self, workflow_id: str, kind: HandlerKind, handler: object
    ) -> tuple[str, tuple[Any, ...] | None, Any]:
        """`_handler_types` for a handler of `workflow_id`'s workflow.

        A handler given by method carries its own types; only a handler given
        by name needs the workflow's type, which costs a store read.
        """
        workflow_type = await self._workflow_type(workflow_id) if isinstance(handler, str) else None
        return self._handler_types(kind, handler, workflow_type)

    async def _workflow_type(self, workflow_id: str) -> str:
        return (await self.describe(workflow_id)).workflow_type

    async def signal(self, workflow_id: str, signal: object, *args: Any) -> None:
        """Send a signal; return once it is durable (buffered until the workflow handles it).

        Raises:
            WorkflowNotFoundError: No such workflow (nothing created).
            WorkflowClosedError: The run is closed (nothing recorded).
            PayloadValidationError: The arguments do not fit the handler.
            PayloadTooLargeError: An argument is over ``max_payload_bytes`` (nothing recorded).
        """
        _check_workflow_id(workflow_id)
        name, types, _ = await self._handler_types_in(workflow_id, "signal", signal)
        payloads = to_payloads(args, types, f"signal {name!r}", max_bytes=self.max_payload_bytes)

        async def send(headers: dict[str, str]) -> None:
            body = SignalReceived(
                signal_name=name, args=payloads, sender=self.identity, headers=headers
            )
            await self.submit(workflow_id, "input", body)

        await self._send("signal", workflow_id, name, send)

    async def query(
        self, workflow_id: str, query: object, *args: Any, timeout: timedelta | None = None
    ) -> Any:
        """Ask a workflow a question; nothing is ever recorded (DESIGN 4.5).

        Raises:
            UnknownQuery, QueryHandlerFailed, QueryRefused, QueryReplyDropped: see DESIGN 4.5.
            QueryTimeout: No answer within `timeout` (the engine's `query_timeout` by default).
            WorkflowNotFoundError: No such workflow.
        """
        _check_workflow_id(workflow_id)
        name, types, return_type = await self._handler_types_in(workflow_id, "query", query)
        args_payloads = to_payloads(
            args, types, f"query {name!r}", max_bytes=self.max_payload_bytes
        )
        limit = (timeout or self.query_timeout).total_seconds()

        async def send(headers: dict[str, str]) -> Payload:
            call = QueryCall(
                workflow_id=workflow_id, name=name, args=args_payloads, timeout=limit,
                headers=headers,
            )  # fmt: skip
            return await self.ask(call)

        answer = await self._send("query", workflow_id, name, send)
        return from_payload(answer, return_type, what=f"query {name!r} answer")

    async def execute_update(self, workflow_id: str, update: object, *args: Any) -> Any:
        """Run an update: validated (a rejection records nothing), recorded, handled.

        Returns the handler's value; raises its error (an `ApplicationError`
        carrying the recorded failure) or `UpdateRejectedError`.
        """
        _check_workflow_id(workflow_id)
        name, types, return_type = await self._handler_types_in(workflow_id, "update", update)
        payloads = to_payloads(args, types, f"update {name!r}", max_bytes=self.max_payload_bytes)

        async def send(headers: dict[str, str]) -> UpdateCompleted:
            accepted = UpdateAccepted(
                update_id=str(uuid.uuid4()), update_name=name, args=payloads, headers=headers
            )
            completed: UpdateCompleted = await self.route(
                UpdateCall(workflow_id=workflow_id, accepted=accepted)
            )
            return completed

        completed = await self._send("update", workflow_id, name, send)
        body = await self.codec.decode_payloads_in(completed)
        if body.failure is not None:
            raise exception_from_failure(body.failure)
        assert body.result is not None
        return from_payload(body.result, return_type, what=f"update {name!r} result")

    async def pause(self, workflow_id: str, reason: str = "") -> None:
        """Pause a running workflow: inputs are kept, no new activity attempt starts.

        Raises:
            WorkflowStateError: It is not running (nothing recorded).
        """
        await self.submit(workflow_id, "record", WorkflowPaused(reason=reason))

    async def reopen(self, workflow_id: str, reason: str = "") -> None:
        """Revive a failed, cancelled or suspended run (after a fix); it continues from history.

        Replay rewinds the run to just before it went wrong: its close, the code's
        commands after that point and a cancellation it honoured are skipped, and
        activities that had failed for good are retried (the attempt count goes on).
        Nothing recorded is removed; `WorkflowReopened` says what was rewound.

        Raises:
            WorkflowStateError: Its last run is running, paused, completed, terminated,
                timed out or continued as new (nothing recorded).
            WorkflowNotFoundError: No such workflow.
        """
        await self.submit(
            workflow_id, "reopen", WorkflowReopened(reason=reason, identity=self.identity)
        )

    async def resume(self, workflow_id: str, reason: str = "") -> None:
        """Resume a paused workflow; the inputs kept meanwhile are delivered now.

        Raises:
            WorkflowStateError: It is not paused (nothing recorded).
        """
        await self.submit(workflow_id, "record", WorkflowResumed(reason=reason))

    async def cancel(self, workflow_id: str, reason: str = "") -> None:
        """Ask the workflow to cancel; its code decides how it ends (a `CancelledError`)."""
        await self.submit(workflow_id, "input", WorkflowCancelRequested(reason=reason))

    async def terminate(self, workflow_id: str, reason: str = "") -> None:
        """End the workflow now, without running more of its code."""
        body = WorkflowTerminated(reason=reason, identity=self.identity)
        await self.submit(workflow_id, "close", body)

    async def describe(self, workflow_id: str) -> WorkflowRecord:
        """Its status, type, run, times and search attributes.

        Raises:
            WorkflowNotFoundError: No such workflow.
        """
        _check_workflow_id(workflow_id)
        record: WorkflowRecord = await self.route(DescribeCall(workflow_id=workflow_id))
        return record

    async def history(self, workflow_id: str) -> list[Event]:
        """Every recorded event of the workflow, in order (payloads as stored).

        Raises:
            WorkflowNotFoundError: No such workflow.
        """
        _check_workflow_id(workflow_id)
        events: list[Event] = await self.route(HistoryCall(workflow_id=workflow_id))
        return events

    async def start_workflow(
        self,
        workflow: object,
        *args: Any,
        id: str | None = None,
        task_queue: str | None = None,
        id_conflict: IdConflictPolicy = "fail",
        id_reuse: IdReusePolicy = "allow",
        search_attributes: dict[str, SearchAttributeValue] | None = None,
        start_signal: tuple[object, Sequence[Any]] | None = None,
        execution_timeout: timedelta | None = None,
        priority: int = 0,
        partition_key: str | None = None,
        dedup_id: str | None = None,
        debounce: timedelta | None = None,
    ) -> WorkflowHandle:
        """Start a workflow; return once its start is durable.

        Args:
            workflow: The workflow (class, run method, function) or its type name.
            *args: Its input, checked against the run method's type hints.
            id: The workflow id; a random one when omitted.
            task_queue: The task queue of the workflow (and default of its activities).
            id_conflict: When a run with this id is open: ``"fail"``, ``"use_existing"``
                (return its handle) or ``"terminate_existing"``.
            id_reuse: When the id's last run is closed: ``"allow"``,
                ``"allow_failed_only"`` or ``"reject"``.
            search_attributes: Values to find the workflow by in listings.
            start_signal: ``(signal, args)`` to deliver with the start (signal-with-start):
                if a run with this id is open, it gets the signal and no new run starts.
            execution_timeout: Longest time a run may stay open; then it is closed as
                timed out (each run of a continue-as-new chain gets it afresh).
            priority: On a flow-controlled task queue (`Engine.configure_queue`): higher
                leaves the queue first; FIFO within a priority.
            partition_key: On a flow-controlled task queue: runs sharing a key share the
                queue's ``partition_concurrency``.
            dedup_id: While an open run of the task queue holds this id, the start is
                refused with `DuplicateStartError` (nothing recorded), or, with
                ``id_conflict="use_existing"``, returns that run's handle.
            debounce: Collapse starts of this workflow id (`id` is required) that come
                within `debounce` of each other into one run, started with the last
                one's input once no start came for `debounce`. A start once that run's
                code runs is a new start (the id policies apply).

        Raises:
            PayloadValidationError: The input does not fit the workflow's signature
                (nothing recorded).
            PayloadTooLargeError: An argument is over ``max_payload_bytes`` (nothing recorded).
            ConfigurationError: An unknown id policy, a timeout that is not positive or too
                long, a search attribute that is not a string, number or boolean.
            WorkflowAlreadyStartedError: The id policies refuse a new run.
        """
        definition = self._definition_of(workflow)
        name = definition.name if definition is not None else str(workflow)
        param_types = definition.param_types if definition is not None else None
        _check_start_options(id_conflict, id_reuse, execution_timeout)
        payloads = to_payloads(
            args, param_types, f"workflow {name!r}", max_bytes=self.max_payload_bytes
        )
        try:
            started = WorkflowStarted(
                workflow_type=name,
                input=payloads,
                task_queue=task_queue or "default",
                code_version=definition.code_version if definition is not None else "",
                search_attributes=search_attributes or {},
                execution_timeout=execution_timeout,
                queue=(
                    QueuePlacement(
                        priority=priority,
                        partition_key=partition_key,
                        dedup_id=dedup_id,
                        debounce=debounce,
                    )
                    if priority or partition_key or dedup_id or debounce
                    else None
                ),
            )
        except ValidationError as invalid:  # a search attribute, the task queue, flow control
            raise ConfigurationError(f"cannot start {name!r}: {_first_problem(invalid)}") from None
        if debounce is not None and id is None:
            raise ConfigurationError(
                f"a debounced start of {name!r} needs an id: starts of one workflow id "
                "within the debounce are collapsed into one run"
            )
        workflow_id = id or str(uuid.uuid4())
        if not workflow_id.strip():
            raise ConfigurationError("a workflow id must not be empty")
        signal = None
        if start_signal is not None:
            handler, signal_args = start_signal
            signal_name, types, _ = self._handler_types("signal", handler, name)
            signal = SignalReceived(
                signal_name=signal_name,
                args=to_payloads(
                    tuple(signal_args),
                    types,
                    f"signal {signal_name!r}",
                    max_bytes=self.max_payload_bytes,
                ),
                sender=self.identity,
            )

        async def send(headers: dict[str, str]) -> str:
            call = StartCall(
                workflow_id=workflow_id,
                started=started.model_copy(update={"headers": headers}),
                run_id=str(uuid.uuid4()), id_conflict=id_conflict, id_reuse=id_reuse,
                signal=signal and signal.model_copy(update={"headers": headers}),
            )  # fmt: skip
            run_id: str = await self.route(call)
            return run_id

        return_type = definition.return_type if definition is not None else Any
        try:
            run_id = await self._send("start", workflow_id, name, send)
        except DuplicateStartError as duplicate:
            if id_conflict != "use_existing":
                raise
            return WorkflowHandle(self, duplicate.workflow_id, duplicate.run_id, return_type)
        return WorkflowHandle(self, workflow_id, run_id, return_type)

    async def execute_workflow(self, workflow: object, *args: Any, **options: Any) -> Any:
        """Start a workflow and wait for its result (options as for `start_workflow`)."""
        handle = await self.start_workflow(workflow, *args, **options)
        return await handle.result()

    def get_handle(self, workflow_id: str) -> WorkflowHandle:
        """A handle to an existing workflow (its latest run)."""
        return WorkflowHandle(self, workflow_id, None, None)

    async def result(
        self, workflow_id: str, return_type: Any = Any, *, open_run: str | None = None
    ) -> Any:
        """Wait for the workflow to close; its result, or `WorkflowFailureError`.

        `open_run`: the run the caller started (see `wait_closed`).
        """
        closing = await self.wait_closed(workflow_id, open_run=open_run)
        body = await self.codec.decode_payloads_in(closing.body)
        if isinstance(body, WorkflowCompleted):
            if return_type is None:
                definition = self._workflows.get(await self._workflow_type(workflow_id))
                return_type = definition.return_type if definition else Any
            return from_payload(body.result, return_type, what="workflow result")
        closed_as = status_after(closing.body)
        status = closed_as.value if closed_as is not None else closing.type
        message = getattr(body, "reason", "") or getattr(body, "message", "") or status
        error = WorkflowFailureError(workflow_id, status, message)
        if isinstance(body, WorkflowFailed):
            error = WorkflowFailureError(workflow_id, status, body.failure.message)
            raise error from exception_from_failure(body.failure)
        raise error

    async def list_workflows(
        self,
        *,
        status: WorkflowStatus | Iterable[WorkflowStatus] | None = None,
        type: str | None = None,
        search: dict[str, SearchAttributeValue] | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        limit: int = 100,
    ) -> list[WorkflowRecord]:
        """Workflows matching every given filter, newest first."""
        call = ListCall(
            statuses=_statuses(status), workflow_type=type, search=search or {},
            started_after=started_after, started_before=started_before, limit=limit,
        )  # fmt: skip
        records: list[WorkflowRecord] = await self.route(call)
        return records

    async def count_workflows(
        self,
        *,
        status: WorkflowStatus | Iterable[WorkflowStatus] | None = None,
        type: str | None = None,
        search: dict[str, SearchAttributeValue] | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
    ) -> int:
        """How many workflows match every given filter."""
        call = CountCall(
            statuses=_statuses(status), workflow_type=type, search=search or {},
            started_after=started_after, started_before=started_before,
        )  # fmt: skip
        count: int = await self.route(call)
        return count

    async def describe_queue(self, name: str) -> QueueStats:
        """A task queue's flow control now: queued, running and throttled runs, per partition.

        Counted from the store, so it covers every engine sharing it.

        Raises:
            ConfigurationError: No queue name given, or the store has no flow control.
        """
        if not name:
            raise ConfigurationError("describe_queue needs a task queue name, not an empty one")
        stats: list[QueueStats] = await self.route(QueuesCall(queue=name))
        return stats[0]

    async def list_queues(self) -> list[QueueStats]:
        """`describe_queue` of every queue configured on the answering engine or holding runs."""
        stats: list[QueueStats] = await self.route(QueuesCall())
        return stats


def _check_workflow_id(workflow_id: str) -> None:
    """Refuse an empty workflow id as the typed error a missing workflow gets.

    Raises:
        WorkflowNotFoundError: `workflow_id` is empty (no workflow has that id).
    """
    if not workflow_id:
        raise WorkflowNotFoundError(workflow_id)


def _check_start_options(
    id_conflict: str, id_reuse: str, execution_timeout: timedelta | None
) -> None:
    """Raise `ConfigurationError` for a policy aion does not know or an unusable timeout."""
    for option, value, allowed in (
        ("id_conflict", id_conflict, get_args(IdConflictPolicy)),
        ("id_reuse", id_reuse, get_args(IdReusePolicy)),
    ):
        if value not in allowed:
            choices = ", ".join(repr(choice) for choice in allowed)
            raise ConfigurationError(f"{option} must be one of {choices}, not {value!r}")
    if execution_timeout is None:
        return
    if not isinstance(execution_timeout, timedelta) or execution_timeout <= timedelta(0):
        raise ConfigurationError("execution_timeout must be positive, a timedelta")
    try:
        datetime.now(UTC) + execution_timeout
    except OverflowError:  # the engine could never compute the deadline
        raise ConfigurationError(
            f"execution_timeout of {execution_timeout} is too long: the deadline would fall "
            "after the year 9999"
        ) from None


def _first_problem(invalid: ValidationError) -> str:
    problem = invalid.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "value"
    return f"{where}: {problem['msg']}"


def _statuses(
    status: WorkflowStatus | Iterable[WorkflowStatus] | None,
) -> frozenset[WorkflowStatus] | None:
    if status is None:
        return None
    return frozenset({status} if isinstance(status, WorkflowStatus) else status)
