"""connect(): real servers, typed errors without secrets, reconnects after a server restart;
waiting for JetStream to answer at start-up."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import nats.errors
import pytest
from nats.js.errors import NoStreamResponseError

from aion_core import Client
from aion_core.errors import ConfigurationError, TransportError
from aion_core.plugins import load_plugins
from aion_transport_nats.connection import NatsUnavailableError, connect, when_jetstream_answers
from aion_transport_nats.options import parse_nats_url

if TYPE_CHECKING:
    from conftest import NatsServer, ServerDirs

    from .conftest import Eventually

TOKEN = "t0ken-Very-Secret"


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def token_server(nats_server: NatsServer, server_dirs: ServerDirs) -> Iterator[str]:
    """Address ``127.0.0.1:PORT`` of a nats-server that demands the token TOKEN."""
    base = server_dirs.new("nats-token")
    # type(nats_server): the root conftest's NatsServer, without importing conftest.
    server = type(nats_server)(
        store_dir=base / "store", log_file=base / "log", extra_args=("--auth", TOKEN)
    )
    server.start()
    try:
        yield server.url.removeprefix("nats://")
    finally:
        server.stop()


async def test_connect_reaches_the_server_and_then_reconnects_forever(nats_url: str) -> None:
    client = await connect(nats_url, name="aion-test-node")
    try:
        assert client.is_connected
        assert client.options["name"] == "aion-test-node"
        assert client.options["max_reconnect_attempts"] == -1
        await client.publish("aion.test.ping", b"")
        await client.flush()
    finally:
        await client.close()


async def test_connect_accepts_parsed_options(nats_url: str) -> None:
    options = replace(parse_nats_url(nats_url), name="from-options")
    client = await connect(options)
    try:
        assert client.options["name"] == "from-options"
    finally:
        await client.close()


async def test_no_reachable_server_is_a_typed_error_naming_the_redacted_url() -> None:
    url = f"nats://ops:{TOKEN}@127.0.0.1:{_unused_port()},127.0.0.1:{_unused_port()}"
    with pytest.raises(NatsUnavailableError, match="nats-server is running") as caught:
        await connect(url + "?connect_timeout=0.5&reconnect_time_wait=0.05")
    message = str(caught.value)
    assert "nats://ops:***@127.0.0.1:" in message
    assert TOKEN not in message


async def test_a_token_server_accepts_the_right_token(token_server: str) -> None:
    client = await connect(f"nats://{TOKEN}@{token_server}")
    try:
        assert client.is_connected
    finally:
        await client.close()


@pytest.mark.parametrize("credentials", ["wrong-token", "user:wrong-password", ""])
async def test_refused_credentials_are_a_configuration_error_without_them(
    token_server: str, credentials: str
) -> None:
    userinfo = f"{credentials}@" if credentials else ""
    with pytest.raises(ConfigurationError, match="refused the credentials") as caught:
        await connect(f"nats://{userinfo}{token_server}?reconnect_time_wait=0.05")
    assert "wrong" not in str(caught.value)


@pytest.mark.skipif(importlib.util.find_spec("nkeys") is not None, reason="nkeys is installed here")
async def test_creds_auth_without_nkeys_says_to_install_it(tmp_path: Path) -> None:
    creds = tmp_path / "user.creds"
    creds.write_text("creds")
    with pytest.raises(ConfigurationError, match="pip install nkeys"):
        await connect(f"nats://127.0.0.1:4222?creds={creds}")


async def test_a_connection_comes_back_after_the_server_restarts(
    nats_server: NatsServer, eventually: Eventually
) -> None:
    client = await connect(nats_server.url)
    try:
        nats_server.kill()
        await eventually(lambda: not client.is_connected, what="the client noticed the crash")
        nats_server.start()
        await eventually(lambda: client.is_connected, what="the client reconnected")
        subscription = await client.subscribe("aion.test.echo")
        await client.publish("aion.test.echo", b"back")
        message = await subscription.next_msg(timeout=10)
        assert message.data == b"back"
    finally:
        nats_server.start()
        await client.close()


async def test_a_step_jetstream_cannot_answer_yet_is_asked_again_until_it_can() -> None:
    answers: list[Exception | str] = [nats.errors.TimeoutError(), NoStreamResponseError(), "ok"]

    async def step() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await when_jetstream_answers("creating things", step) == "ok"
    assert answers == []


async def test_a_step_jetstream_never_answers_ends_in_a_transport_error_saying_what() -> None:
    async def step() -> None:
        raise nats.errors.NoRespondersError

    with pytest.raises(TransportError, match=r"within 0 s while creating things .*-js"):
        await when_jetstream_answers("creating things", step, patience=0)


async def test_other_errors_are_not_asked_again() -> None:
    async def step() -> None:
        raise ConfigurationError("wrong ttl")

    with pytest.raises(ConfigurationError, match="wrong ttl"):
        await when_jetstream_answers("opening", step)


async def test_a_client_refused_after_connecting_leaves_no_connection_open(
    nats_server: NatsServer, eventually: Eventually
) -> None:
    class RefusesWithoutKeys:
        def aion_payload_codecs(self) -> list[object]:
            raise ConfigurationError("no encryption key configured")

    def open_connections() -> int:
        connz = nats_server._monitor("/connz")
        return int(connz["num_connections"]) if connz else -1

    await eventually(lambda: open_connections() >= 0, what="the monitoring endpoint")
    before = open_connections()
    plugins = load_plugins({"AION_PLUGINS": "nats"})
    plugins.manager.register(RefusesWithoutKeys(), name="refuses")
    with pytest.raises(ConfigurationError, match="no encryption key"):
        await Client.connect(f"{nats_server.url}?namespace=t-refused", plugins=plugins)
    await eventually(lambda: open_connections() == before, what="the connection closed")
