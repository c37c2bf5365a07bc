"""`aion queue list|describe` show a flow-controlled queue's runs queued, running and throttled,
per partition key, with the limits aion.toml declares; `aion serve` and `aion run` apply them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result

from aion_core import Engine, activity, workflow

Invoke = Callable[..., Result]

ACTIVITY_TIMEOUT = timedelta(seconds=60)


@activity.defn(name="queue_flow.forever")
async def forever() -> None:
    await asyncio.Event().wait()


@workflow.defn(name="queue_flow.Hold")
async def hold() -> None:
    await workflow.execute_activity(forever, start_to_close_timeout=ACTIVITY_TIMEOUT)


AION_TOML = """
[queues.emails]
global_concurrency = 2
partition_concurrency = 1
rate_limit = "100/1h"
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store where queue emails holds 2 runs let out (ada, bob) and 3 waiting."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "aion.toml").write_text(AION_TOML)
    url = f"sqlite:///{tmp_path / 'aion.db'}"

    async def fill() -> None:
        async with Engine(url, workflows=[hold], activities=[forever]) as engine:
            engine.configure_queue(
                "emails",
                global_concurrency=2,
                partition_concurrency=1,
                rate_limit=(100, timedelta(hours=1)),
            )
            for tenant, n in [("ada", 1), ("bob", 1), ("ada", 2), ("cy", 1), ("ada", 3)]:
                await engine.start_workflow(
                    hold, id=f"{tenant}-{n}", task_queue="emails", partition_key=tenant
                )
                await asyncio.sleep(0.01)
            for _ in range(300):
                if (await engine.describe_queue("emails")).running == 2:
                    break
                await asyncio.sleep(0.01)

    asyncio.run(fill())
    return url


def test_queue_list_shows_queued_running_and_throttled(invoke: Invoke, store: str) -> None:
    result = invoke("queue", "list", "--store", store, "--json", env={"AION_CONFIG": ""})
    assert result.exit_code == 0, result.output
    [emails] = json.loads(result.stdout)
    assert emails["name"] == "emails"
    assert emails["open_workflows"] == 5
    flow = emails["flow"]
    assert (flow["queued"], flow["running"], flow["throttled"]) == (3, 2, 3)  # global is full
    assert flow["limits"] == {
        "global_concurrency": 2, "partition_concurrency": 1, "rate_limit": "100/3600s"
    }  # fmt: skip
    assert flow["recent_admissions"] == 2
    assert flow["partitions"] == {
        "ada": {"queued": 2, "running": 1, "throttled": 2},
        "bob": {"queued": 0, "running": 1, "throttled": 0},
        "cy": {"queued": 1, "running": 0, "throttled": 1},
    }
    table = invoke("queue", "list", "--store", store, env={"AION_CONFIG": ""}).stdout
    assert "emails" in table


def test_queue_describe_shows_each_partition(invoke: Invoke, store: str) -> None:
    result = invoke("queue", "describe", "emails", "--store", store, env={"AION_CONFIG": ""})
    assert result.exit_code == 0, result.output
    assert "3 queued, 2 running, 3 throttled, 2 let out in the rate window" in result.stdout
    assert "global_concurrency 2" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines()]
    assert ["ada", "2", "1", "2"] in [[c for c in row if c != "│"] for row in rows]


def test_without_aion_toml_the_counts_show_without_limits(
    invoke: Invoke, store: str, tmp_path: Path
) -> None:
    (tmp_path / "aion.toml").unlink()
    result = invoke("queue", "list", "--store", store, "--json", env={"AION_CONFIG": ""})
    [emails] = json.loads(result.stdout)
    assert emails["flow"]["limits"] == {}
    assert (emails["flow"]["queued"], emails["flow"]["running"]) == (3, 2)
    assert emails["flow"]["throttled"] == 0  # not known without the limits
