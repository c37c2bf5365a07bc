"""Waiting in the engine: racing waits, background tasks, retrying a record until durable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aion_core.errors import StoreError, TransportError

__all__ = ["BackgroundTasks", "Flag", "first_of", "record_until_durable"]

log = logging.getLogger("aion.engine")


async def first_of(*waits: Awaitable[Any]) -> list[bool]:
    """Wait until one of `waits` finishes; cancel the others and wait for them to stop.

    Returns, for each wait in order, whether it finished (rather than being
    cancelled). Reaping the losers keeps cancelled tasks from being destroyed
    while pending at shutdown.
    """
    futures = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
        await asyncio.gather(*futures, return_exceptions=True)
    return [future.done() and not future.cancelled() for future in futures]


class Flag(asyncio.Event):
    """An `asyncio.Event` that can also wake a future of the caller's when it is set.

    Racing a flag against other things with `wake` costs a callback; racing
    ``flag.wait()`` costs a task, and an engine with thousands of activity
    attempts in flight races two flags for each.
    """

    def __init__(self) -> None:
        super().__init__()
        self._woken: list[asyncio.Future[None]] = []

    def set(self) -> None:
        """Set the flag: release its waiters and wake the futures it was given."""
        super().set()
        woken, self._woken = self._woken, []
        for future in woken:
            if not future.done():
                future.set_result(None)

    def wake(self, future: asyncio.Future[None]) -> None:
        """Resolve `future` when the flag is set (at once if it is set already)."""
        if self.is_set():
            if not future.done():
                future.set_result(None)
        else:
            self._woken.append(future)

    def forget(self, future: asyncio.Future[None]) -> None:
        """Stop waking `future` (the race it was in is over)."""
        if future in self._woken:
            self._woken.remove(future)


class BackgroundTasks:
    """Tasks an engine component starts and forgets, kept referenced and stopped on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self, work: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Run `work` in the background; the task is dropped once done."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Cancel every task still running and wait for them to stop."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def record_until_durable(
    submit: Callable[[], Awaitable[object]],
    *,
    what: str,
    retry_also: tuple[type[BaseException], ...] = (),
) -> None:
    """Call `submit` until it succeeds, backing off while the store is down.

    Store failures (and `retry_also`) are retried; any other error is raised.
    """
    # A store that is down, or an owner being replaced on another node, comes back.
    retried: tuple[type[BaseException], ...] = (StoreError, TransportError, *retry_also)
    delay = 0.05
    while True:
        try:
            await submit()
            return
        except retried as error:
            if isinstance(error, StoreError | TransportError):
                log.warning("recording %s failed (%s); retrying", what, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
