"""A handle to one workflow: wait for its result, look at it, stop it."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aion_core.errors import WorkflowNotFoundError
from aion_core.events import Event, WorkflowCancelRequested, WorkflowTerminated
from aion_core.store.records import WorkflowRecord

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine

__all__ = ["WorkflowHandle"]


class WorkflowHandle:
    """Refers to a workflow by id (and the run it was started as, when known).

    Attributes:
        workflow_id: The workflow's id.
        run_id: The run this handle was created for, or None for "the latest run".
    """

    def __init__(
        self, engine: Engine, workflow_id: str, run_id: str | None, return_type: Any
    ) -> None:
        self._engine = engine
        self.workflow_id = workflow_id
        self.run_id = run_id
        self._return_type = return_type

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.workflow_id!r}, run_id={self.run_id!r})"

    async def result(self) -> Any:
        """Wait until the workflow closes; return its result.

        Follows continue-as-new to the last run.

        Raises:
            WorkflowFailureError: It failed, was cancelled, terminated or timed out;
                the cause carries the recorded failure.
        """
        return await self._engine.result(self.workflow_id, self._return_type)

    async def describe(self) -> WorkflowRecord:
        """Its status, type, run, times and search attributes.

        Raises:
            WorkflowNotFoundError: No such workflow.
        """
        record = await self._engine.store.get_workflow(self.workflow_id)
        if record is None:
            raise WorkflowNotFoundError(self.workflow_id)
        return record

    async def history(self) -> list[Event]:
        """Every recorded event of the workflow, in order (payloads as stored).

        Raises:
            WorkflowNotFoundError: No such workflow.
        """
        events = await self._engine.store.read_events(self.workflow_id)
        if not events:
            raise WorkflowNotFoundError(self.workflow_id)
        return events

    async def signal(self, signal: object, *args: Any) -> None:
        """Send a signal (a ``@workflow.signal`` method or a name); returns once durable.

        Raises:
            WorkflowNotFoundError: No such workflow (nothing created).
            WorkflowClosedError: The run is closed (nothing recorded).
        """
        await self._engine.signal(self.workflow_id, signal, *args)

    async def query(self, query: object, *args: Any, timeout: timedelta | None = None) -> Any:
        """Ask the workflow (a ``@workflow.query`` method or a name); never records anything.

        Raises:
            QueryError: `UnknownQuery`, `QueryHandlerFailed`, `QueryTimeout`,
                `QueryReplyDropped` or `QueryRefused` (DESIGN 4.5).
        """
        return await self._engine.query(self.workflow_id, query, *args, timeout=timeout)

    async def execute_update(self, update: object, *args: Any) -> Any:
        """Run an update and return its handler's value, or raise its error.

        Raises:
            UpdateRejectedError: Unknown update, bad arguments, or its validator refused
                (nothing recorded).
        """
        return await self._engine.execute_update(self.workflow_id, update, *args)

    async def pause(self, reason: str = "") -> None:
        """Pause the workflow until `resume`.

        Signals, timer fires and activity results are recorded and kept, not
        delivered, and no new activity attempt starts.
        """
        await self._engine.pause(self.workflow_id, reason)

    async def resume(self, reason: str = "") -> None:
        """Resume a paused workflow; what arrived meanwhile is delivered in order."""
        await self._engine.resume(self.workflow_id, reason)

    async def cancel(self, reason: str = "") -> None:
        """Ask the workflow to cancel; its code decides how it ends (a `CancelledError`)."""
        await self._engine.runner(self.workflow_id).submit(
            "input", WorkflowCancelRequested(reason=reason)
        )

    async def terminate(self, reason: str = "") -> None:
        """End the workflow now, without running more of its code."""
        await self._engine.runner(self.workflow_id).submit(
            "close", WorkflowTerminated(reason=reason, identity=self._engine.identity)
        )
