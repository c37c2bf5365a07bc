"""Workflows and activities the metrics tests run, and the plugin set they run them with."""

from __future__ import annotations

from datetime import timedelta

from aion_core import ApplicationError, RetryPolicy, activity, load_plugins, workflow
from aion_core.plugins import Plugins

from aion_plugin_metrics import MetricsPlugin

QUICK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=10))


@activity.defn
async def reserve(item: str) -> str:
    if activity.info().attempt == 1:
        raise ConnectionError("warehouse busy")  # a flaky service: the second attempt works
    return f"reserved {item}"


@activity.defn
async def ship(item: str) -> str:
    return f"shipped {item}"


@activity.defn
async def charge(item: str) -> str:
    raise ApplicationError(f"card declined for {item}", non_retryable=True)


@workflow.defn
async def order(item: str) -> list[str]:
    return [
        await workflow.execute_activity(reserve, item, retry_policy=QUICK_RETRY),
        await workflow.execute_activity(ship, item),
    ]


@workflow.defn
async def paid_order(item: str) -> str:
    return await workflow.execute_activity(charge, item)  # declined: the workflow fails


@workflow.defn
async def nap(seconds: float) -> str:
    await workflow.sleep(timedelta(seconds=seconds))  # a durable timer: survives the engine
    return "rested"


WORKFLOWS = [order, paid_order, nap]
ACTIVITIES = [reserve, ship, charge]


def plugins_with(plugin: MetricsPlugin) -> Plugins:
    """aion's built-ins and the SQL stores, plus `plugin` registered by hand.

    Listing the plugins to load keeps other installed plugins out, the
    entry-point `metrics_plugin` too: each test reads a fresh registry.
    """
    plugins = load_plugins({"AION_PLUGINS": "sqlite"})
    plugins.manager.register(plugin, name="metrics-under-test")
    plugins.manager.check_pending()  # what start-up checks for entry-point plugins
    return plugins
