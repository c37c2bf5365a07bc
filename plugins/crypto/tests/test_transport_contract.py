"""The whole transport contract holds over NATS with the installed plugin encrypting.

Engines, workers and clients of `TransportContract` load the installed plugins
from the environment, as a deployment does; here that environment gives the
``crypto`` plugin a key, so every call, task, report and reply the suite sends
carries encrypted payloads.
"""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from aion_core import EventStore, MemoryEventStore, load_plugins
from aion_core.testing import TransportContract
from aion_plugin_crypto import AesGcmCodec


class TestNatsTransportEncrypted(TransportContract):
    @pytest.fixture(autouse=True)
    def encryption_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for variable in ("AION_PLUGINS", "AION_DISABLE_PLUGINS", "AION_CRYPTO_KEY_FILE"):
            monkeypatch.delenv(variable, raising=False)
        key = base64.b64encode(os.urandom(32)).decode()
        monkeypatch.setenv("AION_CRYPTO_KEYS", f"contract:{key}")
        monkeypatch.setenv("AION_CRYPTO_CURRENT_KEY", "contract")
        codecs = load_plugins().payload_codecs()
        assert any(isinstance(codec, AesGcmCodec) for codec in codecs), "encryption is off"

    @pytest.fixture
    def transport_url(self, nats_url: str) -> str:
        return f"{nats_url}?namespace=t{uuid.uuid4().hex[:12]}&lease_ttl=2&partitions=4"

    @pytest.fixture
    def store(self) -> str | EventStore:
        return MemoryEventStore()
