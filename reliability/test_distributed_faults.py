"""Distributed faults: engine nodes paused and killed, workers killed, NATS restarted, for real.

Real `aion serve` / `aion worker` processes (`tests/deployment.py`) run the
`Job` workflows of `tests/distributed_flows.py` (an activity, a durable timer, a
signal, another activity) on NATS and PostgreSQL while the tests stop them
with signals: SIGSTOP / SIGCONT for a node that comes back stale, SIGKILL for
crashes, a nats-server killed and started again. Afterwards every workflow has
its right result and every history, read from PostgreSQL, keeps the invariants
of the event model (`tests/history_invariants.py`). Deadlines are generous:
they catch a hang, never measure speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import nats.errors
import pytest_asyncio

from aion_core import Client
from aion_core.errors import AionError
from aion_transport_nats.partitions import partition_of
from tests.deployment import (
    LEASE_TTL,
    PARTITIONS,
    RUN_TIMEOUT,
    Deploy,
    Deployment,
    approve,
    approve_and_finish,
    assert_sound_job_histories,
    deployments,
    eventually,
    finish,
    job_result,
    number_of,
    start_jobs,
    stored_histories,
    until_every_engine_holds_partitions,
    until_one_engine_holds_every_partition,
    until_stage,
)
from tests.distributed_flows import Job
from tests.history_invariants import check_histories

if TYPE_CHECKING:
    from conftest import DropNamespace, NatsServer

REFUSED_APPEND = re.compile(r"workflow '([^']+)': append expected last seq (\d+) but it is (\d+)")
"""How an engine logs the store refusing its append (`SequenceConflictError`)."""
TURNED_AWAY_SIGNAL = re.compile(
    r"submit call for '([^']+)' not served: the lease of partition \d+ is (lapsed|gone)"
)
"""How an engine node logs a signal (or other recorded call) it leaves to the owner."""
LOST = re.compile(r"node \S+ lost partition (\d+)")
NATS_UNREACHABLE = "could not connect to any NATS server"
"""What ``aion serve`` and ``aion worker`` say when no NATS server answers as they start."""
LATE_TIMER = 30.0
"""Seconds the late jobs sleep: past the pause, so they are open when the paused node is back."""
CHAOS_WINDOW = 25.0
"""Seconds during which the chaos run's faults strike."""


@pytest_asyncio.fixture
async def deploy(tmp_path: Path, drop_nats_namespace: DropNamespace) -> AsyncIterator[Deploy]:
    """Engines and workers started on demand, killed after the test (see `deployments`)."""
    async with deployments(tmp_path, drop_nats_namespace) as make:
        yield make


# Calls by workflow name first ask any engine node (the api queue group) for the
# workflow's type, and a paused node still belongs to that group: it takes its share
# of those calls and never answers. While a node is paused, the tests therefore only
# make calls its partitions' owner answers: signals named by their method, results.


async def approve_at_owners(client: Client, jobs: list[str], approved_by: str) -> None:
    """Signal `Job.approve` (by method: no call to any node but the owner) to every job."""
    await asyncio.gather(*(client.signal(job, Job.approve, approved_by) for job in jobs))


async def results_from_owners(client: Client, jobs: list[str], approved_by: str) -> None:
    """Wait for every job's result from its owner and check it."""
    results = await asyncio.gather(
        *(asyncio.wait_for(client.result(job), RUN_TIMEOUT) for job in jobs)
    )
    assert results == [job_result(job, approved_by) for job in jobs]


