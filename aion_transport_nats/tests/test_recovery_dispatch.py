"""Tasks handed out but not yet taken survive an engine restart exactly once (DESIGN 7).

A new owner hands every unfinished attempt out again under the same task id;
the task stream de-duplicates it, so one message waits for the workers and the
activity runs once.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from nats.aio.client import Client as NATS

from aion_core import Engine, MemoryEventStore, Worker, activity, workflow
from aion_core.events import ActivityCompleted, ActivityStarted
from aion_transport_nats.node import NatsEngineHandle
from aion_transport_nats.streams import StreamNames

from .conftest import Eventually

ran: Counter[str] = Counter()


@activity.defn(name="redispatch.once")
async def once(key: str) -> str:
    ran[key] += 1
    return key.upper()


@workflow.defn(name="redispatch.Single")
async def single(key: str) -> str:
    return await workflow.execute_activity(once, key)


async def test_an_unfinished_attempt_is_handed_out_again_and_runs_once(
    nats_url: str, names: StreamNames, nc: NATS, eventually: Eventually
) -> None:
    url = f"{nats_url}?namespace={names.namespace}&lease_ttl=2&partitions=4"
    store = MemoryEventStore()
    js = nc.jetstream()

    async def waiting_tasks() -> int:
        return (await js.stream_info(names.tasks_stream)).state.messages

    async with Engine(store, transport=url, workflows=[single]) as first:
        await first.start_workflow(single, "k1", id="single-1")
        # No worker yet: the task (handed out once the start is durable) waits in the stream.
        for _ in range(600):
            if await waiting_tasks() == 1:
                break
            await asyncio.sleep(0.05)
        assert await waiting_tasks() == 1
    # A new engine adopts the workflow and hands its attempt out again.
    async with Engine(store, transport=url, workflows=[single]) as second:
        handle = second.get_handle("single-1")
        node = second.handle
        assert isinstance(node, NatsEngineHandle)
        await eventually(lambda: node.tasks_deduplicated == 1, what="the task handed out again")
        assert await waiting_tasks() == 1  # the same task id: one copy waits
        async with Worker(url, activities=[once]):
            assert await handle.result() == "K1"
        history = await handle.history()
    assert ran["k1"] == 1
    started = [e.body for e in history if isinstance(e.body, ActivityStarted)]
    assert [s.attempt for s in started] == [1]
    assert len([e for e in history if isinstance(e.body, ActivityCompleted)]) == 1
