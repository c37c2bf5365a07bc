"""`TransportContract`: the conformance suite every transport passes (DESIGN 2.3, 3, 7).

Subclass it in a test module and provide two fixtures: ``transport_url``, a URL
that engines, workers and clients of one test share and no other test sees (a
fresh namespace), and ``store``, a store URL or opened-on-demand store the
engines of one test share::

    class TestMyTransport(TransportContract):
        @pytest.fixture
        def transport_url(self) -> str:
            return f"my://host?namespace=t{uuid.uuid4().hex}"

        @pytest.fixture
        def store(self) -> str | EventStore:
            return MemoryEventStore()

Every test runs an engine with no activities of its own, a `Worker` that runs
them, and a `Client`, all meeting on the transport: what crosses it is what
is tested. Needs pytest and pytest-asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from aion_core import activity, workflow
from aion_core.client import Client
from aion_core.engine import Engine
from aion_core.errors import (
    ActivityError,
    PayloadValidationError,
    QueryHandlerFailed,
    UnknownQuery,
    UpdateRejectedError,
    WorkflowAlreadyStartedError,
    WorkflowClosedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
    WorkflowStateError,
)
from aion_core.events import (
    ActivityCompleted,
    ActivityFailed,
    ActivityTimedOut,
    Event,
    WorkflowCompleted,
    WorkflowStatus,
)
from aion_core.handle import WorkflowHandle
from aion_core.retry import RetryPolicy
from aion_core.store.protocol import EventStore
from aion_core.worker import Worker

__all__ = ["TransportContract"]

_FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=10), maximum_attempts=3)
_failures_left: dict[str, int] = {}


@activity.defn(name="contract.shout")
async def shout(text: str) -> str:
    """Upper-cases `text`; fails as many times first as `_failures_left` says."""
    left = _failures_left.get(text, 0)
    if left:
        _failures_left[text] = left - 1
        raise RuntimeError(f"{text}: failing on purpose, {left - 1} more to go")
    return text.upper()


@activity.defn(name="contract.dawdle")
async def dawdle(seconds: float) -> str:
    """Sleeps, heart-beating, unless cancelled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        activity.heartbeat(deadline - loop.time())
        await asyncio.sleep(0.02)
    return "woke"


