"""The template's hooks: count durable events per type, log every activity attempt.

`template_plugin` is the object the ``aion`` entry point in pyproject.toml
names; aion registers it at start-up under the entry point's name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from aion_core import Event, hookimpl
from aion_core.interceptors import ActivityCall, ActivityInterceptor

__all__ = ["ActivityAttemptLogger", "TemplatePlugin", "template_plugin"]

log = logging.getLogger("aion.plugins.template")


class ActivityAttemptLogger(ActivityInterceptor):
    """Logs one line per activity attempt: its outcome and how long it ran.

    Args:
        logger: Where the lines go.
    """

    def __init__(self, logger: logging.Logger = log) -> None:
        self._logger = logger

    async def execute_activity(
        self, call: ActivityCall, proceed: Callable[[ActivityCall], Awaitable[object]]
    ) -> object:
        """Run the attempt unchanged and log whether it completed or failed."""
        started = time.perf_counter()
        try:
            result = await proceed(call)
        except BaseException as error:
            # Cancellation is an outcome too; say so, then let every error through
            # untouched: the engine decides retries from it.
            self._log(call, f"failed with {type(error).__name__}", started)
            raise
        self._log(call, "completed", started)
        return result

    def _log(self, call: ActivityCall, outcome: str, started: float) -> None:
        # INFO, not WARNING: a failed attempt is normal (it is retried), and the
        # engine records failures in the history anyway.
        self._logger.info(
            "activity %s attempt %d of workflow %s %s in %.1f ms",
            call.activity_type,
            call.attempt,
            call.workflow_id,
            outcome,
            (time.perf_counter() - started) * 1000,
        )


class TemplatePlugin:
    """Counts recorded events by type and logs activity attempts.

    Args:
        logger: Where activity attempts are logged.
    """

    def __init__(self, logger: logging.Logger = log) -> None:
        self._counts: Counter[str] = Counter()
        # Engines in other threads may share this object: updates must not interleave.
        self._lock = threading.Lock()
        self._activity_logger = ActivityAttemptLogger(logger)

    def event_counts(self) -> dict[str, int]:
        """How many events of each type (``"ActivityCompleted"``, ...) were made durable."""
        with self._lock:
            return dict(self._counts)

    @hookimpl
    def aion_events_recorded(self, workflow_id: str, events: Sequence[Event]) -> None:
        """Count the events just made durable.

        Called on the engine's event loop before the workflow goes on, so it only
        updates a counter; anything slow belongs in a task or thread of its own.
        """
        with self._lock:
            self._counts.update(event.body.type for event in events)

    @hookimpl
    def aion_activity_interceptors(self) -> Sequence[ActivityInterceptor]:
        """The attempt logger, for every engine and worker built with this plugin."""
        return [self._activity_logger]


template_plugin = TemplatePlugin()
"""The instance the ``aion`` entry point names."""
