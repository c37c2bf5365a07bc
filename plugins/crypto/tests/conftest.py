"""Helpers of the crypto plugin's tests: keys, plugin sets, and finding a secret in bytes."""

from __future__ import annotations

import base64
import os

from aion_core import load_plugins
from aion_core.plugins import Plugins
from aion_plugin_crypto import CryptoPlugin, EncryptionKey, Keyring

# The stores and the transport the end-to-end tests use, and nothing else installed:
# neither the entry-point `crypto` plugin (it reads the environment) nor anyone else's.
STORE_AND_TRANSPORT_PLUGINS = {"AION_PLUGINS": "sqlite,postgresql,nats"}


def new_keyring(*key_ids: str, current: str | None = None, bits: int = 256) -> Keyring:
    """Fresh random keys under `key_ids`; `current` defaults to the last one."""
    keys = [EncryptionKey(key_id, os.urandom(bits // 8)) for key_id in key_ids]
    return Keyring(keys, current or key_ids[-1])


def plugins_with(keyring: Keyring | None) -> Plugins:
    """The store and transport plugins, plus the crypto plugin with `keyring` (None: no codec)."""
    plugins = load_plugins(STORE_AND_TRANSPORT_PLUGINS)
    if keyring is not None:
        plugins.manager.register(CryptoPlugin(keyring), name="crypto-under-test")
    return plugins


def traces_of(secret: bytes) -> list[bytes]:
    """The forms in which `secret` shows up inside bytes or text that hold it.

    The bytes themselves; base64 at each of the three alignments a value can
    start at inside a longer payload (JSON carries payload data in base64); and
    hex of each of those (PostgreSQL prints ``bytea`` columns as hex).
    """
    forms = [secret]
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + secret)
        # Only the characters that depend on `secret` alone, none of the padding.
        first, last = -(-8 * offset // 6), 8 * (offset + len(secret)) // 6
        forms.append(encoded[first:last])
    return forms + [form.hex().encode() for form in forms]


def reveals(haystack: bytes | str, secret: bytes) -> bool:
    """Whether `haystack` holds `secret` in any of the forms of `traces_of`."""
    data = haystack.encode() if isinstance(haystack, str) else haystack
    return any(trace in data for trace in traces_of(secret))
