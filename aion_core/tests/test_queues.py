"""Flow-controlled task queues: concurrency, partitions, rate, priority, on every store.

Each limit is checked from what was recorded: a run is past its queue from its
`WorkflowDequeued` to the event that closed it, and at no instant are more runs
past the queue than the limit allows. The activities count how many of them
really run at once, so the limit is also seen holding in the code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from aion_core import Client, Engine, MemoryEventStore, WorkflowStatus, activity, workflow
from aion_core.errors import ConfigurationError, DuplicateStartError
from aion_core.store.queues import QueuedRun, QueueLimits, QueueSlot, choose_admissions
from aion_core.testing.flow import (
    Passage,
    attempt_spans,
    most_at_once,
    most_overlapping,
    passage_of,
)

from .test_fencing import Waiter


class Gauge:
    """How many activity attempts run at once, and the most seen."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def __enter__(self) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


gauge = Gauge()
release = asyncio.Event()


@activity.defn(name="queues.hold")
async def hold(n: int) -> int:
    with gauge:
        await asyncio.sleep(0.05)
    return n


@workflow.defn(name="queues.Job")
async def job(n: int) -> int:
    result: int = await workflow.execute_activity(
        hold, n, start_to_close_timeout=timedelta(seconds=30)
    )
    return result


@activity.defn(name="queues.blocked")
async def blocked() -> None:
    await release.wait()


@workflow.defn(name="queues.Blocker")
async def blocker() -> str:
    await workflow.execute_activity(blocked, start_to_close_timeout=timedelta(seconds=60))
    return "released"


@pytest.fixture(autouse=True)
def fresh_gauge() -> None:
    global gauge, release
    gauge = Gauge()
    release = asyncio.Event()


def engine_on(url: str) -> Engine:
    return Engine(url, workflows=[job, blocker, Waiter, echo], activities=[hold, blocked])


async def passages(engine: Engine, workflow_ids: Iterable[str]) -> list[Passage]:
    return [passage_of(await engine.get_handle(i).history()) for i in workflow_ids]


async def test_global_concurrency_is_never_exceeded(store_url: str) -> None:
    async with engine_on(store_url) as engine:
        engine.configure_queue("narrow", global_concurrency=3)
        handles = [
            await engine.start_workflow(job, n, id=f"job-{n}", task_queue="narrow")
            for n in range(15)
        ]
        assert [await h.result() for h in handles] == list(range(15))
        spans = await passages(engine, (h.workflow_id for h in handles))
    assert most_at_once(spans) == 3
    assert gauge.most == 3


async def test_a_queued_run_waits_runs_its_signals_after_and_can_be_cancelled(
    store_url: str,
) -> None:
    async with engine_on(store_url) as engine:
        engine.configure_queue("one", global_concurrency=1)
        first = await engine.start_workflow(blocker, id="first", task_queue="one")
        await _until(engine, "first", WorkflowStatus.RUNNING)
        waiting = await engine.start_workflow(Waiter.run, id="waiting", task_queue="one")
        doomed = await engine.start_workflow(Waiter.run, id="doomed", task_queue="one")
        assert (await waiting.describe()).status is WorkflowStatus.QUEUED
        await waiting.signal(Waiter.give, "kept")
        await doomed.cancel()
        assert (await doomed.describe()).status is WorkflowStatus.CANCELLED
        queued = await engine.list_workflows(status=WorkflowStatus.QUEUED)
        assert [r.workflow_id for r in queued] == ["waiting"]
        release.set()
        assert await first.result() == "released"
        assert await waiting.result() == ["kept"]
        doomed_events = [e.type for e in await doomed.history()]
    assert "WorkflowDequeued" not in doomed_events
    assert doomed_events[-2:] == ["WorkflowCancelRequested", "WorkflowCancelled"]


async def test_priority_orders_dispatch_fifo_within_a_priority(store_url: str) -> None:
    async with engine_on(store_url) as engine:
        engine.configure_queue("ranked", global_concurrency=1)
        first = await engine.start_workflow(blocker, id="first", task_queue="ranked")
        await _until(engine, "first", WorkflowStatus.RUNNING)
        priorities = {"p1": 1, "p5a": 5, "p3": 3, "p5b": 5, "p0": 0, "p5c": 5}
        handles = []
        for workflow_id, priority in priorities.items():
            handles.append(
                await engine.start_workflow(
                    job, 0, id=workflow_id, task_queue="ranked", priority=priority
                )
            )
            await asyncio.sleep(0.002)  # distinct start times: FIFO is by start time
        release.set()
        await first.result()
        for handle in handles:
            await handle.result()
        spans = await passages(engine, priorities)
    order = [p.workflow_id for p in sorted(spans, key=lambda p: p.admitted)]
    assert order == ["p5a", "p5b", "p5c", "p3", "p1", "p0"]


