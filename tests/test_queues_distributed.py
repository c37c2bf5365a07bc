"""A flow-controlled queue across two `aion serve` processes on NATS and PostgreSQL.

Both engines read the queue's limits from the same aion.toml; the slots live in
the shared store, so the global limit holds across them and each engine keeps
its own (``worker_concurrency``), and a SIGKILLed engine neither loses a queued
start nor lets more runs out than the limit (the other engine takes its
partitions over, and the restarted one comes back).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest_asyncio

from aion_core import Client, WorkflowStatus
from aion_core.testing.flow import most_at_once, passage_of

from .deployment import Deploy, client_histories, deployments, eventually

if TYPE_CHECKING:
    from conftest import DropNamespace

LIMIT = 3
PER_ENGINE = 2
RUNS = 30


@pytest_asyncio.fixture
async def deploy(tmp_path: Path, drop_nats_namespace: DropNamespace) -> AsyncIterator[Deploy]:
    """Engines and workers started on demand in `tmp_path`, where aion.toml declares the queue."""
    (tmp_path / "aion.toml").write_text(
        f"[queues.throttled]\nglobal_concurrency = {LIMIT}\nworker_concurrency = {PER_ENGINE}\n"
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
    assert results == list(range(RUNS))
    spans = [passage_of(history) for history in histories.values()]
    assert most_at_once(spans) <= LIMIT
    engines = {span.by for span in spans}
    assert len(engines) >= 2  # both engines let runs out (three, with the restarted one)
    for engine in engines:
        assert most_at_once(span for span in spans if span.by == engine) <= PER_ENGINE
    deployment.check_alive()
