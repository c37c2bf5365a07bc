"""Writing activities: the decorator and what a running activity can ask and tell.

Activities are where I/O happens. They run at least once per scheduled call,
are retried by their `RetryPolicy`, and may be async (run on the engine's
loop) or plain functions (run in a thread pool).
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, overload

from aion_core.definitions import DEFINITION_ATTRIBUTE, ActivityDefinition, signature_types
from aion_core.errors import AionError

__all__ = [
    "ActivityContext",
    "ActivityInfo",
    "NotInActivityError",
    "defn",
    "heartbeat",
    "info",
    "is_cancelled",
]

_F = TypeVar("_F", bound=Callable[..., Any])


class NotInActivityError(AionError, RuntimeError):
    """An activity helper was called outside a running activity."""


@dataclass(frozen=True)
class ActivityInfo:
    """What a running activity attempt knows about itself.

    Attributes:
        activity_id: The per-run ordinal of the activity in its workflow.
        activity_type: The registered name.
        attempt: This attempt's number, from 1.
        workflow_id: The workflow that scheduled it.
        run_id: That workflow's run.
        task_queue: The queue it was scheduled on.
        scheduled_at: When the workflow scheduled it.
        idempotency_key: Stable across attempts: use it to make side effects happen once.
        heartbeat_details: The details of the last heartbeat of a previous attempt.
    """

    activity_id: int
    activity_type: str
    attempt: int
    workflow_id: str
    run_id: str
    task_queue: str
    scheduled_at: datetime
    idempotency_key: str
    heartbeat_details: tuple[Any, ...]


class ActivityContext:
    """The context of one running attempt; reached through the functions of this module."""

    def __init__(self, info: ActivityInfo, on_heartbeat: Callable[[tuple[Any, ...]], None]) -> None:
        self.info = info
        self._on_heartbeat = on_heartbeat
        # A flag, not a threading.Event: set once, read by any thread (an attribute
        # write is atomic), and an Event's lock and condition cost more to make
        # than many activities take to run.
        self._cancelled = False

    def heartbeat(self, details: tuple[Any, ...]) -> None:
        """Report progress (thread-safe)."""
        self._on_heartbeat(details)

    def cancel(self) -> None:
        """Ask the attempt to stop (cancellation, timeout, workflow closed)."""
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        """Whether the attempt was asked to stop."""
        return self._cancelled


current_context: contextvars.ContextVar[ActivityContext] = contextvars.ContextVar(
    "aion_activity_context"
)


def _context() -> ActivityContext:
    try:
        return current_context.get()
    except LookupError:
        raise NotInActivityError("this aion.activity function needs a running activity") from None


@overload
def defn(fn: _F, /) -> _F: ...
@overload
def defn(*, name: str | None = None) -> Callable[[_F], _F]: ...


def defn(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Declare an activity; the name defaults to the function name.

    Args:
        fn: The function (when used without parentheses).
        name: The name workflows schedule it by.
    """

    def decorate(target: Any) -> Any:
        if not callable(target) or inspect.isclass(target):
            raise TypeError(f"@activity.defn needs a function, not {target!r}")
        param_types, return_type = signature_types(target, skip_self=False)
        definition = ActivityDefinition(
            name=name or target.__name__,
            fn=target,
            is_async=inspect.iscoroutinefunction(target),
            param_types=param_types,
            return_type=return_type,
        )
        setattr(target, DEFINITION_ATTRIBUTE, definition)
        return target

    return decorate(fn) if fn is not None else decorate


def info() -> ActivityInfo:
    """The running attempt's info: ids, attempt number, idempotency key, last heartbeat."""
    return _context().info


def heartbeat(*details: Any) -> None:
    """Tell the engine the attempt is alive; `details` reach the next attempt if this one fails."""
    _context().heartbeat(details)


def is_cancelled() -> bool:
    """Whether the attempt was asked to stop (sync activities poll this)."""
    return _context().cancelled
