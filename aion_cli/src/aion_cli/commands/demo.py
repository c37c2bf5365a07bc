"""`aion demo`: run the bundled order saga on the embedded default and show what happened."""

from __future__ import annotations

import asyncio
import uuid

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aion_cli.connections import store_url
from aion_cli.examples import order_saga
from aion_cli.exit_codes import DOMAIN_FAILURE
from aion_cli.options import store_option
from aion_cli.timeline import timeline
from aion_core import Engine, WorkflowFailureError
from aion_core.plugins import Plugins
from aion_core.urls import redact_url

__all__ = ["demo_command"]

ORDERS = [
    order_saga.Order(order_id="book", items=["a book", "a lamp"], amount=42.5),
    order_saga.Order(order_id="unicorn", items=["a unicorn"], amount=999.0),
    order_saga.Order(order_id="gift", items=["a gift card"], amount=20.0),
]
DECISIONS = {"book": ("approve", "ada"), "unicorn": ("approve", "ada"), "gift": ("reject", "bob")}
EXPECTED = {"book": "completed", "unicorn": "failed", "gift": "failed"}


@click.command("demo")
@store_option
@click.pass_obj
def demo_command(plugins: Plugins, store: str | None) -> None:
    """Run the bundled order saga and show what happened.

    Three orders go through it, on the store (default: sqlite:///aion.db).
    Every order's payment is retried once, then it waits for approval (a signal
    raced against a deadline) while the demo asks its status (a query). The
    book is approved and shipped by a child workflow; the unicorn is approved
    but cannot ship, and the gift is rejected: both are compensated (refund,
    then release).
    """
    url = store_url(plugins, store)
    if not asyncio.run(_demo(plugins, url)):
        raise SystemExit(DOMAIN_FAILURE)


async def _demo(plugins: Plugins, url: str) -> bool:
    console = Console()
    console.print(f"[bold]aion demo[/bold] on [cyan]{redact_url(url)}[/cyan]\n")
    batch = uuid.uuid4().hex[:6]
    async with Engine(
        url,
        workflows=order_saga.WORKFLOWS,
        activities=order_saga.ACTIVITIES,
        plugins=plugins,
    ) as engine:
        handles = {
            order.order_id: await engine.start_workflow(
                order_saga.OrderSaga.run, order, id=f"demo-{batch}-{order.order_id}"
            )
            for order in ORDERS
        }
        for order_id, handle in handles.items():
            # Ask the order where it stands until it waits for a person.
            while (stage := await handle.query(order_saga.OrderSaga.status)) != "awaiting approval":  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            signal, person = DECISIONS[order_id]
            console.print(
                f"{handle.workflow_id}: status [cyan]{stage}[/cyan] → {signal} by {person}"
            )
            await handle.signal(signal, person)
        console.print()
        outcomes: dict[str, tuple[str, str]] = {}
        for order_id, handle in handles.items():
            try:
                outcomes[order_id] = ("completed", str(await handle.result()))
            except WorkflowFailureError as failure:
                cause = failure.__cause__
                reason = str(cause.__cause__ or cause) if cause else str(failure)
                outcomes[order_id] = ("failed", reason)
            stage = await handle.query(order_saga.OrderSaga.status)
            status, detail = outcomes[order_id]
            table = Table(
                title=f"{handle.workflow_id}: {status} (status query: {stage})",
                title_justify="left",
                box=None,
            )
            table.add_column("seq", justify="right")
            table.add_column("+s", justify="right")
            table.add_column("event")
            table.add_column("detail")
            for row in timeline(await handle.history()):
                table.add_row(str(row.seq), f"{row.offset:.3f}", row.type, Text(row.detail))
            console.print(table)
            console.print(f"  result: {detail}\n")
    ok = {order_id: status for order_id, (status, _) in outcomes.items()} == EXPECTED
    console.print(
        "[green]every order ended as designed[/green]"
        if ok
        else "[red]the orders did not end as designed[/red]"
    )
    return ok
