"""aion distributed for real: `aion serve` and `aion worker` processes on NATS and PostgreSQL.

Every test runs its own namespace on NATS, its own PostgreSQL database, and
its own engine and worker processes (logs in the test's tmp dir, their tails
printed when a test fails). The workflows live in `distributed_flows`, which
the processes import by name; the tests drive them through a `Client` by
name, as a client without the code would. Deadlines are generous: they catch
a hang, never measure speed.
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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import nats.errors
import pytest
import pytest_asyncio
from nats.js.errors import NotFoundError

from aion_core import Client, Event, WorkflowStatus
from aion_core.calls import MAX_WIRE_BYTES, QueryCall, Reply, decode_call, encode_call
from aion_core.errors import WireFormatError
from aion_core.tasks import ActivityTask, AttemptReport, decode_report, decode_task
from aion_transport_nats.connection import connect
from aion_transport_nats.lease_bucket import node_of, partition_key
from aion_transport_nats.node import cancel_subject
from aion_transport_nats.options import parse_nats_url
from aion_transport_nats.partitions import partition_of
from aion_transport_nats.streams import StreamNames
from aion_transport_nats.wire import decode_event, encode_event

if TYPE_CHECKING:
    from conftest import DropNamespace, NatsCluster, NatsServer

FLOWS_DIR = Path(__file__).parent
FLOWS = "distributed_flows"
PARTITIONS = 8
LEASE_TTL = 3
READY_TIMEOUT = 120.0
RUN_TIMEOUT = 240.0
OWNERSHIP = re.compile(r"node (\S+) (owns|gave up|released|lost) partition (\d+)")
DROPPED = re.compile(r"dropped a message on (\S+):")


# --- processes ---------------------------------------------------------------------------------


@dataclass
class AionProcess:
    """One ``aion serve`` or ``aion worker`` process, its output going to a log file."""

    name: str
    arguments: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def is_engine(self) -> bool:
        return self.arguments[0] == "serve"

    def start(self) -> None:
        # `aion serve distributed_flows` imports the module from the tests folder.
        path = [str(FLOWS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
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
        """SIGKILL, as in a crash (no-op once it is gone)."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def node_id(self) -> str:
        """The NATS node id an engine logs its partitions under."""
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

    def serve(self, name: str) -> AionProcess:
        """Start an engine node, logging at info level (partitions taken and given up)."""
        return self._launch(
            name, "serve", FLOWS, "--store", self.store_url,
            "--transport", self.transport_url, "--log-level", "info",
        )  # fmt: skip

    def worker(self, name: str) -> AionProcess:
        """Start an activity worker."""
        return self._launch(
            name, "worker", FLOWS, "--transport", self.transport_url, "--log-level", "info"
        )

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
        """Wait until every process announced itself and the engines answer calls."""
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


@pytest_asyncio.fixture
async def deploy(tmp_path: Path, drop_nats_namespace: DropNamespace) -> AsyncIterator[Deploy]:
    """``deploy(store_url, servers_url, engines=2, workers=2)``: engines and workers, started.

    They share a fresh namespace on `servers_url` (see `namespaced`) and die after the
    test; their log tails are printed at teardown, so a failing test shows them.
    """
    deployments: list[Deployment] = []

    def make(store_url: str, servers_url: str, *, engines: int = 2, workers: int = 2) -> Deployment:
        deployment = Deployment(tmp_path, store_url, namespaced(servers_url))
        deployments.append(deployment)
        for n in range(1, engines + 1):
            deployment.serve(f"engine-{n}")
        for n in range(1, workers + 1):
            deployment.worker(f"worker-{n}")
        return deployment

    try:
        yield make
    finally:
        for deployment in deployments:
            deployment.kill_all()
            print(deployment.report())
        for deployment in deployments:
            with contextlib.suppress(Exception):
                url = deployment.transport_url
                await asyncio.wait_for(drop_nats_namespace(url, names_of(url)), 30)


# --- driving workflows -------------------------------------------------------------------------


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


async def start_jobs(client: Client, jobs: list[str], pause_seconds: float) -> None:
    """Start `Job.run(number_of(job), pause_seconds)` for every job id."""
    limit = asyncio.Semaphore(32)

    async def start(job: str) -> None:
        async with limit:
            await client.start_workflow("Job", number_of(job), pause_seconds, id=job)

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


