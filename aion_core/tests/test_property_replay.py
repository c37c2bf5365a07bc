"""Random workflow programs replay exactly the commands they recorded (DESIGN 4.2).

A program is a JSON list of steps: an activity call, a timer, a gather of
sub-steps, a condition on a counter with a timeout, a `random()` draw.
`Program` interprets it. Each generated program runs to completion under a
time-skipping environment; then its history must replay under `Replayer`, and
a fresh instance fed the recorded inputs, from the start or after replaying
any prefix of the history (as after an eviction or a restart there), must
issue exactly the recorded commands, in order, and reach the same result.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aion_core import Event, activity, workflow
from aion_core.converter import from_payload
from aion_core.definitions import workflow_definition
from aion_core.events import WorkflowCompleted
from aion_core.runtime.commands import command_key, describe, is_input
from aion_core.runtime.instance import WorkflowInstance
from aion_core.testing import Replayer, WorkflowEnvironment

Step = list[Any]

results_seen: list[list[Any]] = []
"""What each run of `Program` returned, replays included."""


@activity.defn
async def add_ten(x: int) -> int:
    return x + 10


@workflow.defn
class Program:
    def __init__(self) -> None:
        self.counter = 0
        self.trace: list[Any] = []

    @workflow.run
    async def run(self, program: list[Step]) -> list[Any]:
        for step in program:
            await self.step(step)
        results_seen.append(self.trace)
        return self.trace

    async def step(self, step: Step) -> None:
        kind = step[0]
        if kind == "activity":
            self.trace.append(await workflow.execute_activity(add_ten, step[1]))
            self.counter += 1
        elif kind == "timer":
            await workflow.sleep(step[1])
            self.trace.append(f"slept {step[1]}")
        elif kind == "gather":
            await asyncio.gather(*(self.step(sub) for sub in step[1]))
        elif kind == "condition":
            threshold = step[1]
            met = await workflow.wait_condition(lambda: self.counter >= threshold, timeout=step[2])
            self.trace.append(f"counter >= {threshold}: {met}")
        elif kind == "random":
            self.trace.append(workflow.random().randint(0, 1_000_000))
        else:
            raise AssertionError(f"unknown step {step!r}")


leaves = st.one_of(
    st.builds(lambda x: ["activity", x], st.integers(-1000, 1000)),
    st.builds(lambda seconds: ["timer", seconds], st.integers(0, 3)),
    st.builds(lambda n, seconds: ["condition", n, seconds], st.integers(0, 4), st.integers(1, 3)),
    st.just(["random"]),
)
steps = st.recursive(
    leaves,
    lambda inner: st.builds(lambda subs: ["gather", subs], st.lists(inner, min_size=2, max_size=3)),
    max_leaves=8,
)
programs = st.lists(steps, min_size=1, max_size=6)


async def run_program(program: list[Step]) -> tuple[list[Any], list[Event]]:
    async with WorkflowEnvironment(
        time_skipping=True, workflows=[Program], activities=[add_ten]
    ) as env:
        handle = await env.engine.start_workflow(Program.run, program, id="program")
        result = await asyncio.wait_for(handle.result(), timeout=10)
        return result, await handle.history()


def recorded_commands(events: list[Event]) -> list[str]:
    return [describe(e.body) for e in events if command_key(e.body) is not None]


def rerun_from(history: list[Event], cut: int) -> list[str]:
    """Replay `history[:cut]`, then deliver the rest of its inputs live; the commands issued."""
    head = history[0]
    instance = WorkflowInstance(
        workflow_definition(Program), head.workflow_id, head.run_id, history[:cut]
    )
    instance.replay()
    assert instance.unmatched_commands() == []
    issued = [describe(body) for body in instance.take_commands()]
    for event in history[cut:]:
        if is_input(event.body):
            issued += [describe(body) for body in instance.activate(event.body, event.recorded_at)]
    instance.discard()
    return issued


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(program=programs)
def test_random_programs_replay_the_commands_they_recorded(program: list[Step]) -> None:
    results_seen.clear()
    result, history = asyncio.run(run_program(program))
    assert isinstance(history[-1].body, WorkflowCompleted)
    assert from_payload(history[-1].body.result, list[Any]) == result

    Replayer(workflows=[Program]).replay(history)
    assert results_seen[-1] == result

    cuts = [i for i, event in enumerate(history) if is_input(event.body)] + [len(history)]
    for cut in cuts:
        assert rerun_from(history, cut) == recorded_commands(history[cut:]), f"cut at {cut}"
        assert results_seen[-1] == result
