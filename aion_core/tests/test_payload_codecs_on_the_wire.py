"""Payloads cross a transport encoded, as the store holds them; code on both sides sees values.

A recording transport client (around the in-process one) keeps every call a
client sends and every reply it gets, every activity task a worker takes and
every report it sends. With a codec installed, each payload among them is
encoded: an encryption codec leaves nothing readable on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aion_core import Client, Engine, Worker, activity, workflow
from aion_core.calls import Call, QueryCall, StartCall, SubmitCall, UpdateCall
from aion_core.codec import payloads_in
from aion_core.events import SignalReceived, WorkflowStarted
from aion_core.plugins import Plugins, load_plugins
from aion_core.tasks import ActivityTask, AttemptReport
from aion_core.transport import TaskDelivery, TransportClient

from .test_payload_codecs import CodecPlugin

XOR = {"encoding": "binary/xor", "inner": "json/plain"}


def obscuring_plugins() -> Plugins:
    """The stores `store_url` needs, no other installed plugin, and the obscuring codec."""
    plugins = load_plugins({"AION_PLUGINS": "sqlite,postgresql"})
    plugins.manager.register(CodecPlugin(), name="obscure")
    return plugins


class RecordingTransport:
    """The client side of a transport, keeping every message that crosses it."""

    def __init__(self, inner: TransportClient) -> None:
        self.inner = inner
        self.messages: list[object] = []

    @property
    def namespace(self) -> str:
        return self.inner.namespace

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def call(self, call: Call, timeout: float) -> object:
        self.messages.append(call)
        reply = await self.inner.call(call, timeout)
        self.messages.append(reply)
        return reply

    def events(self, workflow_id: str) -> AsyncIterator[Any]:
        return self.inner.events(workflow_id)

    async def tasks(self, task_queue: str, capacity: int) -> AsyncIterator[TaskDelivery]:
        async for delivery in self.inner.tasks(task_queue, capacity):
            self.messages.append(delivery.task)
            yield delivery

    async def report(self, report: AttemptReport) -> None:
        self.messages.append(report)
        await self.inner.report(report)

    def cancellations(self) -> AsyncIterator[str]:
        return self.inner.cancellations()


@activity.defn(name="wire.shout")
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn(name="wire.Echo")
class Echo:
    def __init__(self) -> None:
        self.heard: list[str] = []

    @workflow.run
    async def run(self, text: str) -> list[str]:
        shouted = await workflow.execute_activity(shout, text)
        await workflow.wait_condition(lambda: len(self.heard) >= 2)
        return [shouted, *self.heard]

    @workflow.signal
    async def hear(self, text: str) -> None:
        self.heard.append(text)

    @workflow.query
    def heard_so_far(self, prefix: str) -> list[str]:
        return [prefix + text for text in self.heard]

    @workflow.update
    async def hear_and_count(self, text: str) -> int:
        self.heard.append(text)
        return len(self.heard)


async def test_every_payload_crossing_the_transport_is_encoded() -> None:
    url = "inproc://codec-on-the-wire"
    plugins = obscuring_plugins()
    worker_side = RecordingTransport(plugins.transport_client(url))
    client_side = RecordingTransport(plugins.transport_client(url))
    async with (
        Engine("memory://", transport=url, workflows=[Echo], plugins=plugins),
        Worker(worker_side, activities=[shout], plugins=plugins),
    ):
        await client_side.connect()
        client = Client(client_side, plugins=plugins, workflows=[Echo])
        handle = await client.start_workflow(Echo.run, "ada", id="echo")
        await handle.signal(Echo.hear, "bob")
        assert await handle.query(Echo.heard_so_far, "> ") == ["> bob"]
        assert await handle.execute_update(Echo.hear_and_count, "cy") == 2
        assert await handle.result() == ["ADA", "bob", "cy"]
        await client.close()
    crossed = client_side.messages + worker_side.messages
    kinds: set[str] = set()
    for message in crossed:
        for payload in payloads_in(tuple(message) if isinstance(message, list) else message):
            assert payload.metadata == XOR, f"{type(message).__name__} carries {payload}"
            kinds.add(type(message).__name__)
    expected = {StartCall, SubmitCall, QueryCall, UpdateCall, ActivityTask, AttemptReport}
    # Replies too: a query's answer (a payload), an update's completion, the closing event.
    assert {cls.__name__ for cls in expected} | {"Payload", "UpdateCompleted", "Event"} <= kinds


@workflow.defn(name="wire.Child")
class Child:
    def __init__(self) -> None:
        self.poked = ""

    @workflow.run
    async def run(self, text: str) -> str:
        await workflow.wait_condition(lambda: bool(self.poked))
        return text + self.poked

    @workflow.signal
    async def poke(self, text: str) -> None:
        self.poked = text


@workflow.defn(name="wire.Parent")
async def parent(text: str) -> str:
    child = await workflow.start_child_workflow(Child.run, text, id="child")
    await workflow.signal_external("child", "poke", "!")
    return await child.result()


async def test_a_child_input_and_an_external_signal_are_encoded_once(store_url: str) -> None:
    # One cached workflow: parent and child evict each other and are rebuilt by
    # replay, which decodes each payload once.
    async with Engine(
        store_url, workflows=[parent, Child], plugins=obscuring_plugins(), max_cached_workflows=1
    ) as engine:
        assert await engine.execute_workflow(parent, "hi", id="parent") == "hi!"
        history = await engine.get_handle("child").history()
    [started] = [e.body for e in history if isinstance(e.body, WorkflowStarted)]
    [signal] = [e.body for e in history if isinstance(e.body, SignalReceived)]
    assert [p.metadata for p in (*started.input, *signal.args)] == [XOR, XOR]
