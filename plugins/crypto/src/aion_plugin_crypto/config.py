"""The keyring from the environment: keys inline, in a key file, or both.

``AION_CRYPTO_KEYS`` lists keys inline; ``AION_CRYPTO_KEY_FILE`` names a TOML
file of them::

    # Which key encrypts; every key listed decrypts.
    current = "2025-06"

    [keys]
    "2025-01" = "...base64 of 16, 24 or 32 random bytes..."
    "2025-06" = "...base64 of 16, 24 or 32 random bytes..."

``AION_CRYPTO_CURRENT_KEY`` names the key that encrypts; it may be left out
when only one key is configured or the key file names one. No key at all is
a `ConfigurationError`: the plugin never lets payloads through in plaintext.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aion_core.errors import ConfigurationError
from aion_core.plugins import ENV_DISABLE_PLUGINS
from aion_plugin_crypto.keys import EncryptionKey, Keyring, check_key_id, decode_key
from aion_plugin_crypto.variables import ENV_CURRENT_KEY, ENV_KEY_FILE, ENV_KEYS

__all__ = ["NOT_CONFIGURED", "KeyFile", "keyring_from_environment", "read_key_file"]

log = logging.getLogger("aion.plugins.crypto")

NOT_CONFIGURED = (
    "aion-plugin-crypto is installed but has no encryption key, and it does not let payloads "
    f"be stored or sent in plaintext. Set {ENV_KEYS}=ID:BASE64KEY[,ID:BASE64KEY...] (16, 24 or "
    f'32 random bytes each, in base64), or {ENV_KEY_FILE}=PATH (a TOML file: current = "ID" '
    f'and a [keys] table of ID = "BASE64KEY"); with several keys, {ENV_CURRENT_KEY}=ID names '
    "the one that encrypts. To run without encryption, uninstall aion-plugin-crypto or set "
    f"{ENV_DISABLE_PLUGINS}=crypto."
)
"""The refusal when the plugin is installed and no key is configured."""


@dataclass(frozen=True)
class KeyFile:
    """What a key file holds: its keys, and the id of the current one if it names it."""

    keys: tuple[EncryptionKey, ...]
    current: str | None


def keyring_from_environment(environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring ``AION_CRYPTO_*`` describe (see the module docstring).

    Args:
        environ: The variables to read; default `os.environ`.

    Raises:
        ConfigurationError: No key is configured, or the configuration is unusable;
            the message says what to fix and never contains key material.
    """
    env = os.environ if environ is None else environ
    keys: dict[str, tuple[EncryptionKey, str]] = {}

    def add(key: EncryptionKey, where: str) -> None:
        if key.id in keys:
            raise ConfigurationError(
                f"key id {key.id!r} is given twice (in {keys[key.id][1]} and in {where}); "
                "give each id once"
            )
        keys[key.id] = (key, where)

    for key in _inline_keys(env.get(ENV_KEYS, "")):
        add(key, ENV_KEYS)
    path = env.get(ENV_KEY_FILE, "").strip()
    key_file = read_key_file(Path(path)) if path else KeyFile((), None)
    for key in key_file.keys:
        add(key, f"key file {path}")
    if not keys:
        raise ConfigurationError(NOT_CONFIGURED)
    chosen = env.get(ENV_CURRENT_KEY, "").strip()
    if chosen:
        current = _current_key(check_key_id(chosen, ENV_CURRENT_KEY), ENV_CURRENT_KEY, keys)
    elif key_file.current is not None:
        current = _current_key(key_file.current, f"key file {path}", keys)
    elif len(keys) == 1:
        [current] = keys
    else:
        raise ConfigurationError(
            f"{len(keys)} encryption keys are configured ({', '.join(keys)}); set "
            f"{ENV_CURRENT_KEY} to the id of the one that encrypts"
        )
    return Keyring((key for key, _ in keys.values()), current)


def _current_key(key_id: str, named_by: str, keys: Mapping[str, object]) -> str:
    """`key_id`, which `named_by` makes current, if it is configured."""
    if key_id not in keys:
        raise ConfigurationError(
            f"{named_by} makes key {key_id!r} current, but the configured keys are "
            f"{', '.join(keys)}; add key {key_id!r} or make one of those current"
        )
    return key_id


def _inline_keys(listed: str) -> list[EncryptionKey]:
    """The keys of ``AION_CRYPTO_KEYS``: ``ID:BASE64KEY`` entries separated by commas."""
    found = []
    for number, entry in enumerate(listed.split(","), start=1):
        if not entry.strip():
            continue
        key_id, colon, encoded = entry.partition(":")
        where = f"entry {number} of {ENV_KEYS}"
        if not colon:
            # The entry is not repeated: it may be a key pasted without its id.
            raise ConfigurationError(f"{where} is not ID:BASE64KEY (no ':' after the key id)")
        found.append(decode_key(check_key_id(key_id.strip(), where), encoded, ENV_KEYS))
    return found


def read_key_file(path: Path) -> KeyFile:
    """The keys of the TOML key file at `path`.

    Raises:
        ConfigurationError: The file cannot be read or does not have the expected shape.
    """
    where = f"key file {path}"
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
            mode = os.fstat(file.fileno()).st_mode
    except OSError as error:
        raise ConfigurationError(
            f"cannot read {where} (named by {ENV_KEY_FILE}): {error.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as error:
        # tomllib says where, not what: the message holds no key material.
        raise ConfigurationError(f"{where} is not valid TOML: {error}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s can be read by other users; restrict it with chmod 600", where)
    unknown = sorted(set(document) - {"current", "keys"})
    if unknown:
        raise ConfigurationError(
            f"{where} has unknown settings {', '.join(map(repr, unknown))}; it holds "
            'current = "ID" and a [keys] table of ID = "BASE64KEY"'
        )
    table = document.get("keys")
    if not isinstance(table, dict) or not table:
        raise ConfigurationError(f'{where} has no [keys] table of ID = "BASE64KEY" entries')
    keys = []
    for key_id, encoded in table.items():
        check_key_id(key_id, where)
        if not isinstance(encoded, str):
            raise ConfigurationError(f"key {key_id!r} in {where} is not a base64 string")
        keys.append(decode_key(key_id, encoded, where))
    current = document.get("current")
    if current is not None and not isinstance(current, str):
        raise ConfigurationError(f"current in {where} is not a key id string")
    return KeyFile(tuple(keys), None if current is None else check_key_id(current, where))
