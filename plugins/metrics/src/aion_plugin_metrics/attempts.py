"""Activity attempt durations, measured where the attempt runs (an engine or a worker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aion_core.interceptors import ActivityCall, ActivityInterceptor

from aion_plugin_metrics.metrics import AionMetrics

__all__ = ["ActivityAttemptTimer"]


class ActivityAttemptTimer(ActivityInterceptor):
    """Observes `aion_activity_attempt_seconds` around every attempt.

    Args:
        metrics: Whose histogram to observe.
    """

    def __init__(self, metrics: AionMetrics) -> None:
        self._metrics = metrics

    async def execute_activity(
        self, call: ActivityCall, proceed: Callable[[ActivityCall], Awaitable[object]]
    ) -> object:
        """Run the attempt unchanged, timing it by outcome: completed, failed or cancelled."""
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await proceed(call)
            outcome = "completed"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise  # untouched: the engine decides what a cancelled or failed attempt means
        finally:
            self._metrics.activity_attempt_duration.labels(call.activity_type, outcome).observe(
                time.perf_counter() - started
            )
