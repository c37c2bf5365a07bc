"""Fixtures of the NATS transport tests: a unique namespace per test, connections, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import nats.errors
import pytest
import pytest_asyncio
from nats.aio.client import Client

from aion_transport_nats.connection import connect
from aion_transport_nats.streams import StreamNames, delete_namespace


@pytest.fixture
def names() -> StreamNames:
    """Names of a namespace no other test (or test run on a shared server) uses."""
    return StreamNames(f"t{uuid.uuid4().hex[:12]}")


@pytest_asyncio.fixture
async def nc(nats_url: str, names: StreamNames) -> AsyncIterator[Client]:
    """A connection to the shared test server; the test's namespace is deleted afterwards."""
    client = await connect(nats_url, name="aion-transport-test")
    try:
        yield client
    finally:
        with contextlib.suppress(nats.errors.Error):
            await delete_namespace(client.jetstream(), names)
        await client.close()


Eventually = Callable[..., Awaitable[None]]


async def _eventually(
    condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "condition"
) -> None:
    """Poll `condition` until it holds; fail after a generous `timeout` (never a speed test)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        await asyncio.sleep(0.05)


@pytest.fixture
def eventually() -> Eventually:
    """``await eventually(lambda: ..., what="...")``: wait for a condition, generously."""
    return _eventually


class SlowLink:
    """A TCP relay to the NATS server that can hold back what its clients send.

    What a client connected through it writes reaches the server `delay` seconds
    late (in order); what the server sends comes at once: a process whose writes
    go out late, as when its event loop is starved of CPU.
    """

    def __init__(self, nats_url: str) -> None:
        target = urlsplit(nats_url)
        self._target = (target.hostname or "127.0.0.1", target.port or 4222)
        self.delay = 0.0
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        """``nats://host:port`` of the relay."""
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"nats://{host}:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for relay in self._relays:
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, server_writer]
        for relay in (self._send(reader, server_writer), self._receive(server_reader, writer)):
            task = asyncio.create_task(relay)
            self._relays.add(task)
            task.add_done_callback(self._relays.discard)

    async def _send(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, data = await due.get()
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                writer.write(data)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while data := await reader.read(65536):
                due.put_nowait((time.monotonic() + self.delay, data))
        finally:
            delivering.cancel()
            writer.close()

    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


@pytest_asyncio.fixture
async def slow_link(nats_url: str) -> AsyncIterator[SlowLink]:
    """A relay to the test server whose `delay` holds back what its clients send."""
    link = SlowLink(nats_url)
    await link.start()
    try:
        yield link
    finally:
        await link.close()
