"""Partition leases against a real nats-server: fair shares, hand-over, crashes, restarts.

Every test watches the nodes' `owned` sets all along: no partition is ever owned by two
nodes at once, and callbacks alternate acquired/released per node and partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from nats.aio.client import Client

from aion_core.errors import ConfigurationError
from aion_transport_nats.connection import connect
from aion_transport_nats.lease_bucket import lease_value, node_key, node_of, partitions_of
from aion_transport_nats.leases import PartitionLeases
from aion_transport_nats.streams import StreamNames

if TYPE_CHECKING:
    from conftest import NatsServer

    from .conftest import Eventually

TTL = 2.0


@dataclass
class Node:
    """One engine node: its connection, its leases and what its callbacks saw."""

    node_id: str
    client: Client
    leases: PartitionLeases = field(init=False)
    events: list[tuple[str, int]] = field(default_factory=list)

    @property
    def owned(self) -> frozenset[int]:
        return self.leases.owned

    def released(self) -> list[int]:
        return [partition for kind, partition in self.events if kind == "released"]


class Nodes:
    """Starts nodes; checks at every callback and every 5 ms that no partition has two owners."""

    def __init__(self, url: str, names: StreamNames) -> None:
        self.url = url
        self.names = names
        self.nodes: list[Node] = []
        self.violations: list[str] = []
        self.acquire_hook: Callable[[Node, int], Awaitable[None]] | None = None
        self._monitor: asyncio.Task[None] | None = None

    async def start(
        self, node_id: str, *, partitions: int = 8, ttl: float = TTL, url: str | None = None
    ) -> Node:
        client = await connect(url or self.url, name=node_id)
        node = Node(node_id, client)
        self.nodes.append(node)

        async def on_acquired(partition: int) -> None:
            if self.acquire_hook is not None:
                await self.acquire_hook(node, partition)  # may raise: then not acquired
            self._check_transition(node, "acquired", partition)

        async def on_released(partition: int) -> None:
            self._check_transition(node, "released", partition)

        node.leases = PartitionLeases(
            client,
            self.names,
            node_id,
            partitions,
            ttl=ttl,
            on_acquired=on_acquired,
            on_released=on_released,
        )
        await node.leases.start()
        if self._monitor is None:
            self._monitor = asyncio.create_task(self._watch())
        return node

    def _check_transition(self, node: Node, kind: str, partition: int) -> None:
        previous = [k for k, p in node.events if p == partition]
        expected = "released" if previous and previous[-1] == "acquired" else "acquired"
        if kind != expected:
            self.violations.append(f"{node.node_id}: {kind}({partition}) after {previous}")
        if kind == "acquired":
            for other in self.nodes:
                if other is not node and partition in other.owned:
                    self.violations.append(
                        f"{node.node_id} acquires {partition} of {other.node_id}"
                    )
        node.events.append((kind, partition))

    async def _watch(self) -> None:
        while True:
            seen: dict[int, str] = {}
            for node in self.nodes:
                for partition in node.owned:
                    if partition in seen:
                        self.violations.append(
                            f"partition {partition} owned by {seen[partition]} and {node.node_id}"
                        )
                    seen[partition] = node.node_id
            await asyncio.sleep(0.005)

    def owners(self) -> dict[int, str]:
        return {p: node.node_id for node in self.nodes for p in node.owned}

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        for node in self.nodes:
            await node.leases.close()
            await node.client.close()


@pytest_asyncio.fixture
async def nodes(nats_url: str, nc: Client, names: StreamNames) -> AsyncIterator[Nodes]:
    """Engine nodes of the test's namespace on the shared server (`nc` deletes it afterwards)."""
    created = Nodes(nats_url, names)
    try:
        yield created
    finally:
        await created.close()
    assert created.violations == []


