"""The NATS transport passes `TransportContract` against a real nats-server with JetStream."""

from __future__ import annotations

import uuid

import pytest

from aion_core import EventStore, MemoryEventStore
from aion_core.testing import TransportContract


class TestNatsTransport(TransportContract):
    @pytest.fixture
    def transport_url(self, nats_url: str) -> str:
        # A namespace of its own per test: its streams, leases and subjects.
        return f"{nats_url}?namespace=t{uuid.uuid4().hex[:12]}&lease_ttl=2&partitions=4"

    @pytest.fixture
    def store(self, store_url: str) -> str | EventStore:
        return MemoryEventStore() if store_url == "memory://" else store_url
