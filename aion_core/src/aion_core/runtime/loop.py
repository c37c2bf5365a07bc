"""The deterministic event loop each workflow instance runs on (DESIGN 2.1).

Workflow code is ordinary asyncio. It runs on this loop, whose clock is
workflow time and whose timers are durable: `asyncio.sleep`, `asyncio.timeout`,
`asyncio.wait(timeout=)` all end up in `call_at`, which the instance turns into
a recorded `TimerStarted`. The loop never waits on its own: the engine drives
it synchronously, one delivered event at a time, until no callback is ready.
Everything that could make two runs differ (threads, sockets, executors,
subprocesses) is refused.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
from asyncio import events
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aion_core.runtime.instance import WorkflowInstance

__all__ = ["WorkflowEventLoop"]

_T = TypeVar("_T")
log = logging.getLogger("aion.workflow")


class WorkflowEventLoop(asyncio.AbstractEventLoop):
    """An asyncio loop with workflow time and durable timers, driven by its instance."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._closed = False

    # --- driving -------------------------------------------------------------------------------

    def run_ready(self) -> bool:
        """Run callbacks until none is ready; return whether any ran.

        The loop is made the running loop only for the duration of the call, so
        it can be driven from inside the engine's own running loop.
        """
        if not self._ready:
            return False
        outer = events._get_running_loop()
        events._set_running_loop(self)
        try:
            while self._ready:
                handle = self._ready.popleft()
                if not handle._cancelled:
                    handle._run()
        finally:
            events._set_running_loop(outer)
        return True

    def run_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Schedule `callback` with no context copy (used when a timer fires)."""
        self._ready.append(asyncio.Handle(callback, args, self, None))

    # --- the asyncio loop API workflow code uses -------------------------------------------------

    def time(self) -> float:
        """Workflow time, in seconds since the run started."""
        return self.instance.loop_time()

    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        """Run `callback` in this activation."""
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(  # type: ignore[override]
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """A durable timer `delay` seconds of workflow time from now."""
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """A durable timer at workflow time `when` (seconds since the run started)."""
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        self.instance.start_timer(handle)
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        self.instance.cancel_timer(handle)

    def create_future(self) -> asyncio.Future[Any]:
        """A future bound to this loop."""
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, _T] | Generator[Any, None, _T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[_T]:
        """A task on this loop."""
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def get_debug(self) -> bool:
        """Debug mode is off: its slow-callback timing would read the wall clock."""
        return False

    def is_running(self) -> bool:
        """Always running from the point of view of workflow code."""
        return True

    def is_closed(self) -> bool:
        """Whether the instance was discarded."""
        return self._closed

    def close(self) -> None:
        """Drop pending callbacks; the instance is gone."""
        self._closed = True
        self._ready.clear()

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Log errors nobody awaited (a background task of the workflow that raised)."""
        error = context.get("exception")
        log.warning(
            "workflow %s: %s",
            self.instance.workflow_id,
            context.get("message", "unhandled error"),
            exc_info=error if isinstance(error, BaseException) else None,
        )

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Same as `call_exception_handler`."""
        self.call_exception_handler(context)

    def get_exception_handler(self) -> None:
        """No custom handler."""

    def _refuse(self, what: str) -> Any:
        raise RuntimeError(
            f"{what} is not allowed in workflow code: it would not replay the same way. "
            "Do I/O, threads and subprocesses in an activity."
        )

    def run_in_executor(self, executor: Any, func: Callable[..., _T], *args: Any) -> Any:  # type: ignore[override]
        """Refused: threads are not deterministic."""
        return self._refuse("run_in_executor")

    def call_soon_threadsafe(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        """Refused: other threads are not deterministic."""
        return self._refuse("call_soon_threadsafe")  # type: ignore[no-any-return]

    async def getaddrinfo(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: network I/O."""
        return self._refuse("network I/O")

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: network I/O."""
        return self._refuse("network I/O")

    async def subprocess_exec(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: subprocesses."""
        return self._refuse("starting a subprocess")

    async def subprocess_shell(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: subprocesses."""
        return self._refuse("starting a subprocess")