async def test_a_paused_engine_node_comes_back_stale_and_its_writes_are_refused(
    deploy: Deploy, fresh_postgres_url: str, nats_url: str
) -> None:
    """A node paused past its leases loses its workflows to the other, which finishes them.

    Paused, the node keeps its connections and subscriptions, so the signals sent to
    its workflows meanwhile reach it too, and the reports of activities it handed out
    just before may; resumed, it takes them in before its lease keeper runs. It must
    record none of them: the new owner did (a workflow it had evicted, loaded afresh,
    would pass the store's expected-seq check; one it kept live fails it). It turns
    each signal away, its log says so, gives its partitions up, joins again, and every
    history holds each signal, timer fire and attempt once.
    """
    deployment = deploy(fresh_postgres_url, nats_url, engines=1, workers=1)
    [survivor] = deployment.engines
    # The node to pause keeps few workflows live: the others it must load afresh.
    victim = deployment.serve("engine-2", "--max-cached", "8")
    waiting = [f"waiting-{n}" for n in range(20)]  # wait for the signal sent during the pause
    sleeping = [f"sleeping-{n}" for n in range(20)]  # their timer comes due during the pause
    racing = [f"racing-{n}" for n in range(20)]  # started just before it: activities in flight
    late = [f"late-{n}" for n in range(20)]  # signalled during the pause, asleep until after it
    finished_meanwhile = waiting + sleeping + racing
    jobs = finished_meanwhile + late
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        await until_every_engine_holds_partitions(deployment)
        await start_jobs(client, waiting, pause_seconds=0.5)
        await start_jobs(client, sleeping, pause_seconds=5.0)
        await start_jobs(client, late, pause_seconds=LATE_TIMER)
        await until_stage(client, waiting, "waiting")
        await until_stage(client, sleeping + late, "sleeping")
        held = victim.partitions_owned()
        assert {partition_of(job, PARTITIONS) for job in jobs} & held, held
        await start_jobs(client, racing, pause_seconds=0.5)

        mark = victim.mark()
        victim.pause()
        try:
            # Signals go out only once the survivor serves every partition: before, the
            # paused node alone would take them in and never answer.
            await until_one_engine_holds_every_partition(survivor, deployment.transport_url)
            await approve_at_owners(client, jobs, "ada")
            await results_from_owners(client, finished_meanwhile, "ada")
        finally:
            victim.resume()

        async def victim_lost_what_it_held() -> bool:
            return {int(p) for p in LOST.findall(victim.text(since=mark))} >= held

        await eventually(victim_lost_what_it_held, f"{victim.name} giving up its partitions")
        await until_every_engine_holds_partitions(deployment)
        await finish(client, late, "ada")
    deployment.check_alive()

    histories = await stored_histories(fresh_postgres_url)
    assert sorted(histories) == sorted(jobs)
    check_histories(histories)
    assert_sound_job_histories(histories)  # each signal recorded once, among the rest
    # Every signal sent during the pause to a workflow of the paused node reached it too,
    # and it wrote none: it turned each away (its lease had lapsed) or, had it tried to
    # record one, the store refused the append (the history had moved on).
    stale = victim.text(since=mark)
    turned_away = {workflow_id for workflow_id, _ in TURNED_AWAY_SIGNAL.findall(stale)}
    refused = REFUSED_APPEND.findall(stale)
    for workflow_id, expected_seq, actual_seq in refused:
        assert int(actual_seq) > int(expected_seq), (workflow_id, expected_seq, actual_seq)
    signalled_there = {job for job in jobs if partition_of(job, PARTITIONS) in held}
    unaccounted = signalled_there - turned_away - {workflow_id for workflow_id, _, _ in refused}
    assert not unaccounted, f"no refusal logged for {sorted(unaccounted)}:\n{stale[-6000:]}"
    assert "on_released" not in stale, stale  # it gave every partition up cleanly
    print(f"{victim.name}: {len(turned_away)} signals turned away, {len(refused)} appends refused")


# --- chaos -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One blow of a chaos run: what fails, when (seconds into the run), and for how long."""

    at: float
    kind: Literal["engine", "worker", "nats"]
    target: int
    """Which engine or worker (by position) the fault hits."""
    down_for: float

    def __str__(self) -> str:
        what = "nats-server" if self.kind == "nats" else f"{self.kind} {self.target + 1}"
        return f"{what} killed at {self.at:.1f} s, back {self.down_for:.1f} s later"


def plan_chaos(rng: random.Random) -> list[Fault]:
    """An engine, a worker and nats-server each killed once, at random moments, in time order."""
    faults = [
        Fault(rng.uniform(1, CHAOS_WINDOW - 5), "engine", rng.randrange(2), rng.uniform(0.2, 4)),
        Fault(rng.uniform(1, CHAOS_WINDOW - 5), "worker", rng.randrange(2), rng.uniform(0.2, 3)),
        Fault(rng.uniform(1, CHAOS_WINDOW - 5), "nats", 0, rng.uniform(0.5, LEASE_TTL + 2)),
    ]
    return sorted(faults, key=lambda fault: fault.at)


