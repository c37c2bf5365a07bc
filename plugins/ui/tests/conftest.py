"""Fixtures of the console's tests: a populated SQLite store, engines on NATS, a served console.

Everything is real: stores are SQLite files written by real engines, engine
nodes and workers are ``aion serve`` / ``aion worker`` processes (started with
the repository's `tests.deployment` helpers), and the console is served by
uvicorn on a free port. Deadlines are generous: they catch hangs, never
measure speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from aion_core import Client, Engine, load_plugins
from aion_core.plugins import Plugins

from aion_plugin_ui import UiSettings, create_app

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parents[2]
if str(ROOT) not in sys.path:  # `tests.deployment`: the repository's process helpers
    sys.path.insert(0, str(ROOT))

from tests.deployment import AionProcess, Deployment, names_of, namespaced  # noqa: E402

from . import ui_flows  # noqa: E402

WORKFLOWS = [
    ui_flows.Approval, ui_flows.Ticker, ui_flows.Stubborn, ui_flows.Doomed,
    ui_flows.Leaf, ui_flows.Branch, ui_flows.Family,
]  # fmt: skip
ACTIVITIES = [ui_flows.prepare, ui_flows.finish, ui_flows.unreliable, ui_flows.refuse]
WAIT = 120.0
"""Bound of every wait: long enough for a loaded 2-core machine, short enough to catch a hang."""


def sqlite_plugins() -> Plugins:
    """The SQLite store plugin and the built-ins, nothing else."""
    return load_plugins({"AION_PLUGINS": "sqlite"})


async def until(condition: Any, what: str, seconds: float = WAIT) -> Any:
    """Poll the async `condition` until it returns something true; that value."""
    deadline = time.monotonic() + seconds
    while not (value := await condition()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.2)
    return value


# --- a store with one workflow of every kind ----------------------------------------------------


@dataclass(frozen=True)
class Populated:
    """A SQLite store written by an embedded engine, and what it holds.

    Attributes:
        url: The store URL.
        middle: A time (whole seconds) after the first batch of leaves started and
            before the second.
        leaves: The ids of the `Leaf` workflows (completed), oldest first.
    """

    url: str
    middle: datetime
    leaves: list[str]


LEAVES_BEFORE = 12
LEAVES_AFTER = 18


async def _populate(url: str, plugins: Plugins) -> Populated:
    async with Engine(url, workflows=WORKFLOWS, activities=ACTIVITIES, plugins=plugins) as engine:
        leaves = []
        for n in range(LEAVES_BEFORE):
            region = "eu" if n % 2 == 0 else "us"
            leaves.append(f"leaf-{n:02d}")
            await engine.execute_workflow(
                ui_flows.Leaf.run, f"L{n}", id=leaves[-1], search_attributes={"region": region}
            )
        await asyncio.sleep(1.2)
        middle = datetime.now(UTC).replace(microsecond=0)
        await asyncio.sleep(0.05)
        for n in range(LEAVES_BEFORE, LEAVES_BEFORE + LEAVES_AFTER):
            region = "eu" if n % 2 == 0 else "us"
            leaves.append(f"leaf-{n:02d}")
            await engine.execute_workflow(
                ui_flows.Leaf.run, f"L{n}", id=leaves[-1], search_attributes={"region": region}
            )
        await engine.execute_workflow(ui_flows.Family.run, "family", id="family")
        with contextlib.suppress(Exception):
            await engine.execute_workflow(ui_flows.Doomed.run, "coffee", id="doomed")
        await engine.start_workflow(
            ui_flows.Approval.run, 21, id="approval", search_attributes={"region": "eu", "tier": 3}
        )
        cancelled = await engine.start_workflow(ui_flows.Approval.run, 1, id="approval-cancelled")
        await cancelled.cancel("changed our mind")
        terminated = await engine.start_workflow(ui_flows.Approval.run, 2, id="approval-ended")
        await terminated.terminate("runaway")
        await engine.start_workflow(ui_flows.Ticker.run, 1, 3600.0, id="sleeper")
        stubborn = await engine.start_workflow(ui_flows.Stubborn.run, "the printer", id="stubborn")

        async def retried_twice() -> bool:
            events = await stubborn.history()
            return sum(e.type == "ActivityFailed" for e in events) >= 2

        await until(retried_twice, "stubborn's activity failing twice")
        for workflow_id in ("approval", "approval-cancelled"):

            async def settled(workflow_id: str = workflow_id) -> bool:
                events = await engine.get_handle(workflow_id).history()
                return any(e.type in ("WorkflowCancelled", "ActivityCompleted") for e in events)

            await until(settled, f"{workflow_id} settling")
    return Populated(url, middle, leaves)


@pytest.fixture(scope="session")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Populated:
    """One store for every read-only test (they never change it)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('populated') / 'aion.db'}"
    return asyncio.run(_populate(url, sqlite_plugins()))


