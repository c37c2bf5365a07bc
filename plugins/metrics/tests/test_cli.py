"""`aion serve --metrics-port`: a real engine process serves its metrics over HTTP."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from aion_cli.main import build_cli
from aion_core import Engine, load_plugins
from aion_transport_nats.streams import StreamNames

from aion_plugin_metrics import MetricsPlugin

from .flows import WORKFLOWS, nap, order

TESTS = Path(__file__).parent
# The installed metrics plugin on; the workspace's optional ones off (crypto needs keys).
DISABLED_PLUGINS = "crypto,otel,template"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def aion() -> str:
    found = shutil.which("aion", path=os.path.dirname(sys.executable))
    assert found is not None
    return found


def poll(url: str, until: str, process: subprocess.Popen[str], seconds: float = 60) -> str:
    """GET `url` until its body holds `until`; fail early if `process` died."""
    deadline = time.monotonic() + seconds
    body = ""
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read().decode()
            if until in body:
                return body
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet
        time.sleep(0.2)
    raise AssertionError(f"{until!r} not served within {seconds}s; last body:\n{body}")


async def leave_a_workflow_waiting_on_a_timer(store: str) -> None:
    """The engine process started next recovers this workflow and closes it."""
    plugins = load_plugins({"AION_PLUGINS": "sqlite"})
    async with Engine(store, workflows=[nap], plugins=plugins) as engine:
        await engine.start_workflow(nap, 1.0, id="nap-1")


def start_aion(folder: Path, *args: str) -> subprocess.Popen[str]:
    """`aion ARGS` in `folder`, with the metrics plugin on and this folder's flows importable."""
    env = {key: value for key, value in os.environ.items() if key != "AION_PLUGINS"}
    env["AION_DISABLE_PLUGINS"] = DISABLED_PLUGINS
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [aion(), *args], cwd=folder, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_aion_serve_exposes_the_metrics_of_its_engine(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'x.db'}"
    asyncio.run(leave_a_workflow_waiting_on_a_timer(store))
    port = free_port()
    process = start_aion(tmp_path, "serve", "flows", "--store", store, "--metrics-port", str(port))
    try:
        body = poll(
            f"http://127.0.0.1:{port}/metrics",
            'aion_workflows_closed_total{status="completed",workflow_type="unknown"} 1.0',
            process,
        )
        # Recovered, not started here: its type was never seen by this process.
        assert "# TYPE aion_workflows_started_total counter" in body
        assert "aion_append_events_count" in body
        # Engine internals: the recovery replayed it; its appends went through group commits.
        assert 'aion_workflow_replay_seconds_count{workflow_type="nap"} 1.0' in body
        assert "aion_store_commit_appends_count" in body
        assert "aion_workflow_cache_size" in body
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"aion metrics: http://127.0.0.1:{port}/metrics" in err


async def run_an_order_over(transport: str, store: str) -> None:
    """An engine without activities: the worker process runs them."""
    plugins = load_plugins({"AION_PLUGINS": "sqlite,nats"})
    async with Engine(store, transport=transport, workflows=WORKFLOWS, plugins=plugins) as engine:
        assert await engine.execute_workflow(order, "lamp", id="order-1") == [
            "reserved lamp",
            "shipped lamp",
        ]


def test_aion_worker_over_nats_exposes_the_attempts_it_ran(
    tmp_path: Path, nats_url: str, drop_nats_namespace: Any
) -> None:
    names = StreamNames(f"metrics{uuid.uuid4().hex[:10]}")
    transport = f"{nats_url}?namespace={names.namespace}"
    port = free_port()
    process = start_aion(
        tmp_path, "worker", "flows", "--transport", transport, "--metrics-port", str(port)
    )
    try:
        asyncio.run(run_an_order_over(transport, f"sqlite:///{tmp_path / 'x.db'}"))
        attempts = "aion_activity_attempt_seconds_count"
        body = poll(
            f"http://127.0.0.1:{port}/metrics",
            f'{attempts}{{activity_type="ship",outcome="completed"}} 1.0',
            process,
        )
        # The flaky reservation failed once in the worker, then worked.
        assert f'{attempts}{{activity_type="reserve",outcome="failed"}} 1.0' in body
        assert f'{attempts}{{activity_type="reserve",outcome="completed"}} 1.0' in body
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        asyncio.run(drop_nats_namespace(nats_url, names))
    assert process.returncode == 0, err


def test_serve_and_worker_offer_the_options_and_building_twice_adds_them_once() -> None:
    plugins = load_plugins({"AION_PLUGINS": ""})
    plugins.manager.register(MetricsPlugin(), name="metrics-under-test")
    for _ in range(2):  # the built-in commands are shared objects: they must stay unchanged
        cli = build_cli(plugins)
        for verb in ("serve", "worker"):
            names = [param.name for param in cli.commands[verb].params]
            assert names.count("metrics_port") == names.count("metrics_host") == 1
    plain = build_cli(load_plugins({"AION_PLUGINS": ""}))
    assert "metrics_port" not in [param.name for param in plain.commands["serve"].params]
