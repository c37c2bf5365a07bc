"""Signals one workflow sends another (`workflow.signal_external`).

The sender records `ExternalSignalSent`; once that is durable the engine
records `SignalReceived` in the target, then `ExternalSignalDelivered` (or
`ExternalSignalFailed`: unknown or closed target) in the sender. A sender
rebuilt after a crash re-sends what it has no outcome for: delivery is at
least once, and the target sees the sender's id in `SignalReceived.sender`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aion_core.engine.waiting import BackgroundTasks, record_until_durable
from aion_core.errors import AionError, WorkflowClosedError, WorkflowNotFoundError
from aion_core.events import (
    Event,
    EventBody,
    ExternalSignalDelivered,
    ExternalSignalFailed,
    ExternalSignalSent,
    SignalReceived,
)
from aion_core.failures import failure_from_exception

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine
    from aion_core.engine.runner import WorkflowRunner

__all__ = ["SignalCourier"]

log = logging.getLogger("aion.signals")


class SignalCourier:
    """Delivers signals between workflows and records the outcome in the sender."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._in_hand: set[tuple[str, str, int]] = set()
        self._tasks = BackgroundTasks()

    def recorded(self, runner: WorkflowRunner, event: Event) -> None:
        """A durable event of the runner's workflow: carry any signal it sent."""
        if event.body.type == "ExternalSignalSent":
            assert isinstance(event.body, ExternalSignalSent)
            self._carry(runner.workflow_id, event.run_id, event.body, as_stored=True)

    def resume(self, runner: WorkflowRunner) -> None:
        """After a replay: carry every signal sent without a recorded outcome."""
        instance = runner.instance
        if instance is not None and not instance.closed:
            for sent in instance.pending_signals_out():
                self._carry(runner.workflow_id, instance.run_id, sent)

    def _carry(
        self, sender: str, run_id: str, sent: ExternalSignalSent, *, as_stored: bool = False
    ) -> None:
        """Deliver `sent` (`as_stored`: it comes from a recorded event, payloads encoded)."""
        key = (sender, run_id, sent.signal_id)
        if key in self._in_hand:
            return
        self._in_hand.add(key)
        self._tasks.spawn(self._deliver(key, sent, as_stored))

    async def close(self) -> None:
        """Stop carrying (engine shutdown); senders re-send after the next start."""
        await self._tasks.close()

    async def _deliver(
        self, key: tuple[str, str, int], sent: ExternalSignalSent, as_stored: bool
    ) -> None:
        sender, run_id, signal_id = key
        if as_stored:
            # The target's runner encodes the arguments when it records them: encoded
            # here as well, the target's history would hold them encoded twice.
            sent = await self.engine.codec.decode_payloads_in(sent)
        received = SignalReceived(
            signal_name=sent.signal_name, args=sent.args, sender=sender, headers=sent.headers
        )
        outcome: EventBody
        try:
            await self._submit(sent.target_workflow_id, received)
            outcome = ExternalSignalDelivered(signal_id=signal_id)
        except (WorkflowNotFoundError, WorkflowClosedError) as refusal:
            outcome = ExternalSignalFailed(
                signal_id=signal_id, failure=failure_from_exception(refusal)
            )
        try:
            await self._submit(sender, outcome, run_id=run_id)
        except (WorkflowNotFoundError, WorkflowClosedError):
            pass  # the sender closed meanwhile: nobody waits for the outcome
        finally:
            self._in_hand.discard(key)

    async def _submit(self, workflow_id: str, body: EventBody, run_id: str | None = None) -> None:
        try:
            await record_until_durable(
                lambda: self.engine.submit(workflow_id, "input", body, run_id=run_id),
                what=f"{body.type} in {workflow_id}",
            )
        except (WorkflowNotFoundError, WorkflowClosedError):
            raise
        except AionError as error:
            reason = f"cannot record {body.type}: {error}"
            raise WorkflowClosedError(workflow_id, reason) from None
