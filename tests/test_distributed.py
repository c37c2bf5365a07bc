"""aion distributed for real: `aion serve` and `aion worker` processes on NATS and PostgreSQL.

Every test runs its own namespace on NATS, its own PostgreSQL database, and
its own engine and worker processes (`deployment`: logs in the test's tmp dir,
their tails printed when a test fails). The workflows live in
`distributed_flows`, which the processes import by name; the tests drive them
through a `Client` by name, as a client without the code would. Deadlines are
generous: they catch a hang, never measure speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from aion_core import Client, Event, WorkflowStatus
from aion_core.calls import MAX_WIRE_BYTES, QueryCall, Reply, decode_call, encode_call
from aion_core.errors import WireFormatError
from aion_core.tasks import ActivityTask, AttemptReport, decode_report, decode_task
from aion_transport_nats.connection import connect
from aion_transport_nats.node import cancel_subject
from aion_transport_nats.partitions import partition_of
from aion_transport_nats.wire import decode_events, encode_events

from .deployment import (
    LEASE_TTL,
    PARTITIONS,
    RUN_TIMEOUT,
    Deploy,
    approve,
    approve_and_finish,
    assert_sound_history,
    assert_sound_job_histories,
    client_histories,
    deployments,
    eventually,
    finish,
    names_of,
    run_jobs_end_to_end,
    start_jobs,
    until_every_engine_holds_partitions,
    until_one_engine_holds_every_partition,
    until_stage,
)

if TYPE_CHECKING:
    from conftest import DropNamespace, NatsCluster, NatsServer

DROPPED = re.compile(r"dropped a message on (\S+):")


@pytest_asyncio.fixture
async def deploy(tmp_path: Path, drop_nats_namespace: DropNamespace) -> AsyncIterator[Deploy]:
    """Engines and workers started on demand, killed after the test (see `deployments`)."""
    async with deployments(tmp_path, drop_nats_namespace) as make:
        yield make


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
        assert_sound_job_histories(await client_histories(client, jobs))
        await until_one_engine_holds_every_partition(survivor, deployment.transport_url)
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
        assert_sound_job_histories(await client_histories(client, waiting + sleeping))
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
    for decode in (decode_call, decode_report, decode_task, decode_events):
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
                [message] = encode_events([started], nc.max_payload)
                await nc.publish(events_subject, message)
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
            [live] = encode_events([started], nc.max_payload)
            for data in bad_messages(live, nc.max_payload).values():
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
