"""Pulling from a consumer and stopping pullers: a cancellation is never lost.

Python 3.11's `asyncio.wait_for`, which nats-py waits for every pulled message
with, returns the messages instead of raising when they arrive in the same
moment as the cancellation. That moment cannot be arranged on a real server,
so one test wraps a real pull subscription in a fetch that does exactly that.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from aion_transport_nats.pulling import fetch, stop
from aion_transport_nats.streams import StreamNames, ensure_streams


async def _results_consumer(nc: Client, names: StreamNames) -> JetStreamContext.PullSubscription:
    js = nc.jetstream()
    await ensure_streams(js, names)
    return await js.pull_subscribe(
        names.result_subject(0), durable="pulling-test", stream=names.results_stream
    )


class _SwallowsCancellation:
    """A real pull subscription whose fetch, cancelled while waiting, fetches and returns."""

    def __init__(self, real: JetStreamContext.PullSubscription) -> None:
        self.real = real
        self.waiting = asyncio.Event()

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        self.waiting.set()
        try:
            await asyncio.sleep(timeout)
        except asyncio.CancelledError:
            return await self.real.fetch(batch, timeout=timeout)
        return []


async def test_a_fetch_returns_what_came_and_nothing_after_its_timeout(
    nc: Client, names: StreamNames
) -> None:
    subscription = await _results_consumer(nc, names)
    assert await fetch(subscription, 10, timeout=0.2) == []
    await nc.jetstream().publish(names.result_subject(0), b"report")
    [msg] = await fetch(subscription, 10, timeout=5)
    assert msg.data == b"report"


async def test_a_cancellation_swallowed_under_a_fetch_still_cancels_and_gives_the_messages_back(
    nc: Client, names: StreamNames
) -> None:
    subscription = await _results_consumer(nc, names)
    await nc.jetstream().publish(names.result_subject(0), b"report")
    swallowing = _SwallowsCancellation(subscription)
    puller = asyncio.create_task(fetch(swallowing, 1, timeout=5))  # type: ignore[arg-type]
    await swallowing.waiting.wait()
    puller.cancel()
    await asyncio.gather(puller, return_exceptions=True)
    assert puller.cancelled()
    # Given back at once: the next fetch has it again, long before the ack wait.
    [again] = await fetch(subscription, 1, timeout=5)
    assert (again.data, again.metadata.num_delivered) == (b"report", 2)


async def test_stop_ends_a_task_that_swallows_a_cancellation() -> None:
    cancellations = 0

    async def stubborn() -> None:
        nonlocal cancellations
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancellations += 1
                if cancellations > 1:
                    raise

    task: asyncio.Task[Any] = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop(task), timeout=30)
    assert task.cancelled()
    assert cancellations == 2


async def test_stop_does_not_raise_what_the_task_raised() -> None:
    async def broken() -> None:
        raise RuntimeError("failed")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await stop(task)
    assert isinstance(task.exception(), RuntimeError)