# --- serving the console ------------------------------------------------------------------------


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port, in a thread; its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert thread.is_alive(), "the console's server thread ended"
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT)
        listener.close()


@contextlib.contextmanager
def console(settings: UiSettings, plugins: Plugins | None = None) -> Iterator[httpx.Client]:
    """An HTTP client of a console served for `settings`."""
    app = create_app(settings, plugins)
    with serving(app) as url, httpx.Client(base_url=url, timeout=WAIT) as http:
        yield http


def csrf_of(page: str) -> str:
    """The CSRF token in a page's forms."""
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


@pytest.fixture
def replay_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this folder's flow modules importable by name (``aion ui --module ui_flows``)."""
    monkeypatch.syspath_prepend(str(TESTS))


# --- engines on NATS ----------------------------------------------------------------------------


def importable_flows(patch: pytest.MonkeyPatch) -> None:
    """Let processes started now import this folder's modules (``aion serve ui_flows``)."""
    path = [str(TESTS), os.environ.get("PYTHONPATH")]
    patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, path)))


def launch_engines(folder: Path, nats_url: str) -> Deployment:
    """``aion serve ui_flows`` and ``aion worker ui_flows``: a SQLite file, a fresh namespace."""
    deployment = Deployment(folder, f"sqlite:///{folder / 'aion.db'}", namespaced(nats_url))
    common = ["ui_flows", "--transport", deployment.transport_url, "--log-level", "info"]
    launches = [
        ("engine", ["serve", *common, "--store", deployment.store_url]),
        ("worker", ["worker", *common]),
    ]
    with pytest.MonkeyPatch.context() as patch:  # the processes import ui_flows from here
        importable_flows(patch)
        for name, arguments in launches:
            process = AionProcess(name, arguments, folder / f"{name}.log")
            deployment.processes.append(process)
            process.start()

    async def ready() -> None:
        async with await Client.connect(deployment.transport_url) as client:
            await deployment.ready(client)

    asyncio.run(ready())
    return deployment


@contextlib.contextmanager
def engines(folder: Path, nats_url: str, drop_namespace: Any) -> Iterator[Deployment]:
    """Engines launched for a block; killed after it, their log tails printed."""
    deployment = launch_engines(folder, nats_url)
    try:
        yield deployment
    finally:
        deployment.kill_all()
        print(deployment.report())
        url = deployment.transport_url
        with contextlib.suppress(Exception):
            asyncio.run(asyncio.wait_for(drop_namespace(url, names_of(url)), 30))


@pytest.fixture(scope="session")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, nats_url: str, drop_nats_namespace: Any
) -> Iterator[Deployment]:
    """One engine node and one worker for the HTTP tests of actions and live feeds."""
    with engines(tmp_path_factory.mktemp("engines"), nats_url, drop_nats_namespace) as deployed:
        yield deployed


@pytest_asyncio.fixture
async def client(deployment: Deployment) -> AsyncIterator[Client]:
    """A client of `deployment`'s engines."""
    async with await Client.connect(deployment.transport_url) as connected:
        yield connected


def live_settings(deployment: Deployment, **options: Any) -> UiSettings:
    """Settings of a console on `deployment`'s store and transport."""
    return UiSettings(store=deployment.store_url, transport=deployment.transport_url, **options)


def unique(prefix: str) -> str:
    """A workflow id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def async_console(settings: UiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """An async HTTP client of a console served for `settings` (in its own thread)."""
    with serving(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT) as http:
            yield http
