"""Parameters with defaults may be left out, as in Python, everywhere arguments are passed.

A workflow, an activity, a signal, a query and an update called with fewer
arguments run with their defaults; the history records the payloads that were
sent, so a replay runs with the same defaults. Too few or too many arguments are
a `PayloadValidationError` naming the range, and nothing is recorded.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from aion_core import Engine, MemoryEventStore, activity, workflow
from aion_core.errors import PayloadValidationError
from aion_core.events import SignalReceived
from aion_core.testing import Replayer


@activity.defn(name="defaults.greet")
async def greet(name: str, greeting: str = "hello") -> str:
    return f"{greeting} {name}"


@workflow.defn(name="defaults.Greeter")
class Greeter:
    def __init__(self) -> None:
        self.marks: list[str] = []

    @workflow.run
    async def run(self, name: str, times: int = 1, ending: str = "!") -> list[str]:
        timeout = timedelta(seconds=30)
        first: str = await workflow.execute_activity(greet, name, start_to_close_timeout=timeout)
        second: str = await workflow.execute_activity(
            greet, name, "hi", start_to_close_timeout=timeout
        )
        await workflow.wait_condition(lambda: len(self.marks) >= 2)
        return [word + ending for word in [first, second, *self.marks]] * times

    @workflow.signal
    def mark(self, text: str = "*") -> None:
        self.marks.append(text)

    @workflow.query
    def seen(self, extra: int = 0) -> int:
        return len(self.marks) + extra

    @workflow.update
    def add(self, text: str = "+") -> int:
        self.marks.append(text)
        return len(self.marks)


async def test_left_out_arguments_take_their_defaults_and_replay_alike() -> None:
    store = MemoryEventStore()
    async with Engine(store, workflows=[Greeter], activities=[greet]) as engine:
        handle = await engine.start_workflow(Greeter.run, "ada", id="defaults")
        await handle.signal(Greeter.mark)
        assert await handle.query(Greeter.seen) == 1
        assert await handle.query(Greeter.seen, 10) == 11
        assert await handle.execute_update(Greeter.add) == 2
        assert await handle.result() == ["hello ada!", "hi ada!", "*!", "+!"]
        history = await handle.history()
    Replayer(workflows=[Greeter]).replay(history)

    async with Engine(store, workflows=[Greeter], activities=[greet]) as engine:
        handle = await engine.start_workflow(Greeter.run, "bob", 2, "?", id="all-given")
        await handle.signal(Greeter.mark, "a")
        await handle.signal("mark", "b")  # by name: checked against the same signature
        assert await handle.result() == ["hello bob?", "hi bob?", "a?", "b?"] * 2


async def test_too_few_or_too_many_arguments_name_the_range_and_record_nothing() -> None:
    async with Engine("memory://", workflows=[Greeter], activities=[greet]) as engine:
        with pytest.raises(PayloadValidationError, match="takes 1 to 3 arguments, got 0"):
            await engine.start_workflow(Greeter.run, id="none")
        with pytest.raises(PayloadValidationError, match="takes 1 to 3 arguments, got 4"):
            await engine.start_workflow(Greeter.run, "a", 1, "!", "extra", id="four")
        assert await engine.store.get_workflow("none") is None
        assert await engine.store.get_workflow("four") is None
        handle = await engine.start_workflow(Greeter.run, "ada", id="signalled")
        with pytest.raises(PayloadValidationError, match="takes 0 to 1 argument"):
            await handle.signal(Greeter.mark, "a", "b")
        history = await handle.history()
        assert not any(isinstance(event.body, SignalReceived) for event in history)
