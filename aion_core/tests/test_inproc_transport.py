"""The in-process transport passes `TransportContract`, on every store."""

from __future__ import annotations

import uuid

import pytest

from aion_core import EventStore, MemoryEventStore
from aion_core.testing import TransportContract


class TestInProcessTransport(TransportContract):
    @pytest.fixture
    def transport_url(self) -> str:
        return f"inproc://t{uuid.uuid4().hex}"

    @pytest.fixture
    def store(self, store_url: str) -> str | EventStore:
        return MemoryEventStore() if store_url == "memory://" else store_url
