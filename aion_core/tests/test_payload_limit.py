"""Oversized payloads meet a configurable limit and a clear, typed error; nothing is recorded.

`max_payload_bytes` (default 2 MiB) bounds the JSON of each payload an engine,
client or worker encodes: a caller's oversized input or argument is refused
before anything is appended; an activity whose result is too large fails its
attempt for good; workflow code gets the error where it passes the value, so a
result too large fails the workflow. Payloads already recorded are never checked
again, so lowering the limit leaves running workflows alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
import pytest_asyncio

from aion_core import (
    ApplicationError,
    Client,
    ConfigurationError,
    Engine,
    MemoryEventStore,
    PayloadTooLargeError,
    PayloadValidationError,
    RetryPolicy,
    Worker,
    WorkflowFailureError,
    activity,
    workflow,
)
from aion_core.calls import error_from_wire, error_to_wire
from aion_core.converter import DEFAULT_MAX_PAYLOAD_BYTES, to_payload, to_payloads
from aion_core.events import ActivityFailed, ActivityStarted, Event, WorkflowFailed

WaitForHistory = Callable[[Engine, str, Callable[[list[Event]], bool]], Awaitable[list[Event]]]

LIMIT = 1000
"""The limit these tests set: a string of n characters is n + 2 bytes of JSON."""
FITS = "x" * (LIMIT - 2)
TOO_BIG = "x" * (LIMIT - 1)
RETRY_FAST = RetryPolicy(initial_interval=timedelta(milliseconds=5), maximum_attempts=5)


@activity.defn
async def make_blob(size: int) -> str:
    return "x" * size


@activity.defn
async def measure(blob: str) -> int:
    return len(blob)


@workflow.defn
async def fetch_blob(size: int) -> int:
    return len(await workflow.execute_activity(make_blob, size, retry_policy=RETRY_FAST))


@workflow.defn
async def send_blob(size: int) -> int:
    return await workflow.execute_activity(measure, "x" * size)


@workflow.defn
async def return_blob(size: int) -> str:
    return "x" * size


@workflow.defn
class Inbox:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.execute_activity(measure, "hello")
        await workflow.wait_condition(lambda: self.done)
        return len(self.items)

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def count(self, prefix: str) -> int:
        return sum(item.startswith(prefix) for item in self.items)

    @workflow.update
    def repeat(self, times: int) -> str:
        return "x" * times

    @workflow.update
    def remember(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)


@workflow.defn
class Carrier:
    """Passes its input on to an activity, then waits for a signal: a history to replay."""

    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self, blob: str) -> int:
        measured = await workflow.execute_activity(measure, blob)
        await workflow.wait_condition(lambda: self.go)
        return measured

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


WORKFLOWS = [fetch_blob, send_blob, return_blob, Inbox, Carrier]
ACTIVITIES = [make_blob, measure]


@pytest_asyncio.fixture
async def engine() -> AsyncIterator[Engine]:
    async with Engine(
        "memory://", workflows=WORKFLOWS, activities=ACTIVITIES, max_payload_bytes=LIMIT
    ) as engine:
        yield engine


async def test_the_default_limit_is_two_mebibytes() -> None:
    assert DEFAULT_MAX_PAYLOAD_BYTES == 2 * 1024 * 1024
    assert Engine("memory://").max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES
    assert Worker(activities=[measure]).max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES
    async with Engine("memory://", transport="inproc://payload-limit-default"):
        client = await Client.connect("inproc://payload-limit-default")
        async with client:
            assert client.max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "2MiB"])
def test_a_limit_that_is_not_a_positive_integer_is_refused(limit: object) -> None:
    with pytest.raises(ConfigurationError, match="max_payload_bytes must be a positive integer"):
        Engine("memory://", max_payload_bytes=limit)  # type: ignore[arg-type]


def test_a_payload_at_the_limit_passes_and_one_byte_more_is_refused() -> None:
    assert len(to_payload(FITS, str, max_bytes=LIMIT).data) == LIMIT
    with pytest.raises(PayloadTooLargeError) as refused:
        to_payloads([TOO_BIG], [str], "workflow 'w'", max_bytes=LIMIT)
    error = refused.value
    assert (error.what, error.size, error.limit) == ("workflow 'w' argument 1", LIMIT + 1, LIMIT)
    assert isinstance(error, PayloadValidationError)  # callers catching bad input catch it too
    message = str(error)
    assert f"{LIMIT + 1} bytes" in message
    assert f"limit of {LIMIT} bytes" in message
    assert "max_payload_bytes" in message  # says how to raise it


def test_no_limit_means_no_limit() -> None:
    assert len(to_payload("x" * (3 * 1024 * 1024), max_bytes=None).data) > 3 * 1024 * 1024


def test_the_error_crosses_the_wire_as_itself() -> None:
    error = PayloadTooLargeError("signal 'add' argument 1", 5000, LIMIT)
    back = error_from_wire(error_to_wire(error))
    assert isinstance(back, PayloadTooLargeError)
    assert (back.what, back.size, back.limit) == (error.what, error.size, error.limit)
    assert str(back) == str(error)


async def test_an_oversized_workflow_input_starts_nothing(engine: Engine) -> None:
    with pytest.raises(PayloadTooLargeError, match="workflow 'Carrier' argument 1"):
        await engine.start_workflow("Carrier", TOO_BIG, id="too-big")
    assert await engine.count_workflows() == 0
    assert await engine.execute_workflow(return_blob, 3, id="small") == "xxx"


async def test_oversized_signal_query_and_update_arguments_append_nothing(engine: Engine) -> None:
    handle = await engine.start_workflow(Inbox.run, id="inbox")
    await handle.signal(Inbox.add, "first")
    before = await handle.history()
    with pytest.raises(PayloadTooLargeError, match="signal 'add' argument 1"):
        await handle.signal(Inbox.add, TOO_BIG)
    with pytest.raises(PayloadTooLargeError, match="signal 'add' argument 1"):
        await handle.signal("add", TOO_BIG)  # by name: plain JSON, checked all the same
    with pytest.raises(PayloadTooLargeError, match="query 'count' argument 1"):
        await handle.query(Inbox.count, TOO_BIG)
    with pytest.raises(PayloadTooLargeError, match="update 'remember' argument 1"):
        await handle.execute_update("remember", TOO_BIG)
    assert await handle.history() == before
    # The workflow goes on: a signal that fits is recorded and handled.
    await handle.signal(Inbox.add, FITS)
    assert await handle.query(Inbox.count, "x") == 1
    await handle.signal(Inbox.finish)
    assert await handle.result() == 2


async def test_an_update_result_too_large_fails_the_update_not_the_workflow(
    engine: Engine,
) -> None:
    handle = await engine.start_workflow(Inbox.run, id="inbox")
    with pytest.raises(ApplicationError, match="update 'repeat' result is 1001 bytes") as failed:
        await handle.execute_update(Inbox.repeat, LIMIT - 1)
    assert failed.value.type == "PayloadTooLargeError"
    assert await handle.execute_update(Inbox.repeat, 3) == "xxx"
    await handle.signal(Inbox.finish)
    assert await handle.result() == 0


async def test_an_activity_result_too_large_fails_its_attempt_without_retries(
    engine: Engine,
) -> None:
    handle = await engine.start_workflow(fetch_blob, LIMIT - 1, id="fetch")
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.__cause__
    assert isinstance(cause, ApplicationError)
    assert "activity result is 1001 bytes, over the limit of 1000 bytes" in str(cause)
    history = await handle.history()
    attempts = [e.body for e in history if isinstance(e.body, ActivityStarted)]
    assert len(attempts) == 1  # not retried, though the policy allows 5 attempts
    [attempt] = [e.body for e in history if isinstance(e.body, ActivityFailed)]
    assert attempt.failure.type == "PayloadTooLargeError"
    assert attempt.failure.non_retryable
    assert attempt.retry_at is None
    assert await engine.execute_workflow(fetch_blob, 10, id="fetch-small") == 10


async def test_an_activity_input_too_large_fails_the_workflow(engine: Engine) -> None:
    handle = await engine.start_workflow(send_blob, LIMIT - 1, id="send")
    with pytest.raises(WorkflowFailureError, match="activity 'measure' argument 1 is 1001 bytes"):
        await handle.result()
    history = await handle.history()
    assert not any(e.type == "ActivityScheduled" for e in history)
    assert isinstance(history[-1].body, WorkflowFailed)
    assert history[-1].body.failure.type == "PayloadTooLargeError"


async def test_a_workflow_result_too_large_fails_the_workflow(engine: Engine) -> None:
    handle = await engine.start_workflow(return_blob, LIMIT - 1, id="big-result")
    with pytest.raises(WorkflowFailureError, match="workflow result is 1001 bytes") as failed:
        await handle.result()
    assert failed.value.status == "failed"
    assert await engine.execute_workflow(return_blob, LIMIT - 2, id="fits") == "x" * (LIMIT - 2)


async def test_a_worker_reports_a_result_too_large_as_a_failed_attempt() -> None:
    url = "inproc://payload-limit-worker"
    async with (
        Engine("memory://", transport=url, workflows=[fetch_blob]) as engine,
        Worker(url, activities=[make_blob], max_payload_bytes=LIMIT),
    ):
        handle = await engine.start_workflow(fetch_blob, LIMIT - 1, id="fetch-remote")
        with pytest.raises(WorkflowFailureError, match="activity result is 1001 bytes"):
            await handle.result()
        history = await handle.history()
        assert sum(isinstance(e.body, ActivityStarted) for e in history) == 1
        assert await engine.execute_workflow(fetch_blob, 10, id="fetch-remote-small") == 10


async def test_an_engine_refuses_oversized_calls_from_a_client_with_a_larger_limit() -> None:
    url = "inproc://payload-limit-client"
    async with Engine(
        "memory://", transport=url, workflows=WORKFLOWS, activities=ACTIVITIES,
        max_payload_bytes=LIMIT,
    ) as engine:  # fmt: skip
        client = await Client.connect(url, max_payload_bytes=None)
        async with client:
            with pytest.raises(PayloadTooLargeError, match="the start call") as refused:
                await client.start_workflow("Carrier", TOO_BIG, id="from-client")
            assert refused.value.limit == LIMIT
            assert await engine.count_workflows() == 0
            handle = await client.start_workflow("Inbox", id="inbox")
            before = await engine.history("inbox")
            with pytest.raises(PayloadTooLargeError, match="the submit call"):
                await handle.signal("add", TOO_BIG)
            assert await engine.history("inbox") == before


async def test_lowering_the_limit_leaves_recorded_payloads_alone(
    wait_for_history: WaitForHistory,
) -> None:
    store = MemoryEventStore()
    big = "x" * (4 * LIMIT)
    async with Engine(store, workflows=WORKFLOWS, activities=ACTIVITIES) as engine:
        await engine.start_workflow(Carrier.run, big, id="carry")
        await wait_for_history(
            engine, "carry", lambda events: events[-1].type == "ActivityCompleted"
        )
    # A new engine with a lower limit recovers the run by replay (its input and its
    # activity's input are over the new limit) and finishes it; new runs get the new limit.
    async with Engine(
        store, workflows=WORKFLOWS, activities=ACTIVITIES, max_payload_bytes=LIMIT
    ) as engine:
        handle = engine.get_handle("carry")
        await handle.signal(Carrier.proceed)
        assert await handle.result() == len(big)
        with pytest.raises(PayloadTooLargeError):
            await engine.start_workflow(Carrier.run, big, id="carry-again")
