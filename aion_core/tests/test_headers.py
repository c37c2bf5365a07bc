"""Headers carry a caller's context to the code it makes run: client interceptors set them,
workflow code passes them on to its activities, children and signals, and they are recorded,
so a replayed run and a restarted engine see the same."""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aion_core import Client, Engine, EventStore, Worker, activity, workflow
from aion_core.events import (
    ActivityScheduled,
    ChildWorkflowStarted,
    EventBody,
    ExternalSignalSent,
    SignalReceived,
    UpdateAccepted,
    WorkflowStarted,
)
from aion_core.interceptors import (
    ActivityCall,
    ActivityInterceptor,
    ClientCall,
    ClientInterceptor,
    HandlerCall,
    WorkflowCall,
    WorkflowInterceptor,
)
from aion_core.plugins import Plugins, load_plugins

# What workflow code is "inside", as a tracer's current span would be.
current_path: contextvars.ContextVar[str] = contextvars.ContextVar("current_path", default="?")


class Propagation:
    """A plugin passing a path along: client operation / workflow type / ..."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []
        seen = self.seen

        class Clients(ClientInterceptor):
            async def send(
                self, call: ClientCall, proceed: Callable[[ClientCall], Awaitable[object]]
            ) -> object:
                headers = {**call.headers, "path": f"client-{call.operation}:{call.name}"}
                return await proceed(dataclasses.replace(call, headers=headers))

        class Workflows(WorkflowInterceptor):
            async def execute_workflow(
                self, call: WorkflowCall, proceed: Callable[[WorkflowCall], Awaitable[object]]
            ) -> object:
                seen.append(("run", call.workflow_type, dict(call.headers), call.replaying))
                current_path.set(f"{call.headers.get('path', '')}/{call.workflow_type}")
                return await proceed(call)

            def execute_handler(
                self, call: HandlerCall, proceed: Callable[[HandlerCall], object]
            ) -> object:
                seen.append((call.kind, call.name, dict(call.headers), call.replaying))
                return proceed(call)

            def command_headers(
                self, command: EventBody, headers: Mapping[str, str]
            ) -> Mapping[str, str]:
                return {**headers, "path": current_path.get()}

        class Activities(ActivityInterceptor):
            async def execute_activity(
                self, call: ActivityCall, proceed: Callable[[ActivityCall], Awaitable[object]]
            ) -> object:
                seen.append(("activity", call.activity_type, dict(call.headers)))
                return await proceed(call)

        self.clients, self.workflows, self.activities = Clients(), Workflows(), Activities()

    def aion_client_interceptors(self) -> list[ClientInterceptor]:
        return [self.clients]

    def aion_workflow_interceptors(self) -> list[WorkflowInterceptor]:
        return [self.workflows]

    def aion_activity_interceptors(self) -> list[ActivityInterceptor]:
        return [self.activities]


def with_propagation() -> tuple[Plugins, Propagation]:
    plugins = load_plugins()
    propagation = Propagation()
    plugins.register(propagation, "propagation")
    return plugins, propagation


@activity.defn
async def add_one(x: int) -> int:
    return x + 1


@workflow.defn(name="headers.Child")
class Child:
    @workflow.run
    async def run(self, x: int) -> int:
        return await workflow.execute_activity(add_one, x)


@workflow.defn(name="headers.Parent")
class Parent:
    def __init__(self) -> None:
        self.poked = 0

    @workflow.run
    async def run(self, x: int) -> int:
        await workflow.wait_condition(lambda: self.poked > 0)
        y = await workflow.execute_activity(add_one, x)
        z = await workflow.execute_child_workflow(Child.run, y, id="headers-child")
        await workflow.signal_external("headers-listener", "hear", z)
        return z

    @workflow.signal
    def poke(self) -> None:
        self.poked += 1

    @workflow.query
    def pokes(self) -> int:
        return self.poked

    @workflow.update
    async def bump(self, by: int) -> int:
        self.poked += by
        return self.poked


@workflow.defn(name="headers.Listener")
class Listener:
    def __init__(self) -> None:
        self.heard: list[int] = []

    @workflow.run
    async def run(self) -> list[int]:
        await workflow.wait_condition(lambda: bool(self.heard))
        return self.heard

    @workflow.signal
    def hear(self, value: int) -> None:
        self.heard.append(value)


WORKFLOWS = [Parent, Child, Listener]

START = {"path": "client-start:headers.Parent"}
IN_PARENT = {"path": "client-start:headers.Parent/headers.Parent"}


async def drive(operations: Engine | Client) -> None:
    await operations.start_workflow(Listener.run, id="headers-listener")
    handle = await operations.start_workflow(Parent.run, 1, id="headers-parent")
    await handle.signal(Parent.poke)
    assert await handle.query(Parent.pokes) == 1
    assert await handle.execute_update(Parent.bump, 2) == 3
    assert await handle.result() == 3
    assert await operations.get_handle("headers-listener").result() == [3]


def assert_propagated(seen: list[tuple[Any, ...]]) -> None:
    assert ("run", "headers.Parent", START, False) in seen
    assert ("signal", "poke", {"path": "client-signal:poke"}, False) in seen
    assert ("query", "pokes", {"path": "client-query:pokes"}, False) in seen
    assert ("update", "bump", {"path": "client-update:bump"}, False) in seen
    # What the parent's code started carries the parent's context ...
    assert ("activity", "add_one", IN_PARENT) in seen
    assert ("run", "headers.Child", IN_PARENT, False) in seen
    assert ("signal", "hear", IN_PARENT, False) in seen
    # ... and the child's activity the child's.
    assert ("activity", "add_one", {"path": IN_PARENT["path"] + "/headers.Child"}) in seen


async def test_headers_travel_from_a_caller_through_workflows_to_activities_in_one_engine(
    store_url: str,
) -> None:
    plugins, propagation = with_propagation()
    async with Engine(
        store_url, workflows=WORKFLOWS, activities=[add_one], plugins=plugins
    ) as engine:
        await drive(engine)
        history = await engine.history("headers-parent")
    assert_propagated(propagation.seen)
    recorded = {type(e.body): e.body for e in history}
    assert isinstance(started := recorded[WorkflowStarted], WorkflowStarted)
    assert started.headers == START
    for kind in (ActivityScheduled, ChildWorkflowStarted, ExternalSignalSent):
        assert recorded[kind].headers == IN_PARENT  # type: ignore[attr-defined]
    assert recorded[SignalReceived].headers == {"path": "client-signal:poke"}  # type: ignore[attr-defined]
    assert recorded[UpdateAccepted].headers == {"path": "client-update:bump"}  # type: ignore[attr-defined]


async def test_headers_cross_the_transport_to_engines_and_activity_workers() -> None:
    url = "inproc://headers-on-the-wire"
    plugins, propagation = with_propagation()
    async with (
        Engine("memory://", transport=url, workflows=WORKFLOWS, plugins=plugins),
        Worker(url, activities=[add_one], plugins=plugins),
    ):
        client = await Client.connect(url, workflows=WORKFLOWS, plugins=plugins)
        try:
            await drive(client)
        finally:
            await client.close()
    assert_propagated(propagation.seen)


async def test_a_restarted_engine_replays_a_run_with_its_recorded_headers(
    reusable_store: str | EventStore,
) -> None:
    plugins, propagation = with_propagation()
    options: dict[str, Any] = {"workflows": WORKFLOWS, "activities": [add_one]}
    async with Engine(reusable_store, plugins=plugins, **options) as engine:
        await engine.start_workflow(Listener.run, id="headers-listener")
        await engine.start_workflow(Parent.run, 1, id="headers-parent")
    assert propagation.seen == [
        ("run", "headers.Listener", {"path": "client-start:headers.Listener"}, False),
        ("run", "headers.Parent", START, False),
    ]
    plugins, propagation = with_propagation()
    async with Engine(reusable_store, plugins=plugins, **options) as engine:
        handle = engine.get_handle("headers-parent")
        await handle.signal(Parent.poke)
        assert await handle.result() == 3
    # Rebuilt from history: the start's headers, as recorded; marked as a replay.
    assert ("run", "headers.Parent", START, True) in propagation.seen
    assert ("signal", "poke", {"path": "client-signal:poke"}, False) in propagation.seen
    assert ("activity", "add_one", IN_PARENT) in propagation.seen


@workflow.defn(name="headers.Counter")
async def counter(n: int) -> int:
    if n < 2:
        workflow.continue_as_new(n + 1)
    return n


async def test_a_run_continued_as_new_carries_the_headers_of_the_run_before() -> None:
    plugins, propagation = with_propagation()
    async with Engine("memory://", workflows=[counter], plugins=plugins) as engine:
        assert await engine.execute_workflow(counter, 0, id="headers-counter") == 2
    start = {"path": "client-start:headers.Counter"}
    # command_headers saw the continue-as-new outside the run's code: the start's headers go on.
    runs = [entry for entry in propagation.seen if entry[0] == "run"]
    assert [entry[2]["path"].split("/")[0] for entry in runs] == [start["path"]] * 3


async def test_without_interceptors_nothing_is_added() -> None:
    async with Engine(
        "memory://", workflows=WORKFLOWS, activities=[add_one], plugins=load_plugins()
    ) as engine:
        await drive(engine)
        history = await engine.history("headers-parent")
    assert all(getattr(event.body, "headers", {}) == {} for event in history)
