"""Child workflows of one instance: the start command, and the outcome that comes back.

A child's start is recorded in the parent (`ChildWorkflowStarted`, with the
child's id and run id chosen deterministically) before the child exists; the
engine starts it once the parent's batch is durable, and records the child's
outcome in the parent as an input (`ChildWorkflowCompleted`, `...Failed`, ...).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aion_core.converter import from_payload
from aion_core.errors import ChildWorkflowError
from aion_core.events import (
    ChildWorkflowCancelled,
    ChildWorkflowCompleted,
    ChildWorkflowFailed,
    ChildWorkflowStarted,
    ChildWorkflowStartFailed,
    ChildWorkflowTerminated,
    ChildWorkflowTimedOut,
    ParentClosePolicy,
    Payload,
)
from aion_core.failures import exception_from_failure

if TYPE_CHECKING:
    from aion_core.runtime.instance import WorkflowInstance

__all__ = ["CHILD_OUTCOMES", "ChildOutcome", "Children", "PendingChild"]

ChildOutcome = (
    ChildWorkflowStartFailed
    | ChildWorkflowCompleted
    | ChildWorkflowFailed
    | ChildWorkflowCancelled
    | ChildWorkflowTerminated
    | ChildWorkflowTimedOut
)
CHILD_OUTCOMES = (
    ChildWorkflowStartFailed,
    ChildWorkflowCompleted,
    ChildWorkflowFailed,
    ChildWorkflowCancelled,
    ChildWorkflowTerminated,
    ChildWorkflowTimedOut,
)


@dataclass
class PendingChild:
    """A child whose outcome the parent has not seen yet."""

    started: ChildWorkflowStarted
    future: asyncio.Future[Any]
    return_type: Any


class Children:
    """The child workflows one instance started."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self._instance = instance
        self._pending: dict[int, PendingChild] = {}

    def start(
        self,
        workflow_type: str,
        payloads: tuple[Payload, ...],
        *,
        workflow_id: str | None,
        task_queue: str,
        parent_close_policy: ParentClosePolicy,
        return_type: Any,
    ) -> PendingChild:
        """Issue `ChildWorkflowStarted`; the pending child's future gets its result."""
        instance = self._instance
        child_id = instance.next_ordinal("child")
        started = ChildWorkflowStarted(
            child_id=child_id,
            workflow_id=workflow_id or f"{instance.workflow_id}/child-{child_id}",
            # Drawn from the run's random: the same on replay, so a restart
            # recognises a child it already started.
            run_id=str(uuid.UUID(int=instance.random.getrandbits(128), version=4)),
            workflow_type=workflow_type,
            input=payloads,
            task_queue=task_queue,
            parent_close_policy=parent_close_policy,
        )
        pending = PendingChild(started, instance.loop.create_future(), return_type)
        self._pending[child_id] = pending
        instance.issue(("child", child_id), started)
        return pending

    def expects(self, outcome: ChildOutcome) -> bool:
        """Whether the outcome is for a child still pending."""
        return outcome.child_id in self._pending

    def resolve(self, outcome: ChildOutcome) -> None:
        """Hand a child's recorded outcome to the code waiting for it."""
        pending = self._pending.pop(outcome.child_id, None)
        if pending is None or pending.future.done():
            return
        child = pending.started.workflow_id
        if isinstance(outcome, ChildWorkflowCompleted):
            try:
                value = from_payload(outcome.result, pending.return_type, what="child result")
            except Exception as invalid:
                pending.future.set_exception(invalid)
                return
            pending.future.set_result(value)
            return
        if isinstance(outcome, ChildWorkflowStartFailed | ChildWorkflowFailed):
            failed = ChildWorkflowError(
                child,
                "failed to start" if isinstance(outcome, ChildWorkflowStartFailed) else "failed",
                outcome.failure.message,
            )
            failed.__cause__ = exception_from_failure(outcome.failure)
        elif isinstance(outcome, ChildWorkflowCancelled):
            failed = ChildWorkflowError(child, "cancelled", outcome.message or "cancelled")
        elif isinstance(outcome, ChildWorkflowTerminated):
            failed = ChildWorkflowError(child, "terminated", outcome.reason or "terminated")
        else:
            failed = ChildWorkflowError(child, "timed_out", "execution timeout")
        pending.future.set_exception(failed)

    def pending(self) -> list[ChildWorkflowStarted]:
        """Children started and not finished, in start order."""
        return [child.started for _, child in sorted(self._pending.items())]
