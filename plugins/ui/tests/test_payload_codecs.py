"""Encrypted payloads: decrypted on the page with the key, shown as encrypted bytes without it."""

from __future__ import annotations

import asyncio
import html
import os
from pathlib import Path

from aion_core import Engine
from aion_core.plugins import Plugins
from aion_plugin_crypto import CryptoPlugin, EncryptionKey, Keyring

from aion_plugin_ui import UiSettings

from . import ui_flows
from .conftest import console, sqlite_plugins

SECRET = "the-password-is-swordfish"


def plugins_with(crypto: CryptoPlugin | None) -> Plugins:
    plugins = sqlite_plugins()
    if crypto is not None:
        plugins.manager.register(crypto, name="crypto-under-test")
    return plugins


async def record_an_encrypted_history(url: str, keys: Keyring) -> None:
    plugins = plugins_with(CryptoPlugin(keys))
    async with Engine(url, workflows=[ui_flows.Leaf], plugins=plugins) as engine:
        await engine.execute_workflow(ui_flows.Leaf.run, SECRET, id="secretive")


def test_payloads_are_decrypted_with_the_key_and_shown_encrypted_without(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'aion.db'}"
    keys = Keyring([EncryptionKey("2026-01", os.urandom(32))], "2026-01")
    asyncio.run(record_an_encrypted_history(url, keys))

    with console(UiSettings(store=url), plugins_with(CryptoPlugin(keys))) as http:
        with_key = http.get("/workflows/secretive")
    with console(UiSettings(store=url), plugins_with(CryptoPlugin(environ={}))) as http:
        without_key = http.get("/workflows/secretive")
    with console(UiSettings(store=url), plugins_with(None)) as http:
        no_plugin = http.get("/workflows/secretive")

    assert with_key.status_code == 200
    readable = html.unescape(with_key.text)
    assert f'<pre class="payload">"{SECRET}"</pre>' in readable
    assert "encoded" not in readable.split('id="timeline-rows"')[1].split("</tbody>")[0]

    for page in (without_key, no_plugin):
        assert page.status_code == 200  # never an error page
        assert SECRET not in page.text
        assert "encoding=binary/encrypted" in page.text
        assert 'class="tag">encoded</span>' in page.text
    # The plugin without keys says why the payloads stay encrypted; its message names no key.
    assert "payloads are shown as stored" in without_key.text
    assert "AION_CRYPTO_KEYS" in without_key.text
