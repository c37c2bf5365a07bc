"""An engine makes Python's garbage collector run less often, unless the application tuned it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from aion_core import Engine
from aion_core.engine.collector import DEFAULT_GC_THRESHOLD


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