def test_node_ids_become_valid_keys_and_values_name_the_node() -> None:
    assert node_key("node-1_a") == "node.node-1_a"
    assert node_key("web1.example.com/é") == "node.web1=2Eexample=2Ecom=2F=C3=A9"
    value = lease_value("web1.example.com", "abc", partitions=16)
    assert node_of(value) == "web1.example.com"
    assert partitions_of(value) == 16
    assert partitions_of(lease_value("n", "abc")) is None
    assert node_of(b"rival") == "rival"


async def test_a_single_node_takes_every_partition(nodes: Nodes, eventually: Eventually) -> None:
    node = await nodes.start("host.example.com/1")
    await eventually(lambda: node.owned == set(range(8)), what="the node owns all partitions")
    assert sorted(p for kind, p in node.events if kind == "acquired") == list(range(8))
    assert [await node.leases.owner_of(p) for p in range(8)] == ["host.example.com/1"] * 8


async def test_a_second_node_joining_takes_half_without_any_partition_owned_twice(
    nodes: Nodes, eventually: Eventually
) -> None:
    first = await nodes.start("node-a")
    await eventually(lambda: len(first.owned) == 8, what="node-a owns all partitions")
    second = await nodes.start("node-b")
    await eventually(
        lambda: len(first.owned) == 4 and len(second.owned) == 4,
        what="an even split",
    )
    assert first.owned | second.owned == set(range(8))
    assert sorted(first.released()) == sorted(second.owned)
    for partition in second.owned:
        assert await second.leases.owner_of(partition) == "node-b"


async def test_three_nodes_share_within_the_fair_share(
    nodes: Nodes, eventually: Eventually
) -> None:
    started = [await nodes.start(f"node-{n}", partitions=16) for n in "abc"]
    # ceil(16 / 3) = 6: every node at most 6, all 16 owned.
    await eventually(
        lambda: len(nodes.owners()) == 16 and all(len(node.owned) <= 6 for node in started),
        what="16 partitions over three nodes, at most 6 each",
    )


async def test_closing_a_node_hands_its_partitions_over_at_once(
    nodes: Nodes, eventually: Eventually
) -> None:
    # A TTL far above the wait below: only a deliberate hand-over (deleted keys) can pass.
    ttl = 60.0
    first = await nodes.start("node-a", ttl=ttl)
    second = await nodes.start("node-b", ttl=ttl)
    await eventually(lambda: len(nodes.owners()) == 8 and len(first.owned) == 4, what="a split")
    handed_over = set(first.owned)
    await first.leases.close()
    assert first.owned == frozenset()
    assert sorted(first.released()) == sorted(range(8))  # every acquired one was released
    await eventually(
        lambda: second.owned == set(range(8)), timeout=ttl / 3, what="node-b adopts all"
    )
    assert handed_over <= second.owned


async def test_a_node_that_stops_renewing_loses_its_partitions_after_the_ttl(
    nodes: Nodes, eventually: Eventually
) -> None:
    crashing = await nodes.start("node-a")
    survivor = await nodes.start("node-b")
    await eventually(lambda: len(nodes.owners()) == 8 and len(crashing.owned) == 4, what="a split")
    lost, released_before = set(crashing.owned), len(crashing.released())
    await crashing.client.close()  # the node can no longer renew (nor release)
    await eventually(lambda: crashing.owned == frozenset(), what="node-a gives up its leases")
    assert sorted(crashing.released()[released_before:]) == sorted(lost)
    await eventually(lambda: survivor.owned == set(range(8)), what="node-b adopts all")


async def test_a_renewal_meeting_another_revision_reports_the_lease_lost(
    nodes: Nodes, nc: Client, names: StreamNames, eventually: Eventually
) -> None:
    node = await nodes.start("node-a", partitions=2)
    await eventually(lambda: node.owned == {0, 1}, what="node-a owns both partitions")
    bucket = await nc.jetstream().key_value(names.leases_bucket)
    await bucket.put("partition.0", b"rival")  # a write node-a did not make
    await eventually(lambda: 0 not in node.owned, what="node-a reports partition 0 lost")
    assert node.released() == [0]
    assert 1 in node.owned
    # The rival does not renew: its key expires and node-a takes the partition again.
    await eventually(lambda: node.owned == {0, 1}, what="node-a owns partition 0 again")


