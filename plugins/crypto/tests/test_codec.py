"""The AES-GCM codec: exact round trips, a fresh nonce each time, tampering refused."""

from __future__ import annotations

import json

import pytest

from aion_core.converter import from_payload, to_payload
from aion_core.errors import AionError, ConfigurationError, PayloadValidationError
from aion_core.events import Payload
from aion_plugin_crypto import (
    AesGcmCodec,
    EncryptionKey,
    Keyring,
    PayloadDecryptionError,
    TamperedPayloadError,
    UnknownKeyError,
    is_encrypted,
)
from aion_plugin_crypto.codec import NONCE_BYTES

from .conftest import new_keyring

PAYLOADS = [
    to_payload({"order": 42, "items": ["tea", "cake"]}),
    Payload(metadata={"encoding": "json/plain", "compression": "zstd", "é": "ü"}, data=b'"x"'),
    Payload(metadata={}, data=b""),
    Payload(metadata={"encoding": "binary/plain"}, data=bytes(range(256)) * 3),
]


async def test_decode_gives_back_exactly_what_was_encoded_metadata_included() -> None:
    codec = AesGcmCodec(new_keyring("k1"))
    encrypted = await codec.encode(PAYLOADS)
    assert await codec.decode(encrypted) == PAYLOADS
    assert [p.metadata for p in await codec.decode(encrypted)] == [p.metadata for p in PAYLOADS]


async def test_an_encrypted_payload_names_the_algorithm_and_key_and_hides_the_original() -> None:
    codec = AesGcmCodec(new_keyring("k1", "k2"))
    [encrypted] = await codec.encode([PAYLOADS[1]])
    assert encrypted.metadata == {
        "encoding": "binary/encrypted",
        "encryption": "aes-gcm",
        "encryption-key-id": "k2",
    }
    assert is_encrypted(encrypted)
    assert b'"x"' not in encrypted.data
    assert b"zstd" not in encrypted.data  # the original metadata is encrypted too
    with pytest.raises(PayloadValidationError, match="codec that wrote it"):
        from_payload(encrypted)  # without the codec, aion says what is missing


@pytest.mark.parametrize("bits", [128, 192, 256])
async def test_every_aes_key_size_round_trips(bits: int) -> None:
    codec = AesGcmCodec(new_keyring("k", bits=bits))
    assert codec.keyring.current.bits == bits
    assert await codec.decode(await codec.encode(PAYLOADS)) == PAYLOADS


async def test_encryption_adds_33_bytes_to_the_data_and_its_metadata() -> None:
    codec = AesGcmCodec(new_keyring("k1"))
    for payload, encrypted in zip(PAYLOADS, await codec.encode(PAYLOADS), strict=True):
        metadata = json.dumps(payload.metadata, ensure_ascii=False, separators=(",", ":"))
        assert len(encrypted.data) == 33 + len(metadata.encode()) + len(payload.data)


async def test_every_payload_gets_a_fresh_nonce() -> None:
    codec = AesGcmCodec(new_keyring("k1"))
    encrypted = await codec.encode([PAYLOADS[0]] * 50)
    nonces = {p.data[:NONCE_BYTES] for p in encrypted}
    assert len(nonces) == 50
    assert len({p.data for p in encrypted}) == 50


async def test_payloads_written_before_the_plugin_pass_through_unchanged() -> None:
    codec = AesGcmCodec(new_keyring("k1"))
    assert await codec.decode(PAYLOADS) == PAYLOADS
    mixed = [PAYLOADS[0], *(await codec.encode([PAYLOADS[1]]))]
    assert await codec.decode(mixed) == PAYLOADS[:2]


