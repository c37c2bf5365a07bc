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
from urllib.parse import urlsplit

import asyncpg
import pytest
from sqlalchemy.engine import Connection

from aion_core.errors import StoreUnavailableError
from aion_core.events import Payload, SignalReceived, WorkflowStarted
from aion_core.store.projection import batch_for
from aion_core.store.records import AppendBatch
from aion_core.testing.relay import TcpRelay
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
    # Retried for up to 2 s + 2 x 0.3 s; the holder lets go after 1 s, well past one
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


async def test_a_session_frozen_half_way_through_sending_an_append_is_ended_by_the_server(
    fresh_postgres_url: str,
) -> None:
    # The frozen process holds the stream's lock (its compare-and-set ran) and stops in
    # the middle of sending the events (its writes stall in the relay). Sent as one
    # statement, the server sees a transaction idle between statements and ends it; were
    # they streamed as an executemany, the server would wait for the rest of it, locks
    # held, for as long as the process stays frozen.
    target = urlsplit(fresh_postgres_url)
    async with TcpRelay(target.hostname or "127.0.0.1", target.port or 5432) as relay:
        relayed = target._replace(netloc=f"{target.username}@127.0.0.1:{relay.port}").geturl()
        frozen_url = f"{relayed}?idle_in_transaction_session_timeout=1000"
        url = f"{fresh_postgres_url}?lock_timeout=300&idle_in_transaction_session_timeout=5000"
        async with SqlEventStore(frozen_url) as frozen, SqlEventStore(url) as store:
            assert await store.append([_start("held")]) == [None]
            large = Payload(metadata={"encoding": "json/plain"}, data=b"1" * 4096)
            signals = [SignalReceived(signal_name="s", args=(large,)) for _ in range(500)]
            events = make_events("held", signals, after_seq=1)
            relay.stall_after(64 * 1024)  # the statements before the events' ~2 MB pass
            sending = asyncio.create_task(frozen.append([AppendBatch("held", 1, tuple(events))]))
            await asyncio.wait_for(relay.stalled.wait(), HANG)
            await asyncio.sleep(0.2)  # the rest of the first write reaches the server
            assert await asyncio.wait_for(store.append([_signal("held", 1)]), HANG) == [None]
            with pytest.raises(StoreUnavailableError):
                await asyncio.wait_for(sending, HANG)  # the frozen process, back, learns so
            assert [e.seq for e in await store.read_events("held")] == [1, 2]


async def test_a_session_stalled_half_way_through_a_statement_is_ended_for_an_append(
    fresh_postgres_url: str,
) -> None:
    # A process frozen right after asyncpg prepared a statement new to its connection
    # (Parse, Describe, Flush; the Bind and Sync never come): the server waits on it,
    # no timeout of its own applies, and its lock stays for as long as it is frozen.
    url = f"{fresh_postgres_url}?lock_timeout=300&idle_in_transaction_session_timeout=1000"
    async with SqlEventStore(url) as store:
        assert await store.append([_start("held")]) == [None]
        frozen = await _hold_the_lock_of(fresh_postgres_url, "held")
        observer = await asyncpg.connect(fresh_postgres_url)
        try:
            await frozen.prepare("SELECT 1")
            assert await asyncio.wait_for(store.append([_signal("held", 1)]), HANG) == [None]
            gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $1"
            assert await observer.fetchval(gone, frozen.get_server_pid())  # the append ended it
        finally:
            frozen.terminate()
            await observer.close()
        assert [e.seq for e in await store.read_events("held")] == [1, 2]


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
    assert config.lock_wait == 11.0
    assert tuned.lock_wait == 0.0  # lock waits never time out
    assert dict(tuned.sqlalchemy_url.query) == {}
