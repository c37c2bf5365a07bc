"""`aion start`, `result`, `signal`, `query`, `update`, `cancel`, `terminate`, `pause`, `resume`
and `reopen` reach an engine through NATS; the main ones also run as real subprocesses.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from click.testing import Result

from aion_core import Engine, activity, workflow

InvokeInThread = Callable[..., Awaitable[Result]]


@activity.defn(name="cli_nats.stamp")
async def stamp(names: list[str]) -> str:
    return "approved by " + ", ".join(names)


@workflow.defn(name="cli_nats.Approval")
class Approval:
    def __init__(self) -> None:
        self.approvals: list[str] = []

    @workflow.run
    async def run(self, needed: int) -> str:
        await workflow.wait_condition(lambda: len(self.approvals) >= needed)
        return await workflow.execute_activity(
            stamp, self.approvals, start_to_close_timeout=timedelta(seconds=10)
        )

    @workflow.signal
    def approve(self, by: str) -> None:
        self.approvals.append(by)

    @workflow.query
    def count(self) -> int:
        return len(self.approvals)

    @workflow.update
    async def add(self, by: str) -> int:
        self.approvals.append(by)
        return len(self.approvals)

    @add.validator
    def check(self, by: str) -> None:
        if not by:
            raise ValueError("who approves?")


@pytest_asyncio.fixture
async def store(nats_namespace: str, tmp_path: Path) -> AsyncIterator[str]:
    """An engine node on NATS (the test's namespace) with a SQLite store; its store URL."""
    url = f"sqlite:///{tmp_path / 'aion.db'}"
    async with Engine(url, transport=nats_namespace, workflows=[Approval], activities=[stamp]):
        yield url


async def test_start_signal_query_update_and_result(
    store: str, nats_namespace: str, invoke_in_thread: InvokeInThread
) -> None:
    async def aion(*args: str) -> Result:
        result = await invoke_in_thread(*args, "--transport", nats_namespace)
        assert result.exit_code == 0, result.output
        return result

    started = await aion("start", "cli_nats.Approval", "--input", "3", "--id", "a-1", "--json")
    assert json.loads(started.stdout)["workflow_id"] == "a-1"
    signalled = await aion("signal", "a-1", "approve", "--input", '"ada"')
    assert signalled.stdout == "signal approve recorded for a-1\n"
    assert (await aion("query", "a-1", "count")).stdout == "1\n"
    assert (await aion("update", "a-1", "add", "--input", '["bob"]')).stdout == "2\n"
    await aion("signal", "a-1", "approve", "--input", '"cy"')
    assert (await aion("result", "a-1")).stdout == '"approved by ada, bob, cy"\n'


async def test_a_rejected_update_and_an_unknown_query_exit_1_with_one_line(
    store: str, nats_namespace: str, invoke_in_thread: InvokeInThread
) -> None:
    transport = ("--transport", nats_namespace)
    await invoke_in_thread("start", "cli_nats.Approval", "--input", "1", "--id", "a-2", *transport)
    rejected = await invoke_in_thread("update", "a-2", "add", "--input", '""', *transport)
    assert rejected.exit_code == 1
    assert "who approves?" in rejected.stderr
    assert len(rejected.stderr.splitlines()) == 1
    unknown = await invoke_in_thread("query", "a-2", "nothing", *transport)
    assert (unknown.exit_code, unknown.stderr) == (
        1, "aion: unknown query 'nothing'; known queries: count\n",
    )  # fmt: skip


async def test_pause_resume_cancel_reopen_and_terminate(
    store: str, nats_namespace: str, invoke_in_thread: InvokeInThread
) -> None:
    async def aion(*args: str) -> Result:
        return await invoke_in_thread(*args, "--transport", nats_namespace)

    await aion("start", "cli_nats.Approval", "--input", "5", "--id", "w")
    assert (await aion("pause", "w", "--reason", "audit")).stdout == "w: paused\n"
    again = await aion("pause", "w")
    assert again.exit_code == 1
    assert again.stderr == "aion: workflow 'w' is paused; only a running workflow can be paused\n"
    assert (await aion("resume", "w")).stdout == "w: resumed\n"
    assert (await aion("cancel", "w", "--reason", "changed my mind")).exit_code == 0
    cancelled = await aion("result", "w")
    assert cancelled.exit_code == 1
    assert "workflow 'w' cancelled" in cancelled.stderr
    assert (await aion("reopen", "w", "--reason", "fixed")).stdout == "w: reopened\n"
    assert (await aion("query", "w", "count")).stdout == "0\n"
    assert (await aion("terminate", "w", "--reason", "enough")).stdout == "w: terminated\n"
    terminated = await aion("result", "w")
    assert (terminated.exit_code, terminated.stderr) == (
        1,
        "aion: workflow 'w' terminated: enough\n",
    )
    history = await invoke_in_thread("history", "w", "--store", store, "--json")
    types = [event["body"]["type"] for event in json.loads(history.stdout)["events"]]
    assert types[1:4] == ["WorkflowPaused", "WorkflowResumed", "WorkflowCancelRequested"]
    assert "WorkflowReopened" in types
    assert types[-1] == "WorkflowTerminated"


async def test_an_unknown_workflow_type_or_id_exits_1_with_one_line(
    store: str, nats_namespace: str, invoke_in_thread: InvokeInThread
) -> None:
    transport = ("--transport", nats_namespace)
    unknown_type = await invoke_in_thread("start", "cli_nats.Nothing", *transport)
    assert unknown_type.exit_code == 1
    assert unknown_type.stderr.startswith(
        "aion: workflow type 'cli_nats.Nothing' is not registered with this engine; registered: "
    )
    assert len(unknown_type.stderr.splitlines()) == 1
    for args in (["signal", "nobody", "approve"], ["result", "nobody"], ["cancel", "nobody"]):
        unknown_id = await invoke_in_thread(*args, *transport)
        assert (unknown_id.exit_code, unknown_id.stderr) == (
            1, "aion: no workflow with id 'nobody'\n",
        )  # fmt: skip


async def test_start_with_module_and_name_checks_the_input_before_sending(
    store: str, nats_namespace: str, invoke_in_thread: InvokeInThread
) -> None:
    target = f"{__name__}:Approval"
    wrong = await invoke_in_thread(
        "start", target, "--input", '"two"', "--transport", nats_namespace
    )
    assert wrong.exit_code == 2
    assert "argument 1 is not a valid int" in wrong.stderr
    right = await invoke_in_thread(
        "start", target, "--input", "2", "--id", "typed", "--transport", nats_namespace
    )
    assert right.exit_code == 0, right.output
    assert right.stdout.startswith("started cli_nats.Approval as typed (run ")


async def test_the_main_verbs_as_subprocesses_against_sqlite_and_a_nats_engine(
    store: str, nats_namespace: str, run_aion: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    # The settings come from aion.toml here, as a deployment would keep them.
    (tmp_path / "aion.toml").write_text(f'store = "{store}"\ntransport = "{nats_namespace}"\n')

    async def aion(*args: str) -> str:
        ran = await run_aion(*args, cwd=tmp_path)
        assert ran.code == 0, ran.err
        return str(ran.out)

    assert (await aion("start", "cli_nats.Approval", "--input", "1", "--id", "p-1")).startswith(
        "started cli_nats.Approval as p-1 (run "
    )
    assert await aion("signal", "p-1", "approve", "--input", '"ada"') == (
        "signal approve recorded for p-1\n"
    )
    assert await aion("result", "p-1") == '"approved by ada"\n'
    listed = json.loads(await aion("list", "--json"))
    assert [(r["workflow_id"], r["status"]) for r in listed] == [("p-1", "completed")]
    shown = await aion("show", "p-1")
    assert shown.splitlines()[0].split() == ["p-1", "cli_nats.Approval", "completed"]
    assert 'signal approve("ada")' in shown
    assert 'completed → "approved by ada"' in shown


async def test_start_with_a_dedup_id_and_a_debounce(
    store: str, nats_namespace: str, invoke_in_thread: InvokeInThread
) -> None:
    async def aion(*args: str) -> Result:
        return await invoke_in_thread(*args, "--transport", nats_namespace)

    first = await aion("start", "cli_nats.Approval", "--input", "1", "--id", "d-1",
                       "--dedup-id", "order-9")  # fmt: skip
    assert first.exit_code == 0, first.output
    refused = await aion("start", "cli_nats.Approval", "--input", "1", "--id", "d-2",
                         "--dedup-id", "order-9")  # fmt: skip
    assert refused.exit_code == 1
    assert "it holds dedup id 'order-9'" in refused.stderr
    assert "'d-1' already started" in refused.stderr
    same = await aion(
        "start", "cli_nats.Approval", "--input", "1", "--id", "d-3", "--dedup-id", "order-9",
        "--id-conflict", "use_existing", "--json",
    )  # fmt: skip
    assert json.loads(same.stdout)["workflow_id"] == "d-1"
    for needed in ("5", "1"):
        debounced = await aion("start", "cli_nats.Approval", "--input", needed, "--id", "b-1",
                               "--debounce", "0.3s")  # fmt: skip
        assert debounced.exit_code == 0, debounced.output
    await aion("signal", "b-1", "approve", "--input", '"ada"')
    assert (await aion("result", "b-1")).stdout == '"approved by ada"\n'  # the last input: 1
    no_id = await aion("start", "cli_nats.Approval", "--input", "1", "--debounce", "1s")
    assert no_id.exit_code == 2
    assert "a debounced start needs --id" in no_id.stderr
    bad = await aion("start", "cli_nats.Approval", "--input", "1", "--priority", "3")
    assert bad.exit_code == 1
    assert "has no flow control here" in bad.stderr
