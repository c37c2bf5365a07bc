"""Driver errors mapped to aion's error types, so no raw driver exception leaves the store.

`StoreUnavailableError` (retry later) covers what passes by itself or by an
operator's hand: the server unreachable or restarting, the connection lost,
the file locked by another writer for too long, the disk full, a deadlock.
Everything else is a `StoreError`. Messages name the store by its redacted
URL and carry the driver's own reason, never the SQL parameters (payloads).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import asyncpg  # type: ignore[import-untyped]  # (ships no type information)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from aion_core.errors import AionError, ConfigurationError, StoreError, StoreUnavailableError

__all__ = [
    "SchemaState",
    "SchemaVersionError",
    "is_deadlock",
    "is_lock_timeout",
    "store_errors",
    "translate",
]

DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
"""What the drivers raise, directly or wrapped by SQLAlchemy."""

# SQLite primary result codes that pass: busy/locked by another connection,
# out of memory, I/O error, disk full, file not openable right now, lock protocol.
_SQLITE_TRANSIENT = frozenset({5, 6, 7, 10, 13, 14, 15})
# PostgreSQL SQLSTATE classes and codes that pass: connection exceptions,
# transaction rollback (serialization failure, deadlock), insufficient resources
# (disk full, out of memory, too many connections), operator intervention
# (shutdown, crash recovery, cannot connect now), lock not available.
_POSTGRES_TRANSIENT_CLASSES = ("08", "40", "53", "57")
_DEADLOCK = "40P01"
"""PostgreSQL's SQLSTATE for a transaction chosen to break a deadlock."""
_LOCK_NOT_AVAILABLE = "55P03"
"""PostgreSQL's SQLSTATE for a lock waited on longer than ``lock_timeout``."""
_POSTGRES_TRANSIENT_CODES = frozenset({_LOCK_NOT_AVAILABLE})


class SchemaState(StrEnum):
    """How a database's schema relates to the one this version of aion-store-sql uses."""

    EMPTY = "empty"
    """No aion tables and no schema version: `init` (or opening the store) creates them."""
    OLDER = "older"
    """Made by an older aion: ``aion store migrate`` brings it up to date."""
    CURRENT = "current"
    """Exactly the schema this code reads and writes."""
    NEWER = "newer"
    """At a revision this code does not know: a newer aion migrated it."""


class SchemaVersionError(ConfigurationError):
    """The database's schema is not the one this aion-store-sql understands.

    Attributes:
        url: The store, secrets removed.
        state: How the schema differs.
        current: The database's schema revision (None when it has none).
        head: The revision this code needs.
    """

    def __init__(self, url: str, state: SchemaState, current: str | None, head: str) -> None:
        self.url = url
        self.state = state
        self.current = current
        self.head = head
        at = f"revision {current!r}" if current else "no revision (base)"
        if state is SchemaState.NEWER:
            advice = (
                "this version of aion-store-sql does not know that revision, so a newer aion "
                "migrated the database: upgrade aion-store-sql (pip install -U aion-store-sql)"
            )
        elif state is SchemaState.OLDER:
            advice = (
                f"this aion-store-sql needs {head!r}: back up the database, then run "
                f"`aion store migrate` with --store {url}"
            )
        else:
            advice = f"this aion-store-sql needs {head!r}"
        super().__init__(f"the aion schema of {url} is at {at}; {advice}")


def is_deadlock(error: DBAPIError) -> bool:
    """Whether PostgreSQL rolled the transaction back to break a deadlock."""
    return getattr(error.orig, "sqlstate", None) == _DEADLOCK


def is_lock_timeout(error: DBAPIError) -> bool:
    """Whether a PostgreSQL statement gave up waiting for a row lock (``lock_timeout``)."""
    return getattr(error.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` is a condition that passes, so the operation may be retried."""
    if isinstance(error, OSError | TimeoutError | PoolTimeoutError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        return error.orig is not None and is_unavailable(error.orig)
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_TRANSIENT
    # asyncpg's client-side states: the connection is closed or was left mid-operation
    # (a lost server can leave it so); a retry gets a fresh connection from the pool.
    if isinstance(
        error,
        asyncpg.InterfaceError | asyncpg.InternalClientError | asyncpg.PostgresConnectionError,
    ):
        return True
    sqlstate = getattr(error, "sqlstate", None)
    if not isinstance(sqlstate, str):
        cause = error.__cause__
        return cause is not None and cause is not error and is_unavailable(cause)
    return sqlstate.startswith(_POSTGRES_TRANSIENT_CLASSES) or sqlstate in _POSTGRES_TRANSIENT_CODES


def _reason(error: BaseException, secret: str | None) -> str:
    # SQLAlchemy's own message adds the statement and its parameters (payload
    # bytes, possibly large or private); the driver's message is the reason.
    source = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = str(source).strip().splitlines()
    reason = lines[0] if lines else type(source).__name__
    return reason.replace(secret, "***") if secret else reason


def translate(error: BaseException, url: str, action: str, secret: str | None = None) -> StoreError:
    """The aion error for a driver error met while doing `action` on the store at `url`."""
    reason = _reason(error, secret)
    if is_unavailable(error):
        return StoreUnavailableError(
            f"SQL store {url} is unavailable while {action}: {reason}. "
            "Nothing of this operation is known to be written; retry when the database is back."
        )
    return StoreError(f"SQL store {url} failed while {action}: {reason}")


@contextmanager
def store_errors(url: str, action: str, secret: str | None = None) -> Iterator[None]:
    """Re-raise driver errors inside the block as `StoreError` / `StoreUnavailableError`.

    Args:
        url: The store's redacted URL, for the message.
        action: What was being done, as a phrase ("appending events").
        secret: A password to scrub from driver messages, if the URL has one.
    """
    try:
        yield
    except AionError:
        raise
    except DRIVER_ERRORS as error:
        raise translate(error, url, action, secret) from error
