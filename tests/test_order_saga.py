"""The order saga end to end: an engine SIGKILLed mid-flight, a new one finishes the orders.

The saga (aion_cli.examples.order_saga) charges with a retry, waits for an
approval signal raced against a deadline, cools off on a durable timer, ships
through a child workflow, answers a status query at every stage, and
compensates (refund, then release) when the order is rejected.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from aion_cli.examples import order_saga
from aion_core import Engine, Event, EventStore, WorkflowFailureError, load_plugins

ENGINE_PROCESS = """
import asyncio, sys
from aion_core import Engine
from aion_cli.examples import order_saga

async def main(url):
    workflows, activities = order_saga.WORKFLOWS, order_saga.ACTIVITIES
    async with Engine(url, workflows=workflows, activities=activities) as engine:
        for order_id in ("keep", "drop"):
            order = order_saga.Order(order_id=order_id, items=["a book"], amount=10.0)
            await engine.start_workflow(order_saga.OrderSaga.run, order, id=order_id)
        await asyncio.sleep(3600)  # killed long before

asyncio.run(main(sys.argv[1]))
"""


def engine(url: str) -> Engine:
    return Engine(url, workflows=order_saga.WORKFLOWS, activities=order_saga.ACTIVITIES)


async def status(engine: Engine, workflow_id: str) -> str:
    answer: str = await engine.get_handle(workflow_id).query(order_saga.OrderSaga.status)
    return answer


async def until_status(engine: Engine, workflow_id: str, wanted: str) -> None:
    async with asyncio.timeout(30):
        while await status(engine, workflow_id) != wanted:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def no_duplicates(history: list[Event]) -> None:
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    assert sum(e.type.startswith("Workflow") and e.type != "WorkflowStarted" for e in history) <= 1


async def test_the_saga_survives_a_killed_engine_and_compensates_a_rejection(
    sql_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "engine.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, never awaited
            [sys.executable, "-c", ENGINE_PROCESS, sql_url], stdout=output, stderr=output
        )
    try:
        async with opened(sql_url) as watcher:
            # Both orders reach the approval stage in the first engine, then it dies.
            for order_id in ("keep", "drop"):
                async with asyncio.timeout(30):
                    while True:
                        history = await watcher.read_events(order_id)
                        if any(e.type == "TimerStarted" for e in history):
                            break
                        assert process.poll() is None, log.read_text()
                        await asyncio.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = {order_id: await _history(sql_url, order_id) for order_id in ("keep", "drop")}

    async with engine(sql_url) as survivor:
        assert await status(survivor, "keep") == "awaiting approval"
        assert await status(survivor, "drop") == "awaiting approval"
        keep, drop = survivor.get_handle("keep"), survivor.get_handle("drop")
        await keep.signal(order_saga.OrderSaga.approve, "ada")
        await until_status(survivor, "keep", "cooling off")
        await drop.signal(order_saga.OrderSaga.reject, "out of stock")
        shipment = await keep.result()
        assert shipment.approved_by == "ada"
        assert shipment.tracking == "track-keep"
        assert await status(survivor, "keep") == "shipped"
        with pytest.raises(WorkflowFailureError, match="rejected: out of stock"):
            await drop.result()
        assert await status(survivor, "drop") == "failed"
        after = {order_id: await survivor.store.read_events(order_id) for order_id in before}
        shipping = await survivor.store.read_events("keep-shipping")

    for order_id, history in after.items():
        assert history[: len(before[order_id])] == before[order_id]  # nothing rewritten
        no_duplicates(history)
    kept = [e.type for e in after["keep"]]
    assert kept.count("ActivityCompleted") == 2  # reserve and charge, each exactly once
    assert "ChildWorkflowCompleted" in kept
    assert shipping[0].type == "WorkflowStarted"
    dropped = after["drop"]
    undone = [
        e.body.activity_type
        for e in dropped
        if e.type == "ActivityScheduled" and e.seq > len(before["drop"])
    ]
    assert undone == ["refund", "release_stock"]  # compensation, in reverse order


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[EventStore]:
    """A bare view of the store: reading it recovers nothing and runs nothing."""
    store = load_plugins().event_store(url)
    async with store:  # type: ignore[attr-defined]
        yield store


async def _history(url: str, workflow_id: str) -> list[Event]:
    async with opened(url) as store:
        return await store.read_events(workflow_id)
