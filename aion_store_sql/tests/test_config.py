"""Store URLs: paths, durability and pool parameters, and errors that name the allowed values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aion_core.errors import ConfigurationError
from aion_store_sql import SqlEventStore
from aion_store_sql.config import PostgresConfig, SqliteConfig, parse_store_url


def test_a_relative_sqlite_path_is_resolved_against_the_working_directory() -> None:
    config = parse_store_url("sqlite:///data/aion.db")
    assert isinstance(config, SqliteConfig)
    assert config.path == Path(os.getcwd()) / "data" / "aion.db"


def test_an_absolute_sqlite_path_has_four_slashes() -> None:
    config = parse_store_url("sqlite:////var/lib/aion/aion.db")
    assert isinstance(config, SqliteConfig)
    assert config.path == Path("/var/lib/aion/aion.db")


def test_sqlite_durability_defaults_to_full() -> None:
    config = parse_store_url("sqlite:///aion.db")
    assert isinstance(config, SqliteConfig)
    assert config.synchronous == "full"


@pytest.mark.parametrize("level", ["full", "normal", "off", "NORMAL"])
def test_sqlite_durability_levels_are_accepted(level: str) -> None:
    config = parse_store_url(f"sqlite:///aion.db?synchronous={level}")
    assert isinstance(config, SqliteConfig)
    assert config.synchronous == level.lower()


def test_an_unknown_durability_level_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigurationError, match="full, normal, off"):
        parse_store_url("sqlite:///aion.db?synchronous=extra")


def test_an_unknown_sqlite_parameter_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="accept synchronous, busy_timeout"):
        parse_store_url("sqlite:///aion.db?journal_mode=delete")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_a_sqlite_url_without_a_file_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="memory://"):
        parse_store_url(url)


def test_busy_timeout_must_be_a_number() -> None:
    with pytest.raises(ConfigurationError, match="busy_timeout='soon' is not a number"):
        parse_store_url("sqlite:///aion.db?busy_timeout=soon")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@db:5433/aion",
        "postgres://u:pw@db:5433/aion",
        "postgresql+asyncpg://u:pw@db:5433/aion",
    ],
)
def test_postgresql_schemes_use_asyncpg(url: str) -> None:
    config = parse_store_url(url)
    assert isinstance(config, PostgresConfig)
    assert config.sqlalchemy_url.drivername == "postgresql+asyncpg"
    assert (config.sqlalchemy_url.host, config.sqlalchemy_url.port) == ("db", 5433)
    assert config.password == "pw"


def test_postgresql_pool_and_ssl_parameters() -> None:
    config = parse_store_url("postgresql://db/aion?pool_size=20&max_overflow=0&sslmode=require")
    assert isinstance(config, PostgresConfig)
    assert (config.pool_size, config.max_overflow) == (20, 0)
    assert dict(config.sqlalchemy_url.query) == {"ssl": "require"}


def test_pool_size_must_be_an_integer() -> None:
    with pytest.raises(ConfigurationError, match="pool_size='many' is not an integer"):
        parse_store_url("postgresql://db/aion?pool_size=many")


def test_the_store_url_hides_the_password() -> None:
    store = SqlEventStore("postgresql://aion:s3cret@db/aion")
    assert store.url == "postgresql://aion:***@db/aion"
    with pytest.raises(ConfigurationError) as raised:
        SqlEventStore("postgresql://aion:s3cret@db/aion?pool_size=x")
    assert "s3cret" not in str(raised.value)


async def test_a_sqlite_file_in_a_missing_folder_is_a_configuration_error(tmp_path: Path) -> None:
    store = SqlEventStore(f"sqlite:///{tmp_path / 'missing' / 'aion.db'}")
    with pytest.raises(ConfigurationError, match="does not exist"):
        await store.open()
