"""What goes wrong reading an encrypted payload, as typed aion errors.

Messages name key ids (they are stored with every payload and are not secret)
and say what to do; they never carry key material or payload bytes.
"""

from __future__ import annotations

from aion_core.errors import AionError, ConfigurationError
from aion_plugin_crypto.variables import ENV_KEY_FILE, ENV_KEYS

__all__ = ["PayloadDecryptionError", "TamperedPayloadError", "UnknownKeyError"]


class PayloadDecryptionError(AionError):
    """A payload encrypted by aion-plugin-crypto cannot be decrypted."""


class UnknownKeyError(PayloadDecryptionError, ConfigurationError):
    """The payload was encrypted with a key this process is not configured with.

    Args:
        key_id: The id stored with the payload.
        configured: The ids of the keys this process has.
    """

    def __init__(self, key_id: str, configured: tuple[str, ...]) -> None:
        self.key_id = key_id
        self.configured = configured
        super().__init__(
            f"payload encrypted with key {key_id!r}, which is not configured here "
            f"(configured: {', '.join(configured)}). Add key {key_id!r} to {ENV_KEYS} or to "
            f"the {ENV_KEY_FILE} of every engine, worker and client; keep old keys "
            "configured for as long as histories encrypted with them are read."
        )


class TamperedPayloadError(PayloadDecryptionError):
    """The payload failed authentication: it was altered after it was encrypted.

    Args:
        key_id: The id stored with the payload.
        reason: What did not check out.
    """

    def __init__(self, key_id: str, reason: str) -> None:
        self.key_id = key_id
        self.reason = reason
        super().__init__(
            f"payload encrypted with key {key_id!r} failed authentication ({reason}): it was "
            "altered after it was encrypted, or the key configured under this id is not the "
            "one that encrypted it. Nothing was decoded; restore the original bytes or key."
        )
