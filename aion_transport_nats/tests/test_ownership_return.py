"""A partition that comes back to a node is read afresh from the store, never from its cache.

While a node gives a partition up, a query it is still serving may load a
workflow of that partition again; meanwhile the new owner moves the workflow
on. When the partition comes back, the node must not answer from that copy.
The giving up and taking back are driven directly here (the race of a query
with a hand-over cannot be timed from outside); everything else is real: two
engines on one store, a nats-server, the node's own lease.
"""

from __future__ import annotations

from aion_core import Engine, MemoryEventStore, workflow
from aion_transport_nats.node import NatsEngineHandle
from aion_transport_nats.streams import StreamNames


@workflow.defn(name="ownership.Waits")
class Waits:
    """Waits for a go, then is done."""

    def __init__(self) -> None:
        self.stage = "waiting"

    @workflow.signal
    def go(self) -> None:
        """Let it finish."""
        self.stage = "done"

    @workflow.query
    def where(self) -> str:
        """Its stage."""
        return self.stage

    @workflow.run
    async def run(self) -> str:
        """Wait for the go."""
        await workflow.wait_condition(lambda: self.stage == "done")
        return self.stage


async def test_a_partition_taken_back_answers_from_the_store_not_from_an_earlier_copy(
    nats_url: str, names: StreamNames
) -> None:
    url = f"{nats_url}?namespace={names.namespace}&lease_ttl=5&partitions=1"
    store = MemoryEventStore()
    async with Engine(store, transport=url, workflows=[Waits]) as node_engine:
        node = node_engine.handle
        assert isinstance(node, NatsEngineHandle)
        await node_engine.start_workflow(Waits, id="w")
        assert await node_engine.query("w", Waits.where) == "waiting"

        await node._released(0)  # the partition goes to another node ...
        await node_engine.runner("w").ensure_live()  # ... as a late query loads "w" again
        async with Engine(store, workflows=[Waits]) as other_owner:
            await other_owner.signal("w", Waits.go)
            assert await other_owner.get_handle("w").result() == "done"
        await node._acquired(0)  # and comes back

        assert await node_engine.query("w", Waits.where) == "done"