def assert_sound_history(history: list[Event], activities: int) -> None:
    """Contiguous seqs, one completion per activity, no attempt recorded twice, completed."""
    workflow_id = history[0].workflow_id
    assert [e.seq for e in history] == list(range(1, len(history) + 1)), workflow_id
    completed = Counter(
        getattr(e.body, "activity_id", 0) for e in history if e.type == "ActivityCompleted"
    )
    assert completed == dict.fromkeys(range(1, activities + 1), 1), workflow_id
    started = Counter(
        (getattr(e.body, "activity_id", 0), getattr(e.body, "attempt", 0))
        for e in history
        if e.type == "ActivityStarted"
    )
    assert set(started.values()) == {1}, (workflow_id, started)
    assert history[-1].type == "WorkflowCompleted", workflow_id


async def assert_sound_job_histories(client: Client, jobs: list[str]) -> list[list[Event]]:
    """Every job's history is sound: one timer fired, one signal received, first attempts only.

    Job activities are quick and never fail, so whatever failed in between (an engine,
    NATS) a second attempt means a task or an outcome was lost on the way and only the
    start-to-close timeout brought the activity back. Returns the histories.
    """
    histories = [await client.get_handle(job).history() for job in jobs]
    for job, history in zip(jobs, histories, strict=True):
        assert_sound_history(history, activities=2)
        kinds = Counter(e.type for e in history)
        assert (kinds["TimerFired"], kinds["SignalReceived"]) == (1, 1), job
        attempts = [getattr(e.body, "attempt", 0) for e in history if e.type == "ActivityStarted"]
        assert attempts == [1, 1], job
    return histories


async def run_jobs_end_to_end(client: Client, count: int) -> list[list[Event]]:
    """Start `count` jobs, query, signal and finish them all; check and return their histories."""
    jobs = [f"job-{n}" for n in range(count)]
    await start_jobs(client, jobs, pause_seconds=1.0)
    await approve_and_finish(client, jobs, "ada")
    return await assert_sound_job_histories(client, jobs)


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


# --- the tests ---------------------------------------------------------------------------------


async def test_two_engines_and_two_workers_run_200_workflows(
    deploy: Deploy, fresh_postgres_url: str, nats_url: str
) -> None:
    deployment = deploy(fresh_postgres_url, nats_url)
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        await until_every_engine_holds_partitions(deployment)
        histories = await run_jobs_end_to_end(client, 200)
        assert await client.count_workflows(status=WorkflowStatus.COMPLETED) == 200
    deployment.check_alive()
    # Both engines drove workflows (an engine records itself in each attempt's start).
    recorders = {
        getattr(e.body, "worker", "").rsplit(":", 1)[-1]
        for history in histories
        for e in history
        if e.type == "ActivityStarted"
    }
    assert recorders == {str(engine.pid) for engine in deployment.engines}


async def test_a_worker_killed_mid_activity_has_the_attempt_retried_on_the_other(
    deploy: Deploy, fresh_postgres_url: str, nats_url: str, tmp_path: Path
) -> None:
    deployment = deploy(fresh_postgres_url, nats_url, engines=1)
    workers = deployment.workers
    markers = tmp_path / "attempts"
    markers.mkdir()
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        handle = await client.start_workflow("SlowJob", str(markers), id="slow")

        async def first_attempt_began() -> bool:
            return any(markers.glob("slow.attempt-1.pid-*"))

        await eventually(first_attempt_began, "the first attempt beginning")
        [first] = markers.glob("slow.attempt-1.pid-*")
        [victim] = [w for w in workers if first.name.endswith(f".pid-{w.pid}")]
        [survivor] = [w for w in workers if w is not victim]
        victim.kill()

        assert await asyncio.wait_for(handle.result(), RUN_TIMEOUT) == survivor.pid
        assert (markers / f"slow.attempt-2.pid-{survivor.pid}").exists()
        history = await handle.history()
    assert_sound_history(history, activities=1)
    outcomes = [
        (e.type, getattr(e.body, "attempt", None), getattr(e.body, "timeout_kind", None))
        for e in history
        if e.type in ("ActivityStarted", "ActivityTimedOut", "ActivityFailed", "ActivityCompleted")
    ]
    assert outcomes == [
        ("ActivityStarted", 1, None),
        ("ActivityTimedOut", 1, "heartbeat"),  # the engine noticed the silence
        ("ActivityStarted", 2, None),
        ("ActivityCompleted", 2, None),
    ]
    deployment.check_alive(survivor, *deployment.engines)


