"""`aion list`, `show`, `history`, `queue`, `replay` and `store` read a SQLite store directly.

The store is filled once by an embedded engine: a parent with a child, a failed
workflow, and one left open with an activity waiting for its retry and a timer.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from click.testing import Result

from aion_core import ApplicationError, Engine, RetryPolicy, activity, workflow
from aion_core.history import history_from_json

Invoke = Callable[..., Result]


@activity.defn(name="store_cli.echo")
async def echo(text: str) -> str:
    return text.upper()


@activity.defn(name="store_cli.gateway")
async def gateway(text: str) -> str:
    raise ApplicationError("gateway down", type="GatewayDown")


@workflow.defn(name="store_cli.Child")
class Child:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            echo, text, start_to_close_timeout=timedelta(seconds=5)
        )


@workflow.defn(name="store_cli.Parent")
class Parent:
    @workflow.run
    async def run(self, text: str) -> str:
        workflow.upsert_search_attributes({"region": "eu", "priority": 3})
        return await workflow.execute_child_workflow(
            Child.run, text, id=f"{workflow.info().workflow_id}-child"
        )


@workflow.defn(name="store_cli.Failing")
class Failing:
    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("out of stock", non_retryable=True)


@workflow.defn(name="store_cli.Waiting")
class Waiting:
    @workflow.run
    async def run(self) -> None:
        hour = timedelta(hours=1)
        slow_retries = RetryPolicy(initial_interval=hour, maximum_interval=hour)
        await asyncio.gather(
            workflow.execute_activity(
                gateway, "x", start_to_close_timeout=timedelta(seconds=5),
                retry_policy=slow_retries, task_queue="payments",
            ),
            workflow.sleep(timedelta(days=1)),
        )  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store with finished and open workflows (the engine is stopped again)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'aion.db'}"

    async def fill() -> None:
        async with Engine(
            url, workflows=[Parent, Child, Failing, Waiting], activities=[echo, gateway]
        ) as engine:
            assert await engine.execute_workflow(Parent.run, "hi", id="parent") == "HI"
            failing = await engine.start_workflow(Failing.run, id="failing")
            await asyncio.gather(failing.result(), return_exceptions=True)
            waiting = await engine.start_workflow(Waiting.run, id="waiting")
            for _ in range(200):  # until the first attempt failed and the retry is due later
                if any(e.type == "ActivityFailed" for e in await waiting.history()):
                    break
                await asyncio.sleep(0.02)

    asyncio.run(fill())
    return url


def _rows(out: str) -> list[list[str]]:
    """Each printed line as its words (tables pad their columns)."""
    return [line.split() for line in out.splitlines()]


def _json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_shows_every_workflow_newest_first(invoke: Invoke, store: str) -> None:
    result = invoke("list", "--store", store)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["workflow", "id", "type"]
    ids = [line.split()[0] for line in lines[1:-1]]
    assert ids == ["waiting", "failing", "parent-child", "parent"]
    assert lines[-1] == "4 workflows"


def test_list_filters_by_status_type_and_search_attribute(invoke: Invoke, store: str) -> None:
    def ids(*args: str) -> list[str]:
        listed = _json(invoke("list", "--store", store, "--json", *args))
        assert isinstance(listed, list)
        return [record["workflow_id"] for record in listed]

    assert ids("--status", "open") == ["waiting"]
    assert ids("--status", "failed", "--status", "completed") == [
        "failing",
        "parent-child",
        "parent",
    ]
    assert ids("--type", "store_cli.Child") == ["parent-child"]
    assert ids("--search", "region=eu", "--search", "priority=3") == ["parent"]
    assert ids("--search", "priority=4") == []
    assert ids("--limit", "1") == ["waiting"]


def test_list_json_is_the_visibility_records(invoke: Invoke, store: str) -> None:
    [record] = _json(invoke("list", "--store", store, "--json", "--type", "store_cli.Parent"))
    assert record["workflow_id"] == "parent"
    assert record["status"] == "completed"
    assert record["search_attributes"] == {"region": "eu", "priority": 3}
    assert record["start_time"].endswith("Z")


def test_show_of_a_parent_names_its_child_and_its_result(invoke: Invoke, store: str) -> None:
    result = invoke("show", "parent", "--store", store)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.splitlines()[0].split() == ["parent", "store_cli.Parent", "completed"]
    assert ["search", "region", "'eu'"] in _rows(out)
    assert "Children" in out
    assert ["1", "parent-child", "store_cli.Child", "completed"] in _rows(out)
    assert "Timeline" in out
    assert 'completed → "HI"' in out


def test_show_of_an_open_workflow_lists_pending_activity_timer_and_last_error(
    invoke: Invoke, store: str
) -> None:
    out = invoke("show", "waiting", "--store", store).stdout
    assert "running" in out.splitlines()[0]
    assert "Pending activities" in out
    assert ["1", "store_cli.gateway", "payments", "retrying", "1"] in [
        row[:5] for row in _rows(out)
    ]
    assert "Pending timers" in out
    assert "Last error" in out
    assert "GatewayDown: gateway down" in out


def test_show_json_holds_the_summary_and_whole_timeline(invoke: Invoke, store: str) -> None:
    shown = _json(invoke("show", "waiting", "--store", store, "--json"))
    assert isinstance(shown, dict)
    assert shown["workflow"]["status"] == "running"
    [pending] = shown["pending_activities"]
    assert (pending["activity_type"], pending["state"], pending["attempt"]) == (
        "store_cli.gateway", "retrying", 1,
    )  # fmt: skip
    assert pending["task_queue"] == "payments"
    assert pending["last_failure"] == "GatewayDown: gateway down"
    [timer] = shown["pending_timers"]
    assert timer["timer_id"] == 1
    assert shown["last_error"]["type"] == "GatewayDown"
    assert [row["seq"] for row in shown["timeline"]] == list(range(1, shown["events"] + 1))


def test_show_limits_the_timeline_to_the_last_events(invoke: Invoke, store: str) -> None:
    out = invoke("show", "parent", "--store", store, "--events", "2").stdout
    assert "(last 2 of" in out


def test_show_of_a_failed_workflow_gives_its_error(invoke: Invoke, store: str) -> None:
    out = invoke("show", "failing", "--store", store).stdout
    assert "failed" in out.splitlines()[0]
    assert "ApplicationError: out of stock" in out


def test_history_json_is_a_history_document_replay_reads(invoke: Invoke, store: str) -> None:
    result = invoke("history", "parent", "--store", store, "--json")
    assert result.exit_code == 0, result.output
    events = history_from_json(result.stdout)
    assert events[0].type == "WorkflowStarted"
    assert events[-1].type == "WorkflowCompleted"


def test_history_prints_a_readable_timeline(invoke: Invoke, store: str) -> None:
    out = invoke("history", "parent-child", "--store", store).stdout
    assert "activity #1 store_cli.echo" in out
    assert 'activity #1 attempt 1 → "HI"' in out


@pytest.mark.parametrize("verb", ["show", "history"])
def test_an_unknown_id_is_one_line_and_exit_1(invoke: Invoke, store: str, verb: str) -> None:
    result = invoke(verb, "nobody", "--store", store)
    assert result.exit_code == 1
    assert result.stderr == "aion: no workflow with id 'nobody'\n"


def test_reading_a_sqlite_file_that_does_not_exist_creates_nothing(
    invoke: Invoke, tmp_path: Path
) -> None:
    result = invoke("list", "--store", f"sqlite:///{tmp_path / 'typo.db'}")
    assert result.exit_code == 1
    assert "the file typo.db does not exist" in result.stderr
    assert not (tmp_path / "typo.db").exists()


async def test_reading_a_database_without_aion_tables_creates_none(
    invoke_in_thread: Callable[..., Awaitable[Result]], fresh_postgres_url: str
) -> None:
    result = await invoke_in_thread("list", "--store", fresh_postgres_url)
    assert result.exit_code == 1
    assert "the database holds no aion tables" in result.stderr
    connection = await asyncpg.connect(fresh_postgres_url)
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
    finally:
        await connection.close()
    assert tables == []


def test_queue_list_counts_open_work_per_task_queue(invoke: Invoke, store: str) -> None:
    queues = _json(invoke("queue", "list", "--store", store, "--json"))
    assert queues == [
        {"name": "default", "open_workflows": 1, "pending_activities": 0, "running": 0,
         "retrying": 0, "scheduled": 0, "flow": None},
        {"name": "payments", "open_workflows": 0, "pending_activities": 1, "running": 0,
         "retrying": 1, "scheduled": 0, "flow": None},
    ]  # fmt: skip
    table = invoke("queue", "list", "--store", store).stdout
    assert "payments" in table


def test_queue_describe_lists_the_pending_activities(invoke: Invoke, store: str) -> None:
    described = _json(invoke("queue", "describe", "payments", "--store", store, "--json"))
    assert isinstance(described, dict)
    assert described["queue"]["pending_activities"] == 1
    [item] = described["pending_activities"]
    assert item["workflow_id"] == "waiting"
    assert item["activity"]["state"] == "retrying"
    out = invoke("queue", "describe", "payments", "--store", store).stdout
    assert "1 pending activities (0 running, 1 retrying" in out
    assert "waiting" in out


def test_replay_by_id_and_all_matches_the_current_code(invoke: Invoke, store: str) -> None:
    module = __name__
    one = invoke("replay", "parent", "--module", module, "--store", store)
    assert one.exit_code == 0, one.output
    assert "1 history replayed" in one.stdout
    every = invoke("replay", "--all", "-m", module, "--store", store)
    assert every.exit_code == 0, every.output
    assert "4 histories replayed: the current code reproduces every one" in every.stdout


CHANGED = """
from datetime import timedelta
from aion_core import workflow

