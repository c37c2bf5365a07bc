"""Store URLs: what ``sqlite:///...`` and ``postgresql://...`` mean, checked before connecting.

* ``sqlite:///relative.db`` (to the working directory) or ``sqlite:////abs/path.db``;
  ``?synchronous=full`` (the default: a commit survives power loss), ``normal``
  (survives a crash of the process, not of the machine) or ``off``;
  ``?busy_timeout=SECONDS`` (default 5): how long a writer waits for another process.
* ``postgresql://user:password@host:port/db`` (also ``postgres://`` and
  ``postgresql+asyncpg://``); ``?pool_size=N`` and ``?max_overflow=N`` size the
  connection pool, ``?sslmode=`` maps to asyncpg's ``ssl``;
  ``?lock_timeout=MS`` (default 3000) bounds how long a write waits for a row
  another session holds, and ``?idle_in_transaction_session_timeout=MS``
  (default 5000) makes the server end a transaction its client left idle (a
  frozen process holding locks), both PostgreSQL settings of every session
  (0: no limit); any other parameter goes to asyncpg as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from aion_core.errors import ConfigurationError
from aion_core.urls import redact_url, url_scheme

__all__ = [
    "POSTGRESQL_SCHEMES",
    "SQLITE_SCHEMES",
    "PostgresConfig",
    "SqliteConfig",
    "StoreConfig",
    "parse_store_url",
]

SQLITE_SCHEMES = frozenset({"sqlite", "sqlite+aiosqlite"})
POSTGRESQL_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+asyncpg"})

Synchronous = Literal["full", "normal", "off"]
_SYNCHRONOUS: dict[str, Synchronous] = {"full": "full", "normal": "normal", "off": "off"}
_SQLITE_PARAMETERS = ("synchronous", "busy_timeout")


@dataclass(frozen=True, slots=True)
class SqliteConfig:
    """A SQLite store: one file, one writer at a time, readers alongside (WAL).

    Attributes:
        url: The URL as given, secrets removed.
        path: The database file, absolute.
        synchronous: SQLite's ``PRAGMA synchronous``: how durable a commit is.
        busy_timeout: Seconds a writer waits for another process's write to finish.
    """

    url: str
    path: Path
    synchronous: Synchronous = "full"
    busy_timeout: float = 5.0

    @property
    def password(self) -> None:
        """SQLite URLs hold no secret."""
        return None

    @property
    def sqlalchemy_url(self) -> URL:
        """The URL for SQLAlchemy's driver on the standard ``sqlite3`` module."""
        return URL.create("sqlite", database=str(self.path))


@dataclass(frozen=True, slots=True)
class PostgresConfig:
    """A PostgreSQL store reached through asyncpg with a connection pool.

    Attributes:
        url: The URL as given, secrets removed.
        sqlalchemy_url: The URL for SQLAlchemy's asyncpg driver (holds the password).
        pool_size: Connections kept open.
        max_overflow: Connections opened beyond `pool_size` under load.
        lock_timeout_ms: PostgreSQL's ``lock_timeout`` for every session: a write that
            waits longer for a lock fails (retryable) instead of stalling every write
            queued behind it; schema changes lift it.
        idle_in_transaction_ms: PostgreSQL's ``idle_in_transaction_session_timeout``:
            the server aborts a transaction left idle this long, and so frees its locks
            (a process frozen mid-append must not hold them, nor commit much later).
    """

    url: str
    sqlalchemy_url: URL
    pool_size: int = 5
    max_overflow: int = 10
    lock_timeout_ms: int = 3000
    idle_in_transaction_ms: int = 5000

    @property
    def server_settings(self) -> dict[str, str]:
        """The settings every session starts with."""
        return {
            "lock_timeout": str(self.lock_timeout_ms),
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_ms),
        }

    @property
    def lock_wait(self) -> float:
        """Seconds an append keeps retrying a lock wait that timed out; 0 when it does not.

        A lock held past ``lock_timeout`` by a process frozen mid-append is freed
        once its session has been stalled for ``idle_in_transaction_session_timeout``:
        by the server (a transaction idle between statements) or by the waiting append
        itself (a session stalled half-way through a statement: see
        `aion_store_sql.stalled`). Retried until a lock wait past that, the append goes
        through. A lock still held after that belongs to a session at work, and the
        append fails. Without either timeout, lock waits do not time out, or nothing
        is stalled long enough to be ended, so there is nothing to wait for.
        """
        if self.lock_timeout_ms <= 0 or self.idle_in_transaction_ms <= 0:
            return 0.0
        return (self.idle_in_transaction_ms + 2 * self.lock_timeout_ms) / 1000

    @property
    def password(self) -> str | None:
        """The password, so messages can be scrubbed of it."""
        return self.sqlalchemy_url.password if self.sqlalchemy_url.password else None


