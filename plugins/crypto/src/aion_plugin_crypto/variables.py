"""The environment variables that configure payload encryption (README: Configuration)."""

from __future__ import annotations

__all__ = ["ENV_CURRENT_KEY", "ENV_KEYS", "ENV_KEY_FILE"]

ENV_KEYS = "AION_CRYPTO_KEYS"
"""``ID:BASE64KEY,ID:BASE64KEY``: keys given inline."""

ENV_KEY_FILE = "AION_CRYPTO_KEY_FILE"
"""Path of a TOML key file: ``current = "ID"`` and a ``[keys]`` table of ``ID = "BASE64KEY"``."""

ENV_CURRENT_KEY = "AION_CRYPTO_CURRENT_KEY"
"""The id of the key that encrypts; needed when several keys are configured and no
key file names one. Overrides the key file's ``current``."""