async def test_partition_concurrency_holds_per_key(store_url: str) -> None:
    async with engine_on(store_url) as engine:
        engine.configure_queue("tenants", global_concurrency=10, partition_concurrency=1)
        handles = {
            f"{tenant}-{n}": await engine.start_workflow(
                job, n, id=f"{tenant}-{n}", task_queue="tenants", partition_key=tenant
            )
            for tenant in ("ada", "bob", "cy")
            for n in range(4)
        }
        for handle in handles.values():
            await handle.result()
        spans = await passages(engine, handles)
    for tenant in ("ada", "bob", "cy"):
        assert most_at_once(p for p in spans if p.workflow_id.startswith(tenant)) == 1
    assert most_at_once(spans) > 1  # tenants ran side by side


async def test_the_rate_limit_holds_in_every_window(store_url: str) -> None:
    period = timedelta(seconds=1)
    async with engine_on(store_url) as engine:
        engine.configure_queue("paced", rate_limit=(4, period))
        handles = [
            await engine.start_workflow(job, n, id=f"paced-{n}", task_queue="paced")
            for n in range(10)
        ]
        for handle in handles:
            await handle.result()
        spans = await passages(engine, (h.workflow_id for h in handles))
    times = sorted(p.admitted for p in spans)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + period) <= 4
    assert times[-1] - times[0] >= 2 * period  # 10 at 4 per second: three windows


async def test_priority_and_partition_keys_need_a_flow_controlled_queue() -> None:
    async with engine_on("memory://") as engine:
        with pytest.raises(ConfigurationError, match="no flow control"):
            await engine.start_workflow(job, 1, task_queue="plain", priority=3)
        with pytest.raises(ConfigurationError, match="at least 1"):
            engine.configure_queue("bad", global_concurrency=0)
        with pytest.raises(ConfigurationError, match="rate limit"):
            engine.configure_queue("bad", rate_limit=(0, timedelta(seconds=1)))
        assert await engine.count_workflows() == 0


def test_each_engine_admits_its_share_of_the_head_of_the_queue() -> None:
    t = datetime(2026, 1, 1)
    queued = [QueuedRun(f"w{i}", "r", 0, None, t + timedelta(seconds=i)) for i in range(6)]
    ours = {"w1", "w3", "w4", "w5"}
    chosen = choose_admissions(
        queued, [], 0, QueueLimits(concurrency=4), engine_id="a", owns=ours.__contains__
    )
    # The head is w0..w3: w0 and w2 are another engine's to admit, and still take their place.
    assert [r.workflow_id for r in chosen] == ["w1", "w3"]
    held = [QueueSlot("q", "x", "r", None, "a", t)]
    chosen = choose_admissions(
        queued, held, 0, QueueLimits(engine_concurrency=2), engine_id="a", owns=ours.__contains__
    )
    assert [r.workflow_id for r in chosen] == ["w1"]


async def _until(engine: Engine, workflow_id: str, status: WorkflowStatus) -> None:
    for _ in range(500):
        if (await engine.get_handle(workflow_id).describe()).status is status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{workflow_id} never became {status.value}")


@workflow.defn(name="queues.Echo")
async def echo(text: str) -> str:
    return text


async def test_a_dedup_id_refuses_a_second_start_or_returns_the_open_run(store_url: str) -> None:
    async with Engine(store_url, workflows=[Waiter, echo]) as engine:
        first = await engine.start_workflow(Waiter.run, id="digest-a", dedup_id="user-7")
        with pytest.raises(DuplicateStartError) as refused:
            await engine.start_workflow(Waiter.run, id="digest-b", dedup_id="user-7")
        assert (refused.value.workflow_id, refused.value.run_id) == ("digest-a", first.run_id)
        assert refused.value.dedup_id == "user-7"
        same = await engine.start_workflow(
            Waiter.run, id="digest-c", dedup_id="user-7", id_conflict="use_existing"
        )
        assert (same.workflow_id, same.run_id) == ("digest-a", first.run_id)
        assert await engine.count_workflows() == 1  # nothing recorded for b and c
        # Another id, or another queue, is another matter.
        await engine.start_workflow(Waiter.run, id="digest-d", dedup_id="user-8")
        await engine.start_workflow(
            Waiter.run, id="digest-e", dedup_id="user-7", task_queue="elsewhere"
        )
        # Once the holder closes, the id is free again.
        await first.signal(Waiter.give, "done")
        assert await first.result() == ["done"]
        again = await engine.start_workflow(Waiter.run, id="digest-f", dedup_id="user-7")
        assert again.workflow_id == "digest-f"
        assert (await again.describe()).dedup_id == "user-7"


