"""Queries a workflow asks other workflows (`workflow.query_workflow`).

Asking issues no command: the engine puts the question once the step that
asked is durable, and records the answer (`ExternalQueryAnswered`) as an input
of the asking workflow. Replay hands the code the recorded answer at the same
place; a question with no recorded answer (the engine stopped meanwhile) is
asked again, which is harmless because queries change nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aion_core.converter import from_payload
from aion_core.errors import QueryRefused
from aion_core.events import ExternalQueryAnswered, Payload
from aion_core.failures import exception_from_failure

if TYPE_CHECKING:
    from aion_core.runtime.instance import WorkflowInstance

__all__ = ["QueriesOut", "QueryOut"]


@dataclass(frozen=True)
class QueryOut:
    """A question to another workflow, waiting for its answer to be recorded."""

    query_id: int
    target_workflow_id: str
    query_name: str
    args: tuple[Payload, ...]


class QueriesOut:
    """The queries one instance asked and has no recorded answer for yet."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self._instance = instance
        self._waiting: dict[int, tuple[QueryOut, asyncio.Future[Any], Any]] = {}

    def ask(
        self, target: str, name: str, args: tuple[Payload, ...], return_type: Any
    ) -> asyncio.Future[Any]:
        """Ask `target` the query `name`; the future resolves with the recorded answer.

        Raises:
            QueryRefused: The code is answering a query itself.
        """
        instance = self._instance
        if instance.handlers.querying:
            raise QueryRefused(f"tried to query {target!r} while answering a query")
        query = QueryOut(instance.next_ordinal("query-external"), target, name, args)
        future: asyncio.Future[Any] = instance.loop.create_future()
        self._waiting[query.query_id] = (query, future, return_type)
        return future

    def pending(self) -> list[QueryOut]:
        """Questions without a recorded answer, in the order they were asked."""
        return [query for _, (query, _, _) in sorted(self._waiting.items())]

    def expects(self, body: ExternalQueryAnswered) -> bool:
        """Whether the answer is for a question still waiting."""
        return body.query_id in self._waiting

    def resolve(self, body: ExternalQueryAnswered) -> None:
        """Hand a recorded answer to the code that asked."""
        waiting = self._waiting.pop(body.query_id, None)
        if waiting is None or waiting[1].done():
            return
        _, future, return_type = waiting
        if body.failure is not None:
            future.set_exception(exception_from_failure(body.failure))
            return
        try:
            assert body.answer is not None
            future.set_result(from_payload(body.answer, return_type, what="query answer"))
        except Exception as invalid:
            future.set_exception(invalid)
