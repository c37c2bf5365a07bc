"""A real scrape: `serve_metrics` answers GET /metrics with what engines just ran."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from aion_core import Engine, load_plugins
from prometheus_client.parser import text_string_to_metric_families

from aion_plugin_metrics import MetricsServer, serve_metrics

from .flows import ACTIVITIES, WORKFLOWS, order


@pytest.fixture
def endpoint() -> Iterator[str]:
    server: MetricsServer = serve_metrics(0)  # port 0: the system picks a free one
    try:
        yield f"http://127.0.0.1:{server[0].server_port}/metrics"
    finally:
        server[0].shutdown()
        server[0].server_close()


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


STARTED = ("aion_workflows_started_total", frozenset({("workflow_type", "order")}))
COMPLETED = (
    "aion_workflows_closed_total",
    frozenset({("workflow_type", "order"), ("status", "completed")}),
)
RESERVE_FAILED = (
    "aion_activity_attempts_total",
    frozenset({("activity_type", "reserve"), ("outcome", "failed")}),
)


async def test_the_endpoint_serves_the_counts_of_the_installed_plugin(endpoint: str) -> None:
    # The entry-point plugin, as an application embedding engines gets it.
    plugins = load_plugins({"AION_PLUGINS": "metrics"})
    before = scrape(endpoint)  # the installed plugin is shared by the whole process
    async with Engine(
        "memory://", workflows=WORKFLOWS, activities=ACTIVITIES, plugins=plugins
    ) as engine:
        for n in range(3):
            await engine.execute_workflow(order, "lamp", id=f"order-{n}")
    after = scrape(endpoint)

    for line, ran in ((STARTED, 3), (COMPLETED, 3), (RESERVE_FAILED, 3)):
        assert after[line] - before.get(line, 0.0) == ran
