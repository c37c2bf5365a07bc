"""A flow-controlled queue across two `aion serve` processes on NATS and PostgreSQL.

Both engines read the queue's limits from the same aion.toml; the slots live in
the shared store, so the global limit holds across them and each engine keeps
its own (``worker_concurrency``), and a SIGKILLed engine neither loses a queued
start nor lets more runs out than the limit (the other engine takes its
partitions over, and the restarted one comes back).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest_asyncio

from aion_core import Client, WorkflowStatus
from aion_core.errors import DuplicateStartError
from aion_core.testing.flow import attempt_spans, most_at_once, most_overlapping, passage_of

from .deployment import Deploy, client_histories, deployments, eventually

if TYPE_CHECKING:
    from conftest import DropNamespace

LIMIT = 3
PER_ENGINE = 2
RUNS = 30
API_LIMIT = 2
RATE = 4
FANS = 4
CALLS = 6


@pytest_asyncio.fixture
async def deploy(tmp_path: Path, drop_nats_namespace: DropNamespace) -> AsyncIterator[Deploy]:
    """Engines and workers started on demand in `tmp_path`, where aion.toml declares the queue."""
    (tmp_path / "aion.toml").write_text(
        f"[queues.throttled]\nglobal_concurrency = {LIMIT}\nworker_concurrency = {PER_ENGINE}\n"
        f'[queues.apis]\napplies_to = "activities"\nglobal_concurrency = {API_LIMIT}\n'
        f'[queues.paced]\nrate_limit = "{RATE}/1s"\n'
        "[queues.ranked]\nglobal_concurrency = 1\n"
    )
    async with deployments(tmp_path, drop_nats_namespace) as make:
        yield make


async def test_the_global_limit_holds_across_engines_and_a_sigkill(
    deploy: Deploy, fresh_postgres_url: str, nats_url: str
) -> None:
    deployment = deploy(fresh_postgres_url, nats_url)
    victim = deployment.engines[0]
    runs = [f"throttled-{n}" for n in range(RUNS)]
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        for n, run in enumerate(runs):
            await client.start_workflow("throttled", n, id=run, task_queue="throttled")

        # Asked over NATS, answered by whichever engine from the shared store.
        in_flight = await client.describe_queue("throttled")
        assert in_flight.queue == "throttled"
        assert in_flight.running <= LIMIT
        assert 0 < in_flight.queued + in_flight.running <= RUNS

        async def some_completed() -> bool:
            done = await client.count_workflows(status=WorkflowStatus.COMPLETED)
            return done >= LIMIT

        await eventually(some_completed, "the first runs completing")
        victim.restart()  # SIGKILL mid-run, and back

        async def all_completed() -> bool:
            return await client.count_workflows(status=WorkflowStatus.COMPLETED) == RUNS

        await eventually(all_completed, "every run completing")
        results = [await client.get_handle(run).result() for run in runs]
        histories = await client_histories(client, runs)
        drained = await client.describe_queue("throttled")
        listed = {stats.queue: stats for stats in await client.list_queues()}
    assert (drained.queued, drained.running) == (0, 0)
    assert {"throttled", "apis", "paced", "ranked"} <= set(listed)
    assert listed["throttled"] == drained
    assert results == list(range(RUNS))
    spans = [passage_of(history) for history in histories.values()]
    assert most_at_once(spans) <= LIMIT
    engines = {span.by for span in spans}
    assert len(engines) >= 2  # both engines let runs out (three, with the restarted one)
    for engine in engines:
        assert most_at_once(span for span in spans if span.by == engine) <= PER_ENGINE
    deployment.check_alive()


async def test_activity_attempts_keep_their_queues_global_limit_across_engines_and_workers(
    deploy: Deploy, fresh_postgres_url: str, nats_url: str
) -> None:
    deployment = deploy(fresh_postgres_url, nats_url, workers=0)
    for n in (1, 2):
        deployment.worker(f"api-worker-{n}", "--task-queue", "apis")
    victim = deployment.engines[0]
    fans = [f"fan-{n}" for n in range(FANS)]
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        for fan in fans:
            await client.start_workflow("fan_out", CALLS, id=fan)
        victim.restart()  # SIGKILL while attempts run: its slots come back after their lease
        results = [await client.get_handle(fan).result() for fan in fans]
        histories = await client_histories(client, fans)
    assert results == [list(range(CALLS))] * FANS
    spans = [span for history in histories.values() for span in attempt_spans(history)]
    assert len(spans) >= FANS * CALLS
    assert most_overlapping(spans) <= API_LIMIT
    deployment.check_alive()


async def test_rate_priority_dedup_and_debounce_hold_across_engines(
    deploy: Deploy, fresh_postgres_url: str, nats_url: str
) -> None:
    deployment = deploy(fresh_postgres_url, nats_url)
    paced = [f"paced-{n}" for n in range(10)]
    ranked = {"r-low": 1, "r-high-a": 9, "r-mid": 5, "r-high-b": 9, "r-none": 0}
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        # Rate: 10 runs at 4 per second, let out by both engines.
        for n, run in enumerate(paced):
            await client.start_workflow("throttled", n, id=run, task_queue="paced")
        # Priority: one run holds the only slot (it waits for approval) while the others queue.
        holder = await client.start_workflow("Gate", id="holder", task_queue="ranked")

        async def holding() -> bool:
            return (await holder.describe()).status is WorkflowStatus.RUNNING

        await eventually(holding, "the holder leaving the queue")
        for run, priority in ranked.items():
            await client.start_workflow(
                "throttled", priority, id=run, task_queue="ranked", priority=priority
            )
            await asyncio.sleep(0.01)  # distinct start times: FIFO within a priority
        await holder.signal("open")
        # Dedup: concurrent starts of distinct ids with one dedup id make one run.
        outcomes = await asyncio.gather(
            *(
                client.start_workflow("throttled", n, id=f"dup-{n}", dedup_id="once")
                for n in range(6)
            ),
            return_exceptions=True,
        )
        # Debounce: three starts of one id make one run with the last input.
        for n in (1, 2, 3):
            await client.start_workflow("throttled", n, id="deb", debounce=timedelta(seconds=0.5))
        assert await client.get_handle("deb").result() == 3
        for run in [*paced, *ranked]:
            await client.get_handle(run).result()
        histories = await client_histories(client, [*paced, *ranked, "deb"])
    admitted = sorted(passage_of(histories[run]).admitted for run in paced)
    for i, start in enumerate(admitted):
        assert sum(1 for t in admitted[i:] if t < start + timedelta(seconds=1)) <= RATE
    order = sorted(ranked, key=lambda run: passage_of(histories[run]).admitted)
    assert order == ["r-high-a", "r-high-b", "r-mid", "r-low", "r-none"]
    started = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, DuplicateStartError)]
    assert (len(started), len(refused)) == (1, 5)
    assert {r.workflow_id for r in refused} == {started[0].workflow_id}
    assert [e.type for e in histories["deb"]].count("WorkflowStarted") == 1
    deployment.check_alive()
