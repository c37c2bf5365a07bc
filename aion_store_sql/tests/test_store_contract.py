"""The store contract (DESIGN 5) on a SQLite file and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from aion_core.testing import StoreContract
from aion_store_sql import SqlEventStore


class TestSqliteStore(StoreContract):
    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[SqlEventStore]:
        async with SqlEventStore(f"sqlite:///{tmp_path / 'aion.db'}") as store:
            yield store


class TestPostgresStore(StoreContract):
    @pytest_asyncio.fixture
    async def store(self, fresh_postgres_url: str) -> AsyncIterator[SqlEventStore]:
        async with SqlEventStore(fresh_postgres_url) as store:
            yield store
