"""A handle to one workflow: wait for its result, talk to it, look at it, stop it.

Handles come from an `Engine` (embedded) or a `Client` (remote); both serve
the same `WorkflowService`, so a handle behaves the same either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Protocol

from aion_core.events import Event
from aion_core.store.records import WorkflowRecord

__all__ = ["WorkflowHandle", "WorkflowService"]


class WorkflowService(Protocol):
    """What a handle needs: operations on a workflow by id (an `Engine` or a `Client`)."""

    async def result(
        self, workflow_id: str, return_type: Any = Any, *, open_run: str | None = None
    ) -> Any:
        """Wait for the workflow to close; its result, or `WorkflowFailureError`.

        `open_run`: the run the caller started, not seen closed (a hint; see `WaitCall`).
        """
        ...

    async def describe(self, workflow_id: str) -> WorkflowRecord:
        """The workflow's visibility row."""
        ...

    async def history(self, workflow_id: str) -> list[Event]:
        """The workflow's recorded events."""
        ...

    def events(self, workflow_id: str) -> AsyncIterator[Event]:
        """The workflow's events as they become durable."""
        ...

    async def signal(self, workflow_id: str, signal: object, *args: Any) -> None:
        """Send a signal."""
        ...

    async def query(
        self, workflow_id: str, query: object, *args: Any, timeout: timedelta | None = None
    ) -> Any:
        """Ask a query."""
        ...

    async def execute_update(self, workflow_id: str, update: object, *args: Any) -> Any:
        """Run an update."""
        ...

    async def pause(self, workflow_id: str, reason: str = "") -> None:
        """Pause the workflow."""
        ...

    async def resume(self, workflow_id: str, reason: str = "") -> None:
        """Resume the workflow."""
        ...

    async def reopen(self, workflow_id: str, reason: str = "") -> None:
        """Reopen a failed, cancelled or suspended run."""
        ...

    async def cancel(self, workflow_id: str, reason: str = "") -> None:
        """Ask the workflow to cancel."""
        ...

    async def terminate(self, workflow_id: str, reason: str = "") -> None:
        """End the workflow now."""
        ...


class WorkflowHandle:
    """Refers to a workflow by id (and the run it was started as, when known).

    Attributes:
        workflow_id: The workflow's id.
        run_id: The run this handle was created for, or None for "the latest run".
    """

    def __init__(
        self, service: WorkflowService, workflow_id: str, run_id: str | None, return_type: Any
    ) -> None:
        self._service = service
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
        return await self._service.result(self.workflow_id, self._return_type, open_run=self.run_id)

    async def describe(self) -> WorkflowRecord:
        """Its status, type, run, times and search attributes.

        Raises:
            WorkflowNotFoundError: No such workflow.
        """
        return await self._service.describe(self.workflow_id)

    async def history(self) -> list[Event]:
        """Every recorded event of the workflow, in order (payloads as stored).

        Raises:
            WorkflowNotFoundError: No such workflow.
        """
        return await self._service.history(self.workflow_id)

    def events(self) -> AsyncIterator[Event]:
        """Its events as they become durable, from now on (``async for event in ...``)."""
        return self._service.events(self.workflow_id)

    async def signal(self, signal: object, *args: Any) -> None:
        """Send a signal (a ``@workflow.signal`` method or a name); returns once durable.

        Raises:
            WorkflowNotFoundError: No such workflow (nothing created).
            WorkflowClosedError: The run is closed (nothing recorded).
        """
        await self._service.signal(self.workflow_id, signal, *args)

    async def query(self, query: object, *args: Any, timeout: timedelta | None = None) -> Any:
        """Ask the workflow (a ``@workflow.query`` method or a name); never records anything.

        Raises:
            QueryError: `UnknownQuery`, `QueryHandlerFailed`, `QueryTimeout`,
                `QueryReplyDropped` or `QueryRefused` (DESIGN 4.5).
        """
        return await self._service.query(self.workflow_id, query, *args, timeout=timeout)

    async def execute_update(self, update: object, *args: Any) -> Any:
        """Run an update and return its handler's value, or raise its error.

        Raises:
            UpdateRejectedError: Unknown update, bad arguments, or its validator refused
                (nothing recorded).
        """
        return await self._service.execute_update(self.workflow_id, update, *args)

    async def pause(self, reason: str = "") -> None:
        """Pause the workflow until `resume`.

        Signals, timer fires and activity results are recorded and kept, not
        delivered, and no new activity attempt starts.
        """
        await self._service.pause(self.workflow_id, reason)

    async def resume(self, reason: str = "") -> None:
        """Resume a paused workflow; what arrived meanwhile is delivered in order."""
        await self._service.resume(self.workflow_id, reason)

    async def reopen(self, reason: str = "") -> None:
        """Revive a failed, cancelled or suspended run after a fix (see `Engine.reopen`).

        Raises:
            WorkflowStateError: The last run cannot be reopened (nothing recorded).
        """
        await self._service.reopen(self.workflow_id, reason)

    async def cancel(self, reason: str = "") -> None:
        """Ask the workflow to cancel; its code decides how it ends (a `CancelledError`)."""
        await self._service.cancel(self.workflow_id, reason)

    async def terminate(self, reason: str = "") -> None:
        """End the workflow now, without running more of its code."""
        await self._service.terminate(self.workflow_id, reason)
