"""The console's two connections: the store it reads and the `Client` it acts through.

Both are opened on first use, not when the server starts, so a store or a
transport out of reach is a message on the page that needs it (and the next
request tries again), never a server that refuses to start. Reads use the
CLI's `read_store` (a missing SQLite file is an error, never a new empty
store); actions use its `connect_client` (``inproc://`` is refused: this
process runs no engine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Generic, TypeVar

from aion_cli.connections import connect_client, read_store
from aion_core import Client
from aion_core.plugins import Plugins
from aion_core.store import EventStore

__all__ = ["OnFirstUse", "engine_client", "store_reader"]

_T = TypeVar("_T")


class OnFirstUse(Generic[_T]):
    """What an async context manager gives, entered on first use and kept until `close`.

    Args:
        enter: Makes the context manager; called again after a failed attempt.
    """

    def __init__(self, enter: Callable[[], AbstractAsyncContextManager[_T]]) -> None:
        self._enter = enter
        self._lock = asyncio.Lock()
        self._stack: AsyncExitStack | None = None
        self._value: _T | None = None

    async def get(self) -> _T:
        """The value, entering the context manager if this is the first use.

        Raises:
            Exception: Whatever entering raises (nothing is kept: the next use tries again).
        """
        if self._value is not None:
            return self._value
        async with self._lock:  # one attempt at a time; the others wait and share it
            if self._value is None:
                stack = AsyncExitStack()
                self._value = await stack.enter_async_context(self._enter())
                self._stack = stack
            return self._value

    async def close(self) -> None:
        """Leave the context manager if it was entered."""
        stack, self._stack, self._value = self._stack, None, None
        if stack is not None:
            await stack.aclose()


def store_reader(plugins: Plugins, url: str | None) -> OnFirstUse[EventStore]:
    """The store at `url` (None: aion's default), opened for reading on first use.

    Its `get` raises `StoreError` when the store is not there or out of reach, and
    `ConfigurationError` when no plugin handles the URL.
    """
    return OnFirstUse(lambda: read_store(plugins, url))


def engine_client(
    plugins: Plugins, transport: str, namespace: str | None, timeout: float
) -> OnFirstUse[Client]:
    """A client of the engines on `transport`, connected on first use.

    Its `get` raises `TransportError` when the transport cannot reach engines
    (``inproc://``) or is down, and `ConfigurationError` when a plugin cannot work
    as configured (a codec without its keys).
    """
    return OnFirstUse(lambda: connect_client(plugins, transport, namespace, timeout))
