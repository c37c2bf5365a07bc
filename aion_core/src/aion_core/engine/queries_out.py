"""Queries one workflow asks another (`workflow.query_workflow`).

Once the step that asked is durable, the engine puts the question to the
target like any query (read-only there, with the engine's query timeout) and
records the answer or the failure in the asker as `ExternalQueryAnswered`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aion_core.calls import QueryCall
from aion_core.engine.waiting import BackgroundTasks, record_until_durable
from aion_core.errors import AionError, WorkflowClosedError, WorkflowNotFoundError
from aion_core.events import ExternalQueryAnswered
from aion_core.failures import failure_from_exception

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine
    from aion_core.engine.runner import WorkflowRunner
    from aion_core.runtime.queries_out import QueryOut

__all__ = ["QueryAsker"]

log = logging.getLogger("aion.queries")


class QueryAsker:
    """Puts workflows' questions to other workflows and records the answers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._in_hand: set[tuple[str, str, int]] = set()
        self._tasks = BackgroundTasks()

    def resume(self, runner: WorkflowRunner) -> None:
        """After a step or a replay: ask every question without a recorded answer."""
        instance = runner.instance
        if instance is None or instance.closed:
            return
        for query in instance.queries_out.pending():
            key = (runner.workflow_id, instance.run_id, query.query_id)
            if key not in self._in_hand:
                self._in_hand.add(key)
                self._tasks.spawn(self._ask(key, query))

    async def close(self) -> None:
        """Stop asking (engine shutdown); questions are asked again after the next start."""
        await self._tasks.close()

    async def _ask(self, key: tuple[str, str, int], query: QueryOut) -> None:
        asker, run_id, _ = key
        answered = ExternalQueryAnswered(
            query_id=query.query_id,
            target_workflow_id=query.target_workflow_id,
            query_name=query.query_name,
        )
        limit = self.engine.query_timeout.total_seconds()
        try:
            answer = await self.engine.ask(
                QueryCall(
                    workflow_id=query.target_workflow_id,
                    name=query.query_name,
                    args=query.args,
                    timeout=limit,
                )
            )
            answered = answered.model_copy(update={"answer": answer})
        except AionError as refusal:
            answered = answered.model_copy(update={"failure": failure_from_exception(refusal)})
        try:
            await record_until_durable(
                lambda: self.engine.submit(asker, "input", answered, run_id=run_id),
                what=f"the answer to {asker}'s query {query.query_name!r}",
            )
        except (WorkflowNotFoundError, WorkflowClosedError):
            pass  # the asker closed meanwhile: nobody waits for the answer
        except AionError as error:
            log.error("cannot record the answer to %s's query: %s", asker, error)
        finally:
            self._in_hand.discard(key)