async def test_a_changed_byte_anywhere_is_refused() -> None:
    codec = AesGcmCodec(new_keyring("k1"))
    [encrypted] = await codec.encode([PAYLOADS[0]])
    for index in (0, NONCE_BYTES, len(encrypted.data) // 2, len(encrypted.data) - 1):
        data = bytearray(encrypted.data)
        data[index] ^= 0x01
        altered = encrypted.model_copy(update={"data": bytes(data)})
        with pytest.raises(TamperedPayloadError, match="'k1' failed authentication") as caught:
            await codec.decode([altered])
        assert caught.value.key_id == "k1"


async def test_truncated_or_extended_data_is_refused() -> None:
    codec = AesGcmCodec(new_keyring("k1"))
    [encrypted] = await codec.encode([PAYLOADS[0]])
    for data in (encrypted.data[:-1], encrypted.data + b"\0", encrypted.data[:NONCE_BYTES], b""):
        with pytest.raises(TamperedPayloadError):
            await codec.decode([encrypted.model_copy(update={"data": data})])


async def test_relabelling_a_payload_with_another_key_id_is_refused() -> None:
    keyring = new_keyring("k1", "k2", current="k1")
    codec = AesGcmCodec(keyring)
    [encrypted] = await codec.encode([PAYLOADS[0]])
    relabelled = encrypted.model_copy(
        update={"metadata": {**encrypted.metadata, "encryption-key-id": "k2"}}
    )
    with pytest.raises(TamperedPayloadError, match="'k2'"):
        await codec.decode([relabelled])


async def test_the_same_id_with_other_key_material_is_refused_not_garbled() -> None:
    [encrypted] = await AesGcmCodec(new_keyring("k1")).encode([PAYLOADS[0]])
    with pytest.raises(TamperedPayloadError):
        await AesGcmCodec(new_keyring("k1")).decode([encrypted])


async def test_a_payload_whose_key_is_not_configured_names_the_key_and_the_fix() -> None:
    [encrypted] = await AesGcmCodec(new_keyring("2024-01")).encode([PAYLOADS[0]])
    reader = AesGcmCodec(new_keyring("2025-06", "2025-07"))
    with pytest.raises(UnknownKeyError) as caught:
        await reader.decode([encrypted])
    error = caught.value
    assert error.key_id == "2024-01"
    assert error.configured == ("2025-06", "2025-07")
    message = str(error)
    assert "'2024-01'" in message
    assert "AION_CRYPTO_KEYS" in message
    assert "AION_CRYPTO_KEY_FILE" in message
    assert isinstance(error, PayloadDecryptionError | ConfigurationError)
    assert isinstance(error, AionError)


async def test_another_algorithm_is_a_clear_error() -> None:
    codec = AesGcmCodec(new_keyring("k1"))
    [encrypted] = await codec.encode([PAYLOADS[0]])
    other = encrypted.model_copy(update={"metadata": {**encrypted.metadata, "encryption": "xyz"}})
    with pytest.raises(PayloadDecryptionError, match=r"'xyz'.*upgrade aion-plugin-crypto"):
        await codec.decode([other])


async def test_a_payload_without_a_key_id_is_refused() -> None:
    codec = AesGcmCodec(new_keyring("k1"))
    [encrypted] = await codec.encode([PAYLOADS[0]])
    metadata = {k: v for k, v in encrypted.metadata.items() if k != "encryption-key-id"}
    with pytest.raises(TamperedPayloadError, match="no encryption-key-id"):
        await codec.decode([encrypted.model_copy(update={"metadata": metadata})])


def test_a_keyring_refuses_what_cannot_work() -> None:
    key = EncryptionKey("k1", bytes(32))
    with pytest.raises(ConfigurationError, match="at least one"):
        Keyring([], "k1")
    with pytest.raises(ConfigurationError, match="'k2' is not among the configured keys"):
        Keyring([key], "k2")
    with pytest.raises(ConfigurationError, match="given twice"):
        Keyring([key, EncryptionKey("k1", bytes(16))], "k1")
    with pytest.raises(ConfigurationError, match="17 bytes long"):
        EncryptionKey("k1", bytes(17))
    with pytest.raises(ConfigurationError, match="invalid key id"):
        EncryptionKey("no spaces", bytes(16))
