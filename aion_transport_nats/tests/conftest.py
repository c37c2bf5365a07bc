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

from aion_core.testing.relay import TcpRelay
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


@pytest_asyncio.fixture
async def slow_link(nats_url: str) -> AsyncIterator[TcpRelay]:
    """A relay to the test server whose `delay` holds back what its clients send."""
    target = urlsplit(nats_url)
    async with TcpRelay(target.hostname or "127.0.0.1", target.port or 4222) as link:
        yield link
