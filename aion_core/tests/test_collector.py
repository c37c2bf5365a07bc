"""An engine makes Python's garbage collector run less often, unless the application tuned it,
and collects the cycles of the workflow instances it discards."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import timedelta

import pytest

from aion_core import Engine, workflow
from aion_core.engine.collector import DEFAULT_GC_THRESHOLD, DiscardedInstances
from aion_core.runtime.instance import WorkflowInstance


@pytest.fixture
def python_default_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@pytest.mark.usefixtures("python_default_thresholds")
async def test_an_engine_raises_the_default_generation_0_threshold() -> None:
    async with Engine("memory://"):
        assert gc.get_threshold() == (DEFAULT_GC_THRESHOLD, 10, 10)


@pytest.mark.usefixtures("python_default_thresholds")
async def test_a_threshold_the_application_set_is_kept() -> None:
    gc.set_threshold(5_000, 20, 20)
    async with Engine("memory://"):
        assert gc.get_threshold() == (5_000, 20, 20)


@pytest.mark.usefixtures("python_default_thresholds")
async def test_none_leaves_the_collector_alone() -> None:
    async with Engine("memory://", gc_threshold=None):
        assert gc.get_threshold() == (700, 10, 10)
    async with Engine("memory://", gc_threshold=100_000):
        assert gc.get_threshold() == (100_000, 10, 10)


@workflow.defn(name="collector.Sleeper")
async def sleeper() -> None:
    await workflow.sleep(timedelta(days=1))


def _live_instances() -> int:
    return sum(isinstance(o, WorkflowInstance) for o in gc.get_objects())


@pytest.mark.parametrize(("every", "most_left"), [(10, 5 + 10), (1_000_000, 60)])
async def test_discarded_instances_are_collected_every_so_many_discards(
    every: int, most_left: int
) -> None:
    """Evicted instances are cyclic garbage; only the engine's own collections free them here
    (the automatic ones are held off). With no collection in reach, all 60 stay."""
    saved = gc.get_threshold()
    gc.collect()
    gc.set_threshold(1_000_000_000)
    try:
        async with Engine("memory://", workflows=[sleeper], max_cached_workflows=5) as engine:
            engine.discarded = DiscardedInstances(every=every)
            before = _live_instances()
            for i in range(60):
                await engine.start_workflow(sleeper, id=f"s-{i}")
            left = _live_instances() - before
            assert left <= most_left
            assert left >= (60 if every > 60 else 5)
    finally:
        gc.set_threshold(*saved)
