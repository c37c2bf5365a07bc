"""Interceptors: plugins wrap activity and workflow calls (tracing, metrics, context).

Subclass and override what you need; every method passes through by default,
so new interception points can be added without breaking existing plugins.
Interceptors come from the `aion_activity_interceptors` and
`aion_workflow_interceptors` hooks; the first one returned is the outermost.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aion_core.activity import ActivityContext, current_context

if TYPE_CHECKING:
    from aion_core.definitions import ActivityDefinition

__all__ = [
    "ActivityCall",
    "ActivityInterceptor",
    "WorkflowCall",
    "WorkflowInterceptor",
    "chain_calls",
    "invoke_activity",
]

_C = TypeVar("_C")
Proceed = Callable[[_C], Awaitable[object]]


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
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowCall:
    """A workflow run (or its replay) about to execute.

    Attributes:
        workflow_type: The registered workflow name.
        args: Decoded arguments.
        workflow_id: Its id.
        run_id: Its run.
        headers: Context carried with the start (trace context, ...).
    """

    workflow_type: str
    args: tuple[object, ...]
    workflow_id: str
    run_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


class ActivityInterceptor:
    """Wraps activity attempts; the default passes straight through."""

    async def execute_activity(
        self, call: ActivityCall, proceed: Callable[[ActivityCall], Awaitable[object]]
    ) -> object:
        """Run one attempt: call `proceed(call)` (possibly with a changed call)."""
        return await proceed(call)


class WorkflowInterceptor:
    """Wraps workflow runs; the default passes straight through."""

    async def execute_workflow(
        self, call: WorkflowCall, proceed: Callable[[WorkflowCall], Awaitable[object]]
    ) -> object:
        """Run the workflow: call `proceed(call)` (possibly with a changed call)."""
        return await proceed(call)


def chain_calls(
    interceptors: Sequence[Callable[[_C, Proceed[_C]], Awaitable[object]]], final: Proceed[_C]
) -> Proceed[_C]:
    """One callable running `interceptors` (outermost first) around `final`."""
    chain = final
    for interceptor in reversed(interceptors):
        chain = _link(interceptor, chain)
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
