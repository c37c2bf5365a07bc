"""Calls on workflows: carried out here when this engine owns the workflow, else forwarded.

A part of `Engine`. Every operation on a workflow (start, signal, query,
update, cancel, ...) becomes a `Call` (aion_core.calls). `route` sends it to
the workflow's owner: this engine (carried out at once, no encoding), or
another node through the transport, which calls `serve` over there. Reads of
the store are served by whichever engine is asked.

Payloads cross the transport encoded by the payload codecs, as the store holds
them, so an encryption codec leaves nothing readable on the wire: `route`
encodes a call it forwards, `serve` decodes a call it receives and encodes a
query's answer it sends back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
from aion_core.converter import check_payloads_in, from_payloads
from aion_core.engine.runner import StartRequest
from aion_core.errors import (
    ConfigurationError,
    DuplicateStartError,
    OwnershipLostError,
    QueryTimeout,
    WorkflowNotFoundError,
)
from aion_core.events import (
    Event,
    Payload,
    QueuePlacement,
    SignalReceived,
    UpdateCompleted,
    WorkflowDequeued,
    WorkflowResumed,
    WorkflowStarted,
    WorkflowStatus,
)
from aion_core.operations import WorkflowOperations
from aion_core.store.queues import QueueStats
from aion_core.store.records import WorkflowFilter

if TYPE_CHECKING:
    from aion_core.definitions import WorkflowDefinition
    from aion_core.engine.clock import Clock
    from aion_core.engine.queues import QueueDispatcher
    from aion_core.engine.runner import WorkflowRunner
    from aion_core.store.protocol import EventStore
    from aion_core.transport import EngineHandle, QueryService

__all__ = ["CallServing"]


class CallServing(WorkflowOperations):
    """Routing and serving of calls: how an `Engine` reaches a workflow's owner."""

    store: EventStore
    handle: EngineHandle
    query_service: QueryService
    queues: QueueDispatcher
    clock: Clock
    call_timeout: float
    _close_waiters: dict[str, list[asyncio.Future[Event | None]]]
    _update_waiters: dict[tuple[str, str], asyncio.Future[UpdateCompleted]]
    runner: Callable[[str], WorkflowRunner]
    cached_runner: Callable[[str], WorkflowRunner | None]
    workflow_definition: Callable[[str], WorkflowDefinition]

    def owns(self, workflow_id: str) -> bool:
        """Whether this engine serves `workflow_id` now (always, in-process)."""
        return self.handle.owns(workflow_id)

    def may_record(self, workflow_id: str) -> bool:
        """Whether this engine may append to `workflow_id`'s history now (see `EngineHandle`)."""
        return self.handle.may_record(workflow_id)

    async def route(self, call: Call, timeout: float | None = None) -> Any:
        """Carry out `call` where it belongs; its reply value (or the owner's typed error)."""
        if not call.owner_only or self.owns(call.workflow_id):
            try:
                return await self._carry_out(call)
            except OwnershipLostError:
                pass  # nothing recorded: ask whoever owns the workflow now
        encoded = await self.codec.encode_payloads_in(call)
        return await self.handle.forward(encoded, timeout or self.call_timeout)

    async def ask(self, call: QueryCall) -> Payload:
        """Ask the query through the query service; never records."""
        # The query service may carry the question to another node: it takes and
        # gives payloads encoded, as `serve` does.
        answer = await self.query_service.query(await self.codec.encode_payloads_in(call))
        [decoded] = await self.codec.decode([answer])
        return decoded

    # --- serving, as the owner -----------------------------------------------------------------

    async def serve(self, call: Call) -> Any:
        """Carry out `call`, received through the transport, here; its reply value.

        The call's payloads arrive encoded by the payload codecs, and a query's
        answer leaves encoded; other replies carry payloads as the store holds them.

        Raises:
            PayloadTooLargeError: A payload of the call is over this engine's
                ``max_payload_bytes`` (nothing recorded).
        """
        decoded = await self.codec.decode_payloads_in(call)
        if _carries_caller_values(decoded):
            # A caller elsewhere may allow larger payloads than this engine records.
            check_payloads_in(decoded, self.max_payload_bytes, f"the {call.call} call")
        reply = await self._carry_out(decoded)
        if isinstance(call, QueryCall):
            answered: Payload = await self.codec.encode_payloads_in(reply)
            return answered
        return reply

    async def _carry_out(self, call: Call) -> Any:
        """Carry out `call` (payloads decoded) here: this engine owns its workflow, or reads."""
        if isinstance(call, StartCall):
            definition = self.workflow_definition(call.started.workflow_type)
            _check_start_arguments(definition, call)
            request = StartRequest(
                definition, call.run_id, call.id_conflict, call.id_reuse, call.signal
            )
            started = self._placed(call.started)
            placement = started.queue
            if placement is None or placement.dedup_id is None:
                return await self.runner(call.workflow_id).submit("start", started, start=request)
            return await self._start_deduplicated(call, started, placement.dedup_id, request)
        if isinstance(call, SubmitCall):
            runner = self.runner(call.workflow_id)
            run_id = await runner.submit(call.kind, call.body, run_id=call.run_id)
            if call.kind == "reopen" or isinstance(call.body, WorkflowResumed | WorkflowDequeued):
                await runner.ensure_live()  # replay delivers what was kept meanwhile
            return run_id
        if isinstance(call, QueryCall):
            return await self._answer(call)
        if isinstance(call, UpdateCall):
            return await self._update(call)
        if isinstance(call, WaitCall):
            return await self._closing_event(call.workflow_id, call.wait, call.open_run)
        return await self._read(call)

    async def _start_deduplicated(
        self, call: StartCall, started: WorkflowStarted, dedup_id: str, request: StartRequest
    ) -> str:
        """Claim the start's dedup id on its queue, then start; refused if another run holds it.

        Raises:
            DuplicateStartError: An open run of the queue holds the dedup id (nothing recorded).
        """
        store = self.queues.store()
        queue = started.task_queue
        now = self.clock.now()
        claim = await store.claim_dedup(queue, dedup_id, call.workflow_id, call.run_id, now=now)
        if claim.run_id != call.run_id:
            raise DuplicateStartError(claim.workflow_id, claim.run_id, queue, dedup_id)
        started_run: str | None = None
        try:
            started_run = await self.runner(call.workflow_id).submit(
                "start", started, start=request
            )
            return started_run
        finally:
            if started_run != call.run_id:  # refused, or given a run already there
                await store.release_dedup(queue, dedup_id, call.run_id)

    def _placed(self, started: WorkflowStarted) -> WorkflowStarted:
        """The start as this engine records it: queued when its task queue is flow-controlled.

        A start with a dedup id or a debounce is queued on any queue (one without flow
        control lets it out at once, or once its debounce is over).

        Raises:
            ConfigurationError: A priority or partition key for a queue without flow control.
        """
        placement = started.queue
        if self.queues.settings(started.task_queue) is not None:
            limited = (placement or QueuePlacement()).model_copy(update={"limited": True})
            return started.model_copy(update={"queue": limited})
        if placement is None:
            return started
        if placement.priority or placement.partition_key is not None:
            raise ConfigurationError(
                f"task queue {started.task_queue!r} has no flow control here, so a priority "
                "or partition key means nothing on it: declare the queue on every engine "
                "(engine.configure_queue or [queues.NAME] in aion.toml)"
            )
        if placement.dedup_id is None and placement.debounce is None:
            return started.model_copy(update={"queue": None})
        self.queues.store()  # a store without flow control could never let it out
        return started

    async def _answer(self, call: QueryCall) -> Payload:
        try:
            async with asyncio.timeout(call.timeout):
                return await self.runner(call.workflow_id).query(call.name, call.args, call.headers)
        except TimeoutError:
            raise QueryTimeout(
                f"query {call.name!r} to {call.workflow_id!r} got no answer within "
                f"{call.timeout:g}s"
            ) from None

    async def _update(self, call: UpdateCall) -> UpdateCompleted:
        key = (call.workflow_id, call.accepted.update_id)
        waiter: asyncio.Future[UpdateCompleted] = asyncio.get_running_loop().create_future()
        self._update_waiters[key] = waiter
        try:
            await self.runner(call.workflow_id).submit("update", call.accepted)
            return await waiter
        finally:
            self._update_waiters.pop(key, None)

    async def _closing_event(
        self, workflow_id: str, wait: float, open_run: str | None = None
    ) -> Event | None:
        waiter: asyncio.Future[Event | None] = asyncio.get_running_loop().create_future()
        self._close_waiters.setdefault(workflow_id, []).append(waiter)
        try:
            # The waiter is registered first, so no close recorded here from now on is
            # missed. A run the caller started and this engine still holds open needs
            # no read: only another owner could have closed it, and then this engine's
            # view is stale for one wait at most (the caller's next ask reads).
            if open_run is None or not self._holds_open(workflow_id, open_run):
                record = await self.store.get_workflow(workflow_id)
                if record is None:
                    raise WorkflowNotFoundError(workflow_id)
                status = record.status
                if status.is_closed and status is not WorkflowStatus.CONTINUED_AS_NEW:
                    after = record.last_seq - 1
                    [last] = await self.store.read_events(workflow_id, after_seq=after)
                    return last
            try:
                async with asyncio.timeout(wait):
                    return await asyncio.shield(waiter)
            except TimeoutError:
                return None
        finally:
            waiters = self._close_waiters.get(workflow_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            waiter.cancel()

    def _holds_open(self, workflow_id: str, run_id: str) -> bool:
        """Whether this engine's runner of the workflow shows `run_id` as its open run."""
        runner = self.cached_runner(workflow_id)
        record = runner.record if runner is not None else None
        return record is not None and record.run_id == run_id and not record.status.is_closed

    async def _read(self, call: Call) -> Any:
        if isinstance(call, DescribeCall):
            record = await self.store.get_workflow(call.workflow_id)
            if record is None:
                raise WorkflowNotFoundError(call.workflow_id)
            return record
        if isinstance(call, HistoryCall):
            events = await self.store.read_events(call.workflow_id, after_seq=call.after_seq)
            if not events and call.after_seq == 0:
                raise WorkflowNotFoundError(call.workflow_id)
            return events
        if isinstance(call, QueuesCall):
            return await self._queue_stats(call.queue)
        assert isinstance(call, ListCall | CountCall)
        query = WorkflowFilter(
            statuses=call.statuses,
            workflow_type=call.workflow_type,
            started_after=call.started_after,
            started_before=call.started_before,
            search_attributes=call.search,
            limit=call.limit if isinstance(call, ListCall) else 1,
        )
        if isinstance(call, ListCall):
            return await self.store.list_workflows(query)
        return await self.store.count_workflows(query)

    async def _queue_stats(self, queue: str | None) -> list[QueueStats]:
        """`queue`'s flow control now, or every queue's: configured here or holding runs.

        Counted from the store, so it covers every engine sharing it.

        Raises:
            ConfigurationError: The store has no flow control.
        """
        if queue is not None:
            return [await self.queues.stats(queue)]
        names = {s.name for s in self.queues.queues} | set(await self.queues.store().queue_names())
        return [await self.queues.stats(name) for name in sorted(names)]


def _carries_caller_values(call: Call) -> bool:
    """Whether `call` carries values a caller chose (inputs, arguments), not engine outcomes.

    Outcomes other engines submit (a child's result, a query's answer) were checked where
    they were made; refusing one here would only leave it to be retried.
    """
    if isinstance(call, SubmitCall):
        return isinstance(call.body, SignalReceived)
    return isinstance(call, StartCall | UpdateCall | QueryCall)


def _check_start_arguments(definition: WorkflowDefinition, call: StartCall) -> None:
    """Refuse a start whose input (or start signal) does not fit the workflow's code.

    A caller that named the workflow by type sent plain JSON, unchecked: started, the
    run would fail on its first step. Refused here, nothing is recorded (DESIGN 2.1).

    Raises:
        PayloadValidationError: The input or the signal's arguments do not fit.
    """
    from_payloads(call.started.input, definition.param_types, f"workflow {definition.name!r}")
    signal = call.signal
    handler = definition.handler("signal", signal.signal_name) if signal is not None else None
    if signal is not None and handler is not None:
        from_payloads(signal.args, handler.param_types, f"signal {signal.signal_name!r}")
