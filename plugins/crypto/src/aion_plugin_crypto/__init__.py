"""aion payload encryption: AES-GCM on every payload, with keys that rotate.

Installing this distribution registers the ``crypto`` plugin with aion; its
codec then encrypts every payload (workflow inputs and results, activity
arguments and results, signals, queries, updates, heartbeat details) before
it is stored or sent, and decrypts it on the way back. Keys come from
``AION_CRYPTO_KEYS`` / ``AION_CRYPTO_KEY_FILE`` and ``AION_CRYPTO_CURRENT_KEY``;
the codec can also be used directly::

    keyring = Keyring([EncryptionKey("2025-06", os.urandom(32))], current="2025-06")
    plugins = load_plugins()
    plugins.manager.register(CryptoPlugin(keyring), name="crypto")
"""

from aion_plugin_crypto.codec import AesGcmCodec, is_encrypted
from aion_plugin_crypto.config import keyring_from_environment
from aion_plugin_crypto.errors import PayloadDecryptionError, TamperedPayloadError, UnknownKeyError
from aion_plugin_crypto.keys import EncryptionKey, Keyring
from aion_plugin_crypto.plugin import CryptoPlugin, crypto_plugin
from aion_plugin_crypto.variables import ENV_CURRENT_KEY, ENV_KEY_FILE, ENV_KEYS

__all__ = [
    "ENV_CURRENT_KEY",
    "ENV_KEYS",
    "ENV_KEY_FILE",
    "AesGcmCodec",
    "CryptoPlugin",
    "EncryptionKey",
    "Keyring",
    "PayloadDecryptionError",
    "TamperedPayloadError",
    "UnknownKeyError",
    "crypto_plugin",
    "is_encrypted",
    "keyring_from_environment",
]
