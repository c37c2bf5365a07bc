"""Metrics of engine internals: replay time, the workflow cache and group-commit sizes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aion_core import Engine

from aion_plugin_metrics import MetricsPlugin

from .flows import ACTIVITIES, WORKFLOWS, nap, order, plugins_with


def value(plugin: MetricsPlugin, name: str, **labels: str) -> float:
    sample = plugin.registry.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


async def test_replays_the_cache_and_store_commits_are_measured(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'x.db'}"
    plugin = MetricsPlugin()
    plugins = plugins_with(plugin)
    async with Engine(store, workflows=WORKFLOWS, plugins=plugins) as engine:
        await engine.start_workflow(nap, 0.3, id="nap-1")
    assert value(plugin, "aion_workflow_cache_size") == 0  # the engine stopped

    options = {"workflows": WORKFLOWS, "activities": ACTIVITIES, "plugins": plugins}
    async with Engine(store, max_cached_workflows=2, **options) as engine:
        # The napping workflow comes back from its history: one replay.
        assert await engine.get_handle("nap-1").result() == "rested"
        for n in range(6):
            await engine.execute_workflow(order, f"item {n}", id=f"order-{n}")
        # Seven workflows, one after another, through a cache of two: five evicted.
        assert value(plugin, "aion_workflow_cache_size") == 2
        assert value(plugin, "aion_workflow_cache_evictions_total") == 5
        # Many at once: those waiting on activities are evicted too and come back by replay.
        await asyncio.gather(
            *(engine.execute_workflow(order, f"item {n}", id=f"more-{n}") for n in range(6, 12))
        )
        assert value(plugin, "aion_workflow_cache_size") == 2
        assert value(plugin, "aion_workflow_cache_evictions_total") >= 5 + 6
    assert value(plugin, "aion_workflow_cache_size") == 0

    assert value(plugin, "aion_workflow_replay_seconds_count", workflow_type="nap") == 1
    assert value(plugin, "aion_workflow_replay_seconds_sum", workflow_type="nap") > 0
    assert value(plugin, "aion_workflow_replay_seconds_count", workflow_type="order") > 0
    # Every durable append went through a group commit: the batch sizes add up to them.
    appends = value(plugin, "aion_append_events_count")
    assert appends > 0
    assert value(plugin, "aion_store_commit_appends_sum") == appends
    commits = value(plugin, "aion_store_commit_appends_count")
    assert 0 < commits <= appends
    assert value(plugin, "aion_store_commit_seconds_count") == commits


async def test_two_engines_add_up_in_the_cache_gauge() -> None:
    plugin = MetricsPlugin()
    plugins = plugins_with(plugin)
    async with (
        Engine("memory://", workflows=WORKFLOWS, activities=ACTIVITIES, plugins=plugins) as one,
        Engine("memory://", workflows=WORKFLOWS, activities=ACTIVITIES, plugins=plugins) as two,
    ):
        await one.execute_workflow(order, "lamp", id="a")
        await two.execute_workflow(order, "desk", id="b")
        await two.execute_workflow(order, "sofa", id="c")
        assert value(plugin, "aion_workflow_cache_size") == 3
    assert value(plugin, "aion_workflow_cache_size") == 0