async def test_a_killed_engine_node_hands_its_partitions_over_and_every_workflow_completes(
    deploy: Deploy, fresh_postgres_url: str, nats_url: str
) -> None:
    deployment = deploy(fresh_postgres_url, nats_url)
    victim, survivor = deployment.engines
    # Half wait for a signal, half sleep on a durable timer across the kill.
    waiting = [f"waiting-{n}" for n in range(20)]
    sleeping = [f"sleeping-{n}" for n in range(20)]
    jobs = waiting + sleeping
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        await until_every_engine_holds_partitions(deployment)
        await start_jobs(client, waiting, pause_seconds=0.5)
        await start_jobs(client, sleeping, pause_seconds=8.0)
        await until_stage(client, waiting, "waiting")
        await until_stage(client, sleeping, "sleeping")
        adopted = victim.partitions_owned()
        assert any(partition_of(job, PARTITIONS) in adopted for job in jobs)

        victim.kill()
        await approve_and_finish(client, jobs, "grace")
        await assert_sound_job_histories(client, jobs)

        async def survivor_holds_every_lease() -> bool:
            holders = await lease_holders(deployment.transport_url)
            return holders == dict.fromkeys(range(PARTITIONS), survivor.node_id())

        await eventually(survivor_holds_every_lease, "the survivor holding every lease")
    assert survivor.partitions_owned() == set(range(PARTITIONS)), survivor.tail()
    deployment.check_alive(*[p for p in deployment.processes if p is not victim])


async def test_nats_server_restarted_mid_run_loses_nothing(
    deploy: Deploy, fresh_postgres_url: str, nats_server: NatsServer
) -> None:
    deployment = deploy(fresh_postgres_url, nats_server.url)
    # During the outage the waiting jobs wait for a signal; the sleeping ones, approved
    # beforehand, wake up and hand out their last activity while NATS is away.
    waiting = [f"waiting-{n}" for n in range(15)]
    sleeping = [f"sleeping-{n}" for n in range(15)]
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        await start_jobs(client, waiting, pause_seconds=0.5)
        await start_jobs(client, sleeping, pause_seconds=3.0)
        await until_stage(client, waiting, "waiting")
        await approve(client, sleeping, "hopper")
        try:
            nats_server.kill()
            await asyncio.sleep(LEASE_TTL + 2)  # every lease lapses, every timer comes due
        finally:
            nats_server.start()
        await approve(client, waiting, "hopper")
        await finish(client, waiting + sleeping, "hopper")
        await assert_sound_job_histories(client, waiting + sleeping)
        # And the deployment goes on working.
        await run_jobs_end_to_end(client, 10)
    deployment.check_alive()
    for engine in deployment.engines:
        assert "lost partition" in engine.text()  # the outage outlasted the leases


async def test_a_three_server_nats_cluster_runs_workflows_end_to_end(
    deploy: Deploy, fresh_postgres_url: str, nats_cluster: NatsCluster
) -> None:
    deployment = deploy(fresh_postgres_url, nats_cluster.url)
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        await run_jobs_end_to_end(client, 20)
        assert await client.count_workflows(status=WorkflowStatus.COMPLETED) == 20
    deployment.check_alive()


# --- garbage on the wire -----------------------------------------------------------------------