async def test_concurrent_starts_with_one_dedup_id_make_one_run(store_url: str) -> None:
    async with Engine(store_url, workflows=[Waiter]) as engine:
        outcomes = await asyncio.gather(
            *(
                engine.start_workflow(Waiter.run, id=f"racer-{n}", dedup_id="once")
                for n in range(8)
            ),
            return_exceptions=True,
        )
        started = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, DuplicateStartError)]
        assert len(started) == 1
        assert len(refused) == 7
        assert {(r.workflow_id, r.run_id) for r in refused} == {
            (started[0].workflow_id, started[0].run_id)
        }
        assert await engine.count_workflows() == 1


async def test_debounced_starts_make_one_run_with_the_last_input(store_url: str) -> None:
    window = timedelta(milliseconds=400)
    async with Engine(store_url, workflows=[echo]) as engine:
        handles = []
        for text in ("a", "ab", "abc"):
            handles.append(await engine.start_workflow(echo, text, id="search", debounce=window))
            await asyncio.sleep(0.1)
        assert len({h.run_id for h in handles}) == 1
        assert await handles[0].result() == "abc"
        history = await handles[0].history()
        # A debounced start once the run is done starts a new run.
        later = await engine.start_workflow(echo, "later", id="search", debounce=window)
        assert later.run_id != handles[0].run_id
        assert await later.result() == "later"
        starts = [e for e in await later.history() if e.type == "WorkflowStarted"]
    types = [e.type for e in history]
    assert types.count("WorkflowStarted") == 1
    assert types.count("WorkflowStartDebounced") == 2
    last_start = max(e.recorded_at for e in history if e.type == "WorkflowStartDebounced")
    [dequeued] = [e for e in history if e.type == "WorkflowDequeued"]
    assert dequeued.recorded_at >= last_start + window  # it waited the window after the last
    assert len(starts) == 2


async def test_a_debounce_needs_a_workflow_id() -> None:
    async with Engine("memory://", workflows=[echo]) as engine:
        with pytest.raises(ConfigurationError, match="needs an id"):
            await engine.start_workflow(echo, "x", debounce=timedelta(seconds=1))


async def test_queued_starts_and_slots_survive_a_restart(sql_url: str) -> None:
    async with engine_on(sql_url) as engine:
        engine.configure_queue("narrow", global_concurrency=2)
        first = [
            await engine.start_workflow(blocker, id=f"held-{n}", task_queue="narrow")
            for n in range(2)
        ]
        queued = [
            await engine.start_workflow(job, n, id=f"after-{n}", task_queue="narrow")
            for n in range(6)
        ]
        for handle in first:
            await _until(engine, handle.workflow_id, WorkflowStatus.RUNNING)
        assert (await engine.describe_queue("narrow")).queued == 6
    release.set()  # the blockers' activities resume after the restart, and finish
    async with engine_on(sql_url) as engine:
        engine.configure_queue("narrow", global_concurrency=2)
        for handle in first + queued:
            await engine.get_handle(handle.workflow_id).result()
        spans = await passages(engine, (h.workflow_id for h in first + queued))
        stats = await engine.describe_queue("narrow")
    assert most_at_once(spans) == 2
    assert (stats.queued, stats.running) == (0, 0)


# --- activity attempts on a flow-controlled queue ----------------------------------------------


@workflow.defn(name="queues.FanOut")
async def fan_out(n: int, queue: str) -> list[int]:
    calls = [
        workflow.execute_activity(
            hold, i, task_queue=queue, start_to_close_timeout=timedelta(seconds=30)
        )
        for i in range(n)
    ]
    return list(await asyncio.gather(*calls))


async def test_activity_attempts_on_a_limited_queue_never_exceed_its_limit(
    store_url: str,
) -> None:
    async with Engine(store_url, workflows=[fan_out], activities=[hold]) as engine:
        engine.configure_queue("apis", global_concurrency=2, applies_to="activities")
        results = await asyncio.gather(
            *(engine.execute_workflow(fan_out, 6, "apis", id=f"fan-{n}") for n in range(3))
        )
        histories = [await engine.get_handle(f"fan-{n}").history() for n in range(3)]
        for _ in range(500):  # slots are freed at the dispatcher's next turn
            if (await engine.describe_queue("apis")).attempts_running == 0:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("attempt slots were not freed")
    assert results == [list(range(6))] * 3
    assert gauge.most == 2  # the code ran two at a time, over three workflows
    assert most_overlapping([s for h in histories for s in attempt_spans(h)]) <= 2


