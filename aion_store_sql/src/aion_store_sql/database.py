"""Connections and transactions: where SQLite and PostgreSQL differ in how they are driven.

Every query of the store is a plain function of a SQLAlchemy `Connection`;
`Database.write` runs one in a write transaction, `Database.read` a lookup
(one statement reading a few rows by key) and `Database.scan` any read, each
seeing committed data only, and each returns its result to the event loop.

* PostgreSQL: an async engine (asyncpg) with a connection pool; the function
  runs through ``AsyncConnection.run_sync``, each statement awaiting the
  server without blocking the loop. READ COMMITTED; appends to one stream
  serialise on its head row (see `aion_store_sql.append`).
* SQLite: the standard ``sqlite3`` driver. All writes go through one
  connection, one at a time, and start with ``BEGIN IMMEDIATE``: it takes the
  file's write lock up front (other processes wait up to ``busy_timeout``), so
  what a write reads stays true until it commits and it never fails half-way
  on a lock. A large write runs in the writer thread, so the event loop goes
  on (and gathers the next group commit) while it is written; a write of a
  few rows (`Database.write_few`) runs on the caller's thread when no other
  write is under way, because the hand-off to a thread and back costs more
  than such a write (a quarter of a millisecond each way, measured here,
  against a WAL commit of 0.1-0.2 ms). Either costs at most one hand-off, not
  one per statement as an async SQLite driver would (about 0.6 ms per
  statement through SQLAlchemy's aiosqlite adapter, measured). In WAL mode
  reads see the last commit and never wait on a write: a lookup runs on the
  caller's own thread, on a connection kept for that thread (reading rows by
  key takes SQLite microseconds); scans run in a small pool of reader threads.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, Pool, QueuePool

from aion_core.errors import ConfigurationError, StoreUnavailableError
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
        StoreUnavailableError: A SQLite file, or its folder, is read-only.
    """

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._backend: _SqliteBackend | _PostgresBackend
        if isinstance(config, SqliteConfig):
            if not config.path.parent.is_dir():
                raise ConfigurationError(
                    f"{config.url}: folder {config.path.parent} does not exist; create it first"
                )
            _check_writable(config)
            self._backend = _SqliteBackend(config)
        else:
            self._backend = _PostgresBackend(config)

    async def write(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``work(connection, ...)`` in a write transaction: committed when it returns."""
        return await self._backend.write(work, *args, **kwargs)

    async def write_few(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """`write` for a transaction of a few rows: on SQLite, on the caller's thread when it can.

        The caller's thread waits for the commit (and its fsync); see the module docstring.
        """
        return await self._backend.write_few(work, *args, **kwargs)

    async def read(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``work(connection, ...)``, one statement reading a few rows by key.

        It sees one commit: on PostgreSQL it runs outside a transaction (a statement
        is one), on SQLite on the caller's thread (see the module docstring), so it
        must not read more than a history's worth of rows.
        """
        return await self._backend.read(work, *args, **kwargs)

    async def scan(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``work(connection, ...)`` for reads of any size; it sees committed data only."""
        return await self._backend.scan(work, *args, **kwargs)

    async def dispose(self) -> None:
        """Close every connection."""
        await self._backend.dispose()


def _check_writable(config: SqliteConfig) -> None:
    """Refuse a database SQLite could not write: it would fail on open, saying less.

    Raises:
        StoreUnavailableError: The file, or its folder, is read-only.
    """
    folder, path = config.path.parent, config.path
    for where in (path, folder) if path.exists() else (folder,):
        if not os.access(where, os.W_OK):
            raise StoreUnavailableError(
                f"{config.url}: {where} is read-only; SQLite writes the database and, next to "
                "it, its -wal and -shm files. Make it writable (or mount it read-write) and "
                "open the store again"
            )


class _PostgresBackend:
    def __init__(self, config: PostgresConfig) -> None:
        self._engine: AsyncEngine = create_async_engine(
            config.sqlalchemy_url,
            pool_size=config.pool_size,
            max_overflow=config.max_overflow,
            connect_args={"server_settings": config.server_settings},
        )
        # A lookup is one statement, which sees one commit on its own: without
        # a transaction around it, it takes one round trip instead of three.
        self._lookups = self._engine.execution_options(isolation_level="AUTOCOMMIT")

    async def write(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        async with self._engine.begin() as connection:
            return await connection.run_sync(work, *args, **kwargs)

    async def read(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        async with self._lookups.connect() as connection:
            return await connection.run_sync(work, *args, **kwargs)

    async def scan(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        async with self._engine.connect() as connection:
            return await connection.run_sync(work, *args, **kwargs)

    write_few = write

    async def dispose(self) -> None:
        await self._engine.dispose()


class _SqliteBackend:
    def __init__(self, config: SqliteConfig) -> None:
        self._writer = _SqliteWriter(_sqlite_engine(config, begin=None))
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="aion-sqlite-writer")
        self._reader = _sqlite_engine(config, begin="BEGIN", pool_size=_SQLITE_READERS)
        self._reader_threads = ThreadPoolExecutor(
            _SQLITE_READERS, thread_name_prefix="aion-sqlite-reader"
        )
        self._lookups = _ThreadConnections(_sqlite_engine(config, begin=None, pool=NullPool))

    async def write(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        # Once started, a transaction runs to its end even if the caller stops
        # waiting (a thread cannot be interrupted); its outcome is then unknown
        # to the caller, exactly as for a commit cut off on the network.
        return await asyncio.get_running_loop().run_in_executor(
            self._writer_thread, partial(self._writer.run, work, *args, **kwargs)
        )

    async def write_few(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._writer.lock.acquire(blocking=False):
            try:
                return self._writer.transaction(work, *args, **kwargs)
            finally:
                self._writer.lock.release()
        return await self.write(work, *args, **kwargs)

    async def read(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        # One statement sees one commit: no BEGIN around it, no COMMIT after.
        connection = self._lookups.connection
        try:
            return work(connection, *args, **kwargs)
        finally:
            if connection.in_transaction():
                connection.rollback()  # SQLAlchemy's own bookkeeping; SQLite has none open

    async def scan(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        def transaction() -> _T:
            with self._reader.begin() as connection:
                return work(connection, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._reader_threads, transaction)

    async def dispose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer_thread, self._writer.close)
        await loop.run_in_executor(self._reader_threads, self._reader.dispose)
        self._lookups.close()
        self._writer_thread.shutdown(wait=False)
        self._reader_threads.shutdown(wait=False)


class _SqliteWriter:
    """The one write connection of a SQLite store, kept open, one transaction at a time.

    Its transactions begin and end on the driver's connection, with ``BEGIN
    IMMEDIATE`` and ``COMMIT``: SQLAlchemy's transaction bookkeeping costs more
    than either statement, and every append is a transaction. A statement run
    through SQLAlchemy inside one makes SQLAlchemy begin its own (SQLite is
    already in a transaction; its dialect sends nothing), which then commits
    or rolls back SQLite's.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self.lock = threading.Lock()
        """Held for a whole transaction, by whichever thread runs it."""

    def run(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Wait for the connection, then run ``work`` in a write transaction."""
        with self.lock:
            return self.transaction(work, *args, **kwargs)

    def transaction(self, work: Work[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``work`` in a write transaction; the caller holds `lock`."""
        connection = self._connection
        if connection is None:
            connection = self._connection = self._engine.connect()
        # Asked each time: SQLAlchemy replaces a connection it found broken.
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("BEGIN IMMEDIATE")
        try:
            result = work(connection, *args, **kwargs)
            if connection.in_transaction():
                connection.commit()
            else:
                driver.execute("COMMIT")
        except BaseException:
            if connection.in_transaction():
                connection.rollback()
            if driver.in_transaction:
                driver.execute("ROLLBACK")
            raise
        return result

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._engine.dispose()


class _ThreadConnections:
    """One open connection of `engine` per thread that asks, kept until `close`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._all: list[Connection] = []
        self._lock = threading.Lock()

    @property
    def connection(self) -> Connection:
        """This thread's connection."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._engine.connect()
            with self._lock:
                self._all.append(connection)
        return connection

    def close(self) -> None:
        """Close every thread's connection (each is closed from this thread: SQLite allows it)."""
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()
        self._local = threading.local()
        self._engine.dispose()


_SQLITE_PAGE_SIZE = 8192
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


def _sqlite_engine(
    config: SqliteConfig, *, begin: str | None, pool_size: int = 1, pool: type[Pool] = QueuePool
) -> Engine:
    """An engine on the file; `begin` starts its transactions (None: each statement is one)."""
    sizing = {"pool_size": pool_size, "max_overflow": 0} if pool is QueuePool else {}
    engine = create_engine(
        config.sqlalchemy_url,
        poolclass=pool,
        **sizing,
        # Connections are used by one thread at a time, but not always the same one.
        connect_args={"timeout": config.busy_timeout, "check_same_thread": False},
    )
    pragmas = (
        f"PRAGMA busy_timeout = {int(config.busy_timeout * 1000)}",
        # Before WAL mode fixes it, a new file takes 8 KiB pages (an existing one
        # keeps its own). SQLite writes and checksums a WAL frame per dirty page:
        # a group commit dirties one index leaf per workflow it touches, so larger
        # pages mean fewer frames for it, but a lone commit (about seven pages for
        # a step of W3) writes and fsyncs every byte of its pages, and sequential
        # latency grows with the page (see the store's README for the numbers).
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

    if begin is not None:

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            # On the driver's connection: SQLAlchemy's execution bookkeeping costs
            # more than the statement (every append begins a transaction).
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute(begin)

    return engine