async def test_a_failing_callback_is_logged_and_the_partition_taken_later(
    nodes: Nodes, eventually: Eventually, caplog: pytest.LogCaptureFixture
) -> None:
    failures: list[int] = []

    async def fail_once_for_partition_0(node: Node, partition: int) -> None:
        if partition == 0 and not failures:
            failures.append(partition)
            raise RuntimeError("recovery failed")

    nodes.acquire_hook = fail_once_for_partition_0
    node = await nodes.start("node-a", partitions=2)
    await eventually(lambda: node.owned == {1}, what="node-a owns partition 1")
    assert "on_acquired(0) failed" in caplog.text
    # The partition is given back (not owned), then taken again after the back-off.
    await eventually(lambda: node.owned == {0, 1}, what="node-a owns partition 0 after all")
    # The failed on_acquired does not count as acquired: it is not followed by on_released.
    assert node.events.count(("released", 0)) == 0


async def test_nodes_must_agree_on_the_partition_count(nodes: Nodes) -> None:
    await nodes.start("node-a", partitions=8)
    with pytest.raises(ConfigurationError, match="same partitions="):
        await nodes.start("node-b", partitions=16)


async def test_every_node_must_use_the_bucket_ttl(nodes: Nodes) -> None:
    await nodes.start("node-a", ttl=TTL)
    with pytest.raises(ConfigurationError, match="same lease ttl"):
        await nodes.start("node-b", ttl=TTL * 2)


async def test_a_node_id_in_use_by_a_live_node_is_refused(nodes: Nodes) -> None:
    await nodes.start("node-a")
    with pytest.raises(ConfigurationError, match="unique node id"):
        await nodes.start("node-a")


@pytest.mark.parametrize("outage", [0.0, TTL], ids=["restart-within-ttl", "down-beyond-ttl"])
async def test_leases_come_back_after_a_server_restart(
    nats_server: NatsServer, eventually: Eventually, outage: float
) -> None:
    names = StreamNames(f"t{uuid.uuid4().hex[:12]}")
    restarted = Nodes(nats_server.url, names)
    try:
        node = await restarted.start("node-a", partitions=4)
        await eventually(lambda: node.owned == set(range(4)), what="node-a owns all")
        nats_server.kill()
        try:
            # Unable to renew, the node must assume it lost its leases.
            await eventually(lambda: node.owned == frozenset(), what="leases dropped")
            # on_released runs right after a lease is dropped from `owned`, in a task of its own.
            await eventually(
                lambda: sorted(node.released()) == list(range(4)), what="each released once"
            )
            await asyncio.sleep(outage)  # beyond the TTL the server expires the keys itself
        finally:
            nats_server.start()
        await eventually(lambda: node.owned == set(range(4)), what="leases back after restart")
    finally:
        nats_server.start()
        await restarted.close()
    assert restarted.violations == []


async def test_close_before_start_and_twice_is_harmless(nc: Client, names: StreamNames) -> None:
    async def nothing(partition: int) -> None:
        return None

    leases = PartitionLeases(nc, names, "idle", 4, on_acquired=nothing, on_released=nothing)
    await leases.close()
    await leases.close()
    assert leases.owned == frozenset()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"node_id": ""}, "node id"),
        ({"partitions": 0}, "partitions"),
        ({"ttl": 0.5}, "ttl"),
    ],
)
async def test_invalid_lease_settings_are_refused(
    nc: Client, names: StreamNames, arguments: dict[str, object], message: str
) -> None:
    async def nothing(partition: int) -> None:
        return None

    settings: dict[str, object] = {"node_id": "n", "partitions": 4, "ttl": 2.0, **arguments}
    with pytest.raises(ConfigurationError, match=message):
        PartitionLeases(
            nc,
            names,
            str(settings["node_id"]),
            int(str(settings["partitions"])),
            ttl=float(str(settings["ttl"])),
            on_acquired=nothing,
            on_released=nothing,
        )
