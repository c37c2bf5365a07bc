"""The plugin this distribution registers: the AES-GCM codec on every payload.

Published under the ``aion`` entry-point group as ``crypto`` (see
pyproject.toml), so installing aion-plugin-crypto is what turns encryption
on. Installed without a key, it refuses: the first engine, worker or client
that asks for payload codecs gets a `ConfigurationError` explaining the
``AION_CRYPTO_*`` variables, rather than payloads stored in plaintext.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from aion_core.codec import PayloadCodec
from aion_core.hookspecs import hookimpl
from aion_plugin_crypto.codec import AesGcmCodec
from aion_plugin_crypto.config import keyring_from_environment
from aion_plugin_crypto.keys import Keyring

__all__ = ["CryptoPlugin", "crypto_plugin"]

log = logging.getLogger("aion.plugins.crypto")


class CryptoPlugin:
    """Provides `AesGcmCodec` through the `aion_payload_codecs` hook.

    Args:
        keyring: The keys to use. None (the installed plugin) reads them from the
            environment each time codecs are requested, so a process started
            without keys fails there, at start-up.
        environ: The variables to read the keys from; default `os.environ`.
    """

    def __init__(
        self, keyring: Keyring | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self._keyring = keyring
        self._environ = environ

    @hookimpl
    def aion_payload_codecs(self) -> Sequence[PayloadCodec]:
        """The AES-GCM codec with the configured keys.

        Raises:
            ConfigurationError: No key is configured, or the configuration is unusable.
        """
        keyring = self._keyring
        if keyring is None:
            keyring = keyring_from_environment(self._environ)
        log.info(
            "payloads are encrypted with key %r; keys that decrypt: %s",
            keyring.current.id,
            ", ".join(keyring.key_ids),
        )
        return [AesGcmCodec(keyring)]

    def __repr__(self) -> str:
        source = repr(self._keyring) if self._keyring is not None else "keys from the environment"
        return f"CryptoPlugin({source})"


crypto_plugin = CryptoPlugin()
"""The installed plugin: keys from ``AION_CRYPTO_*`` (see `aion_plugin_crypto.config`)."""
