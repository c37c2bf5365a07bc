"""Alembic, driven from code on a connection the caller holds (no alembic.ini, no own engine).

Everything here is a function of a connection in a transaction of
`aion_store_sql.database.Database`: a migration commits or rolls back with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from aion_core.errors import ConfigurationError
from aion_store_sql.errors import SchemaState
from aion_store_sql.schema import VERSION_TABLE, Base

__all__ = [
    "Revision",
    "alembic_config",
    "head_revision",
    "inspect_schema",
    "lock_schema",
    "pending_revisions",
    "upgrade_to_head",
]

_SCRIPT_LOCATION = Path(__file__).resolve().parent
# pg_advisory_xact_lock key: "aion" in ASCII. Serialises schema changes between processes.
_POSTGRES_SCHEMA_LOCK = 0x61696F6E


@dataclass(frozen=True, slots=True)
class Revision:
    """One schema revision: its id and what it changes."""

    id: str
    description: str


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the shipped revisions; ``env.py`` uses `connection` when given.

    Developers add a revision with ``alembic.command.revision(alembic_config(), message=...,
    rev_id="0002_...")`` and write its operations by hand (batch mode for SQLite).
    """
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code reads and writes."""
    head = _script().get_current_head()
    assert head is not None, "the shipped migrations have no head"
    return head


def pending_revisions(current: str | None) -> tuple[Revision, ...]:
    """Revisions after `current` (None: all of them), oldest first."""
    scripts = _script().iterate_revisions(head_revision(), current or "base")
    return tuple(
        Revision(script.revision, (script.doc or "").strip()) for script in reversed(list(scripts))
    )


def inspect_schema(connection: Connection, url: str) -> tuple[SchemaState, str | None]:
    """How the database's schema relates to this code's, and its revision.

    Raises:
        ConfigurationError: It holds aion tables but no schema version, so aion did not make it.
    """
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE not in tables:
        if found := sorted(tables & set(Base.metadata.tables)):
            raise ConfigurationError(
                f"{url} holds aion tables ({', '.join(found)}) but no schema version "
                f"({VERSION_TABLE}), so `aion store init` did not make them; use an empty "
                "database, or restore the whole database from a backup"
            )
        return SchemaState.EMPTY, None
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    heads = context.get_current_heads()
    current = heads[0] if len(heads) == 1 else (",".join(heads) or None)
    if current == head_revision():
        return SchemaState.CURRENT, current
    if current is None:
        return SchemaState.OLDER, None
    try:
        _script().get_revision(current)
    except (CommandError, RevisionError):
        return SchemaState.NEWER, current
    return SchemaState.OLDER, current


def lock_schema(connection: Connection) -> None:
    """Serialise schema changes with other processes until the transaction ends.

    SQLite needs nothing more: the write transaction began IMMEDIATE.
    """
    if connection.dialect.name == "postgresql":
        # Another process may be creating or migrating the schema: wait for it as long
        # as it takes (the store's lock_timeout is for appends, not for this).
        connection.execute(text("SET LOCAL lock_timeout = 0"))
        lock = text("SELECT pg_advisory_xact_lock(:key)")
        connection.execute(lock, {"key": _POSTGRES_SCHEMA_LOCK})


def upgrade_to_head(connection: Connection) -> None:
    """Apply every pending revision inside the connection's transaction."""
    command.upgrade(alembic_config(connection), "head")
