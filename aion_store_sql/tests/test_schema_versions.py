"""Schema versions: an empty database is initialised, any other mismatch is refused with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from aion_core.errors import ConfigurationError
from aion_store_sql import SchemaState, SchemaVersionError, SqlEventStore, migrations
from aion_store_sql.config import parse_store_url
from aion_store_sql.database import Database
from aion_store_sql.schema import VERSION_TABLE, Base

HEAD = "0002_queues"


async def _sql(url: str, *statements: str) -> None:
    """Run raw SQL against the store's database, outside the store."""

    def run(connection: Connection) -> None:
        for statement in statements:
            connection.execute(text(statement))

    database = Database(parse_store_url(url))
    try:
        await database.write(run)
    finally:
        await database.dispose()


async def test_opening_an_empty_database_creates_the_schema(sql_url: str) -> None:
    assert (await migrations.status(sql_url)).state is SchemaState.EMPTY
    async with SqlEventStore(sql_url):
        pass
    status = await migrations.status(sql_url)
    assert (status.state, status.current, status.head, status.pending) == (
        SchemaState.CURRENT,
        HEAD,
        HEAD,
        (),
    )
    assert status.up_to_date


async def test_the_migrated_schema_is_exactly_the_one_the_code_uses(sql_url: str) -> None:
    await migrations.migrate(sql_url)
    database = Database(parse_store_url(sql_url))

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        return list(compare_metadata(context, Base.metadata))

    try:
        assert await database.read(differences) == []
    finally:
        await database.dispose()


async def test_status_of_an_empty_database_lists_every_revision_as_pending(sql_url: str) -> None:
    status = await migrations.status(sql_url)
    assert status.current is None
    assert [revision.id for revision in status.pending] == ["0001_initial", HEAD]
    assert status.pending[0].description.startswith("Initial schema")
    assert status.pending[1].description.startswith("Flow control")


async def test_status_of_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "not-yet.db"
    assert (await migrations.status(f"sqlite:///{path}")).state is SchemaState.EMPTY
    assert not path.exists()


async def test_init_and_migrate_are_idempotent(sql_url: str) -> None:
    assert (await migrations.init(sql_url)).state is SchemaState.CURRENT
    assert (await migrations.init(sql_url)).state is SchemaState.CURRENT
    assert (await migrations.migrate(sql_url)).state is SchemaState.CURRENT
    assert (await migrations.status(sql_url)).current == HEAD


async def test_an_older_schema_is_refused_until_it_is_migrated(sql_url: str) -> None:
    # A version table without a revision: the schema before revision 1 (Alembic's "base").
    await _sql(sql_url, f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL)")
    assert (await migrations.status(sql_url)).state is SchemaState.OLDER
    with pytest.raises(SchemaVersionError, match="run `aion store migrate`") as refused:
        await SqlEventStore(sql_url).open()
    assert refused.value.state is SchemaState.OLDER
    assert (refused.value.current, refused.value.head) == (None, HEAD)
    with pytest.raises(SchemaVersionError, match="aion store migrate"):
        await migrations.init(sql_url)
    assert (await migrations.migrate(sql_url)).state is SchemaState.CURRENT
    async with SqlEventStore(sql_url) as store:
        assert await store.last_seq("w") == 0


async def test_a_newer_schema_is_refused_with_upgrade_advice(sql_url: str) -> None:
    await migrations.init(sql_url)
    await _sql(sql_url, f"UPDATE {VERSION_TABLE} SET version_num = '0099_from_the_future'")
    status = await migrations.status(sql_url)
    assert (status.state, status.current, status.pending) == (
        SchemaState.NEWER,
        "0099_from_the_future",
        (),
    )
    with pytest.raises(SchemaVersionError, match="upgrade aion-store-sql") as refused:
        await SqlEventStore(sql_url).open()
    assert refused.value.current == "0099_from_the_future"
    for change in (migrations.migrate, migrations.init):
        with pytest.raises(SchemaVersionError, match="upgrade aion-store-sql"):
            await change(sql_url)


async def test_aion_tables_without_a_schema_version_are_refused(sql_url: str) -> None:
    await migrations.init(sql_url)
    await _sql(sql_url, f"DROP TABLE {VERSION_TABLE}")
    with pytest.raises(ConfigurationError, match="no schema version"):
        await SqlEventStore(sql_url).open()
    with pytest.raises(ConfigurationError, match="no schema version"):
        await migrations.migrate(sql_url)


async def test_the_schema_shares_a_database_with_the_applications_own_alembic(
    sql_url: str,
) -> None:
    await _sql(
        sql_url,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)",
        "INSERT INTO alembic_version VALUES ('app_revision_7')",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY)",
    )
    async with SqlEventStore(sql_url):
        pass
    assert (await migrations.status(sql_url)).state is SchemaState.CURRENT
