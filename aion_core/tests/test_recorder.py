"""The recorder is the single writer of a history; group commit shares store commits."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from aion_core.errors import SequenceConflictError, StoreUnavailableError
from aion_core.events import (
    Event,
    EventBody,
    SignalReceived,
    TimerFired,
    TimerStarted,
    WorkflowCompleted,
    WorkflowStarted,
    WorkflowStatus,
)
from aion_core.group_commit import GroupCommitter
from aion_core.recorder import StoreRecorder
from aion_core.store.memory import MemoryEventStore
from aion_core.store.records import AppendBatch, WorkflowFilter

T0 = datetime(2026, 5, 1, tzinfo=UTC)


class CountingStore(MemoryEventStore):
    """A memory store that counts commits and can hold them, to observe batching."""

    def __init__(self) -> None:
        super().__init__()
        self.commit_sizes: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next: Exception | None = None

    async def append(self, batches: Sequence[AppendBatch]) -> list[SequenceConflictError | None]:
        await self.gate.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.commit_sizes.append(len(batches))
        return await super().append(batches)


def in_run(run_id: str, *bodies: EventBody) -> list[tuple[str, EventBody]]:
    return [(run_id, body) for body in bodies]


def started() -> WorkflowStarted:
    return WorkflowStarted(workflow_type="Checkout")


async def test_recorder_numbers_events_and_projects_the_workflow() -> None:
    store = MemoryEventStore()
    recorder = StoreRecorder(GroupCommitter(store), "order-1", clock=lambda: T0)
    first = await recorder.append(
        in_run("run-1", started(), TimerStarted(timer_id=1, fire_at=T0, duration=timedelta(0)))
    )
    second = await recorder.append(in_run("run-1", TimerFired(timer_id=1)))
    assert [e.seq for e in first + second] == [1, 2, 3]
    assert {e.recorded_at for e in first + second} == {T0}
    assert recorder.last_seq == 3
    assert await store.read_events("order-1") == first + second
    assert recorder.workflow == await store.get_workflow("order-1")
    assert recorder.workflow is not None
    assert recorder.workflow.status is WorkflowStatus.RUNNING
    assert await store.due_timers(T0 + timedelta(days=1)) == []


async def test_recorded_at_never_runs_backwards_when_the_clock_does() -> None:
    times = iter([T0, T0 - timedelta(minutes=5), T0 + timedelta(seconds=1)])
    recorder = StoreRecorder(GroupCommitter(MemoryEventStore()), "w", clock=lambda: next(times))
    stamps = [
        (await recorder.append(in_run("r", body)))[0].recorded_at
        for body in [started(), SignalReceived(signal_name="a"), SignalReceived(signal_name="b")]
    ]
    assert stamps == [T0, T0, T0 + timedelta(seconds=1)]


async def test_a_stale_writer_gets_a_conflict_and_writes_nothing() -> None:
    store = MemoryEventStore()
    committer = GroupCommitter(store)
    await StoreRecorder(committer, "w").append(in_run("r", started()))
    owner = await StoreRecorder.load(committer, "w")
    stale = await StoreRecorder.load(committer, "w")
    await owner.append(in_run("r", SignalReceived(signal_name="from-owner")))
    before = await store.read_events("w")
    with pytest.raises(SequenceConflictError) as caught:
        await stale.append(in_run("r", WorkflowCompleted.model_validate({"result": {}})))
    assert (caught.value.expected_seq, caught.value.actual_seq) == (1, 2)
    assert await store.read_events("w") == before
    assert stale.last_seq == 1  # the stale writer learns nothing it did not write


async def test_events_recorded_callback_sees_only_durable_events() -> None:
    store = CountingStore()
    seen: list[tuple[str, list[int]]] = []

    def on_recorded(workflow_id: str, events: Sequence[Event]) -> None:
        seen.append((workflow_id, [e.seq for e in events]))

    recorder = StoreRecorder(GroupCommitter(store), "w", on_recorded=on_recorded)
    await recorder.append(in_run("r", started(), SignalReceived(signal_name="x")))
    store.fail_next = StoreUnavailableError("disk gone")
    with pytest.raises(StoreUnavailableError):
        await recorder.append(in_run("r", SignalReceived(signal_name="lost")))
    assert seen == [("w", [1, 2])]
    assert recorder.last_seq == 2
    await recorder.append(in_run("r", SignalReceived(signal_name="again")))
    assert seen[-1] == ("w", [3])


async def test_a_lone_append_commits_at_once() -> None:
    store = CountingStore()
    committer = GroupCommitter(store)
    await asyncio.wait_for(StoreRecorder(committer, "w").append(in_run("r", started())), timeout=5)
    assert store.commit_sizes == [1]
    assert committer.commits == 1


async def test_appends_arriving_during_a_commit_share_the_next_one() -> None:
    store = CountingStore()
    committer = GroupCommitter(store)
    store.gate.clear()
    first = asyncio.create_task(StoreRecorder(committer, "first").append(in_run("r", started())))
    await asyncio.sleep(0)  # the first commit is now in flight, held at the gate
    others = [
        asyncio.create_task(StoreRecorder(committer, f"w{i}").append(in_run("r", started())))
        for i in range(200)
    ]
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(first, *others)
    assert store.commit_sizes == [1, 200]
    assert await store.count_workflows(WorkflowFilter()) == 201


async def test_commit_size_is_bounded() -> None:
    store = CountingStore()
    committer = GroupCommitter(store, max_batches_per_commit=64)
    store.gate.clear()
    tasks = [
        asyncio.create_task(StoreRecorder(committer, f"w{i}").append(in_run("r", started())))
        for i in range(150)
    ]
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(*tasks)
    assert store.commit_sizes == [64, 64, 22]


async def test_a_conflict_fails_only_its_own_append_in_a_shared_commit() -> None:
    store = CountingStore()
    committer = GroupCommitter(store)
    await StoreRecorder(committer, "taken").append(in_run("r", started()))
    store.gate.clear()
    fresh = asyncio.create_task(StoreRecorder(committer, "fresh").append(in_run("r", started())))
    stale = asyncio.create_task(StoreRecorder(committer, "taken").append(in_run("r", started())))
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(fresh, stale, return_exceptions=True)
    assert store.commit_sizes[-1] == 2
    assert isinstance(results[0], list)
    assert isinstance(results[1], SequenceConflictError)


async def test_a_store_failure_fails_every_append_of_that_commit() -> None:
    store = CountingStore()
    committer = GroupCommitter(store)
    store.fail_next = StoreUnavailableError("database is locked")
    store.gate.clear()
    tasks = [
        asyncio.create_task(StoreRecorder(committer, f"w{i}").append(in_run("r", started())))
        for i in range(3)
    ]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailableError) for r in results)
    assert all([await store.last_seq(f"w{i}") == 0 for i in range(3)])
    await StoreRecorder(committer, "w0").append(in_run("r", started()))  # the committer recovers
    assert await store.last_seq("w0") == 1


async def test_a_caller_that_stops_waiting_does_not_cancel_the_shared_commit() -> None:
    store = CountingStore()
    committer = GroupCommitter(store)
    store.gate.clear()
    impatient = asyncio.create_task(StoreRecorder(committer, "a").append(in_run("r", started())))
    patient = asyncio.create_task(StoreRecorder(committer, "b").append(in_run("r", started())))
    await asyncio.sleep(0)
    impatient.cancel()
    store.gate.set()
    await patient
    assert await store.last_seq("b") == 1
    assert await store.last_seq("a") == 1  # its batch was in the commit already


async def test_recorder_append_of_nothing_is_a_no_op() -> None:
    store = CountingStore()
    recorder = StoreRecorder(GroupCommitter(store), "w")
    assert await recorder.append(in_run("r")) == []
    assert store.commit_sizes == []
