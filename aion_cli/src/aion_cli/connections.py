"""Reaching what commands work on: the store directly, or live engines through the transport.

Store commands (`list`, `show`, `history`, `replay`, `queue`) read the store
and append nothing to it. Transport commands (`start`, `signal`, `result`, ...,
`schedule`) talk to engine nodes through a `Client`, which needs a transport
that leaves this process: ``inproc://`` only reaches an engine running in the
same process, and the CLI runs none for them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import click

from aion_cli.options import configured_max_payload_bytes
from aion_core import Client
from aion_core.engine import default_store_url
from aion_core.errors import (
    ConfigurationError,
    StoreError,
    TransportError,
    WorkflowNotFoundError,
)
from aion_core.events import Event
from aion_core.plugins import Plugins
from aion_core.store import EventStore, WorkflowRecord
from aion_core.urls import redact_url, url_scheme
from aion_store_sql import migrations
from aion_store_sql.config import SqliteConfig, parse_store_url
from aion_store_sql.migrations import SchemaState

__all__ = [
    "connect_client",
    "namespace_in",
    "read_store",
    "read_workflow",
    "run_with_client",
    "run_with_store",
    "store_url",
    "with_namespace",
]

_T = TypeVar("_T")

_IN_PROCESS_SCHEMES = frozenset({"inproc"})


def store_url(plugins: Plugins, store: str | None) -> str:
    """The store URL to use: the configured one, else the embedded default."""
    return store or default_store_url(plugins)


@asynccontextmanager
async def read_store(plugins: Plugins, store: str | None) -> AsyncIterator[EventStore]:
    """The configured store, opened for reading; closed afterwards.

    Raises:
        StoreError: It is a SQL database without aion tables, or a SQLite file that does
            not exist (reading must not create a store).
        UnknownURLSchemeError: No plugin handles the URL (exit code 2).
    """
    url = store_url(plugins, store)
    opened = plugins.event_store(url)  # an unknown scheme fails here, before any connection
    await _refuse_a_store_that_is_not_there(url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def read_workflow(opened: EventStore, workflow_id: str) -> tuple[WorkflowRecord, list[Event]]:
    """A workflow's visibility row and whole history, from an open store.

    Raises:
        WorkflowNotFoundError: No such workflow in the store.
    """
    record = await opened.get_workflow(workflow_id)
    if record is None:
        raise WorkflowNotFoundError(workflow_id)
    return record, await opened.read_events(workflow_id)


async def _refuse_a_store_that_is_not_there(url: str) -> None:
    """Raise `StoreError` when a SQL store has no aion schema: opening it would create one."""
    try:
        config = parse_store_url(url)
    except ConfigurationError:
        return  # not a SQL URL: the store plugin says what is wrong with it
    if isinstance(config, SqliteConfig) and not config.path.exists():
        raise StoreError(
            f"no store at {config.url}: the file {config.path.name} does not exist here; "
            "pass --store URL (or set AION_STORE, or store in aion.toml)"
        )
    status = await migrations.status(url)
    if status.state is SchemaState.EMPTY:
        raise StoreError(
            f"no store at {status.url}: the database holds no aion tables; pass the store "
            "the engines use (--store URL), or create one with aion store init"
        )


def namespace_in(transport: str) -> str | None:
    """The ``namespace=`` a transport URL gives, if any."""
    return parse_qs(urlsplit(transport).query).get("namespace", [None])[0]


def with_namespace(transport: str, namespace: str | None) -> str:
    """`transport` with ``namespace=`` added when it names none and `namespace` is given.

    A namespace in the URL wins over ``--namespace``: the URL is the more specific setting.
    """
    if namespace is None or namespace_in(transport) is not None:
        return transport
    separator = "&" if "?" in transport else "?"
    return f"{transport}{separator}namespace={namespace}"


@asynccontextmanager
async def connect_client(
    plugins: Plugins, transport: str, namespace: str | None, timeout: float = 30.0
) -> AsyncIterator[Client]:
    """A `Client` connected to the engines on `transport`; disconnected afterwards.

    Raises:
        TransportError: `transport` cannot reach engines in other processes (inproc://),
            or cannot be reached (exit code 1).
        UnknownURLSchemeError: No plugin handles the URL (exit code 2).
    """
    if url_scheme(transport, kind="transport") in _IN_PROCESS_SCHEMES:
        raise TransportError(
            f"{redact_url(transport)} only reaches an engine inside this process, and this "
            "command runs none; pass --transport nats://HOST:4222 (or set AION_TRANSPORT, or "
            "transport in aion.toml) to reach the engine nodes started with aion serve"
        )
    seconds = timedelta(seconds=timeout)
    # The limit comes from AION_MAX_PAYLOAD_BYTES or aion.toml: set once for every command.
    max_payload_bytes = configured_max_payload_bytes(click.get_current_context(silent=True))
    client = await Client.connect(
        with_namespace(transport, namespace),
        plugins=plugins,
        call_timeout=seconds,
        query_timeout=seconds,
        identity=f"aion-cli@{socket.gethostname()}",
        max_payload_bytes=max_payload_bytes,
    )
    async with client:
        yield client


def run_with_client(
    plugins: Plugins,
    transport: str,
    namespace: str | None,
    timeout: float,
    action: Callable[[Client], Awaitable[_T]],
) -> _T:
    """Connect a client, run `action` with it, disconnect: what every transport command does."""

    async def run() -> _T:
        async with connect_client(plugins, transport, namespace, timeout) as client:
            return await action(client)

    return asyncio.run(run())


def run_with_store(
    plugins: Plugins, store: str | None, action: Callable[[EventStore], Awaitable[_T]]
) -> _T:
    """Open the store for reading, run `action` with it, close it: what store commands do."""

    async def run() -> _T:
        async with read_store(plugins, store) as opened:
            return await action(opened)

    return asyncio.run(run())
