"""The metrics equal what a real engine ran, on a memory store and on a SQLite file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from aion_core import Engine
from aion_core.errors import WorkflowFailureError

from aion_plugin_metrics import MetricsPlugin

from .flows import ACTIVITIES, WORKFLOWS, order, paid_order, plugins_with


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'x.db'}"


def value(plugin: MetricsPlugin, name: str, **labels: str) -> float:
    sample = plugin.registry.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


async def run_two_orders_and_a_declined_one(plugin: MetricsPlugin, store: str) -> Counter[str]:
    """Run the workflows; return how many events of each type their histories hold."""
    ids = ["order-1", "order-2", "paid-1"]
    async with Engine(
        store, workflows=WORKFLOWS, activities=ACTIVITIES, plugins=plugins_with(plugin)
    ) as engine:
        assert await engine.execute_workflow(order, "lamp", id=ids[0]) == [
            "reserved lamp",
            "shipped lamp",
        ]
        await engine.execute_workflow(order, "desk", id=ids[1])
        with pytest.raises(WorkflowFailureError):
            await engine.execute_workflow(paid_order, "sofa", id=ids[2])
        histories = [await engine.store.read_events(workflow_id) for workflow_id in ids]
    return Counter(event.body.type for history in histories for event in history)


async def test_workflow_starts_and_closes_are_counted_by_type_and_status(store: str) -> None:
    plugin = MetricsPlugin()
    await run_two_orders_and_a_declined_one(plugin, store)

    assert value(plugin, "aion_workflows_started_total", workflow_type="order") == 2
    assert value(plugin, "aion_workflows_started_total", workflow_type="paid_order") == 1
    closed = "aion_workflows_closed_total"
    assert value(plugin, closed, workflow_type="order", status="completed") == 2
    assert value(plugin, closed, workflow_type="paid_order", status="failed") == 1
    assert value(plugin, closed, workflow_type="order", status="failed") == 0
    duration = "aion_workflow_duration_seconds_count"
    assert value(plugin, duration, workflow_type="order", status="completed") == 2
    assert value(plugin, duration, workflow_type="paid_order", status="failed") == 1
    assert value(plugin, "aion_workflow_duration_seconds_sum", workflow_type="order",
                 status="completed") > 0  # fmt: skip
    # Closed workflows are forgotten: nothing is kept once they are done.
    assert plugin._recorded.open_workflows() == 0


async def test_activity_attempts_are_counted_by_recorded_outcome(store: str) -> None:
    plugin = MetricsPlugin()
    recorded = await run_two_orders_and_a_declined_one(plugin, store)

    attempts = "aion_activity_attempts_total"
    assert value(plugin, attempts, activity_type="reserve", outcome="failed") == 2
    assert value(plugin, attempts, activity_type="reserve", outcome="completed") == 2
    assert value(plugin, attempts, activity_type="ship", outcome="completed") == 2
    assert value(plugin, attempts, activity_type="charge", outcome="failed") == 1
    assert value(plugin, attempts, activity_type="unknown", outcome="failed") == 0
    assert (recorded["ActivityFailed"], recorded["ActivityCompleted"]) == (3, 4)
    # One schedule-to-start per scheduled activity: retries do not count again.
    assert (
        value(plugin, "aion_activity_schedule_to_start_seconds_count")
        == (recorded["ActivityScheduled"])
    )


async def test_attempt_durations_are_measured_where_the_activities_ran(store: str) -> None:
    plugin = MetricsPlugin()
    await run_two_orders_and_a_declined_one(plugin, store)

    seconds = "aion_activity_attempt_seconds_count"
    assert value(plugin, seconds, activity_type="reserve", outcome="failed") == 2
    assert value(plugin, seconds, activity_type="reserve", outcome="completed") == 2
    assert value(plugin, seconds, activity_type="ship", outcome="completed") == 2
    assert value(plugin, seconds, activity_type="charge", outcome="failed") == 1


async def test_every_durable_append_is_observed_with_its_event_count(store: str) -> None:
    plugin = MetricsPlugin()
    recorded = await run_two_orders_and_a_declined_one(plugin, store)

    assert value(plugin, "aion_append_events_sum") == sum(recorded.values())
    appends = value(plugin, "aion_append_events_count")
    assert 0 < appends < sum(recorded.values())  # a step appends several events at once


async def test_two_plugin_objects_in_one_process_keep_separate_registries() -> None:
    first, second = MetricsPlugin(), MetricsPlugin()
    await run_two_orders_and_a_declined_one(first, "memory://")

    assert value(first, "aion_workflows_started_total", workflow_type="order") == 2
    assert value(second, "aion_workflows_started_total", workflow_type="order") == 0


async def test_forgotten_workflows_still_close_under_the_unknown_type() -> None:
    plugin = MetricsPlugin(max_open_workflows=0)  # remembers nothing
    await run_two_orders_and_a_declined_one(plugin, "memory://")

    closed = "aion_workflows_closed_total"
    assert value(plugin, closed, workflow_type="unknown", status="completed") == 2
    assert value(plugin, closed, workflow_type="unknown", status="failed") == 1
    assert value(plugin, "aion_activity_attempts_total", activity_type="unknown",
                 outcome="completed") == 4  # fmt: skip
    assert value(plugin, "aion_workflow_duration_seconds_count", workflow_type="unknown",
                 status="completed") == 0  # fmt: skip
