"""Signal, query and update handlers of one workflow instance (DESIGN 4.4, 4.5).

- Signals are buffered per name, in arrival order, until a handler for the name
  exists; each is then handed to its handler, in order.
- Queries run a sync handler in query mode: any attempt to issue a command or
  schedule work on the workflow loop is refused, so a query never changes the
  history, whatever it does.
- Updates run their validator in query mode first (a rejection records
  nothing); an accepted update's handler runs like workflow code and its
  outcome is recorded as `UpdateCompleted`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aion_core.converter import from_payloads, to_payload
from aion_core.definitions import HandlerDefinition, HandlerKind
from aion_core.errors import (
    AionError,
    PayloadValidationError,
    QueryHandlerFailed,
    QueryRefused,
    UnknownQuery,
    UpdateRejectedError,
)
from aion_core.events import (
    Payload,
    SignalReceived,
    UpdateAccepted,
    UpdateCompleted,
    WorkflowFailed,
)
from aion_core.failures import DOMAIN_FAILURES, failure_from_exception
from aion_core.interceptors import HandlerCall, chain_handler_calls

if TYPE_CHECKING:
    from aion_core.runtime.instance import WorkflowInstance

__all__ = ["Handlers"]


class Handlers:
    """The handlers of one instance and the signals waiting for theirs."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self._instance = instance
        self._handlers: dict[
            tuple[HandlerKind, str], tuple[HandlerDefinition, Callable[..., Any]]
        ] = {}
        self._buffered: dict[str, list[SignalReceived]] = {}
        self.querying = False

    def bind(self, workflow_object: object | None) -> None:
        """Register the class-level handlers of the workflow, bound to its object."""
        for key, definition in self._instance.definition.handlers.items():
            bound = (
                definition.fn.__get__(workflow_object)
                if workflow_object is not None
                else definition.fn
            )
            self._handlers[key] = (definition, bound)

    def register(self, definition: HandlerDefinition, fn: Callable[..., Any]) -> None:
        """Add or replace a handler at run time (replay registers again: idempotent)."""
        self._handlers[(definition.kind, definition.name)] = (definition, fn)
        if definition.kind == "signal":
            self._dispatch(definition.name)

    def names(self, kind: HandlerKind) -> list[str]:
        """The names of the handlers of one kind, sorted."""
        return sorted(name for handler_kind, name in self._handlers if handler_kind == kind)

    # --- signals -------------------------------------------------------------------------------

    def deliver_signal(self, signal: SignalReceived) -> None:
        """Buffer a signal and hand it to its handler if there is one."""
        self._buffered.setdefault(signal.signal_name, []).append(signal)
        self._dispatch(signal.signal_name)

    def check_signal(self, signal: SignalReceived) -> None:
        """Refuse a signal its handler cannot take, before it is recorded.

        Delivered, it would fail the workflow (a `PayloadValidationError` in workflow
        code); refused, the sender hears why and the workflow is untouched. A signal
        without a handler yet is buffered as it is: the handler may come later.

        Raises:
            PayloadValidationError: The arguments do not fit the handler's parameters.
        """
        found = self._handlers.get(("signal", signal.signal_name))
        if found is not None:
            definition, _ = found
            from_payloads(signal.args, definition.param_types, f"signal {signal.signal_name!r}")

    def _dispatch(self, name: str) -> None:
        found = self._handlers.get(("signal", name))
        buffered = self._buffered.get(name)
        while found is not None and buffered:
            definition, fn = found
            signal = buffered.pop(0)
            # Through the loop, so the handler runs as workflow code, in order.
            self._instance.loop.run_soon(
                self._call_handler, definition, fn, signal.args, None, signal.headers
            )

    # --- updates -------------------------------------------------------------------------------

    def validate_update(self, name: str, args: tuple[Payload, ...]) -> None:
        """Check an update before it is accepted; nothing is recorded if this raises.

        Raises:
            UpdateRejectedError: No such update, its arguments do not fit, or its validator refused.
        """
        found = self._handlers.get(("update", name))
        if found is None:
            known = ", ".join(self.names("update")) or "none"
            raise UpdateRejectedError(
                f"the workflow has no update {name!r}; known updates: {known}"
            )
        definition, _ = found
        try:
            values = from_payloads(args, definition.param_types, f"update {name!r}")
        except PayloadValidationError as error:
            raise UpdateRejectedError(str(error)) from None
        if definition.validator is None:
            return
        validator = definition.validator
        if self._instance.workflow_object is not None:
            validator = validator.__get__(self._instance.workflow_object)
        try:
            with self.query_mode():
                validator(*values)
        except QueryRefused as refused:
            raise UpdateRejectedError(f"the validator of {name!r} {refused}") from None
        except Exception as error:
            raise UpdateRejectedError(f"{name!r} rejected: {error}") from None

    def accept_update(self, accepted: UpdateAccepted) -> None:
        """Run an accepted update's handler; its outcome is recorded as `UpdateCompleted`."""
        found = self._handlers.get(("update", accepted.update_name))
        if found is None:  # accepted under code that had the handler: keep replay honest
            self._complete_update(
                accepted.update_id,
                error=UpdateRejectedError(
                    f"the workflow no longer has update {accepted.update_name!r}"
                ),
            )
            return
        definition, fn = found
        self._instance.loop.run_soon(
            self._call_handler, definition, fn, accepted.args, accepted.update_id, accepted.headers
        )

    def _complete_update(
        self, update_id: str, *, result: Payload | None = None, error: BaseException | None = None
    ) -> None:
        body = (
            UpdateCompleted(update_id=update_id, result=result)
            if error is None
            else UpdateCompleted(update_id=update_id, failure=failure_from_exception(error))
        )
        self._instance.issue(("update", update_id), body)

    # --- running handlers as workflow code ------------------------------------------------------

    def _call_handler(
        self,
        definition: HandlerDefinition,
        fn: Callable[..., Any],
        payloads: tuple[Payload, ...],
        update_id: str | None,
        headers: Mapping[str, str],
    ) -> None:
        try:
            args = from_payloads(
                payloads, definition.param_types, f"{definition.kind} {definition.name!r}"
            )
            outcome = self._intercepted(definition, fn, tuple(args), headers)
        except BaseException as error:
            self._handler_failed(definition, update_id, error)
            return
        if inspect.isawaitable(outcome):
            self._instance.loop.create_task(self._await_handler(definition, outcome, update_id))
        else:
            self._handler_done(definition, outcome, update_id)

    async def _await_handler(
        self, definition: HandlerDefinition, outcome: Any, update_id: str | None
    ) -> None:
        try:
            value = await outcome
        except BaseException as error:
            self._handler_failed(definition, update_id, error)
            return
        self._handler_done(definition, value, update_id)

    def _handler_done(
        self, definition: HandlerDefinition, value: Any, update_id: str | None
    ) -> None:
        if update_id is None:
            return
        try:
            result = to_payload(
                value, definition.return_type, what=f"update {definition.name!r} result",
                max_bytes=self._instance.payload_limit,
            )  # fmt: skip
        except AionError as error:
            self._complete_update(update_id, error=error)
            return
        self._complete_update(update_id, result=result)

    def _handler_failed(
        self, definition: HandlerDefinition, update_id: str | None, error: BaseException
    ) -> None:
        if update_id is not None and isinstance(error, Exception):
            self._complete_update(update_id, error=error)  # the caller gets the error
        elif isinstance(error, DOMAIN_FAILURES):
            self._instance.close_run(WorkflowFailed(failure=failure_from_exception(error)))
        elif isinstance(error, asyncio.CancelledError):
            pass  # the run is being cancelled; its main code decides the outcome
        else:
            self._instance.fail_fatally(error)  # a bug: supervision restarts the instance

    def _intercepted(
        self,
        definition: HandlerDefinition,
        fn: Callable[..., Any],
        args: tuple[object, ...],
        headers: Mapping[str, str],
    ) -> Any:
        """`fn(*args)` through the workflow interceptors' `execute_handler`."""
        instance = self._instance
        if not instance.interceptors:
            return fn(*args)
        call = HandlerCall(
            definition.kind, definition.name, args, instance.workflow_id, instance.run_id,
            headers, replaying=instance.replaying,
        )  # fmt: skip
        chain = chain_handler_calls(instance.interceptors, lambda final: fn(*final.args))
        return chain(call)

    # --- queries -------------------------------------------------------------------------------

    @contextmanager
    def query_mode(self) -> Iterator[None]:
        """Run read-only code: commands and new work on the loop are refused meanwhile."""
        self.querying = True
        try:
            with self._instance.loop.entered():
                yield
        finally:
            self.querying = False

    def answer_query(
        self, name: str, args: tuple[Payload, ...], headers: Mapping[str, str] | None = None
    ) -> Payload:
        """Run the query handler `name`; never records anything.

        Raises:
            UnknownQuery: No handler of that name (the workflow is untouched).
            QueryHandlerFailed: The handler raised.
            QueryRefused: The handler tried to issue a command or to query.
            PayloadValidationError: The arguments do not fit the handler.
        """
        found = self._handlers.get(("query", name))
        if found is None:
            raise UnknownQuery(name, self.names("query"))
        definition, fn = found
        values = from_payloads(args, definition.param_types, f"query {name!r}")
        try:
            with self.query_mode():
                value = self._intercepted(definition, fn, tuple(values), headers or {})
        except QueryRefused:
            raise
        except BaseException as error:
            if not isinstance(error, Exception):
                raise QueryRefused(
                    f"query {name!r} tried to change the workflow ({type(error).__name__})"
                ) from None
            raise QueryHandlerFailed(
                f"query {name!r} raised {type(error).__name__}: {error}"
            ) from error
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()
            raise QueryRefused(f"query {name!r} returned an awaitable; query handlers must be sync")
        try:
            return to_payload(value, definition.return_type, what=f"query {name!r} result")
        except PayloadValidationError as error:
            raise QueryHandlerFailed(str(error)) from None
