"""Payload codecs from plugins transform every payload on its way into the history and back."""

from __future__ import annotations

from collections.abc import Sequence

from aion_core import Engine, activity, workflow
from aion_core.events import ActivityCompleted, ActivityScheduled, Payload, WorkflowStarted
from aion_core.plugins import load_plugins


class Obscure:
    """A stand-in for encryption: XOR the bytes and mark the payload as such."""

    KEY = 0x5A

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": "binary/xor", "inner": p.metadata.get("encoding", "")},
                data=bytes(b ^ self.KEY for b in p.data),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": p.metadata["inner"]}, data=bytes(b ^ self.KEY for b in p.data)
            )
            if p.metadata.get("encoding") == "binary/xor"
            else p
            for p in payloads
        ]


class CodecPlugin:
    def aion_payload_codecs(self) -> list[Obscure]:
        return [Obscure()]


@activity.defn
async def shout(text: str) -> str:
    return text.upper() + "!"


@workflow.defn
async def greet(name: str) -> str:
    return await workflow.execute_activity(shout, f"hello {name}")


async def test_payloads_are_stored_encoded_and_code_sees_them_decoded(store_url: str) -> None:
    plugins = load_plugins()
    plugins.manager.register(CodecPlugin(), name="obscure")
    async with Engine(store_url, workflows=[greet], activities=[shout], plugins=plugins) as engine:
        handle = await engine.start_workflow(greet, "ada", id="greet-ada")
        assert await handle.result() == "HELLO ADA!"
        history = await handle.history()
    payloads: list[Payload] = []
    for event in history:
        body = event.body
        if isinstance(body, WorkflowStarted | ActivityScheduled):
            payloads.extend(body.input)
        elif isinstance(body, ActivityCompleted):
            payloads.append(body.result)
    assert len(payloads) == 3
    for payload in payloads:
        assert payload.metadata["encoding"] == "binary/xor"
        assert b"ada" not in payload.data.lower()
    assert '"ada"' not in history[0].body.model_dump_json()  # the JSON text of the input


async def test_without_the_codec_an_encoded_history_is_a_clear_error(tmp_path: object) -> None:
    plugins = load_plugins()
    plugins.manager.register(CodecPlugin(), name="obscure")
    from aion_core.store.memory import MemoryEventStore

    store = MemoryEventStore()
    async with Engine(store, workflows=[greet], activities=[shout], plugins=plugins) as engine:
        await engine.start_workflow(greet, "bob", id="g")
        assert await engine.get_handle("g").result() == "HELLO BOB!"
    import pytest

    from aion_core import PayloadValidationError

    async with Engine(
        store, workflows=[greet], activities=[shout], plugins=load_plugins()
    ) as plain:
        with pytest.raises(PayloadValidationError, match="is the payload codec that wrote it"):
            await plain.get_handle("g").result()
