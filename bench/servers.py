"""Where the benchmarks keep state: a temp SQLite file, a fresh PostgreSQL database, NATS.

PostgreSQL and NATS are the machine's (``AION_BENCH_POSTGRES_URL`` /
``AION_BENCH_NATS_URL``, else the test suite's ``AION_TEST_*`` variables, else
the local defaults). Each run gets a database and a NATS namespace of its own,
removed afterwards, so runs never see each other's data.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "fresh_postgres_database",
    "nats_namespace",
    "nats_server_url",
    "postgres_server_url",
    "sqlite_file",
]

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


def postgres_server_url() -> str:
    """The PostgreSQL server to create bench databases on (its database is only connected to)."""
    return (
        os.environ.get("AION_BENCH_POSTGRES_URL")
        or os.environ.get("AION_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL
    )


def nats_server_url() -> str:
    """The NATS server (with JetStream) to run the distributed workloads on."""
    return (
        os.environ.get("AION_BENCH_NATS_URL")
        or os.environ.get("AION_TEST_NATS_URL")
        or DEFAULT_NATS_URL
    )


@contextlib.contextmanager
def sqlite_file(name: str = "bench.db", options: str = "?synchronous=full") -> Iterator[str]:
    """The URL of a SQLite file in a new temp folder, removed after.

    `options` end the URL: aion's store takes its durability there (full by default).
    """
    with tempfile.TemporaryDirectory(prefix="aion-bench-") as folder:
        yield f"sqlite:///{Path(folder) / name}{options}"


@contextlib.asynccontextmanager
async def fresh_postgres_database(server_url: str | None = None) -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    import asyncpg  # only the PostgreSQL workloads need it

    server = server_url or postgres_server_url()
    name = f"aion_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(server))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(server, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def nats_namespace(server_url: str | None = None) -> AsyncIterator[str]:
    """A transport URL with a namespace of its own; its streams are deleted afterwards."""
    from aion_transport_nats.connection import connect as connect_nats
    from aion_transport_nats.streams import StreamNames, delete_namespace

    server = server_url or nats_server_url()
    names = StreamNames(f"bench{uuid.uuid4().hex[:10]}")
    try:
        yield f"{server}?namespace={names.namespace}"
    finally:
        client = await connect_nats(server, name="aion-bench-cleanup")
        try:
            await delete_namespace(client.jetstream(), names)
        finally:
            await client.close()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _asyncpg_dsn(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]  # postgresql+asyncpg -> postgresql
    return urlunsplit(parts._replace(scheme=scheme))
