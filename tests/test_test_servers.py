"""The test-server fixtures from the root conftest give real, working servers."""

from __future__ import annotations

import socket
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import asyncpg
import nats
from nats.js.api import StorageType

if TYPE_CHECKING:
    from conftest import NatsServer


def _unique(prefix: str) -> str:
    """Return a name that no other test run uses (the external servers are shared)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def test_postgres_url_is_a_plain_postgresql_url(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    assert parts.scheme == "postgresql"
    assert parts.hostname
    assert parts.port
    assert parts.path.strip("/")


async def test_postgres_url_accepts_connections_and_runs_select_1(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("select 1") == 1
    finally:
        await connection.close()


async def test_fresh_postgres_url_is_an_empty_database_where_tables_can_be_created_and_dropped(
    postgres_url: str, fresh_postgres_url: str
) -> None:
    assert urlsplit(fresh_postgres_url).path != urlsplit(postgres_url).path
    connection = await asyncpg.connect(fresh_postgres_url)
    try:
        user_tables = await connection.fetchval(
            "select count(*) from pg_tables"
            " where schemaname not in ('pg_catalog', 'information_schema')"
        )
        assert user_tables == 0
        await connection.execute("create table probe (id int primary key, note text not null)")
        await connection.execute("insert into probe values (1, 'hello')")
        assert await connection.fetchval("select note from probe where id = 1") == "hello"
        await connection.execute("drop table probe")
        assert await connection.fetchval("select to_regclass('probe')") is None
    finally:
        await connection.close()


async def test_nats_url_jetstream_stream_publishes_and_fetches_a_message(nats_url: str) -> None:
    stream, subject = _unique("AION_TEST"), _unique("aion.test")
    client = await nats.connect(nats_url)
    try:
        jetstream = client.jetstream()
        await jetstream.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        try:
            ack = await jetstream.publish(subject, b"hello")
            assert ack.stream == stream
            subscription = await jetstream.pull_subscribe(subject, durable="probe", stream=stream)
            messages = await subscription.fetch(1, timeout=5)
            assert [message.data for message in messages] == [b"hello"]
            await messages[0].ack()
        finally:
            await jetstream.delete_stream(stream)
    finally:
        await client.close()


async def test_nats_url_jetstream_key_value_bucket_stores_and_returns_a_value(
    nats_url: str,
) -> None:
    bucket = _unique("aion_test_kv")
    client = await nats.connect(nats_url)
    try:
        jetstream = client.jetstream()
        kv = await jetstream.create_key_value(bucket=bucket)
        try:
            revision = await kv.put("greeting", b"hello")
            entry = await kv.get("greeting")
            assert entry.value == b"hello"
            assert entry.revision == revision
        finally:
            await jetstream.delete_key_value(bucket)
    finally:
        await client.close()


def _accepts_tcp(url: str) -> bool:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


async def test_nats_server_restart_keeps_url_and_jetstream_data(nats_server: NatsServer) -> None:
    stream, subject = _unique("AION_RESTART"), _unique("aion.restart")
    url = nats_server.url
    client = await nats.connect(url)
    try:
        jetstream = client.jetstream()
        await jetstream.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        await jetstream.publish(subject, b"survives")
    finally:
        await client.close()

    nats_server.stop()
    try:
        assert not nats_server.running
        assert not _accepts_tcp(url)
    finally:
        nats_server.start()
    assert nats_server.url == url
    assert _accepts_tcp(url)

    client = await nats.connect(url)
    try:
        jetstream = client.jetstream()
        subscription = await jetstream.pull_subscribe(subject, durable="probe", stream=stream)
        messages = await subscription.fetch(1, timeout=5)
        assert [message.data for message in messages] == [b"survives"]
        await jetstream.delete_stream(stream)
    finally:
        await client.close()


async def test_nats_server_kill_then_start_recovers(nats_server: NatsServer) -> None:
    nats_server.kill()
    assert not nats_server.running
    nats_server.start()
    client = await nats.connect(nats_server.url)
    try:
        info = await client.jetstream().account_info()
        assert info is not None
    finally:
        await client.close()
