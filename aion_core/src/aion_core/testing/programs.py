"""Random workflow programs for property tests of deterministic replay (DESIGN 4.2).

A program is a JSON list of steps: an activity call, a timer, a gather of
sub-steps, a condition on a counter with a timeout, a `random()` draw. The
`Program` workflow interprets it, so one workflow definition covers every
shape hypothesis generates (`programs()`). `run_program` runs one to completion
on a time-skipping engine over any store; `check_replays_exactly` then proves
its history replays: under `Replayer`, and from any prefix of the history
followed by the rest of its inputs delivered live (as after an eviction or a
restart there), issuing exactly the recorded commands and reaching the same
result.

Needs hypothesis (``pip install aion-core[testing]``); nothing imports this
module but tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from aion_core import activity, workflow
from aion_core.converter import from_payload
from aion_core.definitions import workflow_definition
from aion_core.events import Event, WorkflowCompleted
from aion_core.runtime.commands import command_key, describe, is_input
from aion_core.runtime.instance import WorkflowInstance
from aion_core.store.protocol import EventStore
from aion_core.testing.environment import WorkflowEnvironment
from aion_core.testing.replayer import Replayer

__all__ = [
    "PROGRAM_ID",
    "Program",
    "Step",
    "add_ten",
    "check_replays_exactly",
    "programs",
    "recorded_commands",
    "rerun_from",
    "results_seen",
    "run_program",
]

Step = list[Any]
"""One step of a program: ``["activity", x]``, ``["timer", s]``, ``["gather", [steps]]``,
``["condition", n, timeout_s]`` or ``["random"]``."""

PROGRAM_ID = "program"
"""The workflow id `run_program` gives each run."""

results_seen: list[list[Any]] = []
"""What each run of `Program` returned, replays included (the last one is the latest)."""


@activity.defn
async def add_ten(x: int) -> int:
    """The only activity of programs: a result that depends on its input."""
    return x + 10


@workflow.defn
class Program:
    """Interprets a program; its trace of activity results, timers, conditions and draws."""

    def __init__(self) -> None:
        self.counter = 0
        self.trace: list[Any] = []

    @workflow.run
    async def run(self, program: list[Step]) -> list[Any]:
        """Run every step in order; the trace."""
        for step in program:
            await self.step(step)
        results_seen.append(self.trace)
        return self.trace

    async def step(self, step: Step) -> None:
        """Run one step (a gather runs its sub-steps concurrently)."""
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


def programs(*, max_leaves: int = 8, max_steps: int = 6) -> st.SearchStrategy[list[Step]]:
    """Programs of 1 to `max_steps` top-level steps, each with at most `max_leaves` leaves."""
    leaves = st.one_of(
        st.builds(lambda x: ["activity", x], st.integers(-1000, 1000)),
        st.builds(lambda seconds: ["timer", seconds], st.integers(0, 3)),
        st.builds(
            lambda n, seconds: ["condition", n, seconds], st.integers(0, 4), st.integers(1, 3)
        ),
        st.just(["random"]),
    )
    steps = st.recursive(
        leaves,
        lambda inner: st.builds(
            lambda subs: ["gather", subs], st.lists(inner, min_size=2, max_size=3)
        ),
        max_leaves=max_leaves,
    )
    return st.lists(steps, min_size=1, max_size=max_steps)


async def run_program(
    program: list[Step], *, store: str | EventStore = "memory://", timeout: float = 10
) -> tuple[list[Any], list[Event]]:
    """Run `program` to completion on a time-skipping engine over `store`; result and history."""
    async with WorkflowEnvironment(
        time_skipping=True, workflows=[Program], activities=[add_ten], store=store
    ) as env:
        handle = await env.engine.start_workflow(Program.run, program, id=PROGRAM_ID)
        result = await asyncio.wait_for(handle.result(), timeout=timeout)
        return result, await handle.history()


def recorded_commands(events: Sequence[Event]) -> list[str]:
    """The commands `events` recorded, described as replay describes them."""
    return [describe(e.body) for e in events if command_key(e.body) is not None]


def rerun_from(history: Sequence[Event], cut: int) -> list[str]:
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


def check_replays_exactly(history: Sequence[Event], result: list[Any]) -> None:
    """Assert that the history of a completed `Program` run replays to exactly itself.

    It ends with `result`; `Replayer` replays it to the same result; and from every
    point where an input was delivered, a fresh instance replaying up to there and
    fed the remaining inputs live issues exactly the commands recorded after it.
    """
    last = history[-1].body
    assert isinstance(last, WorkflowCompleted), f"the run ended {last.type}"
    assert from_payload(last.result, list[Any]) == result
    Replayer(workflows=[Program]).replay(list(history))
    assert results_seen[-1] == result
    cuts = [i for i, event in enumerate(history) if is_input(event.body)] + [len(history)]
    for cut in cuts:
        assert rerun_from(history, cut) == recorded_commands(history[cut:]), f"cut at {cut}"
        assert results_seen[-1] == result
