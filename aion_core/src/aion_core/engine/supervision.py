"""Supervision of workflow code (DESIGN 3): restart from history with backoff, then give up.

A workflow whose code raises an unexpected exception (a bug, not an
`ApplicationError`) or no longer replays its history is restarted: the
instance is discarded and rebuilt by replay after a backoff. More than
`max_restarts` restarts within `within` exhaust the supervisor: the workflow
then fails with the traceback recorded, or is suspended for `reopen` after a
fix (`on_exhausted="suspend"`).
"""

from __future__ import annotations

import collections
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from aion_core.engine.waiting import BackgroundTasks
from aion_core.errors import AionError
from aion_core.events import WorkflowFailed, WorkflowSuspended
from aion_core.failures import failure_from_exception

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine

__all__ = ["OnExhausted", "Supervisor"]

log = logging.getLogger("aion.supervision")

OnExhausted = Literal["fail", "suspend"]


class Supervisor:
    """Restarts failing workflow instances, within limits.

    Args:
        engine: The engine whose workflows are supervised.
        max_restarts: Restarts allowed within `within`.
        within: The sliding window restarts are counted in.
        backoff: Wait before the first restart; doubles for each further one.
        on_exhausted: What happens when restarts run out.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_restarts: int,
        within: timedelta,
        backoff: timedelta,
        on_exhausted: OnExhausted,
    ) -> None:
        self.engine = engine
        self.max_restarts = max_restarts
        self.within = within
        self.backoff = backoff
        self.on_exhausted = on_exhausted
        self._restarts: dict[str, collections.deque[datetime]] = {}
        self._tasks = BackgroundTasks()

    def failed(self, workflow_id: str, error: BaseException) -> None:
        """The instance of `workflow_id` failed with `error`: restart it or give up."""
        now = self.engine.clock.now()
        history = self._restarts.setdefault(workflow_id, collections.deque())
        while history and history[0] <= now - self.within:
            history.popleft()
        if len(history) < self.max_restarts:
            history.append(now)
            delay = self.backoff * (2 ** (len(history) - 1))
            log.warning(
                "workflow %s failed (%s: %s); restart %d of %d in %.2fs",
                workflow_id, type(error).__name__, error, len(history), self.max_restarts,
                delay.total_seconds(),
            )  # fmt: skip
            self._tasks.spawn(self._restart(workflow_id, now + delay))
        else:
            del self._restarts[workflow_id]
            self._tasks.spawn(self._give_up(workflow_id, error))

    async def _restart(self, workflow_id: str, moment: datetime) -> None:
        await self.engine.clock.sleep_until(moment)
        try:
            await self.engine.runner(workflow_id).ensure_live()
        except AionError as error:
            log.info("workflow %s not restarted: %s", workflow_id, error)

    async def _give_up(self, workflow_id: str, error: BaseException) -> None:
        failure = failure_from_exception(error)
        body = (
            WorkflowSuspended(failure=failure)
            if self.on_exhausted == "suspend"
            else WorkflowFailed(failure=failure)
        )
        log.error("workflow %s: restarts exhausted; recording %s", workflow_id, body.type)
        try:
            await self.engine.runner(workflow_id).submit("close", body)
        except AionError as refusal:
            log.error("workflow %s: could not record %s: %s", workflow_id, body.type, refusal)

    async def close(self) -> None:
        """Cancel pending restarts."""
        await self._tasks.close()
