"""An order saga: reserve stock, charge the card (with retries), wait, ship, compensate on failure.

Run it with ``aion demo``, or ``aion run aion_cli.examples.order_saga:OrderSaga
--input '{"order_id": "o-1", "items": ["book"], "amount": 12.5}'``.

The payment gateway fails the first attempt of every charge, to show retries;
an order containing "unicorn" cannot be shipped, to show compensation (refund
and release, in reverse order) before the workflow fails.
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


class Shipment(BaseModel):
    """The outcome of a successful order."""

    order_id: str
    reservation: str
    receipt: str
    tracking: str


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
def ship(order: Order) -> str:
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


@workflow.defn
class OrderSaga:
    """Reserve, charge, wait out the cooling-off period, ship; undo what was done on failure."""

    @workflow.run
    async def run(self, order: Order) -> Shipment:
        """Process one order."""
        compensations: list[tuple[Callable[[str], Awaitable[None]], str]] = []
        try:
            reservation = await workflow.execute_activity(
                reserve_stock, order, start_to_close_timeout=timedelta(seconds=10)
            )
            compensations.append((release_stock, reservation))
            receipt = await workflow.execute_activity(
                charge_card,
                order,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=QUICK_RETRIES,
            )
            compensations.append((refund, receipt))
            await workflow.sleep(timedelta(seconds=1))  # cooling-off period: a durable timer
            tracking = await workflow.execute_activity(
                ship, order, start_to_close_timeout=timedelta(seconds=10)
            )
        except Exception:
            for undo, argument in reversed(compensations):
                await workflow.execute_activity(undo, argument, retry_policy=QUICK_RETRIES)
            raise
        return Shipment(
            order_id=order.order_id, reservation=reservation, receipt=receipt, tracking=tracking
        )


WORKFLOWS = [OrderSaga]
ACTIVITIES = [reserve_stock, charge_card, ship, refund, release_stock]
