"""PostgreSQL: a session that holds a stream's lock and goes quiet (a frozen process in the
middle of an append) stalls nothing for long.

Every store session runs with ``idle_in_transaction_session_timeout``: the server ends a
store session's transaction left idle, which frees its locks (and keeps a frozen node's
append from committing later). And with ``lock_timeout`` an append waiting on such a lock
stops waiting and tries again until the server has freed it; a lock still held after that
belongs to a session at work, and the append fails (`StoreUnavailableError`, nothing
written) instead of holding up every append queued behind it in the engine's group commit.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.engine import Connection

from aion_core.errors import StoreUnavailableError
from aion_core.events import SignalReceived, WorkflowStarted
from aion_core.store.projection import batch_for
from aion_core.store.records import AppendBatch
from aion_core.testing.store_contract import make_events
from aion_store_sql import SqlEventStore
from aion_store_sql.config import PostgresConfig, parse_store_url

HANG = 30.0
"""A bound that only a hang reaches."""


def _start(workflow_id: str) -> AppendBatch:
    return batch_for(None, 0, make_events(workflow_id, [WorkflowStarted(workflow_type="T")]))


def _signal(workflow_id: str, after_seq: int) -> AppendBatch:
    events = make_events(workflow_id, [SignalReceived(signal_name="s")], after_seq=after_seq)
    return AppendBatch(workflow_id, after_seq, tuple(events))


async def _hold_the_lock_of(url: str, workflow_id: str) -> asyncpg.Connection:
    """A session that takes a stream head's row lock in a transaction and goes quiet."""
    frozen = await asyncpg.connect(url)
    await frozen.execute("BEGIN")
    await frozen.execute(
        "SELECT 1 FROM aion_stream_heads WHERE workflow_id = $1 FOR UPDATE", workflow_id
    )
    return frozen


async def test_an_append_waiting_on_a_frozen_sessions_lock_goes_through_once_it_is_freed(
    fresh_postgres_url: str,
) -> None:
    # Retried for up to 0.3 s + 2 s; the holder lets go after 1 s, well past one
    # lock timeout: a store that gave up at the first timeout fails the append.
    url = f"{fresh_postgres_url}?lock_timeout=300&idle_in_transaction_session_timeout=2000"
    async with SqlEventStore(url) as store:
        assert await store.append([_start("held"), _start("free")]) == [None, None]
        frozen = await _hold_the_lock_of(fresh_postgres_url, "held")
        try:
            waiting = asyncio.create_task(store.append([_signal("held", 1)]))
            # Appends to other streams go on meanwhile.
            assert await asyncio.wait_for(store.append([_signal("free", 1)]), HANG) == [None]
            await asyncio.sleep(1.0)
            assert not waiting.done()
        finally:
            await frozen.close()  # the server ends the frozen session's transaction
        assert await asyncio.wait_for(waiting, HANG) == [None]
        assert await store.last_seq("held") == 2


async def test_an_append_fails_when_the_lock_is_held_longer_than_the_server_allows_idling(
    fresh_postgres_url: str,
) -> None:
    # This holder is not a store session (no idle timeout of its own): past the bound,
    # the lock belongs to a session at work, and the append fails, writing nothing.
    url = f"{fresh_postgres_url}?lock_timeout=200&idle_in_transaction_session_timeout=400"
    async with SqlEventStore(url) as store:
        assert await store.append([_start("held")]) == [None]
        frozen = await _hold_the_lock_of(fresh_postgres_url, "held")
        try:
            with pytest.raises(StoreUnavailableError, match="lock"):
                await asyncio.wait_for(store.append([_signal("held", 1)]), HANG)
            assert await store.last_seq("held") == 1
        finally:
            await frozen.close()
        assert await store.append([_signal("held", 1)]) == [None]


def _setting(connection: Connection, name: str) -> str:
    return str(connection.exec_driver_sql(f"SHOW {name}").scalar_one())


async def test_the_server_ends_a_store_transaction_left_idle(fresh_postgres_url: str) -> None:
    url = f"{fresh_postgres_url}?idle_in_transaction_session_timeout=200"
    async with SqlEventStore(url) as store:
        # The store's own sessions carry the settings (read through its connection pool).
        database = store._db
        assert await database.read(_setting, "idle_in_transaction_session_timeout") == "200ms"
        assert await database.read(_setting, "lock_timeout") == "3s"
    config = parse_store_url(url)
    assert isinstance(config, PostgresConfig)
    # A session opened as the store opens its own (same server settings), left idle.
    session = await asyncpg.connect(fresh_postgres_url, server_settings=config.server_settings)
    try:
        await session.execute("BEGIN")
        await session.execute("SELECT 1 FROM aion_stream_heads WHERE workflow_id = 'w' FOR UPDATE")
        await asyncio.sleep(1.0)
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
            await session.execute("SELECT 1")
    finally:
        await session.close()


def test_the_timeouts_are_url_parameters_with_defaults() -> None:
    config = parse_store_url("postgresql://db/aion")
    assert isinstance(config, PostgresConfig)
    assert config.server_settings == {
        "lock_timeout": "3000",
        "idle_in_transaction_session_timeout": "5000",
    }
    tuned = parse_store_url(
        "postgresql://db/aion?lock_timeout=0&idle_in_transaction_session_timeout=9"
    )
    assert isinstance(tuned, PostgresConfig)
    assert (tuned.lock_timeout_ms, tuned.idle_in_transaction_ms) == (0, 9)
    # An append retries a timed-out lock wait until the server has ended an idle holder.
    assert config.lock_wait == 8.0
    assert tuned.lock_wait == 0.0  # lock waits never time out
    assert dict(tuned.sqlalchemy_url.query) == {}
