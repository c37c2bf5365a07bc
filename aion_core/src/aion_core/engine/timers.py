"""Durable timers firing: the store's due index drives them, so sleeping workflows need no memory.

The service sleeps until the earliest armed timer, then records `TimerFired`
for every due one through its workflow's runner (which rehydrates an evicted
workflow first). The timer's row is disarmed in the same batch that records
the fire, so a timer fires exactly once; a fire the workflow no longer
expects (closed run, cancelled timer) is refused and records nothing.

A read of the due timers that was already in flight when a fire committed may
still return that timer. Such a read is not trusted for timers settled (fired
or refused) after it began; only a read begun after the settlement is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING

from aion_core.engine.waiting import BackgroundTasks, first_of
from aion_core.errors import (
    AionError,
    OwnershipLostError,
    StoreError,
    WorkflowClosedError,
    WorkflowNotFoundError,
)
from aion_core.events import TimerFired
from aion_core.store.records import TimerRecord

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine

__all__ = ["TimerService"]

log = logging.getLogger("aion.timers")

TimerId = tuple[str, str, int]
_BATCH = 1000


class TimerService:
    """Fires the durable timers of an engine's store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._changed = asyncio.Event()
        self._firing: set[TimerId] = set()
        self._refused: set[TimerId] = set()
        self._tasks = BackgroundTasks()
        self._waiting = False
        self._reads = 0
        """Reads of the due timers begun so far."""
        self._settled: dict[TimerId, int] = {}
        """Timers fired or refused lately, with the number of reads begun by then."""
        self._foreign: set[TimerId] = set()
        """Due timers of workflows another engine owns: theirs to fire."""

    def armed(self, fire_at: datetime) -> None:
        """A timer was armed; wake up to reconsider the next moment to fire."""
        self._changed.set()

    def ownership_changed(self) -> None:
        """This engine adopted or released workflows: look at every due timer again."""
        self._foreign.clear()
        self._changed.set()

    async def run(self) -> None:
        """Fire due timers until cancelled."""
        while True:
            try:
                await self._fire_due()
                await self._sleep_until_next()
            except asyncio.CancelledError:
                raise
            except StoreError as error:
                log.warning("timer service: %s; retrying in 1s", error)
                await asyncio.sleep(1)

    async def _fire_due(self) -> None:
        self._changed.clear()
        self._reads += 1
        read = self._reads
        limit = _BATCH + len(self._foreign)
        due = await self.engine.store.due_timers(self.engine.clock.now(), limit=limit)
        returned: set[TimerId] = set()
        for timer in due:
            key = (timer.workflow_id, timer.run_id, timer.timer_id)
            returned.add(key)
            if key in self._firing or key in self._refused or key in self._foreign:
                continue
            if not self.engine.owns(timer.workflow_id):
                self._foreign.add(key)
                continue
            if self._settled.get(key, 0) >= read:
                continue  # settled while this read was in flight: the row may be stale
            self._firing.add(key)
            self._tasks.spawn(self._fire(key, timer), name=f"aion-timer-{key[0]}")
        self._forget_settled(read, returned, complete=len(due) < limit)
        if len(due) < limit:
            self._foreign &= returned  # the others fired meanwhile

    def _forget_settled(self, read: int, returned: set[TimerId], *, complete: bool) -> None:
        """Drop what a read begun after a timer settled shows to be gone from the store."""
        for key, settled_at in list(self._settled.items()):
            if settled_at < read and key not in returned:
                del self._settled[key]
                if complete:  # the row is gone: a refused timer can no longer come back
                    self._refused.discard(key)

    async def _next_moment(self) -> datetime | None:
        skipped = self._firing | self._refused | self._foreign
        if not skipped:
            return await self.engine.store.next_timer_at()
        # Skip timers already being fired, refused or another engine's, or the loop
        # would spin on them.
        skip = len(skipped)
        upcoming = await self.engine.store.due_timers(
            datetime.max.replace(tzinfo=self.engine.clock.now().tzinfo), limit=skip + 1
        )
        for timer in upcoming:
            if (timer.workflow_id, timer.run_id, timer.timer_id) not in skipped:
                return timer.fire_at
        return None

    @property
    def busy(self) -> bool:
        """Whether the service has work it has not looked at (time skipping must wait)."""
        return not self._waiting or self._changed.is_set() or bool(self._firing)

    async def _sleep_until_next(self) -> None:
        moment = await self._next_moment()
        if moment is None:
            await self._wait(self._changed.wait())
        else:
            await first_of(self._changed.wait(), self._wait(self.engine.clock.sleep_until(moment)))

    async def _wait(self, waiting: Awaitable[object]) -> None:
        # The clock registers a sleeper when sleep_until is called, before its
        # first await: from here on the service is visibly waiting.
        self._waiting = True
        try:
            await waiting
        finally:
            self._waiting = False

    async def _fire(self, key: TimerId, timer: TimerRecord) -> None:
        try:
            await self.engine.runner(timer.workflow_id).submit(
                "input", TimerFired(timer_id=timer.timer_id), run_id=timer.run_id
            )
        except (WorkflowClosedError, WorkflowNotFoundError) as refusal:
            # Expected when the run closed (or the timer was cancelled) as it came due.
            log.info("timer %s refused: %s", key, refusal)
            self._refused.add(key)
        except StoreError as error:
            log.warning("timer %s could not be recorded (%s); it stays armed", key, error)
            await asyncio.sleep(1)
        except OwnershipLostError:
            # Its new owner fires it; should this node keep the workflow after all, the
            # timer is still due at the next look.
            log.info("timer %s not fired here: this node's lease on it lapsed", key)
            await asyncio.sleep(1)
        except AionError as error:
            log.error("timer %s cannot fire: %s", key, error)
            self._refused.add(key)
        finally:
            self._firing.discard(key)
            self._settled[key] = self._reads
            self._changed.set()
