"""The three roles that meet on a transport (engine, activity worker, client), together or alone.

Together they run one `Courier` end to end, which takes every path through the
transport: a start, an activity task and its result, a signal, a query, the
result. Alone, each one is tried on a transport that must refuse it, to collect
the error it meets.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aion_core import Client, Engine, Worker
from aion_core.errors import AionError
from aion_core.events import WorkflowStatus
from aion_core.operations import WorkflowOperations

from .security_flows import Courier, stamp

__all__ = ["bounded", "connect_each_role", "run_courier", "run_courier_over"]


async def bounded(awaitable: Awaitable[Any], seconds: float = 60) -> Any:
    """`awaitable`, failing the test after `seconds`: a hang is a failure, never a wait."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def run_courier(caller: WorkflowOperations, workflow_id: str) -> None:
    """Start a courier, signal it, wait for its result, query it, describe it."""
    handle = await caller.start_workflow(Courier.run, "parcel-7", id=workflow_id)
    await handle.signal(Courier.note, "left at the door")
    assert await handle.result() == ["parcel-7 stamped", "left at the door"]
    assert await handle.query(Courier.notes_taken) == 1
    assert (await handle.describe()).status is WorkflowStatus.COMPLETED


async def run_courier_over(transport: str, tmp_path: Path) -> None:
    """An engine, a worker and a client meeting on `transport`; one courier run end to end."""
    store = f"sqlite:///{tmp_path / 'aion.db'}"
    async with (
        Engine(store, transport=transport, workflows=[Courier]),
        Worker(transport, activities=[stamp]),
        await Client.connect(transport, workflows=[Courier]) as client,
    ):
        await bounded(run_courier(client, f"courier-{uuid.uuid4().hex[:8]}"), 90)


async def connect_each_role(transport: str, tmp_path: Path) -> list[AionError]:
    """Try a client, a worker and an engine on `transport`, which must refuse each one.

    Returns:
        The error each one met, in that order.
    """
    store = f"sqlite:///{tmp_path / 'refused.db'}"
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: Client.connect(transport),
        lambda: Worker(transport, activities=[stamp]).__aenter__(),
        lambda: Engine(store, transport=transport, workflows=[Courier]).__aenter__(),
    ]
    errors: list[AionError] = []
    for attempt in attempts:
        try:
            await bounded(attempt())
        except AionError as error:
            errors.append(error)
        else:
            raise AssertionError(f"{transport} let a client, worker or engine in")
    return errors
