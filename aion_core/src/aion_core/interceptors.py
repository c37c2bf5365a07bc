"""Interceptors: plugins wrap activity and workflow calls (tracing, metrics, context).

Subclass and override what you need; every method passes through by default,
so new interception points can be added without breaking existing plugins.
Interceptors come from the `aion_client_interceptors`,
`aion_activity_interceptors` and `aion_workflow_interceptors` hooks; the first
one returned is the outermost.

Headers carry context (a trace, a tenant) from a caller to the code it makes
run, across processes: a client interceptor sets them on what it sends, the
workflow's `command_headers` sets them on the activities, children and
signals its code starts, and they come back on `WorkflowCall`, `HandlerCall`
and `ActivityCall`. They are recorded with the events that carry them (in the
clear: payload codecs do not encode them), so a replayed run sees the same.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aion_core.activity import ActivityContext, current_context

if TYPE_CHECKING:
    from aion_core.definitions import ActivityDefinition
    from aion_core.events import EventBody

__all__ = [
    "ActivityCall",
    "ActivityInterceptor",
    "ClientCall",
    "ClientInterceptor",
    "HandlerCall",
    "Headers",
    "WorkflowCall",
    "WorkflowInterceptor",
    "chain_calls",
    "chain_handler_calls",
    "invoke_activity",
]

_C = TypeVar("_C")
Proceed = Callable[[_C], Awaitable[object]]

Headers = Mapping[str, str]
"""Context carried with a call: names to strings (``traceparent``, ...)."""


@dataclass(frozen=True)
class ActivityCall:
    """One attempt of an activity about to run.

    Attributes:
        activity_type: The registered activity name.
        args: Decoded arguments.
        workflow_id: The workflow that scheduled it.
        attempt: The attempt number, from 1.
        headers: Context carried with the call (trace context, ...).
    """

    activity_type: str
    args: tuple[object, ...]
    workflow_id: str
    attempt: int
    headers: Headers = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowCall:
    """A workflow run (or its replay) about to execute.

    Attributes:
        workflow_type: The registered workflow name.
        args: Decoded arguments.
        workflow_id: Its id.
        run_id: Its run.
        headers: Context carried with the start (trace context, ...).
        replaying: Whether the run is being rebuilt from its recorded history
            (after a restart, on another node, after leaving the cache) rather
            than starting now; what it did before is recorded, not done again.
    """

    workflow_type: str
    args: tuple[object, ...]
    workflow_id: str
    run_id: str
    headers: Headers = field(default_factory=dict)
    replaying: bool = False


@dataclass(frozen=True)
class HandlerCall:
    """A signal, query or update handler of a workflow about to run.

    Attributes:
        kind: ``"signal"``, ``"query"`` or ``"update"``.
        name: The handler's name.
        args: Decoded arguments.
        workflow_id: The workflow handling it.
        run_id: Its run.
        headers: Context the sender carried with it.
        replaying: Whether a recorded signal or update is being handed to the
            handler again while the run is rebuilt from its history.
    """

    kind: Literal["signal", "query", "update"]
    name: str
    args: tuple[object, ...]
    workflow_id: str
    run_id: str
    headers: Headers = field(default_factory=dict)
    replaying: bool = False


@dataclass(frozen=True)
class ClientCall:
    """An operation a caller (a `Client`, or code holding an `Engine`) sends to a workflow.

    Attributes:
        operation: ``"start"``, ``"signal"``, ``"query"`` or ``"update"``.
        workflow_id: The workflow it is for.
        name: The workflow type (start), or the signal, query or update name.
        headers: Context to carry with it; an interceptor sets them with
            ``dataclasses.replace(call, headers=...)`` before proceeding.
    """

    operation: Literal["start", "signal", "query", "update"]
    workflow_id: str
    name: str
    headers: Headers = field(default_factory=dict)


class ActivityInterceptor:
    """Wraps activity attempts; the default passes straight through."""

    async def execute_activity(
        self, call: ActivityCall, proceed: Callable[[ActivityCall], Awaitable[object]]
    ) -> object:
        """Run one attempt: call `proceed(call)` (possibly with a changed call)."""
        return await proceed(call)


class WorkflowInterceptor:
    """Wraps workflow runs and their handlers; the default passes straight through.

    Its methods run inside the workflow's deterministic loop, in the context
    of the workflow code: like that code they must not read the wall clock to
    decide anything, sleep or do I/O (recording telemetry is fine).
    """

    async def execute_workflow(
        self, call: WorkflowCall, proceed: Callable[[WorkflowCall], Awaitable[object]]
    ) -> object:
        """Run the workflow: call `proceed(call)` (possibly with a changed call)."""
        return await proceed(call)

    def execute_handler(
        self, call: HandlerCall, proceed: Callable[[HandlerCall], object]
    ) -> object:
        """Run a signal, query or update handler: call `proceed(call)`.

        Synchronous, because query handlers are: for an ``async def`` handler
        `proceed` returns its coroutine, which the runtime awaits; wrap it in a
        coroutine of your own to act when it finishes.
        """
        return proceed(call)

    def command_headers(self, command: EventBody, headers: Headers) -> Headers:
        """The headers to record with a new command of the workflow code.

        Called for `ActivityScheduled`, `ChildWorkflowStarted`,
        `ExternalSignalSent` and `WorkflowContinuedAsNew` when the code issues
        them for the first time (not when a replay finds them recorded), in the
        context of the code issuing them. `headers` are those of the
        interceptors before this one; return them, or a copy with more.
        """
        return headers


class ClientInterceptor:
    """Wraps what callers send to workflows; the default passes straight through."""

    async def send(
        self, call: ClientCall, proceed: Callable[[ClientCall], Awaitable[object]]
    ) -> object:
        """Send the operation: call `proceed(call)` (possibly with other headers)."""
        return await proceed(call)


def chain_calls(
    interceptors: Sequence[Callable[[_C, Proceed[_C]], Awaitable[object]]], final: Proceed[_C]
) -> Proceed[_C]:
    """One callable running `interceptors` (outermost first) around `final`."""
    chain = final
    for interceptor in reversed(interceptors):
        chain = _link(interceptor, chain)
    return chain


def chain_handler_calls(
    interceptors: Sequence[WorkflowInterceptor], final: Callable[[HandlerCall], object]
) -> Callable[[HandlerCall], object]:
    """One callable running the interceptors' `execute_handler` (outermost first) around `final`."""
    chain = final
    for interceptor in reversed(interceptors):
        chain = functools.partial(interceptor.execute_handler, proceed=chain)
    return chain


def _link(
    interceptor: Callable[[_C, Proceed[_C]], Awaitable[object]], proceed: Proceed[_C]
) -> Proceed[_C]:
    async def call(current: _C) -> object:
        return await interceptor(current, proceed)

    return call


async def invoke_activity(
    definition: ActivityDefinition,
    context: ActivityContext,
    call: ActivityCall,
    *,
    interceptors: Sequence[ActivityInterceptor],
    threads: Executor,
) -> Any:
    """Run one attempt of an activity through `interceptors`, in `context`.

    Async activities run on the caller's loop; sync ones in `threads`, with
    the context variables (the activity context) copied in.
    """

    async def proceed(final: ActivityCall) -> Any:
        if definition.is_async:
            return await definition.fn(*final.args)
        loop = asyncio.get_running_loop()
        copied = contextvars.copy_context()
        return await loop.run_in_executor(threads, copied.run, definition.fn, *final.args)

    chain = chain_calls([i.execute_activity for i in interceptors], proceed)
    token = current_context.set(context)
    try:
        return await chain(call)
    finally:
        current_context.reset(token)
