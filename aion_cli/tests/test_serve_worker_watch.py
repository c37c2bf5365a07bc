"""`aion serve`, `aion worker` and `aion watch`: usage errors exit 2 with a message; a live
workflow is watched through NATS until it closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner

from aion_cli.main import build_cli, main
from aion_core import Engine, MemoryEventStore, Worker, activity, workflow
from aion_core.plugins import load_plugins

SAGA_MODULE = "aion_cli.examples.order_saga"


@pytest.mark.parametrize("verb", ["serve", "worker"])
def test_a_module_that_cannot_be_imported_is_a_usage_error(verb: str) -> None:
    result = CliRunner().invoke(build_cli(load_plugins()), [verb, "no_such_module_anywhere"])
    assert result.exit_code == 2
    assert "cannot import 'no_such_module_anywhere'" in result.output


@pytest.mark.parametrize(
    ("verb", "missing"), [("serve", "@workflow.defn"), ("worker", "@activity.defn")]
)
def test_a_module_without_definitions_is_a_usage_error(verb: str, missing: str) -> None:
    result = CliRunner().invoke(build_cli(load_plugins()), [verb, "json"])
    assert result.exit_code == 2
    assert f"no {missing} found in json" in result.output


def test_an_unknown_transport_scheme_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["worker", SAGA_MODULE, "--transport", "carrier-pigeon://"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no transport plugin handles 'carrier-pigeon://'; installed: inproc, nats" in err


@activity.defn(name="watched.stamp")
async def stamp(text: str) -> str:
    return f"stamped {text}"


@workflow.defn(name="watched.Waiter")
class Waiter:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.go)
        return await workflow.execute_activity(stamp, "it")

    @workflow.signal
    async def proceed(self) -> None:
        self.go = True


def _aion() -> str:
    aion = shutil.which("aion", path=os.path.dirname(sys.executable))
    assert aion is not None
    return aion


async def test_aion_watch_follows_a_live_workflow_until_it_closes(nats_url: str) -> None:
    url = f"{nats_url}?namespace=w{uuid.uuid4().hex[:10]}&lease_ttl=2"
    async with (
        Engine(MemoryEventStore(), transport=url, workflows=[Waiter]) as engine,
        Worker(url, activities=[stamp]),
    ):
        handle = await engine.start_workflow(Waiter.run, id="watched")
        watcher = await asyncio.create_subprocess_exec(
            _aion(), "watch", "watched", "--transport", url, "--json",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert watcher.stdout is not None
        first = await asyncio.wait_for(watcher.stdout.readline(), 30)
        assert first.decode().startswith("watching watched (watched.Waiter, running)")
        await asyncio.sleep(0.5)  # subscribed before the workflow moves on
        await handle.signal(Waiter.proceed)
        out, err = await asyncio.wait_for(watcher.communicate(), 60)
        assert watcher.returncode == 0, err.decode()
        types = [json.loads(line)["body"]["type"] for line in out.decode().splitlines()]
        assert types[0] == "SignalReceived"
        assert types[-1] == "WorkflowCompleted"
        assert "ActivityCompleted" in types
        assert await handle.result() == "stamped it"


async def test_aion_watch_of_an_unknown_workflow_exits_1(nats_url: str) -> None:
    url = f"{nats_url}?namespace=w{uuid.uuid4().hex[:10]}&lease_ttl=2"
    async with Engine(MemoryEventStore(), transport=url, workflows=[Waiter]):
        watcher = await asyncio.create_subprocess_exec(
            _aion(), "watch", "nobody", "--transport", url,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(watcher.communicate(), 60)
    assert watcher.returncode == 1
    assert "no workflow with id 'nobody'" in err.decode()
    assert "Traceback" not in err.decode()
