"""An order saga: reserve, charge (with retries), wait for approval, ship (a child), compensate.

Run it with ``aion demo``, or ``aion run aion_cli.examples.order_saga:OrderSaga
--input '{"order_id": "o-1", "items": ["book"], "amount": 12.5, "needs_approval": false}'``.

- The payment gateway fails the first attempt of every charge: retries.
- An order that needs approval waits for an ``approve`` or ``reject`` signal,
  raced against a deadline (a durable timer).
- Shipping runs as a child workflow; an order containing "unicorn" cannot be
  shipped.
- Whatever goes wrong after stock was reserved is compensated: refund, then
  release, in reverse order of what was done.
- ``status`` answers a query at every stage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from pydantic import BaseModel

from aion_core import ApplicationError, RetryPolicy, activity, workflow


class Order(BaseModel):
    """What the customer ordered."""

    order_id: str
    items: list[str]
    amount: float
    needs_approval: bool = True
    approval_deadline_seconds: float = 30.0


class Shipment(BaseModel):
    """The outcome of a successful order."""

    order_id: str
    reservation: str
    receipt: str
    tracking: str
    approved_by: str | None


@activity.defn
async def reserve_stock(order: Order) -> str:
    """Reserve the items; returns the reservation id."""
    return f"res-{order.order_id}"


@activity.defn
async def charge_card(order: Order) -> str:
    """Charge the customer; the gateway times out on the first attempt."""
    if activity.info().attempt == 1:
        raise ApplicationError("payment gateway timed out", type="GatewayTimeout")
    return f"rcpt-{order.order_id}-{order.amount:.2f}"


@activity.defn
def hand_to_carrier(order: Order) -> str:
    """Hand the parcel to the carrier (a sync activity: it runs in a thread)."""
    if any("unicorn" in item for item in order.items):
        raise ApplicationError("carriers refuse to ship unicorns", non_retryable=True)
    return f"track-{order.order_id}"


@activity.defn
async def refund(receipt: str) -> None:
    """Give the money back."""


@activity.defn
async def release_stock(reservation: str) -> None:
    """Put the reserved items back on the shelf."""


QUICK_RETRIES = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)
TEN_SECONDS = timedelta(seconds=10)


@workflow.defn
class Shipping:
    """Ships one order; a child of the saga."""

    @workflow.run
    async def run(self, order: Order) -> str:
        """Hand the order to a carrier and return the tracking id."""
        return await workflow.execute_activity(
            hand_to_carrier, order, start_to_close_timeout=TEN_SECONDS
        )


@workflow.defn
class OrderSaga:
    """Reserve, charge, get approval, cool off, ship; undo what was done on failure."""

    def __init__(self) -> None:
        self.stage = "received"
        self.approved_by: str | None = None
        self.rejection: str | None = None

    @workflow.signal
    def approve(self, by: str) -> None:
        """A person approves the order."""
        self.approved_by = by

    @workflow.signal
    def reject(self, reason: str) -> None:
        """A person rejects the order."""
        self.rejection = reason

    @workflow.query
    def status(self) -> str:
        """Where the order stands."""
        return self.stage

    @workflow.run
    async def run(self, order: Order) -> Shipment:
        """Process one order."""
        compensations: list[tuple[Callable[[str], Awaitable[None]], str]] = []
        try:
            self.stage = "reserving stock"
            reservation = await workflow.execute_activity(
                reserve_stock, order, start_to_close_timeout=TEN_SECONDS
            )
            compensations.append((release_stock, reservation))
            self.stage = "charging"
            receipt = await workflow.execute_activity(
                charge_card, order, start_to_close_timeout=TEN_SECONDS, retry_policy=QUICK_RETRIES
            )
            compensations.append((refund, receipt))
            if order.needs_approval:
                await self._await_approval(order)
            self.stage = "cooling off"
            await workflow.sleep(timedelta(seconds=1))  # a durable timer
            self.stage = "shipping"
            tracking = await workflow.execute_child_workflow(
                Shipping.run, order, id=f"{workflow.info().workflow_id}-shipping"
            )
        except Exception:
            self.stage = "compensating"
            for undo, argument in reversed(compensations):
                await workflow.execute_activity(undo, argument, retry_policy=QUICK_RETRIES)
            self.stage = "failed"
            raise
        self.stage = "shipped"
        return Shipment(
            order_id=order.order_id,
            reservation=reservation,
            receipt=receipt,
            tracking=tracking,
            approved_by=self.approved_by,
        )

    async def _await_approval(self, order: Order) -> None:
        self.stage = "awaiting approval"
        decided = await workflow.wait_condition(
            lambda: self.approved_by is not None or self.rejection is not None,
            timeout=timedelta(seconds=order.approval_deadline_seconds),
        )
        if not decided:
            raise ApplicationError("nobody approved the order in time", non_retryable=True)
        if self.rejection is not None:
            raise ApplicationError(f"rejected: {self.rejection}", non_retryable=True)


WORKFLOWS = [OrderSaga, Shipping]
ACTIVITIES = [reserve_stock, charge_card, hand_to_carrier, refund, release_stock]
