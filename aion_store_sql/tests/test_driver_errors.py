"""Driver errors become aion errors: unavailable (retry later) or a plain store failure."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from aion_core.errors import StoreError, StoreUnavailableError
from aion_core.events import SignalReceived
from aion_core.store.projection import batch_for
from aion_core.testing.store_contract import make_events
from aion_store_sql import SqlEventStore


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_an_unreachable_postgresql_is_unavailable_and_the_password_stays_secret() -> None:
    store = SqlEventStore(f"postgresql://aion:s3cret@127.0.0.1:{_closed_port()}/aion")
    with pytest.raises(StoreUnavailableError) as raised:
        await store.open()
    message = str(raised.value)
    assert "postgresql://aion:***@127.0.0.1" in message
    assert "s3cret" not in message
    assert "retry" in message


async def test_a_missing_postgresql_database_is_a_store_error(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/aion_no_such_database"
    with pytest.raises(StoreError, match="aion_no_such_database") as raised:
        await SqlEventStore(url).open()
    assert not isinstance(raised.value, StoreUnavailableError)


async def test_lost_postgresql_connections_are_unavailable_then_reconnect(
    fresh_postgres_url: str, postgres_url: str
) -> None:
    async with SqlEventStore(fresh_postgres_url) as store:
        await store.append(
            [batch_for(None, 0, make_events("w", [SignalReceived(signal_name="a")]))]
        )
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                fresh_postgres_url.rsplit("/", 1)[1],
            )
        finally:
            await admin.close()
        with pytest.raises(StoreUnavailableError):
            await store.last_seq("w")
        # Each pooled connection that died may fail one more call (how many the pool drops
        # at once depends on the SQLAlchemy version); a caller that retries gets through.
        for _attempt in range(5):
            try:
                assert await store.last_seq("w") == 1
                break
            except StoreUnavailableError:
                continue
        else:
            pytest.fail("the store did not reconnect")


async def test_a_sqlite_file_locked_too_long_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "aion.db"
    async with SqlEventStore(f"sqlite:///{path}?busy_timeout=0.2") as store:
        other_process = sqlite3.connect(path, isolation_level=None)
        other_process.execute("BEGIN IMMEDIATE")
        events = make_events("w", [SignalReceived(signal_name="a")])
        try:
            with pytest.raises(StoreUnavailableError, match="database is locked"):
                await store.append([batch_for(None, 0, events)])
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        assert await store.append([batch_for(None, 0, events)]) == [None]


async def test_a_store_that_is_not_open_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not open"):
        await SqlEventStore(f"sqlite:///{tmp_path / 'aion.db'}").last_seq("w")


async def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="not a database"):
        await SqlEventStore(f"sqlite:///{path}").open()
