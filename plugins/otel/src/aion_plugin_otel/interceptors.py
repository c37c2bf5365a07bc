"""The interceptors that record spans and carry the trace context in headers.

Span tree of a workflow started by a client (names as Temporal's tracing uses them)::

    StartWorkflow:Order            client, around the start call
    └── RunWorkflow:Order          the run, from its start to its close
        ├── RunActivity:charge     one span per attempt, where it runs
        └── RunWorkflow:Shipping   a child run
            └── RunActivity:ship

``SignalWorkflow`` / ``QueryWorkflow`` / ``UpdateWorkflow`` spans of a client
have ``HandleSignal`` / ``HandleQuery`` / ``HandleUpdate`` children where the
workflow handles them; what a handler starts is a child of its span.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from aion_core.events import EventBody
from aion_core.interceptors import (
    ActivityCall,
    ActivityInterceptor,
    ClientCall,
    ClientInterceptor,
    HandlerCall,
    WorkflowCall,
    WorkflowInterceptor,
)
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import Attributes

from aion_plugin_otel import attributes
from aion_plugin_otel.propagation import context_from, with_current_context

__all__ = ["TracingActivityInterceptor", "TracingClientInterceptor", "TracingWorkflowInterceptor"]

_CLIENT_SPANS = {
    "start": "StartWorkflow",
    "signal": "SignalWorkflow",
    "query": "QueryWorkflow",
    "update": "UpdateWorkflow",
}
_HANDLER_SPANS = {"signal": "HandleSignal", "query": "HandleQuery", "update": "HandleUpdate"}


class TracingClientInterceptor(ClientInterceptor):
    """A client span around each start, signal, query and update; its context goes along."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    async def send(
        self, call: ClientCall, proceed: Callable[[ClientCall], Awaitable[object]]
    ) -> object:
        """Send `call` inside a client span, with the span's context in its headers."""
        with self._tracer.start_as_current_span(
            f"{_CLIENT_SPANS[call.operation]}:{call.name}",
            kind=SpanKind.CLIENT,
            attributes={attributes.WORKFLOW_ID: call.workflow_id},
        ):
            headers = with_current_context(call.headers)
            return await proceed(dataclasses.replace(call, headers=headers))


class TracingWorkflowInterceptor(WorkflowInterceptor):
    """A span per run and per handler; the workflow's commands carry the current one.

    The run span is the parent of what the run's code starts. It lasts while
    the run executes in this process: a run rebuilt from its history (after a
    restart, on another node, or after leaving the engine's cache) gets a new
    run span with ``aion.replaying`` set, under the same parent. Signals and
    updates handed to handlers again during such a rebuild are not traced
    twice.
    """

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    async def execute_workflow(
        self, call: WorkflowCall, proceed: Callable[[WorkflowCall], Awaitable[object]]
    ) -> object:
        """Run the workflow inside its run span, a child of the context of its start."""
        with _server_span(
            self._tracer,
            f"RunWorkflow:{call.workflow_type}",
            call.headers,
            {
                attributes.WORKFLOW_ID: call.workflow_id,
                attributes.RUN_ID: call.run_id,
                attributes.WORKFLOW_TYPE: call.workflow_type,
                attributes.REPLAYING: call.replaying,
            },
        ):
            return await proceed(call)

    def execute_handler(
        self, call: HandlerCall, proceed: Callable[[HandlerCall], object]
    ) -> object:
        """Run the handler inside a span, a child of the context its sender carried."""
        if call.replaying:
            return proceed(call)
        span = self._tracer.start_span(
            f"{_HANDLER_SPANS[call.kind]}:{call.name}",
            context=context_from(call.headers),
            kind=SpanKind.SERVER,
            attributes={
                attributes.WORKFLOW_ID: call.workflow_id,
                attributes.RUN_ID: call.run_id,
                attributes.HANDLER_KIND: call.kind,
                attributes.HANDLER_NAME: call.name,
            },
        )
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            try:
                outcome = proceed(call)
            except BaseException as error:
                _failed(span, error)
                span.end()
                raise
        if inspect.isawaitable(outcome):
            return _ended_after(span, outcome)
        span.end()
        return outcome

    def command_headers(self, command: EventBody, headers: Mapping[str, str]) -> Mapping[str, str]:
        """The current span (the run's, or a handler's) goes with the command."""
        return with_current_context(headers)


class TracingActivityInterceptor(ActivityInterceptor):
    """A span per activity attempt, where it runs, a child of the span that scheduled it."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    async def execute_activity(
        self, call: ActivityCall, proceed: Callable[[ActivityCall], Awaitable[object]]
    ) -> object:
        """Run the attempt inside its span; a failed attempt marks the span as an error."""
        with _server_span(
            self._tracer,
            f"RunActivity:{call.activity_type}",
            call.headers,
            {
                attributes.WORKFLOW_ID: call.workflow_id,
                attributes.ACTIVITY_TYPE: call.activity_type,
                attributes.ATTEMPT: call.attempt,
            },
        ):
            return await proceed(call)


@contextlib.contextmanager
def _server_span(
    tracer: Tracer, name: str, headers: Mapping[str, str], span_attributes: Attributes
) -> Iterator[Span]:
    """The current span while code runs on behalf of the context `headers` carry.

    An `Exception` marks it failed; other BaseExceptions (cancellation, a
    continue-as-new) end it as the code decided.
    """
    with tracer.start_as_current_span(
        name,
        context=context_from(headers),
        kind=SpanKind.SERVER,
        attributes=span_attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as error:
            _failed(span, error)
            raise


async def _ended_after(span: Span, outcome: Awaitable[Any]) -> Any:
    """Await an async handler inside its span, and end the span when it finishes."""
    with trace.use_span(
        span, end_on_exit=False, record_exception=False, set_status_on_exception=False
    ):
        try:
            return await outcome
        except BaseException as error:
            _failed(span, error)
            raise
        finally:
            span.end()


def _failed(span: Span, error: BaseException) -> None:
    """Mark `span` as failed by `error` (domain errors and bugs; not cancellations)."""
    if isinstance(error, Exception):
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
