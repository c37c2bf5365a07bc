"""`aion schedule create|list|describe|pause|resume|trigger|delete` steer schedules on the
engine nodes through NATS.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from click.testing import Result

from aion_core import Engine, MemoryEventStore, workflow

InvokeInThread = Callable[..., Awaitable[Result]]


@workflow.defn(name="cli_schedules.Report")
class Report:
    @workflow.run
    async def run(self, team: str) -> str:
        return f"report for {team}"


@pytest_asyncio.fixture
async def transport(nats_namespace: str) -> AsyncIterator[str]:
    """An engine node on NATS that runs reports; the transport URL."""
    async with Engine(MemoryEventStore(), transport=nats_namespace, workflows=[Report]):
        yield nats_namespace


async def test_a_schedule_from_creation_to_deletion(
    transport: str, invoke_in_thread: InvokeInThread
) -> None:
    async def aion(*args: str) -> Result:
        result = await invoke_in_thread("schedule", *args, "--transport", transport)
        assert result.exit_code == 0, result.output
        return result

    created = await aion(
        "create", "daily", "cli_schedules.Report", "--input", '"ops"',
        "--cron", "30 2 * * *", "--time-zone", "Europe/Berlin", "--overlap", "buffer_one",
    )  # fmt: skip
    assert created.stdout == (
        "schedule daily created: starts cli_schedules.Report at '30 2 * * *' (Europe/Berlin)\n"
    )
    listed = json.loads((await aion("list", "--json")).stdout)
    assert [(s["schedule_id"], s["cron"], s["time_zone"]) for s in listed] == [
        ("daily", "30 2 * * *", "Europe/Berlin")
    ]
    assert "daily" in (await aion("list")).stdout
    assert (await aion("pause", "daily", "--note", "holidays")).stdout == "schedule daily: paused\n"
    assert (await aion("trigger", "daily")).stdout == "schedule daily: triggered\n"
    described = json.loads((await aion("describe", "daily", "--json")).stdout)
    assert described["paused"] is True
    assert described["note"] == "holidays"
    assert described["overlap"] == "buffer_one"
    [run] = described["recent_runs"]
    assert (run["outcome"], run["manual"]) == ("started", True)
    assert run["workflow_id"].startswith("daily-")
    human = (await aion("describe", "daily")).stdout
    assert "paused: holidays" in human.splitlines()[0]
    assert "cron '30 2 * * *' in Europe/Berlin" in human
    assert "Recent runs" in human
    assert (await aion("resume", "daily")).stdout == "schedule daily: resumed\n"
    assert (await aion("delete", "daily")).stdout == "schedule daily: deleted\n"
    gone = await invoke_in_thread("schedule", "describe", "daily", "--transport", transport)
    assert (gone.exit_code, gone.stderr) == (1, "aion: no schedule with id 'daily'\n")
    assert json.loads((await aion("list", "--json")).stdout) == []


async def test_schedule_mistakes_are_one_line_with_the_right_exit_code(
    transport: str, invoke_in_thread: InvokeInThread
) -> None:
    async def aion(*args: str) -> Result:
        return await invoke_in_thread("schedule", *args, "--transport", transport)

    every = ("--every", "1h")
    assert (
        await aion("create", "hourly", "cli_schedules.Report", "--input", '"a"', *every)
    ).exit_code == 0
    twice = await aion("create", "hourly", "cli_schedules.Report", "--input", '"a"', *every)
    assert twice.exit_code == 1
    assert twice.stderr.startswith("aion: schedule 'hourly' already exists; ")
    bad_cron = await aion("create", "x", "cli_schedules.Report", "--cron", "99 * * * *")
    assert bad_cron.exit_code == 2
    assert "minute value 99 is out of range" in bad_cron.stderr
    both = await aion("create", "x", "cli_schedules.Report", "--cron", "0 * * * *", *every)
    assert both.exit_code == 2
    assert "exactly one of cron=... and every=..." in both.stderr
    bad_every = await aion("create", "x", "cli_schedules.Report", "--every", "soon")
    assert bad_every.exit_code == 2
    assert "'soon' is not a duration" in bad_every.stderr
    typed = await aion("create", "x", f"{__name__}:Report", "--input", "42", *every)
    assert typed.exit_code == 2
    assert "argument 1 is not a valid str" in typed.stderr
    unknown = await aion("pause", "nothing")
    assert (unknown.exit_code, unknown.stderr) == (1, "aion: no schedule with id 'nothing'\n")
