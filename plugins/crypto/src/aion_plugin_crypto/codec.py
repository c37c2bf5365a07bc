"""`AesGcmCodec`: every payload encrypted and authenticated with AES-GCM.

An encrypted payload's metadata says how it was encrypted and with which key;
its data is the nonce followed by the ciphertext (with the GCM tag) of the
whole original payload (see `envelope`)::

    metadata = {"encoding": "binary/encrypted", "encryption": "aes-gcm",
                "encryption-key-id": "2025-06"}
    data = nonce (12 bytes) + AES-GCM(original metadata and data) + tag (16 bytes)

The key id and the algorithm are authenticated too (as associated data), so
relabelling a payload with another key id fails like altering its bytes.
Payloads without ``encryption`` metadata were not encrypted by this codec
(histories older than the plugin) and decode unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag

from aion_core.events import Payload
from aion_plugin_crypto.envelope import payload_from_bytes, payload_to_bytes
from aion_plugin_crypto.errors import PayloadDecryptionError, TamperedPayloadError
from aion_plugin_crypto.keys import Keyring

__all__ = [
    "ALGORITHM",
    "ENCODING",
    "KEY_ID_METADATA",
    "METHOD_METADATA",
    "NONCE_BYTES",
    "AesGcmCodec",
    "is_encrypted",
]

ENCODING = "binary/encrypted"
"""The ``encoding`` of an encrypted payload: no converter reads it as a value."""
METHOD_METADATA = "encryption"
"""Metadata naming the algorithm; its presence marks a payload this codec encrypted."""
KEY_ID_METADATA = "encryption-key-id"
"""Metadata naming the key that encrypted the payload."""
ALGORITHM = "aes-gcm"
NONCE_BYTES = 12
"""96 bits, fresh and random for every payload: GCM must never see a nonce twice per key."""
_TAG_BYTES = 16


def is_encrypted(payload: Payload) -> bool:
    """Whether `payload` was encrypted by this plugin (it carries encryption metadata)."""
    return METHOD_METADATA in payload.metadata


def _associated_data(key_id: str) -> bytes:
    return f"aion-plugin-crypto/{ALGORITHM}/{key_id}".encode()


class AesGcmCodec:
    """Encrypts with the keyring's current key; decrypts with whichever key a payload names.

    Args:
        keyring: The keys of this process.
    """

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Every payload encrypted with the current key."""
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Every encrypted payload decrypted; the others as they are.

        Raises:
            UnknownKeyError: A payload names a key that is not configured.
            TamperedPayloadError: A payload was altered after it was encrypted.
            PayloadDecryptionError: A payload was encrypted in a way this version cannot read.
        """
        return [self.decrypt(p) if is_encrypted(p) else p for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """`payload`, metadata and data, encrypted with the current key under a fresh nonce."""
        key = self.keyring.current
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.encrypt(nonce, payload_to_bytes(payload), _associated_data(key.id))
        return Payload(
            metadata={
                "encoding": ENCODING,
                METHOD_METADATA: ALGORITHM,
                KEY_ID_METADATA: key.id,
            },
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """The payload `encrypt` was given (see `decode` for the errors)."""
        method = payload.metadata[METHOD_METADATA]
        if method != ALGORITHM:
            raise PayloadDecryptionError(
                f"payload encrypted with {method!r}, which this version of aion-plugin-crypto "
                f"cannot decrypt (it reads {ALGORITHM!r}); upgrade aion-plugin-crypto"
            )
        key_id = payload.metadata.get(KEY_ID_METADATA)
        if not key_id:
            raise TamperedPayloadError("", f"no {KEY_ID_METADATA} metadata")
        key = self.keyring.key(key_id)
        if len(payload.data) < NONCE_BYTES + _TAG_BYTES:
            raise TamperedPayloadError(key_id, "too short to hold a nonce and a tag")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            serialised = key.decrypt(nonce, sealed, _associated_data(key_id))
        except InvalidTag:
            raise TamperedPayloadError(key_id, "the GCM tag does not match") from None
        try:
            return payload_from_bytes(serialised)
        except ValueError as malformed:
            # Authentic but unreadable: written by a newer or broken encoder.
            raise PayloadDecryptionError(
                f"payload encrypted with key {key_id!r} decrypts to no payload ({malformed}); "
                "was it written by a newer aion-plugin-crypto?"
            ) from None

    def __repr__(self) -> str:
        return f"AesGcmCodec({self.keyring!r})"
