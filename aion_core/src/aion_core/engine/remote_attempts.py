"""Activity attempts run by workers elsewhere, through the transport.

The engine still drives every attempt (records its start and outcome,
enforces its timeouts, decides retries); a worker only runs the code. An
attempt is handed out as an `ActivityTask` and answered by `AttemptReport`s:
heartbeats while it runs, then its outcome; both carry their payloads encoded
by the payload codecs. A report is settled only once the outcome is durable,
so a transport that redelivers unsettled reports never loses an outcome when
an engine dies between receiving and recording it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aion_core.errors import AionError
from aion_core.tasks import ActivityTask, AttemptReport

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine

__all__ = ["RemoteAttempt", "RemoteAttempts"]

log = logging.getLogger("aion.activities")

_SETTLE_WAIT = 30.0
"""How long a report waits for its outcome to be recorded before it is delivered again."""
_DISPATCH_RETRY = 1.0


@dataclass
class RemoteAttempt:
    """One attempt handed to workers, as the engine waits for it."""

    task: ActivityTask
    outcome: asyncio.Future[AttemptReport] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    """Resolves with the report that completed or failed the attempt."""
    settled: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    """Resolves once the attempt's outcome is recorded (or no longer wanted)."""
    heartbeats: asyncio.Queue[AttemptReport] = field(default_factory=asyncio.Queue)


class RemoteAttempts:
    """The attempts of one engine that workers run."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._attempts: dict[tuple[str, str, int], RemoteAttempt] = {}

    def open(self, task: ActivityTask) -> RemoteAttempt:
        """Begin waiting for reports on `task` (before it is dispatched)."""
        key = (task.workflow_id, task.run_id, task.activity_id)
        previous = self._attempts.get(key)
        if previous is not None:
            self.settle(previous)
        attempt = self._attempts[key] = RemoteAttempt(task)
        return attempt

    async def dispatch(self, attempt: RemoteAttempt) -> None:
        """Hand the task to the workers, retrying while the transport is down."""
        while True:
            try:
                await self.engine.handle.dispatch(attempt.task)
                return
            except AionError as error:
                log.warning("cannot dispatch %s (%s); retrying", attempt.task.task_id, error)
                await asyncio.sleep(_DISPATCH_RETRY)

    def cancel(self, attempt: RemoteAttempt) -> None:
        """Ask the worker running the attempt to stop (best effort, in the background)."""

        async def send() -> None:
            with contextlib.suppress(AionError):
                await self.engine.handle.cancel(attempt.task)

        asyncio.get_running_loop().create_task(send())

    def settle(self, attempt: RemoteAttempt) -> None:
        """The attempt's outcome is recorded, or nobody wants it: its reports can be dropped."""
        key = (attempt.task.workflow_id, attempt.task.run_id, attempt.task.activity_id)
        if self._attempts.get(key) is attempt:
            del self._attempts[key]
        if not attempt.settled.done():
            attempt.settled.set_result(None)
        if not attempt.outcome.done():
            attempt.outcome.cancel()

    def forget_workflow(self, workflow_id: str) -> None:
        """Stop waiting for the workflow's attempts (another engine owns it now)."""
        for key in [k for k in self._attempts if k[0] == workflow_id]:
            self.settle(self._attempts[key])

    async def reported(self, report: AttemptReport) -> bool:
        """Take a worker's report; True once it is settled, False to have it delivered again."""
        attempt = self._attempts.get(report.key)
        if attempt is None or attempt.task.attempt != report.attempt:
            # Not an attempt this engine waits for: stale (its outcome is recorded, it
            # timed out) unless the engine is still adopting the workflow.
            return not self.engine.adopting
        try:
            # Workers send payloads encoded; the engine records decoded bodies (and encodes them).
            report = await self.engine.codec.decode_payloads_in(report)
        except AionError as error:
            log.error(
                "cannot decode the report on %s (%s); it is delivered again until this "
                "engine can decode it",
                attempt.task.task_id,
                error,
            )
            return False
        if report.kind == "heartbeat":
            attempt.heartbeats.put_nowait(report)
            return True
        if not attempt.outcome.done():
            attempt.outcome.set_result(report)
        try:
            async with asyncio.timeout(_SETTLE_WAIT):
                await asyncio.shield(attempt.settled)
        except TimeoutError:
            return False
        return True
