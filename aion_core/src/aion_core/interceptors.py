"""Interceptors: plugins wrap activity and workflow calls (tracing, metrics, context).

Subclass and override what you need; every method passes through by default,
so new interception points can be added without breaking existing plugins.
Interceptors come from the `aion_activity_interceptors` and
`aion_workflow_interceptors` hooks; the first one returned is the outermost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = [
    "ActivityCall",
    "ActivityInterceptor",
    "WorkflowCall",
    "WorkflowInterceptor",
    "chain_calls",
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
