"""Rotating keys: histories written with an old key keep running once a new key encrypts."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from aion_core import Engine, WorkflowHandle
from aion_core.codec import payloads_in
from aion_core.events import Payload, SignalReceived
from aion_plugin_crypto import AesGcmCodec, EncryptionKey, Keyring, UnknownKeyError, is_encrypted

from .conftest import plugins_with
from .flows import MARKER, Courier, deliver

OLD = EncryptionKey("2025-01", os.urandom(32))
NEW = EncryptionKey("2025-06", os.urandom(16))
PAYLOAD = Payload(metadata={"encoding": "json/plain"}, data=b'"parcel"')


async def test_every_configured_key_decrypts_and_only_the_current_one_encrypts() -> None:
    [old_payload] = await AesGcmCodec(Keyring([OLD], OLD.id)).encode([PAYLOAD])
    rotated = AesGcmCodec(Keyring([OLD, NEW], NEW.id))
    [new_payload] = await rotated.encode([PAYLOAD])
    assert new_payload.metadata["encryption-key-id"] == NEW.id
    assert await rotated.decode([old_payload, new_payload]) == [PAYLOAD, PAYLOAD]
    with pytest.raises(UnknownKeyError, match="'2025-01'"):
        await AesGcmCodec(Keyring([NEW], NEW.id)).decode([old_payload])


async def until_delivered(handle: WorkflowHandle) -> None:
    """Wait until the courier's activity is recorded (it then waits for a note)."""
    async with asyncio.timeout(30):
        while True:
            if await handle.query(Courier.last_receipt):
                return
            await asyncio.sleep(0.02)


async def key_ids_before_and_from_the_note(handle: WorkflowHandle) -> tuple[set[str], set[str]]:
    """The key ids of the payloads recorded before the note arrived, and from it on."""
    history = await handle.history()
    note = next(i for i, e in enumerate(history) if isinstance(e.body, SignalReceived))
    before, after = payloads_in(tuple(history[:note])), payloads_in(tuple(history[note:]))
    return _key_ids(before), _key_ids(after)


def _key_ids(payloads: list[Payload]) -> set[str]:
    return {p.metadata.get("encryption-key-id", "plaintext") for p in payloads}


async def test_a_workflow_started_under_the_old_key_finishes_under_the_new_one(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'x.db'}"

    def engine(*keys: EncryptionKey) -> Engine:
        plugins = plugins_with(Keyring(keys, keys[-1].id))
        return Engine(store, workflows=[Courier], activities=[deliver], plugins=plugins)

    async with engine(OLD) as before:
        await until_delivered(await before.start_workflow(Courier.run, "p", id="w"))
    # Restarted with both keys, the new one current: the workflow is recovered by
    # replaying its history (old key) and goes on writing with the new key.
    async with engine(OLD, NEW) as after:
        handle = after.get_handle("w")
        await handle.signal(Courier.note, "after rotation")
        assert await handle.result() == [f"p delivered; receipt {MARKER}-receipt", "after rotation"]
        assert await key_ids_before_and_from_the_note(handle) == ({OLD.id}, {NEW.id})
    # Without the old key the old part cannot be read, and the error says which key is missing.
    async with engine(NEW) as forgetful:
        with pytest.raises(UnknownKeyError, match="'2025-01', which is not configured"):
            await forgetful.get_handle("w").query(Courier.last_receipt)


async def test_a_history_recorded_before_the_plugin_still_runs_with_it(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'x.db'}"
    async with Engine(
        store, workflows=[Courier], activities=[deliver], plugins=plugins_with(None)
    ) as plain:
        handle = await plain.start_workflow(Courier.run, "p", id="w")
        await until_delivered(handle)
    plugins = plugins_with(Keyring([NEW], NEW.id))
    async with Engine(store, workflows=[Courier], activities=[deliver], plugins=plugins) as engine:
        handle = engine.get_handle("w")
        await handle.signal(Courier.note, "encrypted from here")
        assert (await handle.result())[1] == "encrypted from here"
        assert await key_ids_before_and_from_the_note(handle) == ({"plaintext"}, {NEW.id})
        assert not any(is_encrypted(p) for p in payloads_in((await handle.history())[0]))
