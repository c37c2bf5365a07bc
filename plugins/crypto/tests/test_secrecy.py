"""Key material never shows: not in reprs, not in error messages or tracebacks, not in logs."""

from __future__ import annotations

import base64
import logging
import os
import traceback
from pathlib import Path

import pytest

from aion_core import Engine
from aion_core.converter import to_payload
from aion_core.errors import ConfigurationError
from aion_plugin_crypto import (
    AesGcmCodec,
    CryptoPlugin,
    EncryptionKey,
    Keyring,
    PayloadDecryptionError,
    keyring_from_environment,
)

from .conftest import plugins_with, reveals
from .flows import Courier, deliver

KEY = os.urandom(32)
TEXT = base64.b64encode(KEY).decode()
SHORT = os.urandom(20)  # a key of the wrong length: refused, and still a secret
SHORT_TEXT = base64.b64encode(SHORT).decode()
OLD = os.urandom(16)
OLD_TEXT = base64.b64encode(OLD).decode()


def assert_secret_free(text: str) -> None:
    for secret, encoded in [(KEY, TEXT), (SHORT, SHORT_TEXT), (OLD, OLD_TEXT)]:
        assert not reveals(text, secret)
        assert repr(secret)[2:-1] not in text  # as Python prints bytes
        assert encoded not in text


def describe(error: BaseException) -> str:
    """Everything an error shows: message, repr, args, and its printed traceback."""
    printed = "".join(traceback.format_exception(error))
    return f"{error}\n{error!r}\n{error.args!r}\n{printed}"


def test_reprs_show_key_ids_never_key_material() -> None:
    key = EncryptionKey("k1", KEY)
    keyring = Keyring([key], "k1")
    shown = [repr(key), str(key), repr(keyring), repr(AesGcmCodec(keyring))]
    shown += [repr(CryptoPlugin(keyring)), repr(CryptoPlugin(keyring).aion_payload_codecs())]
    for text in shown:
        assert "k1" in text
        assert_secret_free(text)
    assert not hasattr(key, "__dict__")  # nothing but the cipher holds the material


@pytest.mark.parametrize(
    "environ",
    [
        {"AION_CRYPTO_KEYS": TEXT},  # pasted without its id
        {"AION_CRYPTO_KEYS": f"{TEXT}:{TEXT}"},  # the key where the id goes
        {"AION_CRYPTO_KEYS": f"k1:{SHORT_TEXT}"},
        {"AION_CRYPTO_KEYS": f"k1:{TEXT[:-2]}"},  # cut short: not base64
        {"AION_CRYPTO_KEYS": f"k1:{TEXT},k1:{TEXT}"},
        {"AION_CRYPTO_KEYS": f"k1:{TEXT}", "AION_CRYPTO_CURRENT_KEY": TEXT},
    ],
)
def test_configuration_errors_never_quote_key_material(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        keyring_from_environment(environ)
    assert_secret_free(describe(caught.value))


@pytest.mark.parametrize(
    "text",
    [
        f'[keys]\nk1 = "{TEXT}',  # unterminated: not TOML
        f'[keys]\nk1 = {TEXT}"',
        f'[keys]\n"{TEXT}" = "k1"',  # swapped
        f'[keys]\nk1 = "{SHORT_TEXT}"',
        f'{TEXT} = "k1"',
    ],
)
def test_key_file_errors_never_quote_key_material(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        keyring_from_environment({"AION_CRYPTO_KEY_FILE": str(path)})
    assert_secret_free(describe(caught.value))


async def test_decryption_errors_never_quote_key_material() -> None:
    codec = AesGcmCodec(Keyring([EncryptionKey("k1", KEY)], "k1"))
    [encrypted] = await codec.encode([to_payload("parcel")])
    tampered = encrypted.model_copy(update={"data": encrypted.data[:-1] + b"\0"})
    other_key = AesGcmCodec(Keyring([EncryptionKey("k2", SHORT[:16])], "k2"))
    for reader, payload in [(codec, tampered), (other_key, encrypted)]:
        with pytest.raises(PayloadDecryptionError) as caught:
            await reader.decode([payload])
        assert_secret_free(describe(caught.value))


async def test_nothing_logged_holds_key_material(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    environ = {
        "AION_CRYPTO_KEYS": f"old:{OLD_TEXT},k1:{TEXT}",
        "AION_CRYPTO_CURRENT_KEY": "k1",
    }
    plugins = plugins_with(None)
    plugins.manager.register(CryptoPlugin(environ=environ), name="crypto-from-environ")
    store = f"sqlite:///{tmp_path / 'x.db'}"
    async with Engine(store, workflows=[Courier], activities=[deliver], plugins=plugins) as engine:
        handle = await engine.start_workflow(Courier.run, "parcel", id="logged")
        await handle.signal(Courier.note, "note")
        await handle.result()
    # A process with another key, failing on the history: its errors are logged too.
    other = plugins_with(Keyring([EncryptionKey("k2", os.urandom(16))], "k2"))
    async with Engine(store, workflows=[Courier], activities=[deliver], plugins=other) as engine:
        with pytest.raises(PayloadDecryptionError):
            await engine.get_handle("logged").query(Courier.last_receipt)
    logged = "\n".join(
        f"{record.getMessage()}\n{record.exc_text or ''}\n{record.args!r}"
        for record in caplog.records
    )
    assert "payloads are encrypted with key 'k1'; keys that decrypt: old, k1" in logged
    printed = capsys.readouterr()
    assert_secret_free(logged + printed.out + printed.err)
