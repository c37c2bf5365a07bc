"""Workflows signal each other: recorded in the sender, delivered to the target, outcome back."""

from __future__ import annotations

from aion_core import ApplicationError, Engine, workflow
from aion_core.events import ExternalSignalFailed, SignalReceived


@workflow.defn
class Ponger:
    def __init__(self) -> None:
        self.heard: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.heard))
        return self.heard

    @workflow.signal
    def ping(self, word: str) -> None:
        self.heard.append(word)


@workflow.defn
async def pinger(target: str) -> str:
    await workflow.signal_external(target, Ponger.ping, "hello")
    return "sent"


@workflow.defn
async def signals_nobody() -> str:
    try:
        await workflow.signal_external("nobody-home", "ping", "x")
    except ApplicationError as error:
        return str(error.type)
    return "delivered"


WORKFLOWS = [Ponger, pinger, signals_nobody]


async def test_a_workflow_signals_another(store_url: str) -> None:
    async with Engine(store_url, workflows=WORKFLOWS) as engine:
        target = await engine.start_workflow(Ponger.run, id="ponger")
        assert await engine.execute_workflow(pinger, "ponger", id="pinger") == "sent"
        assert await target.result() == ["hello"]
        sender_types = [e.type for e in await engine.store.read_events("pinger")]
        received = [e.body for e in await target.history() if isinstance(e.body, SignalReceived)]
    assert sender_types == [
        "WorkflowStarted",
        "ExternalSignalSent",
        "ExternalSignalDelivered",
        "WorkflowCompleted",
    ]
    assert [(r.signal_name, r.sender) for r in received] == [("ping", "pinger")]


async def test_a_signal_to_an_unknown_workflow_fails_in_the_sender(store_url: str) -> None:
    async with Engine(store_url, workflows=WORKFLOWS) as engine:
        assert await engine.execute_workflow(signals_nobody, id="lonely") == "WorkflowNotFoundError"
        history = await engine.store.read_events("lonely")
        assert await engine.store.read_events("nobody-home") == []
    [failed] = [e.body for e in history if isinstance(e.body, ExternalSignalFailed)]
    assert "nobody-home" in failed.failure.message
