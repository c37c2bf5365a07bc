"""SQLite specifics: WAL, durability from the URL, one writer with concurrent readers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from aion_core.events import SignalReceived
from aion_core.group_commit import GroupCommitter
from aion_core.store.projection import batch_for
from aion_core.testing.store_contract import make_events
from aion_store_sql import SqlEventStore
from aion_store_sql.config import SqliteConfig, parse_store_url
from aion_store_sql.database import _sqlite_engine


@pytest.mark.parametrize(("level", "pragma_value"), [("full", 2), ("normal", 1), ("off", 0)])
async def test_durability_comes_from_the_url_and_the_journal_is_wal(
    tmp_path: Path, level: str, pragma_value: int
) -> None:
    path = tmp_path / "aion.db"
    async with SqlEventStore(f"sqlite:///{path}?synchronous={level}") as store:
        synchronous = await store._db.write(
            lambda connection: connection.exec_driver_sql("PRAGMA synchronous").scalar()
        )
        assert synchronous == pragma_value
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_new_file_takes_8_kib_pages_and_an_existing_file_keeps_its_own(
    tmp_path: Path,
) -> None:
    new, existing = tmp_path / "new.db", tmp_path / "existing.db"
    with sqlite3.connect(existing) as made_elsewhere:
        made_elsewhere.execute("CREATE TABLE other (x)")
    assert _page_size(existing) == 4096
    for path in (new, existing):
        async with SqlEventStore(f"sqlite:///{path}") as store:
            events = make_events("w", [SignalReceived(signal_name="a")])
            await store.append([batch_for(None, 0, events)])
            assert await store.read_events("w") == events
    assert (_page_size(new), _page_size(existing)) == (8192, 4096)


def test_connections_opening_one_new_file_at_once_all_open(tmp_path: Path) -> None:
    # Each switches the new file to WAL mode; SQLite turns all but one away at once
    # ("database is locked") without waiting through its busy handler; the store waits.
    failures: list[BaseException] = []
    for trial in range(50):
        config = parse_store_url(f"sqlite:///{tmp_path / f'new-{trial}.db'}")
        assert isinstance(config, SqliteConfig)
        engines = [_sqlite_engine(config, begin="BEGIN", pool_size=1) for _ in range(6)]
        together = threading.Barrier(len(engines))

        def connect(engine: Engine, together: threading.Barrier) -> None:
            together.wait()
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1")
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=connect, args=(e, together)) for e in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for engine in engines:
            engine.dispose()
    assert failures == []


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as check:
        size: int = check.execute("PRAGMA page_size").fetchone()[0]
        return size


async def test_readers_are_not_blocked_by_a_write_in_progress(tmp_path: Path) -> None:
    async with SqlEventStore(f"sqlite:///{tmp_path / 'aion.db'}") as store:
        events = make_events("w", [SignalReceived(signal_name="a")])
        await store.append([batch_for(None, 0, events)])
        writing, release = threading.Event(), threading.Event()

        def long_write(connection: Connection) -> None:
            writing.set()
            release.wait(10)

        # The write lock is held (as during a long commit); reads see the last commit.
        write = asyncio.ensure_future(store._db.write(long_write))
        await asyncio.to_thread(writing.wait, 10)
        try:
            assert await asyncio.wait_for(store.read_events("w"), timeout=2) == events
        finally:
            release.set()
            await write


async def test_appends_from_many_streams_share_commits(tmp_path: Path) -> None:
    async with SqlEventStore(f"sqlite:///{tmp_path / 'aion.db'}") as store:
        committer = GroupCommitter(store)

        async def stream(n: int) -> None:
            for seq in range(5):
                events = make_events(f"s{n}", [SignalReceived(signal_name="x")], after_seq=seq)
                await committer.append(batch_for(None, seq, events))

        await asyncio.gather(*(stream(n) for n in range(200)))
        assert [await store.last_seq(f"s{n}") for n in (0, 99, 199)] == [5, 5, 5]
        # 1,000 appends; one commit each would be 1,000.
        assert committer.commits <= 50
