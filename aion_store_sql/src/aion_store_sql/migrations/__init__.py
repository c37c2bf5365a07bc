"""Schema migrations: what ``aion store init|migrate|status`` call.

The schema is versioned with Alembic, run from code: the revisions ship in
this package (``versions/``), no ``alembic.ini`` is needed, and the revision
a database is at lives in its `aion_store_sql.schema.VERSION_TABLE`::

    from aion_store_sql import migrations

    status = await migrations.status("sqlite:///aion.db")
    if status.state is migrations.SchemaState.OLDER:
        await migrations.migrate("sqlite:///aion.db")

A store refuses to open a database whose schema is older or newer than the
code (`SchemaVersionError`); only a database without any aion tables is
initialised by opening it. Migrating is always an explicit step.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from aion_store_sql.config import SqliteConfig, parse_store_url
from aion_store_sql.database import Database
from aion_store_sql.errors import SchemaState, SchemaVersionError, store_errors
from aion_store_sql.migrations._alembic import (
    Revision,
    alembic_config,
    head_revision,
    inspect_schema,
    lock_schema,
    pending_revisions,
    upgrade_to_head,
)

__all__ = [
    "Revision",
    "SchemaState",
    "SchemaStatus",
    "SchemaVersionError",
    "alembic_config",
    "ensure_schema",
    "init",
    "migrate",
    "status",
]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database's schema stands.

    Attributes:
        url: The store, secrets removed.
        state: Empty, older, current or newer than this code.
        current: The database's revision; None when it has none.
        head: The revision this code reads and writes.
        pending: The revisions `migrate` would apply, oldest first (none when newer).
    """

    url: str
    state: SchemaState
    current: str | None
    head: str
    pending: tuple[Revision, ...]

    @property
    def up_to_date(self) -> bool:
        """Whether the store can be opened as it is."""
        return self.state is SchemaState.CURRENT


async def status(url: str) -> SchemaStatus:
    """Where the schema of the store at `url` stands; changes nothing.

    Raises:
        ConfigurationError: The URL is not a SQL store URL, or the database holds aion
            tables without a schema version.
        StoreError: The database cannot be read.
    """
    config = parse_store_url(url)
    if isinstance(config, SqliteConfig) and not config.path.exists():
        # Asking must not create the file.
        return _status(config.url, SchemaState.EMPTY, None)
    database = Database(config)
    try:
        with store_errors(config.url, "reading the schema version", config.password):
            state, current = await database.scan(inspect_schema, config.url)
    finally:
        await database.dispose()
    return _status(config.url, state, current)


async def init(url: str) -> SchemaStatus:
    """Create the schema in an empty database; a current one is left as it is.

    Raises:
        SchemaVersionError: The database holds an older schema (use `migrate`) or a newer one.
        StoreError: The database cannot be written.
    """
    return await _change(url, allow=(SchemaState.EMPTY, SchemaState.CURRENT))


async def migrate(url: str) -> SchemaStatus:
    """Bring the schema up to this code's revision: create it, upgrade it, or leave it.

    All pending revisions apply in one transaction, so a failure leaves the schema as it was.
    Back up a production database first all the same.

    Raises:
        SchemaVersionError: The database was migrated by a newer aion.
        StoreError: The database cannot be written.
    """
    return await _change(url, allow=(SchemaState.EMPTY, SchemaState.OLDER, SchemaState.CURRENT))


async def ensure_schema(database: Database) -> None:
    """Check the schema when a store opens: create it in an empty database, else it must match.

    Raises:
        SchemaVersionError: The schema is older or newer than this code.
    """
    url = database.config.url
    state, current = await database.scan(inspect_schema, url)
    if state is SchemaState.EMPTY:
        # Another process may be opening the same empty database right now:
        # decide again under the schema lock.
        await database.write(_upgrade, url, (SchemaState.EMPTY, SchemaState.CURRENT))
    elif state is not SchemaState.CURRENT:
        raise SchemaVersionError(url, state, current, head_revision())


async def _change(url: str, *, allow: tuple[SchemaState, ...]) -> SchemaStatus:
    config = parse_store_url(url)
    database = Database(config)
    try:
        with store_errors(config.url, "migrating the schema", config.password):
            await database.write(_upgrade, config.url, allow)
    finally:
        await database.dispose()
    return _status(config.url, SchemaState.CURRENT, head_revision())


def _upgrade(connection: Connection, url: str, allow: tuple[SchemaState, ...]) -> None:
    lock_schema(connection)
    state, current = inspect_schema(connection, url)
    if state not in allow:
        raise SchemaVersionError(url, state, current, head_revision())
    if state is not SchemaState.CURRENT:
        upgrade_to_head(connection)


def _status(url: str, state: SchemaState, current: str | None) -> SchemaStatus:
    return SchemaStatus(
        url=url,
        state=state,
        current=current,
        head=head_revision(),
        pending=pending_revisions(current) if state is not SchemaState.NEWER else (),
    )
