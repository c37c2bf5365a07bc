"""`WorkflowEnvironment`: an in-process engine for tests, with time skipping.

With ``time_skipping=True`` the engine's clock jumps to the next timer
whenever every workflow is waiting and no activity runs, so a 30-day durable
sleep completes in milliseconds of wall time. No extra binaries needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from aion_core.engine.clock import SkippingClock, SystemClock
from aion_core.engine.engine import Engine
from aion_core.lifecycle import Service
from aion_core.store.protocol import EventStore

__all__ = ["WorkflowEnvironment"]


class WorkflowEnvironment(Service):
    """An engine on ``memory://`` (or the given store) for tests.

    Args:
        workflows: Workflows the engine runs.
        activities: Activities the engine executes.
        time_skipping: Jump the clock over waits whenever the engine is idle.
        store: Store URL or store; ``memory://`` by default.
        **engine_options: Further `Engine` options (cache size, supervision, ...).
    """

    def __init__(
        self,
        *,
        workflows: Iterable[object] = (),
        activities: Iterable[object] = (),
        time_skipping: bool = True,
        store: str | EventStore = "memory://",
        **engine_options: Any,
    ) -> None:
        self.clock: SkippingClock | SystemClock = (
            SkippingClock() if time_skipping else SystemClock()
        )
        self.engine = Engine(
            store,
            workflows=workflows,
            activities=activities,
            clock=self.clock,
            **engine_options,
        )
        if isinstance(self.clock, SkippingClock):
            self.clock.is_idle = self.engine.is_idle

    async def start(self) -> None:
        """Start the engine."""
        await self.engine.start()

    async def close(self) -> None:
        """Close the engine."""
        await self.engine.close()

    def skip(self, duration: timedelta) -> None:
        """Move time forward now (only with time skipping)."""
        if not isinstance(self.clock, SkippingClock):
            raise RuntimeError("skip() needs WorkflowEnvironment(time_skipping=True)")
        self.clock.skip(duration)
