"""The engine's clock: where "now" comes from and how the engine waits for a moment.

Every wait of the engine (timers, retry backoff, activity timeouts) goes
through `Clock.sleep_until`, so a test clock can skip ahead: with time
skipping, whenever the engine is idle the clock jumps to the next moment
someone waits for, and a 30-day durable sleep finishes at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "SkippingClock", "SystemClock"]


class Clock(Protocol):
    """Now, and waiting until a moment."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    async def sleep_until(self, moment: datetime) -> None:
        """Return once `now() >= moment`."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """The wall clock in UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, moment: datetime) -> None:
        """Sleep in real time until `moment`."""
        # asyncio's timer may fire a hair early by the wall clock; sleep the rest.
        while (delay := (moment - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)


class SkippingClock:
    """Real time plus an offset that jumps forward whenever the engine is idle.

    Args:
        is_idle: Whether nothing but waiting is going on (no workflow step and
            no activity running); set by the engine that owns the clock.
    """

    def __init__(self, is_idle: Callable[[], bool] | None = None) -> None:
        self.is_idle = is_idle or (lambda: True)
        self._offset = timedelta(0)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._skipper: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        """Real time plus everything skipped so far."""
        return datetime.now(UTC) + self._offset

    def skip(self, duration: timedelta) -> None:
        """Move the clock forward by `duration` and wake whoever is due."""
        self._offset += duration
        self._wake_due()

    async def sleep_until(self, moment: datetime) -> None:
        """Wait until `moment` arrives, by real time or by skipping."""
        if self.now() >= moment:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (moment, next(self._order), future))
        if self._skipper is None or self._skipper.done():
            self._skipper = asyncio.create_task(self._skip_when_idle(), name="aion-time-skipper")
        await future

    def _wake_due(self) -> None:
        now = self.now()
        while self._sleepers and (self._sleepers[0][0] <= now or self._sleepers[0][2].done()):
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    async def _skip_when_idle(self) -> None:
        idle_checks = 0
        while self._sleepers:
            self._wake_due()
            if not self._sleepers:
                return
            # Let everything runnable run first: idle must hold across a few
            # loop turns, or a step about to start would be skipped past.
            idle_checks = idle_checks + 1 if self.is_idle() else 0
            if idle_checks >= 3:
                idle_checks = 0
                earliest = self._sleepers[0][0]
                if earliest > self.now():
                    self._offset += earliest - self.now()
                continue
            await asyncio.sleep(0.001 if idle_checks == 0 else 0)
