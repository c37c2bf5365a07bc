"""Real `aion serve` / `aion worker` processes on NATS and PostgreSQL, and the jobs they run.

The end-to-end tests (`tests/test_distributed.py`) and the reliability suite's
fault tests (`reliability/test_distributed_faults.py`) share these: a
`Deployment` starts engine and worker processes (logs in the test's tmp dir,
their tails printed at teardown, so a failing test shows them), kills, pauses
and restarts them; the job helpers start, query, signal and finish the `Job`
workflows of `distributed_flows` by name, as a client without the code would.
Deadlines are generous: they catch a hang, never measure speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import nats.errors
from nats.js.errors import NotFoundError

from aion_core import Client, Event, WorkflowFilter, load_plugins
from aion_transport_nats.connection import connect
from aion_transport_nats.lease_bucket import node_of, partition_key
from aion_transport_nats.options import parse_nats_url
from aion_transport_nats.streams import StreamNames

from .history_invariants import check_histories

if TYPE_CHECKING:
    from conftest import DropNamespace

FLOWS_DIR = Path(__file__).parent
FLOWS = "distributed_flows"
PARTITIONS = 8
LEASE_TTL = 3
READY_TIMEOUT = 120.0
RUN_TIMEOUT = 240.0
OWNERSHIP = re.compile(r"node (\S+) (owns|gave up|released|lost) partition (\d+)")


# --- processes ---------------------------------------------------------------------------------


@dataclass
class AionProcess:
    """One ``aion serve`` or ``aion worker`` process, its output going to a log file.

    It may be started again after a kill: the log goes on, and `text` reads what the
    latest start wrote.
    """

    name: str
    arguments: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    since: int = 0
    """Where the output of the latest start begins in the log (bytes)."""

    @property
    def is_engine(self) -> bool:
        return self.arguments[0] == "serve"

    def start(self) -> None:
        # `aion serve distributed_flows` imports the module from the tests folder.
        path = [str(FLOWS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.since = self.mark()
        with self.log.open("ab") as output:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "aion_cli.main", *self.arguments],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.log.parent,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as in a crash (no-op once it is gone; a paused process dies too)."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def restart(self) -> None:
        """SIGKILL, then start again with the same arguments (a crashed node coming back)."""
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the process keeps its connections and its state but does nothing."""
        assert self.popen is not None
        assert self.alive, f"{self.name} exited:\n{self.tail()}"
        self.popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: a paused process goes on where it stopped, unaware of the time lost."""
        if self.popen is not None and self.alive:
            self.popen.send_signal(signal.SIGCONT)

    def mark(self) -> int:
        """The log's length now: pass it to `text` to read only what comes after."""
        return self.log.stat().st_size if self.log.exists() else 0

    def text(self, since: int | None = None) -> str:
        """What the latest start wrote, or what was written after `since` (see `mark`)."""
        if not self.log.exists():
            return ""
        data = self.log.read_bytes()[self.since if since is None else since :]
        return data.decode(errors="replace")

    def tail(self, lines: int = 60) -> str:
        """The log's last lines, across restarts."""
        return "\n".join(self.text(since=0).splitlines()[-lines:])

    def node_id(self) -> str:
        """The NATS node id an engine logs its partitions under (since its latest start)."""
        found = OWNERSHIP.search(self.text())
        assert found is not None, f"{self.name} never owned a partition:\n{self.tail()}"
        return found.group(1)

    def partitions_owned(self) -> set[int]:
        """The partitions the engine's log says it holds now (owned, not given up since)."""
        owned: set[int] = set()
        for _, verb, partition in OWNERSHIP.findall(self.text()):
            if verb == "owns":
                owned.add(int(partition))
            else:
                owned.discard(int(partition))
        return owned


@dataclass
class Deployment:
    """The aion processes of one test, sharing a store and a transport URL."""

    folder: Path
    store_url: str
    transport_url: str
    processes: list[AionProcess] = field(default_factory=list)

    def _launch(self, name: str, *arguments: str) -> AionProcess:
        process = AionProcess(name, list(arguments), self.folder / f"{name}.log")
        self.processes.append(process)
        process.start()
        return process

    def serve(self, name: str, *options: str) -> AionProcess:
        """Start an engine node, logging at info level (partitions taken and given up).

        `options` go to ``aion serve`` as they are, such as ``"--max-cached", "8"``.
        """
        return self._launch(
            name, "serve", FLOWS, "--store", self.store_url,
            "--transport", self.transport_url, "--log-level", "info", *options,
        )  # fmt: skip

    def worker(self, name: str, *options: str) -> AionProcess:
        """Start an activity worker; `options` go to ``aion worker``, such as a task queue."""
        return self._launch(
            name, "worker", FLOWS, "--transport", self.transport_url, "--log-level", "info",
            *options,
        )  # fmt: skip

    @property
    def engines(self) -> list[AionProcess]:
        return [process for process in self.processes if process.is_engine]

    @property
    def workers(self) -> list[AionProcess]:
        return [process for process in self.processes if not process.is_engine]

    def check_alive(self, *processes: AionProcess) -> None:
        for process in processes or tuple(self.processes):
            assert process.alive, f"{process.name} exited:\n{process.tail()}"

    async def ready(self, client: Client) -> None:
        """Wait until every process announced itself (since its latest start) and engines answer."""
        deadline = time.monotonic() + READY_TIMEOUT
        for process in self.processes:
            banner = "aion serve: engine" if process.is_engine else "aion worker:"
            while banner not in process.text():
                self.check_alive(process)
                assert time.monotonic() < deadline, f"{process.name} not ready:\n{process.tail()}"
                await asyncio.sleep(0.1)
        while True:
            try:
                await client.count_workflows()
                return
            except Exception:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def kill_all(self) -> None:
        for process in self.processes:
            process.kill()

    def report(self) -> str:
        return "\n".join(
            f"----- {process.name} {process.arguments[0]} (pid {process.pid}) -----\n"
            f"{process.tail()}"
            for process in self.processes
            if process.popen is not None
        )


