"""A partition a node reports owning answers its calls at once, even beside a frozen former owner.

A former owner frozen (SIGSTOP, a stalled VM) past its lease keeps its
connection, and so its subscription to the partition's control subject: the
server routes each call there too, where nobody answers. Once the new owner's
subscription reaches the server, every call goes to both and the new owner
answers; before, a call goes to the frozen node alone and its sender waits
out its whole timeout (a signal's sender cannot even tell whether it was
recorded). So the node must report owning a partition only once the server
routes its calls to it, however late its writes reach the server: here a
relay holds them back, as a starved event loop does (a CPU-loaded machine).
"""

from __future__ import annotations

from datetime import timedelta

from nats.aio.client import Client as NATS

from aion_core import Client, Engine, MemoryEventStore, workflow
from aion_core.testing.relay import TcpRelay
from aion_transport_nats.node import NatsEngineHandle
from aion_transport_nats.streams import StreamNames

_LATE = 0.5
"""Seconds the node's writes reach the server late while it takes the partition over."""


@workflow.defn(name="taking_over.Waits")
class Waits:
    """Waits for a go, then is done."""

    def __init__(self) -> None:
        self.go_given = False

    @workflow.signal
    def go(self) -> None:
        """Let it finish."""
        self.go_given = True

    @workflow.run
    async def run(self) -> str:
        """Wait for the go."""
        await workflow.wait_condition(lambda: self.go_given)
        return "done"


async def test_a_call_sent_once_the_partition_is_reported_owned_is_answered(
    nats_url: str, names: StreamNames, nc: NATS, slow_link: TcpRelay
) -> None:
    options = f"?namespace={names.namespace}&lease_ttl=10&partitions=1"
    relayed = f"nats://127.0.0.1:{slow_link.port}"
    store = MemoryEventStore()
    async with (
        Engine(store, transport=relayed + options, workflows=[Waits]) as node_engine,
        await Client.connect(nats_url + options, call_timeout=timedelta(seconds=5)) as client,
    ):
        node = node_engine.handle
        assert isinstance(node, NatsEngineHandle)
        await node_engine.start_workflow(Waits, id="w")
        await node._released(0)  # the partition went to a node that froze, still subscribed
        frozen = await nc.subscribe(names.control_subject(0))  # never answers
        await nc.flush()

        slow_link.delay = _LATE
        await node._acquired(0)  # taken over: from now on its calls are answered here
        await client.signal("w", Waits.go)  # sent at once, it reaches the frozen node too

        slow_link.delay = 0.0
        assert await client.get_handle("w").result() == "done"
        assert (await frozen.next_msg(timeout=5)).subject == names.control_subject(0)