async def test_activity_attempts_keep_the_queues_rate(store_url: str) -> None:
    period = timedelta(seconds=1)
    async with Engine(store_url, workflows=[fan_out], activities=[hold]) as engine:
        engine.configure_queue("paced-api", rate_limit=(3, period), applies_to="activities")
        assert await engine.execute_workflow(fan_out, 7, "paced-api", id="fan") == list(range(7))
        history = await engine.get_handle("fan").history()
    starts = sorted(a for a, _ in attempt_spans(history))
    for i, start in enumerate(starts):
        assert sum(1 for t in starts[i:] if t < start + period) <= 3
    assert starts[-1] - starts[0] >= 2 * period  # 7 at 3 per second: three windows


async def test_worker_concurrency_bounds_attempts_run_in_this_engine() -> None:
    async with Engine("memory://", workflows=[fan_out], activities=[hold]) as engine:
        engine.configure_queue("local", worker_concurrency=3, applies_to="activities")
        assert await engine.execute_workflow(fan_out, 9, "local") == list(range(9))
    assert gauge.most == 3


async def test_a_workflow_queues_limits_do_not_hold_back_its_activities() -> None:
    async with Engine("memory://", workflows=[fan_out], activities=[hold]) as engine:
        engine.configure_queue("orders", global_concurrency=1, rate_limit=(1, timedelta(hours=1)))
        # The run is let out (the queue's one slot and its one admission an hour), and its
        # activities, on the same queue, run side by side: the limits count workflow runs.
        assert await engine.execute_workflow(fan_out, 4, "orders", task_queue="orders") == list(
            range(4)
        )
    assert gauge.most == 4


async def test_activity_queue_settings_are_checked() -> None:
    async with Engine("memory://") as engine:
        with pytest.raises(ConfigurationError, match="applies_to is 'workflows' or 'activities'"):
            engine.configure_queue("x", applies_to="both")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="partition keys are for workflow starts"):
            engine.configure_queue("x", partition_concurrency=2, applies_to="activities")


async def test_a_slot_held_by_a_dead_engine_frees_when_its_lease_runs_out() -> None:
    store = MemoryEventStore()
    limits = QueueLimits(concurrency=1)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    lease = timedelta(seconds=30)
    assert await store.admit_attempts(
        "q", limits, ["a"], engine_id="dead", clock=lambda: t, lease=lease
    ) == ["a"]
    later = t + timedelta(seconds=10)
    assert (
        await store.admit_attempts(
            "q", limits, ["b"], engine_id="alive", clock=lambda: later, lease=lease
        )
        == []
    )
    expired = t + lease
    assert await store.admit_attempts(
        "q", limits, ["b"], engine_id="alive", clock=lambda: expired, lease=lease
    ) == ["b"]


async def test_a_debounced_run_waiting_at_a_restart_starts_after_it(sql_url: str) -> None:
    window = timedelta(milliseconds=300)
    async with Engine(sql_url, workflows=[echo]) as engine:
        handle = await engine.start_workflow(echo, "kept", id="later", debounce=window)
        assert (await handle.describe()).status is WorkflowStatus.QUEUED
    # The new engine learns of the queue from the run it recovers: nothing else names it.
    async with Engine(sql_url, workflows=[echo]) as engine:
        assert await asyncio.wait_for(engine.get_handle("later").result(), 60) == "kept"


async def test_a_client_describes_queues_through_the_transport(sql_url: str) -> None:
    url = "inproc://queues-through-the-transport"
    async with Engine(sql_url, transport=url, workflows=[blocker], activities=[blocked]) as engine:
        engine.configure_queue("narrow", global_concurrency=1)
        async with await Client.connect(url) as client:
            held = await client.start_workflow(blocker, id="held", task_queue="narrow")
            await client.start_workflow(blocker, id="waiting", task_queue="narrow")
            await _until(engine, held.workflow_id, WorkflowStatus.RUNNING)
            described = await client.describe_queue("narrow")
            listed = await client.list_queues()
            with pytest.raises(ConfigurationError, match="needs a task queue name"):
                await client.describe_queue("")
            release.set()
    assert (described.queue, described.queued, described.running) == ("narrow", 1, 1)
    assert [stats.queue for stats in listed] == ["narrow"]
    assert listed[0] == described
