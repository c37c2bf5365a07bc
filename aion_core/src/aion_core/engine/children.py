"""Child workflows across the engine: start them once, report back, and follow the parent.

- A child recorded in its parent (`ChildWorkflowStarted`) is started after the
  parent's batch is durable, with the run id the parent chose: a restart that
  finds the child recorded but not started starts it exactly once, and one that
  finds it started does nothing.
- When a child's run closes, its outcome is recorded in the parent as an input.
- When a parent's run closes, its open children follow their
  `parent_close_policy`: terminated (default), asked to cancel, or abandoned.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aion_core.calls import StartCall
from aion_core.engine.waiting import BackgroundTasks, record_until_durable
from aion_core.errors import (
    AionError,
    WorkflowAlreadyStartedError,
    WorkflowClosedError,
    WorkflowNotFoundError,
)
from aion_core.events import (
    CLOSING_EVENT_TYPES,
    ChildWorkflowCancelled,
    ChildWorkflowCompleted,
    ChildWorkflowFailed,
    ChildWorkflowStarted,
    ChildWorkflowStartFailed,
    ChildWorkflowTerminated,
    ChildWorkflowTimedOut,
    Event,
    EventBody,
    ParentWorkflow,
    WorkflowCancelled,
    WorkflowCancelRequested,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowStarted,
    WorkflowTerminated,
)
from aion_core.failures import failure_from_exception
from aion_core.runtime.children import CHILD_OUTCOMES

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine
    from aion_core.engine.runner import WorkflowRunner

__all__ = ["ChildCoordinator"]

log = logging.getLogger("aion.children")

ChildKey = tuple[str, str, int]
"""(parent workflow id, parent run id, child id)."""

_CONCERNING_CHILDREN = frozenset(
    {
        "ChildWorkflowStarted",
        *(outcome.model_fields["type"].default for outcome in CHILD_OUTCOMES),
        *(CLOSING_EVENT_TYPES - {"WorkflowContinuedAsNew"}),
    }
)
"""The event types `ChildCoordinator.recorded` acts on, by name: every event of every
step passes by it, and a name lookup costs a fraction of a pydantic isinstance test."""


class ChildCoordinator:
    """Starts children, reports their outcomes, and applies parent-close policies."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._in_hand: set[ChildKey] = set()
        self._starting: dict[ChildKey, asyncio.Task[None]] = {}
        self._tasks = BackgroundTasks()
        self._spawn = self._tasks.spawn

    async def close(self) -> None:
        """Stop pending work (engine shutdown); it resumes on the next start."""
        await self._tasks.close()

    # --- from a durable batch ------------------------------------------------------------------

    def recorded(self, runner: WorkflowRunner, event: Event) -> None:
        """React to one durable event of the runner's workflow that concerns children or parents."""
        body = event.body
        if body.type not in _CONCERNING_CHILDREN:  # most events (see `_CONCERNING_CHILDREN`)
            return
        workflow_id = runner.workflow_id
        if isinstance(body, ChildWorkflowStarted):
            self._start(workflow_id, event.run_id, body, as_stored=True)
        elif isinstance(body, CHILD_OUTCOMES):
            self._in_hand.discard((workflow_id, event.run_id, body.child_id))
        else:  # the run closed (not continued as new)
            record = runner.recorder.workflow if runner.recorder is not None else None
            if record is None or record.parent_workflow_id is not None:
                self._spawn(self._report_to_parent(workflow_id, event))
            # Reading the history for open children only when there may be some.
            instance = runner.instance
            if (
                instance is None
                or instance.run_id != event.run_id
                or instance.children.pending()
                or self._starting_for(workflow_id, event.run_id)
            ):
                self._spawn(self._follow_parent(workflow_id, event.run_id))

    def resume(self, runner: WorkflowRunner) -> None:
        """After a replay: start or report every child the instance still waits for."""
        instance = runner.instance
        if instance is None or instance.closed:
            return
        for started in instance.children.pending():
            self._start(runner.workflow_id, instance.run_id, started)

    # --- starting ------------------------------------------------------------------------------

    def _start(
        self,
        parent_id: str,
        parent_run: str,
        started: ChildWorkflowStarted,
        *,
        as_stored: bool = False,
    ) -> None:
        """Start the child (`as_stored`: `started` is a recorded event's, payloads encoded)."""
        key = (parent_id, parent_run, started.child_id)
        if key not in self._in_hand:
            self._in_hand.add(key)
            task = self._spawn(self._start_child(parent_id, parent_run, started, as_stored))
            self._starting[key] = task
            task.add_done_callback(lambda _: self._starting.pop(key, None))

    async def _start_child(
        self, parent_id: str, parent_run: str, child: ChildWorkflowStarted, as_stored: bool
    ) -> None:
        engine = self.engine
        try:
            if as_stored:
                # The child's runner encodes its input when it records it: encoded
                # here as well, the child's history would hold it encoded twice.
                child = await engine.codec.decode_payloads_in(child)
            definition = engine.workflow_definition(child.workflow_type)
            body = WorkflowStarted(
                workflow_type=child.workflow_type,
                input=child.input,
                task_queue=child.task_queue,
                code_version=definition.code_version,
                parent=ParentWorkflow(
                    workflow_id=parent_id, run_id=parent_run, child_id=child.child_id
                ),
                parent_close_policy=child.parent_close_policy,
                headers=child.headers,
            )
            call = StartCall(workflow_id=child.workflow_id, started=body, run_id=child.run_id)
            # The store or the transport being away passes; the call carries the child's
            # run id, so asking again never starts it twice.
            await record_until_durable(
                lambda: engine.route(call), what=f"the start of child {child.workflow_id}"
            )
        except (WorkflowAlreadyStartedError, AionError) as refusal:
            failed = ChildWorkflowStartFailed(
                child_id=child.child_id,
                workflow_id=child.workflow_id,
                failure=failure_from_exception(refusal),
            )
            await self._deliver(parent_id, parent_run, failed)
            return
        # Started before a crash and already closed: the parent never heard.
        record = await engine.store.get_workflow(child.workflow_id)
        if record is not None and record.run_id == child.run_id and record.status.is_closed:
            [closing] = await engine.store.read_events(
                child.workflow_id, after_seq=record.last_seq - 1
            )
            await self._report_to_parent(child.workflow_id, closing)

    # --- reporting -----------------------------------------------------------------------------

    def _starting_for(self, parent_id: str, run_id: str) -> list[asyncio.Task[None]]:
        return [task for key, task in self._starting.items() if key[:2] == (parent_id, run_id)]

    async def _parent_of(self, workflow_id: str, run_id: str) -> ParentWorkflow | None:
        runner = self.engine.cached_runner(workflow_id)
        instance = runner.instance if runner is not None else None
        if instance is not None and instance.run_id == run_id and instance.info is not None:
            return instance.info.parent
        for event in reversed(await self.engine.store.read_events(workflow_id)):
            if isinstance(event.body, WorkflowStarted) and event.run_id == run_id:
                return event.body.parent
        return None

    async def _report_to_parent(self, workflow_id: str, closing: Event) -> None:
        parent = await self._parent_of(workflow_id, closing.run_id)
        if parent is None or parent.child_id is None:
            return
        body = await self.engine.codec.decode_payloads_in(closing.body)
        child_id = parent.child_id
        outcome: EventBody
        if isinstance(body, WorkflowCompleted):
            outcome = ChildWorkflowCompleted(child_id=child_id, result=body.result)
        elif isinstance(body, WorkflowFailed):
            outcome = ChildWorkflowFailed(child_id=child_id, failure=body.failure)
        elif isinstance(body, WorkflowCancelled):
            outcome = ChildWorkflowCancelled(child_id=child_id, message=body.message)
        elif isinstance(body, WorkflowTerminated):
            outcome = ChildWorkflowTerminated(child_id=child_id, reason=body.reason)
        else:
            outcome = ChildWorkflowTimedOut(child_id=child_id)
        await self._deliver(parent.workflow_id, parent.run_id, outcome)

    async def _deliver(self, parent_id: str, parent_run: str, outcome: EventBody) -> None:
        try:
            await record_until_durable(
                lambda: self.engine.submit(parent_id, "input", outcome, run_id=parent_run),
                what=f"{outcome.type} in {parent_id}",
            )
        except (WorkflowClosedError, WorkflowNotFoundError):
            pass  # the parent closed: nobody is waiting for the child any more
        except AionError as error:
            log.error("cannot report a child to %s: %s", parent_id, error)

    # --- parent close policy -------------------------------------------------------------------

    async def _follow_parent(self, parent_id: str, run_id: str) -> None:
        """Apply each open child's parent-close policy now that its parent's run closed."""
        # A child recorded in the closing batch is started first, then follows.
        await asyncio.gather(*self._starting_for(parent_id, run_id), return_exceptions=True)
        started: dict[int, ChildWorkflowStarted] = {}
        for event in await self.engine.store.read_events(parent_id):
            if event.run_id != run_id:
                continue
            if isinstance(event.body, ChildWorkflowStarted):
                started[event.body.child_id] = event.body
            elif isinstance(event.body, CHILD_OUTCOMES):
                started.pop(event.body.child_id, None)
        for child in started.values():
            self._in_hand.discard((parent_id, run_id, child.child_id))
            reason = f"parent {parent_id!r} closed"
            try:
                if child.parent_close_policy == "terminate":
                    # No run id: a child that continued as new follows too.
                    await self.engine.submit(
                        child.workflow_id, "close", WorkflowTerminated(reason=reason)
                    )
                elif child.parent_close_policy == "request_cancel":
                    await self.engine.submit(
                        child.workflow_id, "input", WorkflowCancelRequested(reason=reason)
                    )
            except AionError as error:
                log.info(
                    "child %s not affected by its parent closing: %s", child.workflow_id, error
                )
