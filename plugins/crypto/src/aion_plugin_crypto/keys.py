"""Encryption keys and the keyring: the current key encrypts, every key decrypts.

A key never shows its material: not in its repr, not in an error message, not
in a log line. Its id is public: it is stored with every payload it encrypts,
so an id must never be reused for other key material.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aion_core.errors import ConfigurationError
from aion_plugin_crypto.errors import UnknownKeyError

__all__ = ["KEY_ID_RULE", "KEY_SIZES", "EncryptionKey", "Keyring", "check_key_id", "decode_key"]

KEY_SIZES = (16, 24, 32)
"""Key lengths in bytes AES-GCM takes: 128, 192 and 256 bits."""

KEY_ID_RULE = "1 to 64 letters, digits, '.', '_' or '-'"
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAKE_KEY = 'python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'


def check_key_id(key_id: str, where: str) -> str:
    """`key_id` if it is a valid key id, else a `ConfigurationError` naming `where`.

    The id is not repeated in the error: a malformed entry may be key material.
    """
    if not _KEY_ID.fullmatch(key_id):
        raise ConfigurationError(f"{where} has an invalid key id: a key id is {KEY_ID_RULE}")
    return key_id


def _size_problem(size: int) -> str:
    return (
        f"is {size} bytes long; AES-GCM takes 16, 24 or 32 bytes (128, 192 or 256 bits). "
        f"Make one with: {_MAKE_KEY}"
    )


def decode_key(key_id: str, encoded: str, where: str) -> EncryptionKey:
    """The key `encoded` (standard base64) holds, under `key_id`.

    Raises:
        ConfigurationError: The text is not base64 or not 16, 24 or 32 bytes; the
            message names `key_id` and `where`, never the text.
    """
    check_key_id(key_id, where)
    try:
        material = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"key {key_id!r} in {where} is not valid base64. Give 16, 24 or 32 random bytes in "
            f"standard base64; make one with: {_MAKE_KEY}"
        ) from None
    if len(material) not in KEY_SIZES:
        raise ConfigurationError(f"key {key_id!r} in {where} {_size_problem(len(material))}")
    return EncryptionKey(key_id, material)


class EncryptionKey:
    """An AES-GCM key under its id.

    Args:
        key_id: The public name stored with every payload the key encrypts.
        material: 16, 24 or 32 secret bytes. Only the cipher keeps them.

    Raises:
        ConfigurationError: The id is malformed or the material has the wrong length.
    """

    __slots__ = ("_cipher", "bits", "id")

    def __init__(self, key_id: str, material: bytes) -> None:
        self.id = check_key_id(key_id, "an encryption key")
        if len(material) not in KEY_SIZES:
            raise ConfigurationError(f"key {key_id!r} {_size_problem(len(material))}")
        self.bits = len(material) * 8
        self._cipher = AESGCM(material)

    def encrypt(self, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        """`plaintext` encrypted and authenticated (with `associated_data`), tag appended."""
        return self._cipher.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, nonce: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
        """The plaintext of `ciphertext`.

        Raises:
            cryptography.exceptions.InvalidTag: It, or `associated_data`, was altered,
                or another key encrypted it.
        """
        return self._cipher.decrypt(nonce, ciphertext, associated_data)

    def __repr__(self) -> str:
        return f"EncryptionKey(id={self.id!r}, bits={self.bits})"


class Keyring:
    """The keys of one process: `current` encrypts, every key decrypts.

    Rotation adds a key and makes it current; the old keys stay so that
    payloads they encrypted still read.

    Args:
        keys: Every key, each id once.
        current: The id of the key that encrypts.

    Raises:
        ConfigurationError: No keys, an id given twice, or `current` not among them.
    """

    __slots__ = ("_keys", "current")

    def __init__(self, keys: Iterable[EncryptionKey], current: str) -> None:
        self._keys: dict[str, EncryptionKey] = {}
        for key in keys:
            if key.id in self._keys:
                raise ConfigurationError(f"key id {key.id!r} is given twice; give each id once")
            self._keys[key.id] = key
        if not self._keys:
            raise ConfigurationError("a keyring needs at least one encryption key")
        if current not in self._keys:
            raise ConfigurationError(
                f"the current key {current!r} is not among the configured keys "
                f"({', '.join(self.key_ids)}); add it, or make one of those current"
            )
        self.current = self._keys[current]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key, in the order given."""
        return tuple(self._keys)

    def key(self, key_id: str) -> EncryptionKey:
        """The key named `key_id`.

        Raises:
            UnknownKeyError: No key has that id here.
        """
        found = self._keys.get(key_id)
        if found is None:
            raise UnknownKeyError(key_id, self.key_ids)
        return found

    def __repr__(self) -> str:
        return f"Keyring(current={self.current.id!r}, key_ids={self.key_ids!r})"
