"""The workflows of the crash loop, and the engine process that runs them until it is killed.

Run as ``python crash_flows.py STORE_URL EFFECTS_FILE COUNT``: one embedded
engine (in-process transport) starts COUNT workflows of five kinds (ids
``crash-0`` ...), signals those that wait for one, and exits 0 once every one
of them is closed. Killed and run again, it starts nothing twice (an id whose
run exists is left alone) and signals again (a workflow takes the first
signal; later ones are recorded and ignored), while the engine recovers the
open workflows from the store.

Every activity attempt appends one line ``workflow_id run_id activity_id
attempt`` to EFFECTS_FILE before it returns: the side effect whose count the
test checks against the recorded attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from datetime import timedelta

from aion_core import Engine, RetryPolicy, activity, workflow
from aion_core.errors import WorkflowAlreadyStartedError, WorkflowClosedError

KINDS = 5
LOOPER_ROUNDS = 4
EFFECTS_ENV = "AION_CRASH_EFFECTS"
FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=5)


def expected_result(index: int) -> int:
    """What workflow ``crash-<index>`` returns, by its kind."""
    kind = index % KINDS
    return {0: index + 3, 1: index + 1, 2: index * 10 + 1, 3: index + 2, 4: index + LOOPER_ROUNDS}[
        kind
    ]


@activity.defn(name="crash.effect")
async def effect(value: int, flaky: bool) -> int:
    """Record this attempt's side effect, then return ``value + 1`` (flaky: attempt 1 fails)."""
    info = activity.info()
    line = f"{info.workflow_id} {info.run_id} {info.activity_id} {info.attempt}\n"
    descriptor = os.open(os.environ[EFFECTS_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(descriptor, line.encode())  # one write: whole lines, even when killed
    finally:
        os.close(descriptor)
    await asyncio.sleep(0.05 * (1 + value % 5))  # long enough for kills to land mid-attempt
    if flaky and info.attempt == 1:
        raise RuntimeError("flaky: the first attempt fails")
    return value + 1


@workflow.defn(name="crash.Chain")
async def chain(index: int) -> int:
    """Three activities in sequence; every third chain has a flaky middle one."""
    value = index
    for step in range(3):
        flaky = step == 1 and index % 3 == 0
        value = await workflow.execute_activity(effect, value, flaky, retry_policy=FAST_RETRY)
    return value


@workflow.defn(name="crash.Sleeper")
async def sleeper(index: int) -> int:
    """A durable timer of 1-13 s (fired across several crashes), then an activity."""
    await workflow.sleep(timedelta(seconds=1 + 2 * (index % 7)))
    result: int = await workflow.execute_activity(effect, index, False, retry_policy=FAST_RETRY)
    return result


@workflow.defn(name="crash.Waiter")
class Waiter:
    """Waits for the ``go`` signal, then runs an activity on its value."""

    def __init__(self) -> None:
        self.value: int | None = None

    @workflow.signal(name="go")
    def go(self, value: int) -> None:
        """Keep the first value; a signal sent again after a crash is ignored."""
        if self.value is None:
            self.value = value

    @workflow.run
    async def run(self, index: int) -> int:
        """Wait, then act on the signalled value."""
        await workflow.wait_condition(lambda: self.value is not None)
        assert self.value is not None
        result: int = await workflow.execute_activity(
            effect, self.value, False, retry_policy=FAST_RETRY
        )
        return result


@workflow.defn(name="crash.Child")
async def child(index: int) -> int:
    """One activity, as a child."""
    result: int = await workflow.execute_activity(effect, index, False, retry_policy=FAST_RETRY)
    return result


@workflow.defn(name="crash.Parent")
async def parent(index: int) -> int:
    """A child workflow, then an activity on its result."""
    from_child: int = await workflow.execute_child_workflow(child, index, id=f"crash-{index}-child")
    result: int = await workflow.execute_activity(
        effect, from_child, False, retry_policy=FAST_RETRY
    )
    return result


@workflow.defn(name="crash.Looper")
async def looper(value: int, rounds: int) -> int:
    """One activity per run, continuing as new until `rounds` runs are done."""
    value = await workflow.execute_activity(effect, value, False, retry_policy=FAST_RETRY)
    if rounds > 1:
        workflow.continue_as_new(value, rounds - 1)
    return value


WORKFLOWS = (chain, sleeper, Waiter, parent, looper)
"""By kind: workflow ``crash-<i>`` is of kind ``i % KINDS``."""


async def drive(store_url: str, count: int) -> None:
    """Start what is not started, signal the waiters, wait until every workflow is closed."""
    async with Engine(
        store_url, workflows=[*WORKFLOWS, child], activities=[effect], max_cached_workflows=count
    ) as engine:
        for index in range(count):
            kind = index % KINDS
            # Started before a crash: the engine recovered it.
            with contextlib.suppress(WorkflowAlreadyStartedError):
                arguments = (index, LOOPER_ROUNDS) if kind == 4 else (index,)
                await engine.start_workflow(
                    WORKFLOWS[kind], *arguments, id=f"crash-{index}", id_reuse="reject"
                )
            if kind == 2:
                with contextlib.suppress(WorkflowClosedError):
                    await engine.signal(f"crash-{index}", "go", index * 10)
        for index in range(count):
            await engine.result(f"crash-{index}")
    print("crash loop: every workflow closed", flush=True)


def main() -> None:
    """``python crash_flows.py STORE_URL EFFECTS_FILE COUNT``."""
    store_url, effects, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.environ[EFFECTS_ENV] = effects
    asyncio.run(drive(store_url, count))


if __name__ == "__main__":
    main()
