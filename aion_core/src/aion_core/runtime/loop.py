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
import contextlib
import contextvars
import inspect
import logging
import weakref
from asyncio import events
from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from aion_core.errors import AionError, QueryRefused

if TYPE_CHECKING:
    from aion_core.runtime.instance import WorkflowInstance

__all__ = ["NotAllowedInWorkflowError", "WorkflowEventLoop"]

_T = TypeVar("_T")
log = logging.getLogger("aion.workflow")


class NotAllowedInWorkflowError(AionError, RuntimeError):
    """Workflow code used threads, network or other I/O; do that in an activity."""


class WorkflowEventLoop(asyncio.AbstractEventLoop):
    """An asyncio loop with workflow time and durable timers, driven by its instance."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
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

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Make this the running loop for synchronous workflow code (queries, validators)."""
        outer = events._get_running_loop()
        events._set_running_loop(self)
        try:
            yield
        finally:
            events._set_running_loop(outer)

    def _refuse_while_querying(self, what: str) -> None:
        if self.instance.handlers.querying:
            raise QueryRefused(f"tried {what} while answering a query")

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
        self._refuse_while_querying("scheduling a callback")
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
        if self.instance.handlers.querying:
            if inspect.iscoroutine(coro):
                coro.close()
            self._refuse_while_querying("starting a task")
        task = asyncio.Task(coro, loop=self, name=name, context=context)
        self._tasks.add(task)
        return task

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
        """Drop pending callbacks and end the workflow's tasks; the instance is gone.

        The coroutines of unfinished tasks are closed here, with this loop
        running, rather than whenever the garbage collector finds them: their
        ``finally`` blocks would otherwise run later under whatever loop is
        running then, possibly another workflow's, and issue commands into it.
        Here the instance is closed, so whatever they issue goes nowhere.
        """
        if self._closed:
            return
        self._closed = True
        self._ready.clear()
        outer = events._get_running_loop()
        events._set_running_loop(self)
        try:
            for task in list(self._tasks):
                if task.done():
                    continue
                task._log_destroy_pending = False  # type: ignore[attr-defined]
                try:
                    task.get_coro().close()
                except Exception:  # a finally block that awaited, or raised
                    workflow_id = self.instance.workflow_id
                    log.debug("workflow %s: a task ended uncleanly", workflow_id, exc_info=True)
        finally:
            events._set_running_loop(outer)
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

    def get_task_factory(self) -> None:
        """No task factory: tasks are plain asyncio tasks on this loop."""

    def _refuse(self, what: str) -> Any:
        raise NotAllowedInWorkflowError(
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


def _refusal(name: str, what: str) -> Callable[..., Any]:
    def refuse(self: WorkflowEventLoop, *args: Any, **kwargs: Any) -> Any:
        return self._refuse(what)

    refuse.__name__ = refuse.__qualname__ = name
    refuse.__doc__ = f"Refused: {what}."
    return refuse


# The rest of the loop API would reach the outside world (or take the loop
# out of the instance's hands). The base class would raise a bare
# NotImplementedError; say what is wrong instead.
_REFUSED = {
    "network I/O": (
        "getnameinfo create_server create_unix_connection create_unix_server "
        "create_datagram_endpoint connect_accepted_socket start_tls sendfile sock_recv "
        "sock_recv_into sock_recvfrom sock_recvfrom_into sock_sendall sock_sendto sock_connect "
        "sock_accept sock_sendfile"
    ),
    "I/O on pipes and file descriptors": (
        "connect_read_pipe connect_write_pipe add_reader remove_reader add_writer remove_writer"
    ),
    "an executor": "set_default_executor shutdown_default_executor",
    "an OS signal handler": "add_signal_handler remove_signal_handler",
    "running or stopping the workflow's loop": (
        "run_forever run_until_complete stop shutdown_asyncgens"
    ),
    "changing the workflow's loop": "set_task_factory set_exception_handler set_debug",
}
for _what, _names in _REFUSED.items():
    for _name in _names.split():
        setattr(WorkflowEventLoop, _name, _refusal(_name, _what))
