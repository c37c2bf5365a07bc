"""`workflow.query_workflow` (DESIGN 4.5): one workflow asks another a query.

The answer (or the failure) is recorded in the asker as `ExternalQueryAnswered`, so
replay gets the same answer without asking again; the queried workflow records nothing;
asking is refused inside a query handler.
"""

from __future__ import annotations

import pytest

from aion_core import ApplicationError, Engine, Event, workflow
from aion_core.errors import QueryRefused
from aion_core.events import ExternalQueryAnswered
from aion_core.testing import Replayer


@workflow.defn
class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return self.count

    @workflow.signal
    async def add(self, amount: int) -> None:
        self.count += amount

    @workflow.signal
    async def finish(self) -> None:
        self.done = True

    @workflow.query
    def count_plus(self, extra: int) -> int:
        return self.count + extra

    @workflow.query
    def nosy(self) -> int:
        workflow.query_workflow("anyone", "count_plus", 1)  # refused: answering a query
        return 0


@workflow.defn
async def asker(target: str) -> list[str]:
    answers = [str(await workflow.query_workflow(target, Counter.count_plus, 10))]
    answers.append(str(await workflow.query_workflow(target, "count_plus", 100)))
    for who, name in ((target, "no_such_query"), ("no-such-workflow", "count_plus")):
        try:
            await workflow.query_workflow(who, name, 0)
        except ApplicationError as error:
            answers.append(error.type or "")
    return answers


WORKFLOWS = [Counter, asker]


def answered(history: list[Event]) -> list[ExternalQueryAnswered]:
    return [e.body for e in history if isinstance(e.body, ExternalQueryAnswered)]


async def test_a_workflow_asks_another_and_the_answers_are_recorded_in_the_asker(
    store_url: str,
) -> None:
    async with Engine(store_url, workflows=WORKFLOWS) as engine:
        counter = await engine.start_workflow(Counter.run, id="counter")
        await counter.signal(Counter.add, 5)
        before = await counter.history()

        result = await engine.execute_workflow(asker, "counter", id="asker")

        assert result == ["15", "105", "UnknownQuery", "WorkflowNotFoundError"]
        assert await counter.history() == before  # the queried workflow recorded nothing
        history = await engine.get_handle("asker").history()
        recorded = answered(history)
        assert [a.query_id for a in recorded] == [1, 2, 3, 4]
        assert [a.failure is None for a in recorded] == [True, True, False, False]
        await counter.signal(Counter.finish)
        assert await counter.result() == 5
    # Replay needs neither the target nor the engine: the answers are in the history.
    Replayer(workflows=[asker]).replay(history)


async def test_asking_from_a_query_handler_is_refused_and_records_nothing(store_url: str) -> None:
    async with Engine(store_url, workflows=WORKFLOWS) as engine:
        counter = await engine.start_workflow(Counter.run, id="counter")
        before = await counter.history()
        with pytest.raises(QueryRefused, match="while answering a query"):
            await counter.query(Counter.nosy)
        assert await counter.history() == before
        assert await counter.query(Counter.count_plus, 1) == 1  # it still answers others
        await counter.terminate()
