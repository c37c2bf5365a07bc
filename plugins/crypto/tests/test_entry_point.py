"""Installed, the ``crypto`` entry point is found; unconfigured, it stops aion from starting."""

from __future__ import annotations

import base64
import os
from importlib.metadata import PackageNotFoundError, version

import pytest

from aion_core import Client, Engine, Worker, load_plugins
from aion_core.errors import ConfigurationError
from aion_plugin_crypto import AesGcmCodec, crypto_plugin

from .flows import Courier, deliver

DISTRIBUTION = "aion-plugin-crypto"
ONLY_CRYPTO = {"AION_PLUGINS": "crypto"}


@pytest.fixture
def installed_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        pytest.fail(f"{DISTRIBUTION} is not installed; run: pip install -e plugins/crypto")


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AION_CRYPTO_KEYS", "AION_CRYPTO_KEY_FILE", "AION_CRYPTO_CURRENT_KEY"):
        monkeypatch.delenv(variable, raising=False)


def test_the_entry_point_is_discovered_and_listed(installed_version: str) -> None:
    plugins = load_plugins(ONLY_CRYPTO)
    assert plugins.manager.get_plugin("crypto") is crypto_plugin
    [info] = [info for info in plugins.describe() if info.name == "crypto"]
    assert (info.distribution, info.version, info.hooks, info.builtin) == (
        DISTRIBUTION,
        installed_version,
        ("aion_payload_codecs",),
        False,
    )


def test_configured_from_the_environment_it_adds_the_codec(
    installed_version: str, unconfigured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AION_CRYPTO_KEYS", f"k1:{base64.b64encode(os.urandom(32)).decode()}")
    [codec] = load_plugins(ONLY_CRYPTO).payload_codecs()
    assert isinstance(codec, AesGcmCodec)
    assert codec.keyring.current.id == "k1"


async def test_unconfigured_no_engine_worker_or_client_starts(
    installed_version: str, unconfigured: None
) -> None:
    plugins = load_plugins(ONLY_CRYPTO)
    refusal = "installed but has no encryption key.*AION_CRYPTO_KEYS.*AION_CRYPTO_KEY_FILE"
    with pytest.raises(ConfigurationError, match=refusal):
        Engine("memory://", workflows=[Courier], plugins=plugins)
    with pytest.raises(ConfigurationError, match=refusal):
        Worker("inproc://", activities=[deliver], plugins=plugins)
    with pytest.raises(ConfigurationError, match=refusal):
        await Client.connect("inproc://", plugins=plugins)


def test_switched_off_it_adds_no_codec(installed_version: str, unconfigured: None) -> None:
    plugins = load_plugins({"AION_DISABLE_PLUGINS": "crypto"})
    assert "crypto" not in {info.name for info in plugins.describe()}
    assert not any(isinstance(codec, AesGcmCodec) for codec in plugins.payload_codecs())
