"""Connections and transactions: where SQLite and PostgreSQL differ in how they are driven.

Every query of the store is a plain function of a SQLAlchemy `Connection`;
`Database.write` runs one in a write transaction, `Database.read` in a read
transaction, and both return its result to the event loop.

* PostgreSQL: an async engine (asyncpg) with a connection pool; the function
  runs through ``AsyncConnection.run_sync``, each statement awaiting the
  server without blocking the loop. READ COMMITTED; appends to one stream
  serialise on its head row (see `aion_store_sql.append`).
* SQLite: the standard ``sqlite3`` driver, whole transactions in threads. All
  writes go through one connection in one writer thread, so they queue in
  order without a lock, and start with ``BEGIN IMMEDIATE``: it takes the file's
  write lock up front (other processes wait up to ``busy_timeout``), so what a
  write reads stays true until it commits and it never fails half-way on a
  lock. Reads run in a small pool of reader threads; in WAL mode they proceed
  while a write commits and see the last commit. A transaction costs one
  thread hand-off, not one per statement as an async SQLite driver would
  (about 0.6 ms per statement through SQLAlchemy's aiosqlite adapter, measured,
  against a fsync of about 1 ms), so a lone append costs little more than its fsync.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from aion_core.errors import ConfigurationError
from aion_store_sql.config import PostgresConfig, SqliteConfig, StoreConfig

__all__ = ["Database"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
Work = Callable[Concatenate[Connection, _P], _T]

_SQLITE_READERS = 4


class Database:
    """The engine(s) of one store and the transactions its queries run in.

    Args:
        config: What to connect to, from `aion_store_sql.config.parse_store_url`.

    Raises:
        ConfigurationError: The folder of a SQLite file does not exist.
    """

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._backend: _SqliteBackend | _PostgresBackend
        if isinstance(config, SqliteConfig):
            if not config.path.parent.is_dir():
                raise ConfigurationError(
                    f"{config.url}: folder {config.path.parent} does not exist; create it first"
                )
            self._backend = _SqliteBackend(config)
        else:
            self._backend = _PostgresBackend(config)

    async def write(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``work(connection, ...)`` in a write transaction: committed when it returns."""
        return await self._backend.write(work, *args, **kwargs)

    async def read(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``work(connection, ...)`` for reads; it sees committed data only."""
        return await self._backend.read(work, *args, **kwargs)

    async def dispose(self) -> None:
        """Close every connection."""
        await self._backend.dispose()


class _PostgresBackend:
    def __init__(self, config: PostgresConfig) -> None:
        self._engine: AsyncEngine = create_async_engine(
            config.sqlalchemy_url, pool_size=config.pool_size, max_overflow=config.max_overflow
        )

    async def write(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        async with self._engine.begin() as connection:
            return await connection.run_sync(work, *args, **kwargs)

    async def read(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        async with self._engine.connect() as connection:
            return await connection.run_sync(work, *args, **kwargs)

    async def dispose(self) -> None:
        await self._engine.dispose()


class _SqliteBackend:
    def __init__(self, config: SqliteConfig) -> None:
        self._writer = _sqlite_engine(config, begin="BEGIN IMMEDIATE", pool_size=1)
        self._reader = _sqlite_engine(config, begin="BEGIN", pool_size=_SQLITE_READERS)
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="aion-sqlite-writer")
        self._reader_threads = ThreadPoolExecutor(
            _SQLITE_READERS, thread_name_prefix="aion-sqlite-reader"
        )

    async def write(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await self._run(self._writer_thread, self._writer, work, *args, **kwargs)

    async def read(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await self._run(self._reader_threads, self._reader, work, *args, **kwargs)

    @staticmethod
    async def _run(
        threads: ThreadPoolExecutor,
        engine: Engine,
        work: Work[_P, _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        def transaction() -> _T:
            with engine.begin() as connection:
                return work(connection, *args, **kwargs)

        # Once started, a transaction runs to its end even if the caller stops
        # waiting (a thread cannot be interrupted); its outcome is then unknown
        # to the caller, exactly as for a commit cut off on the network.
        return await asyncio.get_running_loop().run_in_executor(threads, transaction)

    async def dispose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer_thread, self._writer.dispose)
        await loop.run_in_executor(self._reader_threads, self._reader.dispose)
        self._writer_thread.shutdown(wait=False)
        self._reader_threads.shutdown(wait=False)


_SQLITE_PAGE_SIZE = 16384
_LOCKED_RETRY_PAUSE = 0.01


def _execute_when_unlocked(cursor: sqlite3.Cursor, statement: str, timeout: float) -> None:
    """Run `statement`, asking again for up to `timeout` s while the file is locked.

    Processes opening a new file at once all switch it to WAL mode; SQLite
    answers the losers "database is locked" at once, without waiting through
    its busy handler, so the wait is done here.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute(statement)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(_LOCKED_RETRY_PAUSE)


def _sqlite_engine(config: SqliteConfig, *, begin: str, pool_size: int) -> Engine:
    engine = create_engine(
        config.sqlalchemy_url,
        pool_size=pool_size,
        max_overflow=0,
        # Connections are used by one thread at a time, but not always the same one.
        connect_args={"timeout": config.busy_timeout, "check_same_thread": False},
    )
    pragmas = (
        f"PRAGMA busy_timeout = {int(config.busy_timeout * 1000)}",
        # Before WAL mode fixes it, a new file takes 16 KiB pages (an existing one
        # keeps its own): a group commit dirties one index leaf per workflow it
        # touches, and SQLite writes and checksums a WAL frame per page, so
        # fewer, larger pages halve the cost of a thousand-stream commit; a
        # lone commit costs the same.
        f"PRAGMA page_size = {_SQLITE_PAGE_SIZE}",
        "PRAGMA journal_mode = WAL",
        f"PRAGMA synchronous = {config.synchronous.upper()}",
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 module would begin transactions itself, and never
        # IMMEDIATE; turn that off and begin them below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            _execute_when_unlocked(cursor, pragma, config.busy_timeout)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    return engine
