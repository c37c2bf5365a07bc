"""The memory store passes the store contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from aion_core.store.memory import MemoryEventStore
from aion_core.testing import StoreContract


class TestMemoryStore(StoreContract):
    @pytest_asyncio.fixture
    async def store(self) -> AsyncIterator[MemoryEventStore]:
        async with MemoryEventStore() as store:
            yield store
