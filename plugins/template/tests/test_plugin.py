"""The template's hooks, called by a real engine running real workflows."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

import pytest
from aion_core import Engine, RetryPolicy, activity, load_plugins, workflow
from aion_core.plugins import Plugins

from aion_plugin_template import TemplatePlugin

LOGGER = "aion.plugins.template"


@activity.defn
async def reserve(item: str) -> str:
    if activity.info().attempt == 1:
        raise ConnectionError("warehouse busy")  # a flaky service: the second attempt works
    return f"reserved {item}"


@activity.defn
async def ship(item: str) -> str:
    return f"shipped {item}"


@workflow.defn
async def order(item: str) -> list[str]:
    retry = RetryPolicy(initial_interval=timedelta(milliseconds=10))
    return [
        await workflow.execute_activity(reserve, item, retry_policy=retry),
        await workflow.execute_activity(ship, item),
    ]


def plugins_with(plugin: TemplatePlugin) -> Plugins:
    """Built-ins only (no other installed plugin interferes), plus `plugin` registered by hand."""
    plugins = load_plugins({"AION_PLUGINS": ""})
    plugins.manager.register(plugin, name="template")
    plugins.manager.check_pending()  # what start-up checks for entry-point plugins
    return plugins


async def test_every_durable_event_is_counted_once_by_type() -> None:
    plugin = TemplatePlugin()
    async with Engine(
        "memory://", workflows=[order], activities=[reserve, ship], plugins=plugins_with(plugin)
    ) as engine:
        assert await engine.execute_workflow(order, "lamp", id="order-1") == [
            "reserved lamp",
            "shipped lamp",
        ]
        await engine.execute_workflow(order, "desk", id="order-2")
        histories = [await engine.store.read_events(f"order-{n}") for n in (1, 2)]

    recorded = Counter(event.body.type for history in histories for event in history)
    assert plugin.event_counts() == recorded
    assert recorded["WorkflowStarted"] == recorded["WorkflowCompleted"] == 2
    assert recorded["ActivityFailed"] == 2  # the first attempt of each reserve


async def test_each_activity_attempt_is_logged_with_its_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    async with Engine(
        "memory://",
        workflows=[order],
        activities=[reserve, ship],
        plugins=plugins_with(TemplatePlugin()),
    ) as engine:
        await engine.execute_workflow(order, "lamp", id="order-1")

    lines = [record.getMessage() for record in caplog.records if record.name == LOGGER]
    outcomes = [line.split(" in ")[0] for line in lines]  # drop the duration
    assert outcomes == [
        "activity reserve attempt 1 of workflow order-1 failed with ConnectionError",
        "activity reserve attempt 2 of workflow order-1 completed",
        "activity ship attempt 1 of workflow order-1 completed",
    ]


async def test_an_unused_plugin_counts_nothing() -> None:
    plugin = TemplatePlugin()
    async with Engine(
        "memory://", workflows=[order], activities=[reserve, ship], plugins=plugins_with(plugin)
    ):
        pass
    assert plugin.event_counts() == {}
