"""Fixtures of the SQL store tests: a URL for an empty database on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty SQL database: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aion.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url