@workflow.defn(name="store_cli.Parent")
class Parent:
    @workflow.run
    async def run(self, text: str) -> str:
        await workflow.sleep(timedelta(seconds=1))
        return text
"""


@pytest.fixture
def changed_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An importable module (in the working directory) holding a changed Parent workflow."""
    name = f"changed_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(CHANGED)
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)


def test_replay_of_a_changed_workflow_exits_1_with_the_diff(
    invoke: Invoke, store: str, changed_module: str
) -> None:
    result = invoke("replay", "--all", "-m", changed_module, "--store", store)
    assert result.exit_code == 1
    out = result.stdout
    assert "parent: the current code does not reproduce this history" in out
    assert "at event seq 2" in out
    assert "- recorded:     SearchAttributesUpserted" in out
    assert "+ code issues:  TimerStarted(timer_id=1" in out
    assert "skipped" not in out


def test_replay_of_a_history_file(invoke: Invoke, store: str, tmp_path: Path) -> None:
    document = tmp_path / "parent.json"
    document.write_text(invoke("history", "parent", "--store", store, "--json").stdout)
    result = invoke("replay", "--file", str(document), "-m", __name__)
    assert result.exit_code == 0, result.output
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "aion.history", "version": 99, "events": []}')
    refused = invoke("replay", "--file", str(broken), "-m", __name__)
    assert refused.exit_code == 2
    assert "newer than this aion understands" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "-m", "json"], "give workflow IDs, --all or --file"),
        (["replay", "parent", "--all", "-m", "json"], "give workflow IDs, --all or --file"),
        (["replay", "parent", "-m", "json"], "no @workflow.defn found in json"),
        (["replay", "parent"], "Missing option '--module'"),
    ],
)
def test_replay_usage_errors_exit_2(
    invoke: Invoke, store: str, args: list[str], message: str
) -> None:
    result = invoke(*args, "--store", store)
    assert result.exit_code == 2
    assert message in result.stderr


def test_store_status_init_and_migrate(invoke: Invoke, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    status = _json(invoke("store", "status", "--store", url, "--json"))
    assert isinstance(status, dict)
    assert status["state"] == "empty"
    assert not (tmp_path / "fresh.db").exists()
    created = _json(invoke("store", "init", "--store", url, "--json"))
    assert isinstance(created, dict)
    assert created["state"] == "current"
    migrated = invoke("store", "migrate", "--store", url)
    assert migrated.exit_code == 0, migrated.output
    assert "schema    current" in migrated.stdout
    assert "schema    current" in invoke("store", "status", "--store", url).stdout


def test_store_commands_refuse_a_store_that_is_not_sql(invoke: Invoke) -> None:
    result = invoke("store", "status", "--store", "memory://")
    assert result.exit_code == 2
    assert "aion-store-sql does not handle 'memory://'" in result.stderr