class Deploy(Protocol):
    def __call__(
        self, store_url: str, servers_url: str, *, engines: int = 2, workers: int = 2
    ) -> Deployment: ...


def namespaced(servers_url: str) -> str:
    """A transport URL of a fresh namespace on `servers_url`, with short leases."""
    namespace = f"t{uuid.uuid4().hex[:12]}"
    return f"{servers_url}?namespace={namespace}&lease_ttl={LEASE_TTL}&partitions={PARTITIONS}"


def names_of(transport_url: str) -> StreamNames:
    namespace = parse_nats_url(transport_url).namespace
    assert namespace is not None
    return StreamNames(namespace)


@contextlib.asynccontextmanager
async def deployments(folder: Path, drop_namespace: DropNamespace) -> AsyncIterator[Deploy]:
    """``deploy(store_url, servers_url, engines=2, workers=2)``: engines and workers, started.

    The body of a test module's ``deploy`` fixture. Each deployment gets a fresh
    namespace on `servers_url` (see `namespaced`), logs in `folder`, and dies on
    exit, its log tails printed (so a failing test shows them) and its namespace
    dropped.
    """
    made: list[Deployment] = []

    def deploy(
        store_url: str, servers_url: str, *, engines: int = 2, workers: int = 2
    ) -> Deployment:
        deployment = Deployment(folder, store_url, namespaced(servers_url))
        made.append(deployment)
        for n in range(1, engines + 1):
            deployment.serve(f"engine-{n}")
        for n in range(1, workers + 1):
            deployment.worker(f"worker-{n}")
        return deployment

    try:
        yield deploy
    finally:
        for deployment in made:
            deployment.kill_all()
            print(deployment.report())
        for deployment in made:
            with contextlib.suppress(Exception):
                url = deployment.transport_url
                await asyncio.wait_for(drop_namespace(url, names_of(url)), 30)


# --- driving jobs ------------------------------------------------------------------------------


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, timeout: float = RUN_TIMEOUT
) -> None:
    """Poll `condition` until it holds; fail after a generous `timeout`."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.3)


def number_of(job: str) -> int:
    """The number a job's id ends with: its input, and what its result is made of."""
    return int(job.rsplit("-", 1)[1])


def job_result(job: str, approved_by: str) -> str:
    """What `Job.run` returns once approved (see `distributed_flows.describe`)."""
    return f"{approved_by}:{2 * number_of(job) + 1}"


async def start_jobs(
    client: Client, jobs: list[str], pause_seconds: float | Mapping[str, float]
) -> None:
    """Start `Job.run(number_of(job), pause)` for every job id (a pause each, or one for all)."""
    limit = asyncio.Semaphore(32)

    async def start(job: str) -> None:
        pause = pause_seconds if isinstance(pause_seconds, float | int) else pause_seconds[job]
        async with limit:
            await client.start_workflow("Job", number_of(job), pause, id=job)

    await asyncio.gather(*(start(job) for job in jobs))


async def until_stage(client: Client, jobs: list[str], stage: str) -> None:
    """Wait until every job's `status` query answers `stage`."""
    limit = asyncio.Semaphore(32)

    async def reached(job: str) -> bool:
        async with limit:
            answer: str = await client.get_handle(job).query("status")
            return answer == stage

    async def one(job: str) -> None:
        await eventually(lambda: reached(job), f"{job} reaching {stage!r}")

    await asyncio.gather(*(one(job) for job in jobs))


async def approve(client: Client, jobs: list[str], approved_by: str) -> None:
    """Signal `approve` to every job."""
    limit = asyncio.Semaphore(32)

    async def one(job: str) -> None:
        async with limit:
            await client.get_handle(job).signal("approve", approved_by)

    await asyncio.gather(*(one(job) for job in jobs))


