"""Talking to running workflows: signals, queries, updates, pause and resume (DESIGN 4.4, 4.5).

A part of `Engine`, kept apart so the engine module stays about running
workflows; every method here goes through the workflow's runner.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aion_core.converter import from_payload, to_payloads
from aion_core.definitions import HandlerKind, WorkflowDefinition
from aion_core.errors import ConfigurationError, QueryTimeout, WorkflowNotFoundError
from aion_core.events import (
    SignalReceived,
    UpdateAccepted,
    UpdateCompleted,
    WorkflowPaused,
    WorkflowResumed,
)
from aion_core.failures import exception_from_failure
from aion_core.workflow import HANDLER_MARK, handler_definition

if TYPE_CHECKING:
    from aion_core.codec import PayloadCodecChain
    from aion_core.engine.runner import WorkflowRunner
    from aion_core.store.protocol import EventStore

__all__ = ["WorkflowMessages"]


class WorkflowMessages:
    """Signals, queries, updates, pause and resume: the `Engine` methods that talk to workflows."""

    store: EventStore
    codec: PayloadCodecChain
    identity: str
    query_timeout: timedelta
    _workflows: dict[str, WorkflowDefinition]
    _update_waiters: dict[tuple[str, str], asyncio.Future[UpdateCompleted]]
    runner: Callable[[str], WorkflowRunner]

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

    async def _workflow_type(self, workflow_id: str) -> str:
        record = await self.store.get_workflow(workflow_id)
        if record is None:
            raise WorkflowNotFoundError(workflow_id)
        return record.workflow_type

    async def signal(self, workflow_id: str, signal: object, *args: Any) -> None:
        """Send a signal; return once it is durable (buffered until the workflow handles it).

        Raises:
            WorkflowNotFoundError: No such workflow (nothing created).
            WorkflowClosedError: The run is closed (nothing recorded).
            PayloadValidationError: The arguments do not fit the handler.
        """
        name, types, _ = self._handler_types(
            "signal", signal, await self._workflow_type(workflow_id)
        )
        body = SignalReceived(
            signal_name=name,
            args=to_payloads(args, types, f"signal {name!r}"),
            sender=self.identity,
        )
        await self.runner(workflow_id).submit("input", body)

    async def query(
        self, workflow_id: str, query: object, *args: Any, timeout: timedelta | None = None
    ) -> Any:
        """Ask a workflow a question; nothing is ever recorded (DESIGN 4.5).

        Raises:
            UnknownQuery, QueryHandlerFailed, QueryRefused, QueryReplyDropped: see DESIGN 4.5.
            QueryTimeout: No answer within `timeout` (the engine's `query_timeout` by default).
            WorkflowNotFoundError: No such workflow.
        """
        name, types, return_type = self._handler_types(
            "query", query, await self._workflow_type(workflow_id)
        )
        args_payloads = to_payloads(args, types, f"query {name!r}")
        limit = (timeout or self.query_timeout).total_seconds()
        try:
            async with asyncio.timeout(limit):
                answer = await self.runner(workflow_id).query(name, args_payloads)
        except TimeoutError:
            raise QueryTimeout(
                f"query {name!r} to {workflow_id!r} got no answer within {limit:g}s"
            ) from None
        return from_payload(answer, return_type, what=f"query {name!r} answer")

    async def execute_update(self, workflow_id: str, update: object, *args: Any) -> Any:
        """Run an update: validated (a rejection records nothing), recorded, handled.

        Returns the handler's value; raises its error (an `ApplicationError`
        carrying the recorded failure) or `UpdateRejectedError`.
        """
        name, types, return_type = self._handler_types(
            "update", update, await self._workflow_type(workflow_id)
        )
        accepted = UpdateAccepted(
            update_id=str(uuid.uuid4()),
            update_name=name,
            args=to_payloads(args, types, f"update {name!r}"),
        )
        key = (workflow_id, accepted.update_id)
        waiter: asyncio.Future[UpdateCompleted] = asyncio.get_running_loop().create_future()
        self._update_waiters[key] = waiter
        try:
            await self.runner(workflow_id).submit("update", accepted)
            completed = await waiter
        finally:
            self._update_waiters.pop(key, None)
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
        await self.runner(workflow_id).submit("record", WorkflowPaused(reason=reason))

    async def resume(self, workflow_id: str, reason: str = "") -> None:
        """Resume a paused workflow; the inputs kept meanwhile are delivered now.

        Raises:
            WorkflowStateError: It is not paused (nothing recorded).
        """
        runner = self.runner(workflow_id)
        await runner.submit("record", WorkflowResumed(reason=reason))
        await runner.ensure_live()
