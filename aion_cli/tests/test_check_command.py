"""`aion check` finds wall-clock time, randomness, threads and I/O in workflow code, by line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from aion_cli.workflow_check import scan_source

Invoke = Callable[..., Result]

RISKY = """\
import datetime as dt
import os
import random
import threading
from time import sleep, time
import asyncio
import uuid

import httpx

from aion_core import activity, workflow


@activity.defn
async def fetch(url: str) -> str:
    return httpx.get(url).text  # activities may do I/O


@workflow.defn
class Risky:
    @workflow.run
    async def run(self) -> str:
        started = dt.datetime.now()
        sleep(1)
        await asyncio.sleep(1)
        roll = random.randint(1, 6)
        key = uuid.uuid4()
        threading.Thread(target=print).start()
        with open("notes.txt") as notes:
            notes.read()
        home = os.environ.get("HOME")
        return f"{started} {roll} {key} {home} {time()}"

    @workflow.signal
    def poke(self) -> None:
        httpx.post("http://example.com")
"""

SAFE = """\
import random
from datetime import timedelta

from aion_core import workflow


@workflow.defn
class Safe:
    @workflow.run
    async def run(self) -> str:
        random = workflow.random()  # a local name, not the module
        await workflow.sleep(timedelta(seconds=1))
        return f"{workflow.now()} {random.randint(1, 6)} {workflow.uuid4()}"
"""


def test_every_kind_of_risk_is_reported_with_its_line_and_advice() -> None:
    found = [(f.line, f.severity, f.message) for f in scan_source(RISKY, "risky.py").findings]
    lines = {line: message for line, _, message in found}
    assert lines[23].startswith("datetime.datetime.now() reads the wall clock")
    assert lines[23].endswith("(use workflow.now() instead)")
    assert "use await workflow.sleep(...) instead" in lines[24]
    assert next((line, sev) for line, sev, _ in found if line == 25) == (25, "note")
    assert lines[26] == "random.randint() is random on every replay (use workflow.random() instead)"
    assert "(use workflow.uuid4() instead)" in lines[27]
    assert lines[28].startswith("threading.Thread() runs code on another thread")
    assert lines[29].startswith("open() does I/O")
    assert lines[31].startswith("os.environ reads the environment")
    assert lines[32].startswith("time.time() reads the wall clock")
    assert lines[36].startswith("httpx.post() does I/O")  # signal handlers are workflow code
    assert 16 not in lines  # activities are not workflow code


def test_locals_and_workflow_helpers_are_not_reported() -> None:
    result = scan_source(SAFE, "safe.py")
    assert result.findings == []
    assert result.workflows == ["safe.py:8 Safe"]


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory with risky and safe workflow modules and a package of both."""
    (tmp_path / "risky_flows.py").write_text(RISKY)
    (tmp_path / "safe_flows.py").write_text(SAFE)
    package = tmp_path / "flows_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "safe.py").write_text(SAFE)
    (package / "risky.py").write_text(RISKY)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in ("risky_flows", "safe_flows", "flows_package"):
        sys.modules.pop(name, None)


def test_findings_print_as_file_line_message_and_exit_1(invoke: Invoke, modules: Path) -> None:
    result = invoke("check", "risky_flows")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "risky_flows.py:23: datetime.datetime.now() reads the wall clock, which differs on "
        "replay (use workflow.now() instead)"
    )
    assert "risky_flows.py:25: note: asyncio.sleep() is a durable timer" in result.stdout
    assert lines[-1] == "9 problems in 1 workflow definition(s) in 1 file(s)"


def test_clean_code_exits_0(invoke: Invoke, modules: Path) -> None:
    result = invoke("check", "safe_flows", "safe_flows.py")
    assert result.exit_code == 0, result.output
    assert result.stdout == "no problems in 2 workflow definition(s) in 2 file(s)\n"


def test_a_package_a_folder_and_json(invoke: Invoke, modules: Path) -> None:
    package = invoke("check", "flows_package")
    assert package.exit_code == 1
    assert "flows_package/risky.py:23:" in package.stdout
    folder = invoke("check", "flows_package", "--json")
    report = json.loads(folder.stdout)
    assert {finding["path"] for finding in report["findings"]} == {"flows_package/risky.py"}
    assert report["findings"][0] == {
        "path": "flows_package/risky.py", "line": 23, "column": 19, "severity": "error",
        "message": "datetime.datetime.now() reads the wall clock, which differs on replay "
        "(use workflow.now() instead)",
    }  # fmt: skip
    assert len(report["workflows"]) == 2


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_anywhere", "cannot find module 'no_such_module_anywhere'"),
        ("json", "no @workflow.defn found in json"),
        ("missing.py", "no file missing.py"),
    ],
)
def test_nothing_to_check_is_a_usage_error(
    invoke: Invoke, modules: Path, target: str, message: str
) -> None:
    result = invoke("check", target)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_file_that_is_not_python_is_a_finding(invoke: Invoke, modules: Path) -> None:
    (modules / "broken.py").write_text("@workflow.defn\nclass (:\n")
    result = invoke("check", "broken.py")
    assert result.exit_code == 1
    assert result.stdout.startswith("broken.py:2: cannot be read as Python")
