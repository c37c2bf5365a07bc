"""Streams, names and subjects of a namespace, against a real nats-server with JetStream."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from aion_core.errors import ConfigurationError
from aion_transport_nats.connection import connect
from aion_transport_nats.streams import (
    StreamNames,
    decode_subject_token,
    encode_subject_token,
    ensure_streams,
    name_token,
)

if TYPE_CHECKING:
    from conftest import NatsServer

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_FORBIDDEN_IN_TOKEN = re.compile(r"[.*>\s$]")


# --- names and subjects ------------------------------------------------------------------------


def test_subjects_of_a_namespace() -> None:
    names = StreamNames("shop")
    assert names.task_subject("emails") == "aion.shop.task.emails"
    assert names.tasks_subjects == "aion.shop.task.>"
    assert names.result_subject(7) == "aion.shop.result.7"
    assert names.results_subjects == "aion.shop.result.>"
    assert names.events_subject("order-42") == "aion.shop.events.order-42"
    assert names.all_events_subject == "aion.shop.events.>"
    assert names.control_subject(3) == "aion.shop.ctl.3"
    assert names.api_subject() == "aion.shop.api"


def test_stream_and_bucket_names_of_a_plain_namespace() -> None:
    names = StreamNames("shop-eu_1")
    assert names.tasks_stream == "aion_shop-eu_1_tasks"
    assert names.results_stream == "aion_shop-eu_1_results"
    assert names.leases_bucket == "aion_shop-eu_1_leases"


def test_a_namespace_with_other_characters_is_sanitised_in_names_but_kept_in_subjects() -> None:
    first, second = StreamNames("café/eu"), StreamNames("café:eu")
    for names in (first, second):
        for name in (names.tasks_stream, names.results_stream, names.leases_bucket):
            assert _NAME.match(name), name
    assert first.tasks_stream != second.tasks_stream  # the hash keeps them apart
    assert first.task_subject("q") == "aion.café/eu.task.q"


@pytest.mark.parametrize("namespace", ["", "a.b", "a*", "a>", "a b", "tab\there", "new\nline"])
def test_namespaces_that_cannot_be_a_subject_token_are_refused(namespace: str) -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        StreamNames(namespace)


def test_readable_ids_stay_readable_and_others_are_percent_encoded() -> None:
    assert encode_subject_token("order-42") == "order-42"
    assert encode_subject_token("order.42") == "order%2E42"
    assert encode_subject_token("a b*c>d") == "a%20b%2Ac%3Ed"
    assert encode_subject_token("100%") == "100%25"
    assert encode_subject_token("é") == "%C3%A9"


@given(st.text(min_size=1))
def test_subject_tokens_round_trip_and_are_always_one_valid_token(text: str) -> None:
    token = encode_subject_token(text)
    assert not _FORBIDDEN_IN_TOKEN.search(token)
    assert token.isascii()
    assert token.isprintable()
    assert decode_subject_token(token) == text
    names = StreamNames("ns")
    assert names.workflow_id_of_events_subject(names.events_subject(text)) == text


@pytest.mark.parametrize("token", ["%2e", "%ZZ", "a%", "plain.dot", "%C3", "é"])
def test_tokens_not_made_by_encode_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="not an encoded subject token"):
        decode_subject_token(token)


def test_empty_ids_and_negative_partitions_are_refused() -> None:
    names = StreamNames("ns")
    with pytest.raises(ValueError, match="empty"):
        names.events_subject("")
    with pytest.raises(ValueError, match="partition"):
        names.result_subject(-1)


def test_name_token_keeps_distinct_texts_distinct() -> None:
    assert name_token("emails") == "emails"
    assert name_token("a.b") != name_token("a_b")
    assert _NAME.match(name_token("x" * 300))
    assert len(name_token("x" * 300)) < 64


# --- streams on a real server ------------------------------------------------------------------


async def test_ensure_streams_creates_file_backed_work_queue_streams(
    nc: Client, names: StreamNames
) -> None:
    streams = await ensure_streams(nc.jetstream(), names)
    for info, subjects in (
        (streams.tasks, [names.tasks_subjects]),
        (streams.results, [names.results_subjects]),
    ):
        assert info.config.subjects == subjects
        assert info.config.retention == RetentionPolicy.WORK_QUEUE
        assert info.config.storage == StorageType.FILE
        assert info.config.duplicate_window == 120


async def test_ensure_streams_is_idempotent_across_nodes(
    nats_url: str, nc: Client, names: StreamNames
) -> None:
    first = await ensure_streams(nc.jetstream(), names)
    await nc.jetstream().publish(names.task_subject("q"), b"task")
    other_node = await connect(nats_url)
    try:
        second = await ensure_streams(other_node.jetstream(), names)
    finally:
        await other_node.close()
    assert second.tasks.config.name == first.tasks.config.name
    assert second.tasks.created == first.tasks.created
    assert (await nc.jetstream().stream_info(names.tasks_stream)).state.messages == 1


async def test_tasks_with_the_same_msg_id_are_stored_once(nc: Client, names: StreamNames) -> None:
    js = nc.jetstream()
    await ensure_streams(js, names)
    headers = {"Nats-Msg-Id": "wf-1:run-1:act-1:1"}
    first = await js.publish(names.task_subject("emails"), b"send", headers=headers)
    again = await js.publish(names.task_subject("emails"), b"send", headers=headers)
    other = await js.publish(
        names.task_subject("emails"), b"send", headers={"Nats-Msg-Id": "wf-1:run-1:act-1:2"}
    )
    assert not first.duplicate
    assert again.duplicate
    assert again.seq == first.seq
    assert other.seq != first.seq
    assert (await js.stream_info(names.tasks_stream)).state.messages == 2


async def test_result_consumers_per_partition_share_the_work_queue(
    nc: Client, names: StreamNames
) -> None:
    js = nc.jetstream()
    await ensure_streams(js, names)
    await js.publish(names.result_subject(0), b"for partition 0")
    await js.publish(names.result_subject(1), b"for partition 1")
    subscriptions = [
        await js.pull_subscribe(
            names.result_subject(p), durable=names.result_consumer(p), stream=names.results_stream
        )
        for p in (0, 1)
    ]
    for partition, subscription in enumerate(subscriptions):
        [message] = await subscription.fetch(1, timeout=10)
        assert message.data == f"for partition {partition}".encode()
        await message.ack_sync()
    assert (await js.stream_info(names.results_stream)).state.messages == 0


async def test_a_changed_duplicate_window_is_updated_keeping_operator_limits(
    nc: Client, names: StreamNames
) -> None:
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=names.tasks_stream,
            subjects=[names.tasks_subjects],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=30,
            max_msgs=1000,
        )
    )
    streams = await ensure_streams(js, names, duplicate_window=90)
    assert streams.tasks.config.duplicate_window == 90
    assert streams.tasks.config.max_msgs == 1000


async def test_a_stream_that_cannot_be_changed_is_reported_with_what_to_do(
    nc: Client, names: StreamNames
) -> None:
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=names.tasks_stream,
            subjects=[names.tasks_subjects],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
        )
    )
    with pytest.raises(ConfigurationError, match=f"nats stream rm {names.tasks_stream}"):
        await ensure_streams(js, names)


async def test_streams_and_their_tasks_survive_a_server_crash(nats_server: NatsServer) -> None:
    names = StreamNames(f"t{uuid.uuid4().hex[:12]}")
    client = await connect(nats_server.url)
    try:
        await ensure_streams(client.jetstream(), names)
        await client.jetstream().publish(
            names.task_subject("q"), b"durable", headers={"Nats-Msg-Id": "m-1"}
        )
    finally:
        await client.close()
    nats_server.kill()
    nats_server.start()
    client = await connect(nats_server.url)
    try:
        js = client.jetstream()
        streams = await ensure_streams(js, names)
        assert streams.tasks.state.messages == 1
        subscription = await js.pull_subscribe(
            names.task_subject("q"), durable=names.task_consumer("q"), stream=names.tasks_stream
        )
        [message] = await subscription.fetch(1, timeout=10)
        assert message.data == b"durable"
        await message.ack_sync()
    finally:
        await client.close()
