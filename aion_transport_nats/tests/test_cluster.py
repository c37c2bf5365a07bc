"""The three-server cluster fixture: replicated streams and leases work through its URL."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from aion_transport_nats.connection import connect
from aion_transport_nats.leases import PartitionLeases
from aion_transport_nats.options import parse_nats_url
from aion_transport_nats.streams import StreamNames, ensure_streams

if TYPE_CHECKING:
    from conftest import NatsCluster

    from .conftest import Eventually


def test_the_cluster_url_lists_three_servers(nats_cluster: NatsCluster) -> None:
    assert len(parse_nats_url(nats_cluster.url).servers) == 3
    assert nats_cluster.running
    assert nats_cluster.meta_leader() in {server.server_name for server in nats_cluster.servers}


async def test_a_stream_with_three_replicas_takes_and_returns_a_task(
    nats_cluster: NatsCluster,
) -> None:
    names = StreamNames(f"t{uuid.uuid4().hex[:12]}")
    client = await connect(nats_cluster.url)
    try:
        js = client.jetstream()
        streams = await ensure_streams(js, names, replicas=3)
        assert streams.tasks.config.num_replicas == 3
        assert streams.tasks.cluster is not None
        assert len(streams.tasks.cluster.replicas or []) == 2  # the leader is not listed
        await js.publish(names.task_subject("q"), b"replicated", headers={"Nats-Msg-Id": "m-1"})
        subscription = await js.pull_subscribe(
            names.task_subject("q"), durable=names.task_consumer("q"), stream=names.tasks_stream
        )
        [message] = await subscription.fetch(1, timeout=10)
        assert message.data == b"replicated"
        await message.ack_sync()
        await js.delete_stream(names.tasks_stream)
        await js.delete_stream(names.results_stream)
    finally:
        await client.close()


async def test_leases_in_a_replicated_bucket(
    nats_cluster: NatsCluster, eventually: Eventually
) -> None:
    names = StreamNames(f"t{uuid.uuid4().hex[:12]}")
    client = await connect(nats_cluster.url)

    async def nothing(partition: int) -> None:
        return None

    leases = PartitionLeases(
        client, names, "node-a", 4, ttl=3.0, on_acquired=nothing, on_released=nothing, replicas=3
    )
    try:
        await leases.start()
        await eventually(lambda: leases.owned == set(range(4)), what="node-a owns all partitions")
        bucket = await client.jetstream().key_value(names.leases_bucket)
        assert (await bucket.status()).stream_info.config.num_replicas == 3
    finally:
        await leases.close()
        await client.jetstream().delete_key_value(names.leases_bucket)
        await client.close()
