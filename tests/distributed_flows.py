"""Workflows and activities the end-to-end tests run in real `aion serve` / `aion worker` processes.

The processes import this module by name (``aion serve distributed_flows``), so
it depends on nothing but aion_core and the standard library. Tests talk to the
workflows by name ("Job", "approve", "status") the way a client without the
code would.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

from aion_core import RetryPolicy, activity, workflow

ACTIVITY_TIMEOUT = timedelta(seconds=60)
QUICK_RETRIES = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=1)
)
HEARTBEAT_TIMEOUT = timedelta(seconds=2)
"""How long a silent attempt of `slow_step` lives before its engine times it out and retries."""
FIRST_ATTEMPT_SECONDS = 120.0
"""The first attempt of `slow_step` outlives any test: only a lost worker ends it early."""
LATER_ATTEMPT_SECONDS = 1.0


@activity.defn
async def double(n: int) -> int:
    """The first step of a job."""
    return 2 * n


@activity.defn
async def describe(value: int, approved_by: str) -> str:
    """The last step of a job: what `Job.run` returns."""
    return f"{approved_by}:{value + 1}"


def job_result(n: int, approved_by: str) -> str:
    """What `Job.run(n, ...)` returns once `approved_by` approved it."""
    return f"{approved_by}:{2 * n + 1}"


@workflow.defn
class Job:
    """An activity, a durable timer, a signal, another activity; `status` answers all along."""

    def __init__(self) -> None:
        self.stage = "started"
        self.approved_by: str | None = None

    @workflow.signal
    def approve(self, by: str) -> None:
        """Let the job finish."""
        self.approved_by = by

    @workflow.query
    def status(self) -> str:
        """The stage the job is at."""
        return self.stage

    @workflow.run
    async def run(self, n: int, pause_seconds: float) -> str:
        """Double `n`, sleep `pause_seconds`, wait for approval, describe the outcome."""
        doubled = await workflow.execute_activity(
            double, n, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=QUICK_RETRIES
        )
        self.stage = "sleeping"
        await workflow.sleep(timedelta(seconds=pause_seconds))
        self.stage = "waiting"
        await workflow.wait_condition(lambda: self.approved_by is not None)
        self.stage = "finishing"
        assert self.approved_by is not None
        result = await workflow.execute_activity(
            describe,
            doubled,
            self.approved_by,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=QUICK_RETRIES,
        )
        self.stage = "done"
        return result


def attempt_marker(marker_dir: Path, workflow_id: str, attempt: int, pid: int) -> Path:
    """The file `slow_step` creates when attempt `attempt` begins in process `pid`."""
    return marker_dir / f"{workflow_id}.attempt-{attempt}.pid-{pid}"


@activity.defn
async def slow_step(marker_dir: str) -> int:
    """Record which process runs this attempt, heartbeat for a while, return the process id."""
    info = activity.info()
    pid = os.getpid()
    attempt_marker(Path(marker_dir), info.workflow_id, info.attempt, pid).touch()
    seconds = FIRST_ATTEMPT_SECONDS if info.attempt == 1 else LATER_ATTEMPT_SECONDS
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        activity.heartbeat(info.attempt)
        await asyncio.sleep(0.2)
    return pid


@workflow.defn
class SlowJob:
    """One long, heartbeating activity: lose its worker and the attempt is retried elsewhere."""

    @workflow.run
    async def run(self, marker_dir: str) -> int:
        """The process id of the worker whose attempt completed."""
        return await workflow.execute_activity(
            slow_step,
            marker_dir,
            start_to_close_timeout=timedelta(seconds=FIRST_ATTEMPT_SECONDS * 2),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=QUICK_RETRIES,
        )


THROTTLED_QUEUE = "throttled"
"""The flow-controlled queue of `Throttled` (declared in the test's aion.toml)."""


@activity.defn
async def paced_step(n: int) -> int:
    """A short piece of work, so that runs let out of the queue overlap."""
    await asyncio.sleep(0.3)
    return n


@workflow.defn
async def throttled(n: int) -> int:
    """Started on the flow-controlled queue; its activity runs on the workers' default queue."""
    return await workflow.execute_activity(
        paced_step,
        n,
        task_queue="default",
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=QUICK_RETRIES,
    )


API_QUEUE = "apis"
"""An activity task queue with a global limit (declared in the test's aion.toml)."""


@workflow.defn
async def fan_out(n: int) -> list[int]:
    """`n` activities at once on the limited activity queue."""
    calls = [
        workflow.execute_activity(
            paced_step,
            i,
            task_queue=API_QUEUE,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=QUICK_RETRIES,
        )
        for i in range(n)
    ]
    return list(await asyncio.gather(*calls))


@workflow.defn
class Gate:
    """Holds its queue's slot until signalled `open`."""

    def __init__(self) -> None:
        self.opened = False

    @workflow.signal
    def open(self) -> None:
        """Let the run finish."""
        self.opened = True

    @workflow.run
    async def run(self) -> str:
        """Wait to be opened."""
        await workflow.wait_condition(lambda: self.opened)
        return "opened"
