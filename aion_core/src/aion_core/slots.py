"""Slots: a counting semaphore whose release is O(1) however many wait.

Python 3.11's `asyncio.Semaphore` wakes the next waiter by scanning its queue
from the front past every waiter already woken but not yet running; when
hundreds of releases happen in one turn of the loop with thousands waiting
(2,000 activities started at once with 1,000 slots), that scan turns quadratic.
Here a woken waiter leaves the queue as it is woken.
"""

from __future__ import annotations

import asyncio
import collections
from types import TracebackType

__all__ = ["Slots"]


class Slots:
    """At most `count` holders at once; the others wait in arrival order."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("at least one slot is needed")
        self._free = count
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        """Take a slot, waiting for one to be released if none is free."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Give a slot back: to the longest waiter still waiting, else to the free count."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter is skipped
                waiter.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