async def finish(client: Client, jobs: list[str], approved_by: str) -> None:
    """Wait for every job's result and check it, and that `status` answers "done"."""
    limit = asyncio.Semaphore(32)

    async def one(job: str) -> None:
        handle = client.get_handle(job)
        # Bounded: a result that never comes is a failure to report, not a hung suite.
        result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
        assert result == job_result(job, approved_by), job
        async with limit:
            assert await handle.query("status") == "done", job

    await asyncio.gather(*(one(job) for job in jobs))


async def approve_and_finish(client: Client, jobs: list[str], approved_by: str) -> None:
    """Once every job waits for approval (asked by query), approve and finish them all."""
    await until_stage(client, jobs, "waiting")
    await approve(client, jobs, approved_by)
    await finish(client, jobs, approved_by)


# --- histories ---------------------------------------------------------------------------------


async def client_histories(client: Client, workflow_ids: list[str]) -> dict[str, list[Event]]:
    """The histories of `workflow_ids` as the engines serve them."""
    return {w: await client.get_handle(w).history() for w in workflow_ids}


async def stored_histories(store_url: str) -> dict[str, list[Event]]:
    """Every workflow's history, read from the store itself (no engine in between)."""
    store = load_plugins().event_store(store_url)
    await store.open()
    try:
        records = await store.list_workflows(WorkflowFilter(limit=100_000))
        return {r.workflow_id: await store.read_events(r.workflow_id) for r in records}
    finally:
        await store.close()


def assert_sound_history(history: Sequence[Event], activities: int) -> None:
    """The invariants (`check_histories`), and completed, each of `activities` completed once."""
    workflow_id = history[0].workflow_id
    check_histories({workflow_id: history})
    completed = Counter(
        getattr(e.body, "activity_id", 0) for e in history if e.type == "ActivityCompleted"
    )
    assert completed == dict.fromkeys(range(1, activities + 1), 1), workflow_id
    assert history[-1].type == "WorkflowCompleted", workflow_id


def assert_sound_job_histories(histories: Mapping[str, Sequence[Event]]) -> None:
    """Every job's history is sound: one timer fired, one signal received, first attempts only.

    Job activities are quick and never fail, so whatever failed in between (an engine,
    NATS) a second attempt means a task or an outcome was lost on the way and only the
    start-to-close timeout brought the activity back.
    """
    for job, history in histories.items():
        assert_sound_history(history, activities=2)
        kinds = Counter(e.type for e in history)
        fired_and_received = (kinds["TimerFired"], kinds["SignalReceived"])
        assert fired_and_received == (1, 1), (job, [(e.seq, e.type) for e in history])
        attempts = [getattr(e.body, "attempt", 0) for e in history if e.type == "ActivityStarted"]
        assert attempts == [1, 1], (job, [(e.seq, e.type) for e in history])


async def run_jobs_end_to_end(client: Client, count: int) -> list[list[Event]]:
    """Start `count` jobs, query, signal and finish them all; check and return their histories."""
    jobs = [f"job-{n}" for n in range(count)]
    await start_jobs(client, jobs, pause_seconds=1.0)
    await approve_and_finish(client, jobs, "ada")
    histories = await client_histories(client, jobs)
    assert_sound_job_histories(histories)
    return list(histories.values())


# --- partitions --------------------------------------------------------------------------------


async def lease_holders(transport_url: str) -> dict[int, str]:
    """``{partition: node id}`` for every partition whose lease is held now."""
    names = names_of(transport_url)
    nc = await connect(transport_url, name="aion-test-leases")
    try:
        bucket = await nc.jetstream().key_value(names.leases_bucket)
        holders = {}
        for partition in range(PARTITIONS):
            with contextlib.suppress(nats.errors.Error, NotFoundError):
                entry = await bucket.get(partition_key(partition))
                if entry.value:
                    holders[partition] = node_of(entry.value)
        return holders
    finally:
        await nc.close()


async def until_every_engine_holds_partitions(deployment: Deployment) -> None:
    """Wait until the engines share every partition, each holding some (leases and logs agree)."""
    engines = deployment.engines

    async def shared() -> bool:
        if not all(engine.partitions_owned() for engine in engines):
            return False
        holders = await lease_holders(deployment.transport_url)
        return len(holders) == PARTITIONS and set(holders.values()) == {
            engine.node_id() for engine in engines
        }

    await eventually(shared, "every engine holding partitions")


async def until_one_engine_holds_every_partition(engine: AionProcess, transport_url: str) -> None:
    """Wait until `engine` holds every lease and serves every partition (its log says so)."""

    async def holds_all() -> bool:
        if engine.partitions_owned() != set(range(PARTITIONS)):
            return False
        holders = await lease_holders(transport_url)
        return holders == dict.fromkeys(range(PARTITIONS), engine.node_id())

    await eventually(holds_all, f"{engine.name} holding every partition")
