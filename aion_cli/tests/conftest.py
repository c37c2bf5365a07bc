"""Fixtures of the CLI tests: the command, the installed `aion`, fresh NATS namespaces."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click
import pytest
import pytest_asyncio
from click.testing import CliRunner, Result

from aion_cli.main import build_cli
from aion_core.plugins import load_plugins
from aion_transport_nats.streams import StreamNames

if TYPE_CHECKING:
    from conftest import DropNamespace


@pytest.fixture
def cli() -> click.Group:
    """The `aion` command with the installed plugins."""
    return build_cli(load_plugins())


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(cli: click.Group) -> Invoke:
    """``invoke("list", "--json")``: run the command in this process through Click's runner."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    return run


@pytest.fixture
def invoke_in_thread(invoke: Invoke) -> Callable[..., object]:
    """``await invoke_in_thread(...)``: the command in a thread, while the test runs engines.

    Commands call `asyncio.run`, which cannot run inside the test's own event loop.
    """

    async def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return await asyncio.to_thread(invoke, *args, env=env)

    return run


@pytest.fixture
def aion_executable() -> str:
    """The installed console script."""
    found = shutil.which("aion", path=os.path.dirname(sys.executable))
    assert found is not None, "the aion console script is not installed"
    return found


@dataclass
class Ran:
    """What a subprocess `aion` printed and how it ended."""

    code: int
    out: str
    err: str


RunAion = Callable[..., Awaitable[Ran]]


@pytest.fixture
def run_aion(aion_executable: str) -> RunAion:
    """``await run_aion("list", cwd=...)``: the installed `aion` as a real subprocess."""

    # Output to a pipe is laid out for a wide page unless COLUMNS says otherwise.
    environ = {key: value for key, value in os.environ.items() if key != "COLUMNS"}

    async def run(*args: str, cwd: object = None, timeout: float = 60) -> Ran:
        process = await asyncio.create_subprocess_exec(
            aion_executable, *args, cwd=cwd, env=environ,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout)
        assert process.returncode is not None
        return Ran(process.returncode, out.decode(), err.decode())

    return run


@pytest.fixture
def error_line() -> Callable[[str], str]:
    """``error_line(stderr)``: its one ``aion: ...`` line; fails on more lines or a traceback."""

    def single(text: str) -> str:
        lines = [line for line in text.splitlines() if line.strip()]
        assert "Traceback" not in text, text
        assert len(lines) == 1, text
        assert lines[0].startswith("aion: "), text
        return lines[0]

    return single


@pytest_asyncio.fixture
async def nats_namespace(nats_url: str, drop_nats_namespace: DropNamespace) -> AsyncIterator[str]:
    """A transport URL with a namespace no other test uses; its streams are deleted afterwards."""
    names = StreamNames(f"cli{uuid.uuid4().hex[:10]}")
    yield f"{nats_url}?namespace={names.namespace}&lease_ttl=2"
    await drop_nats_namespace(nats_url, names)