def bad_messages(valid: bytes, max_payload: int) -> dict[str, bytes]:
    """Messages no listener may take: garbage, truncated `valid`, wrong shapes, oversized.

    The oversized one exceeds `MAX_WIRE_BYTES` when the server lets it through, else it
    is as large as the server allows (`test_oversized_messages_are_refused_unread` covers
    the limit itself).
    """
    return {
        "garbage": b"\x00\xff\xfe not json at all \x81",
        "empty": b"",
        "truncated": valid[: len(valid) // 2],
        "a list": b"[1, 2, 3]",
        "null": b"null",
        "a string": b'"aion"',
        "a wrong field type": b'{"call": "query", "workflow_id": 42, "timeout": "soon"}',
        "an unknown kind": b'{"call": "launch", "kind": "rocket", "attempt": -1}',
        "oversized": b"x" * min(MAX_WIRE_BYTES + 1, max_payload - 4096),
    }


def test_oversized_messages_are_refused_unread() -> None:
    too_big = b" " * (MAX_WIRE_BYTES + 1)
    for decode in (decode_call, decode_report, decode_task, decode_event):
        with pytest.raises(WireFormatError, match="exceeds"):
            decode(too_big)


async def test_garbage_on_every_subject_is_dropped_with_a_log_line_and_stops_nothing(
    deploy: Deploy, fresh_postgres_url: str, nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    deployment = deploy(fresh_postgres_url, nats_url, engines=1, workers=1)
    [engine], [worker] = deployment.engines, deployment.workers
    names = names_of(deployment.transport_url)
    everything = set(range(PARTITIONS))
    async with await Client.connect(deployment.transport_url) as client:
        await deployment.ready(client)
        await until_every_engine_holds_partitions(deployment)
        await start_jobs(client, ["watched-7"], pause_seconds=0.5)
        await until_stage(client, ["watched-7"], "waiting")
        started = (await client.get_handle("watched-7").history())[0]
        seen: list[Event] = []

        async def watch() -> None:
            async for event in client.get_handle("watched-7").events():
                seen.append(event)
                if event.type == "WorkflowCompleted":
                    return

        watcher = asyncio.create_task(watch())
        nc = await connect(deployment.transport_url, name="aion-test-garbage")
        try:
            js = nc.jetstream()
            events_subject = names.events_subject("watched-7")

            async def subscribed() -> bool:  # live events are not kept: the watcher must listen
                await nc.publish(events_subject, encode_event(started))
                return bool(seen)

            await eventually(subscribed, "the watcher listening")
            call = encode_call(QueryCall(workflow_id="watched-7", name="status", timeout=5))
            task = ActivityTask(
                workflow_id="watched-7", run_id=started.run_id, activity_id=1, attempt=1,
                activity_type="double", task_queue="default", scheduled_at=started.recorded_at,
            )  # fmt: skip
            report = AttemptReport(
                workflow_id="watched-7", run_id=started.run_id, activity_id=1, attempt=1,
                kind="heartbeat",
            )  # fmt: skip
            calls = bad_messages(call, nc.max_payload)
            # An owner-only call on the api subject would never be answered by an owner.
            calls["an owner's call"] = call
            sent: Counter[str] = Counter()
            # Requests to the owner of each partition and to any engine: a typed error each.
            for subject in [*map(names.control_subject, everything), names.api_subject()]:
                for what, data in calls.items():
                    if what == "an owner's call" and subject != names.api_subject():
                        continue
                    reply = await nc.request(subject, data, timeout=30)
                    error = Reply.model_validate_json(reply.data).error
                    assert error is not None, (subject, what)
                    assert error.type == "WireFormatError", (subject, what)
                    sent[subject] += 1
                await nc.publish(subject, b"no reply wanted }")
                sent[subject] += 1
            # Reports to the owner of each partition, tasks to the workers: acked by JetStream.
            for partition in everything:
                for data in bad_messages(
                    report.model_dump_json().encode(), nc.max_payload
                ).values():
                    await js.publish(names.result_subject(partition), data)
                    sent[names.result_subject(partition)] += 1
            for data in bad_messages(task.model_dump_json().encode(), nc.max_payload).values():
                await js.publish(names.task_subject("default"), data)
                sent[names.task_subject("default")] += 1
            # Cancellations to the workers, live events to the watching client.
            for data in bad_messages(task.task_id.encode(), nc.max_payload).values():
                await nc.publish(cancel_subject(names), data)
                sent[cancel_subject(names)] += 1
            for data in bad_messages(encode_event(started), nc.max_payload).values():
                await nc.publish(events_subject, data)
                sent[events_subject] += 1
            await nc.flush()
        finally:
            await nc.close()

        # Every message was dropped with a line in the log of the process it reached ...
        def dropped() -> Counter[str]:
            logs = (engine.text(), worker.text(), caplog.text)
            return sum((Counter(DROPPED.findall(text)) for text in logs), Counter())

        async def all_logged() -> bool:
            return dropped() == sent

        with contextlib.suppress(AssertionError):  # the comparison below shows what is missing
            await eventually(all_logged, "a log line for every dropped message", timeout=60)
        assert dropped() == sent
        # ... and nothing stopped: the watched workflow finishes, seen live, new ones run.
        await approve(client, ["watched-7"], "mallory")
        await finish(client, ["watched-7"], "mallory")
        await asyncio.wait_for(watcher, RUN_TIMEOUT)
        assert seen[-1].type == "WorkflowCompleted"
        await run_jobs_end_to_end(client, 5)
    deployment.check_alive()