@workflow.defn(name="contract.Greeter")
class Greeter:
    """Shouts at everyone it is signalled, answers queries and updates."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, greeting: str) -> list[str]:
        shouted = [await workflow.execute_activity(shout, greeting, retry_policy=_FAST_RETRY)]
        await workflow.wait_condition(lambda: self.done)
        for name in self.names:
            shouted.append(await workflow.execute_activity(shout, name, retry_policy=_FAST_RETRY))
        return shouted

    @workflow.signal
    async def add(self, name: str) -> None:
        self.names.append(name)

    @workflow.signal
    async def finish(self) -> None:
        self.done = True

    @workflow.query
    def count(self, plus: int) -> int:
        return len(self.names) + plus

    @workflow.query
    def broken(self) -> int:
        raise ValueError("this query always fails")

    @workflow.update
    async def rename(self, old: str, new: str) -> int:
        self.names = [new if name == old else name for name in self.names]
        return self.names.count(new)

    @rename.validator  # type: ignore[untyped-decorator]
    def _no_empty_names(self, old: str, new: str) -> None:
        if not new:
            raise ValueError("names must not be empty")


@workflow.defn(name="contract.slow")
async def slow(seconds: float, timeout: float) -> str:
    """One activity that takes `seconds`, under a `timeout` start-to-close limit."""
    return await workflow.execute_activity(
        dawdle,
        seconds,
        start_to_close_timeout=timedelta(seconds=timeout),
        heartbeat_timeout=timedelta(seconds=5),
        retry_policy=RetryPolicy(maximum_attempts=1),
    )


_WORKFLOWS = [Greeter, slow]


async def _once_idle(handle: WorkflowHandle) -> list[Event]:
    """The history once the greeting activity is done (nothing more happens by itself)."""
    async with asyncio.timeout(30):
        while True:
            history = await handle.history()
            if any(isinstance(e.body, ActivityCompleted) for e in history):
                return history
            await asyncio.sleep(0.02)


_ACTIVITIES = [shout, dawdle]


class TransportContract:
    """Behaviour every transport must show; subclasses provide ``transport_url`` and ``store``."""

    pytestmark = pytest.mark.asyncio

    @asynccontextmanager
    async def cluster(
        self, transport_url: str, store: str | EventStore
    ) -> AsyncIterator[tuple[Engine, Client]]:
        """An engine with no activities, a worker with them, and a client, on the transport."""
        async with (
            Engine(store, transport=transport_url, workflows=_WORKFLOWS) as engine,
            Worker(transport_url, activities=_ACTIVITIES, task_queue="default"),
        ):
            client = await Client.connect(transport_url, workflows=_WORKFLOWS)
            try:
                yield engine, client
            finally:
                await client.close()

    async def test_a_client_starts_a_workflow_whose_activities_a_worker_runs(
        self, transport_url: str, store: str | EventStore
    ) -> None:
        async with self.cluster(transport_url, store) as (_, client):
            handle = await client.start_workflow(Greeter.run, "hi", id="greeter-1")
            await handle.signal(Greeter.add, "ada")
            await handle.signal("add", "bob")  # by name: plain JSON
            await handle.signal(Greeter.finish)
            assert await handle.result() == ["HI", "ADA", "BOB"]
            record = await handle.describe()
            assert record.status is WorkflowStatus.COMPLETED
            assert record.workflow_type == "contract.Greeter"
            history = await handle.history()
            assert isinstance(history[-1].body, WorkflowCompleted)
            assert [e.seq for e in history] == list(range(1, len(history) + 1))

    async def test_queries_and_updates_cross_and_queries_record_nothing(
        self, transport_url: str, store: str | EventStore
    ) -> None:
        async with self.cluster(transport_url, store) as (_, client):
            handle = await client.start_workflow(Greeter.run, "hi", id="greeter-2")
            await handle.signal(Greeter.add, "ada")
            before = await _once_idle(handle)
            assert await handle.query(Greeter.count, 0) == 1
            assert await handle.query("count", 10) == 11
            with pytest.raises(UnknownQuery):
                await handle.query("no_such_query")
            with pytest.raises(QueryHandlerFailed, match="always fails"):
                await handle.query(Greeter.broken)
            assert await handle.history() == before  # no query outcome appends
            assert await handle.execute_update(Greeter.rename, "ada", "cy") == 1
            with pytest.raises(UpdateRejectedError, match="must not be empty"):
                await handle.execute_update(Greeter.rename, "cy", "")
            await handle.signal(Greeter.finish)
            assert await handle.result() == ["HI", "CY"]

    async def test_typed_errors_cross_the_wire_intact(
        self, transport_url: str, store: str | EventStore
    ) -> None:
        async with self.cluster(transport_url, store) as (_, client):
            with pytest.raises(WorkflowNotFoundError) as missing:
                await client.get_handle("nobody").signal(Greeter.add, "ada")
            assert missing.value.workflow_id == "nobody"
            with pytest.raises(PayloadValidationError):
                await client.start_workflow(Greeter.run, 42, id="bad-input")
            with pytest.raises(WorkflowNotFoundError):
                await client.get_handle("bad-input").describe()
            handle = await client.start_workflow(Greeter.run, "hi", id="greeter-3")
            with pytest.raises(WorkflowAlreadyStartedError) as started:
                await client.start_workflow(Greeter.run, "hi", id="greeter-3")
            assert started.value.run_id == handle.run_id
            with pytest.raises(WorkflowStateError):
                await handle.resume()
            await handle.terminate("enough")
            with pytest.raises(WorkflowClosedError):
                await handle.signal(Greeter.add, "late")
            with pytest.raises(WorkflowFailureError, match="enough"):
                await handle.result()

    async def test_cancel_pause_resume_and_listing(
        self, transport_url: str, store: str | EventStore
    ) -> None:
        async with self.cluster(transport_url, store) as (_, client):
            handle = await client.start_workflow(Greeter.run, "hi", id="greeter-4")
            await handle.pause("hold on")
            assert (await handle.describe()).status is WorkflowStatus.PAUSED
            await handle.signal(Greeter.add, "ada")  # kept while paused
            await handle.resume()
            assert await handle.query(Greeter.count, 0) == 1
            await handle.cancel("no longer needed")
            with pytest.raises(WorkflowFailureError, match="cancel"):
                await handle.result()
            other = await client.start_workflow(Greeter.run, "yo", id="greeter-5")
            listed = await client.list_workflows(status=WorkflowStatus.RUNNING)
            assert [r.workflow_id for r in listed] == ["greeter-5"]
            assert await client.count_workflows(type="contract.Greeter") == 2
            await other.terminate()

    async def test_live_events_reach_watchers_after_commit(
        self, transport_url: str, store: str | EventStore
    ) -> None:
        async with self.cluster(transport_url, store) as (_, client):
            handle = await client.start_workflow(Greeter.run, "hi", id="greeter-6")
            seen: list[Event] = []
            watching = asyncio.Event()

            async def watch() -> None:
                events = handle.events()
                watching.set()
                async for event in events:
                    seen.append(event)
                    if isinstance(event.body, WorkflowCompleted):
                        return

            watcher = asyncio.create_task(watch())
            await watching.wait()
            await asyncio.sleep(0.2)  # the subscription is in place before the signal
            await handle.signal(Greeter.finish)
            result = await handle.result()
            async with asyncio.timeout(10):
                await watcher
            assert result == ["HI"]
            history = await handle.history()
            assert [e.seq for e in seen] == [e.seq for e in history[-len(seen) :]]

    async def test_failed_attempts_are_retried_and_recorded_with_their_number(
        self, transport_url: str, store: str | EventStore
    ) -> None:
        _failures_left["flaky"] = 2
        async with self.cluster(transport_url, store) as (_, client):
            handle = await client.start_workflow(Greeter.run, "flaky", id="greeter-7")
            await handle.signal(Greeter.finish)
            assert await handle.result() == ["FLAKY"]
            failed = [e.body for e in await handle.history() if isinstance(e.body, ActivityFailed)]
        assert [(f.attempt, f.failure.type) for f in failed] == [
            (1, "RuntimeError"),
            (2, "RuntimeError"),
        ]

    async def test_the_engine_enforces_timeouts_on_workers(
        self, transport_url: str, store: str | EventStore
    ) -> None:
        async with self.cluster(transport_url, store) as (_, client):
            assert await client.execute_workflow(slow, 0.05, 10.0, id="slow-ok") == "woke"
            handle = await client.start_workflow(slow, 30.0, 0.5, id="slow-late")
            with pytest.raises(WorkflowFailureError) as caught:
                await handle.result()
            assert caught.value.__cause__ is not None
            assert caught.value.__cause__.type == ActivityError.__name__  # type: ignore[attr-defined]
            history = await handle.history()
        timed_out = [e.body for e in history if isinstance(e.body, ActivityTimedOut)]
        assert [t.timeout_kind for t in timed_out] == ["start_to_close"]