StoreConfig = SqliteConfig | PostgresConfig


def parse_store_url(url: str) -> StoreConfig:
    """Check a ``sqlite://`` or ``postgresql://`` URL and say how to connect.

    Raises:
        ConfigurationError: The URL is malformed, names another scheme, or has a parameter
            with a value this store does not accept; the message names the allowed values.
    """
    scheme = url_scheme(url)
    redacted = redact_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(f"{redacted!r} is not a valid store URL") from None
    except ValueError:  # SQLAlchemy's int() of the port, uncaught there
        raise ConfigurationError(
            f"{redacted!r} is not a valid store URL: its port is not a number"
        ) from None
    if scheme in SQLITE_SCHEMES:
        return _sqlite(parsed, redacted)
    if scheme in POSTGRESQL_SCHEMES:
        return _postgres(parsed, redacted)
    raise ConfigurationError(f"aion-store-sql does not handle {redacted!r}")


def _single(url: str, name: str, value: str | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        raise ConfigurationError(f"{url!r}: parameter {name!r} is given more than once")
    return value


def _sqlite(parsed: URL, url: str) -> SqliteConfig:
    if not parsed.database or parsed.database == ":memory:" or parsed.host:
        raise ConfigurationError(
            f"{url!r} names no database file; use sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db (memory:// is the in-process store)"
        )
    unknown = sorted(set(parsed.query) - set(_SQLITE_PARAMETERS))
    if unknown:
        raise ConfigurationError(
            f"{url!r}: unknown parameter {unknown[0]!r}; "
            f"SQLite store URLs accept {', '.join(_SQLITE_PARAMETERS)}"
        )
    given = _single(url, "synchronous", parsed.query.get("synchronous", "full"))
    synchronous = _SYNCHRONOUS.get(given.lower())
    if synchronous is None:
        raise ConfigurationError(
            f"{url!r}: synchronous={given!r} is not allowed; "
            f"use one of {', '.join(_SYNCHRONOUS)} (full is the default and survives power loss)"
        )
    busy_timeout = _number(url, "busy_timeout", parsed.query.get("busy_timeout", "5"), float)
    return SqliteConfig(
        url=url,
        path=Path(parsed.database).expanduser().absolute(),
        synchronous=synchronous,
        busy_timeout=busy_timeout,
    )


def _postgres(parsed: URL, url: str) -> PostgresConfig:
    query = dict(parsed.query)
    pool_size = _number(url, "pool_size", query.pop("pool_size", "5"), int)
    max_overflow = _number(url, "max_overflow", query.pop("max_overflow", "10"), int)
    lock_timeout = _number(url, "lock_timeout", query.pop("lock_timeout", "3000"), int)
    idle = _number(
        url,
        "idle_in_transaction_session_timeout",
        query.pop("idle_in_transaction_session_timeout", "5000"),
        int,
    )
    if pool_size < 1:
        raise ConfigurationError(f"{url!r}: pool_size must be at least 1")
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")  # libpq's name for asyncpg's parameter
    return PostgresConfig(
        url=url,
        sqlalchemy_url=parsed.set(drivername="postgresql+asyncpg", query=query),
        pool_size=pool_size,
        max_overflow=max_overflow,
        lock_timeout_ms=lock_timeout,
        idle_in_transaction_ms=idle,
    )


_N = TypeVar("_N", int, float)


def _number(url: str, name: str, value: str | tuple[str, ...], kind: type[_N]) -> _N:
    text = _single(url, name, value)
    try:
        number = kind(text)
    except ValueError:
        raise ConfigurationError(
            f"{url!r}: {name}={text!r} is not a{'n integer' if kind is int else ' number'}"
        ) from None
    if number < 0:
        raise ConfigurationError(f"{url!r}: {name} must not be negative")
    return number