async def strike(fault: Fault, deployment: Deployment, nats_server: NatsServer) -> None:
    """Kill what `fault` names with SIGKILL and start it again `down_for` seconds later."""
    if fault.kind == "nats":
        nats_server.kill()
        try:
            await asyncio.sleep(fault.down_for)
        finally:
            await asyncio.to_thread(nats_server.start)
        return
    process = (deployment.engines if fault.kind == "engine" else deployment.workers)[fault.target]
    process.kill()
    await asyncio.sleep(fault.down_for)
    process.start()


def supervise(deployment: Deployment) -> list[str]:
    """Start again, as a supervisor would, each process that exited because NATS was down.

    ``aion serve`` and ``aion worker`` give up at once (after a few quick attempts) when
    no NATS server answers as they start, as a process started just before NATS goes
    away does. Any other exit stays, for `Deployment.check_alive` to report.
    """
    revived = []
    for process in deployment.processes:
        if not process.alive and NATS_UNREACHABLE in process.text():
            process.start()
            revived.append(process.name)
    return revived


async def start_despite_faults(client: Client, jobs: list[str], over: float) -> None:
    """Start `jobs` one after the other over `over` seconds, asking again after a failure.

    A start whose reply was lost may have been recorded: the next attempt takes the
    running workflow (``id_conflict="use_existing"``) rather than failing or starting
    another.
    """
    for job in jobs:
        await asyncio.sleep(over / len(jobs))
        deadline = time.monotonic() + 120
        while True:
            try:
                await client.start_workflow(
                    "Job", number_of(job), 0.5, id=job, id_conflict="use_existing"
                )
                break
            except (AionError, nats.errors.Error, TimeoutError):
                assert time.monotonic() < deadline, f"{job} not started within 120 s"
                await asyncio.sleep(0.5)


@contextlib.contextmanager
def noted(note: str) -> Iterator[None]:
    """Add `note` to any failure raised inside."""
    try:
        yield
    except BaseException as failure:
        failure.add_note(note)
        raise


async def test_a_chaos_run_of_kills_and_restarts_completes_every_workflow_soundly(
    deploy: Deploy, fresh_postgres_url: str, nats_server: NatsServer
) -> None:
    """An engine node, a worker and nats-server each die once mid-run, at seeded random moments.

    Some jobs sleep across the faults (approved up front, their timers and activities
    come due all through them), others are started while the faults strike. Every job
    completes with its result and every stored history is sound. The seed is printed
    and in every failure message; ``AION_CHAOS_SEED=<seed>`` runs the same plan again.
    """
    seed = int(os.environ.get("AION_CHAOS_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    faults = plan_chaos(rng)
    plan = f"chaos seed {seed} (AION_CHAOS_SEED={seed} repeats it): " + "; ".join(map(str, faults))
    print(plan)
    deployment = deploy(fresh_postgres_url, nats_server.url)
    early = [f"early-{n}" for n in range(40)]
    during = [f"during-{n}" for n in range(20)]
    pauses = {job: round(rng.uniform(0.5, CHAOS_WINDOW), 1) for job in early}
    with noted(plan):
        async with await Client.connect(deployment.transport_url) as client:
            await deployment.ready(client)
            await until_every_engine_holds_partitions(deployment)
            await start_jobs(client, early, pause_seconds=pauses)
            await approve(client, early, "chaos")
            starting = asyncio.create_task(start_despite_faults(client, during, CHAOS_WINDOW))
            began = time.monotonic()
            revived: list[str] = []
            try:
                for fault in faults:
                    await asyncio.sleep(max(0.0, began + fault.at - time.monotonic()))
                    await strike(fault, deployment, nats_server)
                    revived += supervise(deployment)
                await starting
            finally:
                starting.cancel()
                if not nats_server.running:
                    await asyncio.to_thread(nats_server.start)
            # A process still connecting when NATS came back has connected or given up now.
            await asyncio.sleep(3)
            revived += supervise(deployment)
            print(f"started again after NATS refused them at their start: {revived}")
            await deployment.ready(client)  # the processes started again are up
            await until_every_engine_holds_partitions(deployment)
            await approve_and_finish(client, during, "chaos")
            await finish(client, early, "chaos")
        deployment.check_alive()
        histories = await stored_histories(fresh_postgres_url)
        assert sorted(histories) == sorted(early + during)
        check_histories(histories)
        assert_sound_job_histories(histories)
