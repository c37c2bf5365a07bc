"""aion on W3 across processes: one engine node and activity workers on NATS, PostgreSQL store.

W3 is a workflow calling 3 activities in sequence, each returning its input + 1;
every process imports the same definitions (`bench.aion.w3`). One ``aion serve``
engine node (a fresh PostgreSQL database) and ``--workers`` ``aion worker``
processes meet on NATS JetStream in a namespace of their own. The benchmark
process connects a `Client`, runs one W3 per partition as a warm-up (every
partition owned, workers answering), then starts N W3 at once and waits for
every result: throughput is N / (first start to last result). The CPU seconds of
each process in that window (and of nats-server, PostgreSQL and the whole machine,
read from /proc on Linux) say where the time went. The subprocesses are stopped
with SIGTERM (SIGKILL after a grace period), the database and the namespace
dropped, whatever happens::

    python -m bench.aion.distributed [--n 2000] [--workers 2] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from aion_core import Client, WorkflowHandle, load_plugins
from aion_core.errors import TransportError
from aion_transport_nats.options import parse_nats_url
from aion_transport_nats.partitions import partition_of
from bench.aion.w3 import w3
from bench.measurement import Measurement, emit, summary_ms
from bench.servers import fresh_postgres_database, nats_namespace

ROOT = Path(__file__).resolve().parents[2]
"""The checkout: the subprocesses run there, with it on PYTHONPATH."""

DEFINITIONS = "bench.aion.w3"
"""The module ``aion serve`` and ``aion worker`` find W3 and its activity in."""

DISABLED_PLUGINS = "crypto,metrics,otel,template"
"""Optional plugins kept off everywhere (crypto refuses to run without keys)."""

READY_TEXT = "stop with Ctrl-C or SIGTERM"
"""What ``aion serve`` and ``aion worker`` print on stderr once started."""

START_TIMEOUT = 60.0
WARM_UP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
LOG_TAIL_LINES = 40
W3_RESULT = 3


@dataclass(frozen=True)
class Settings:
    """How the run is set up.

    Attributes:
        n: W3 runs started at once.
        workers: ``aion worker`` processes.
        max_cached: The engine's ``--max-cached``: every run of the batch stays live.
        worker_concurrency: Each worker's ``--concurrency``: together they can hold
            every run's activity at once.
        timeout: Seconds the batch may take before the run is abandoned; also the
            client's call timeout, since the last of N starts waits behind the others.
    """

    n: int
    workers: int
    max_cached: int
    worker_concurrency: int
    timeout: float


def settings_for(n: int, workers: int, timeout: float, warm_up_runs: int) -> Settings:
    """Engine and worker limits that let `n` concurrent W3 (and the warm-up) flow."""
    return Settings(
        n=n,
        workers=workers,
        max_cached=n + warm_up_runs,
        worker_concurrency=max(1, math.ceil(n / workers)),
        timeout=timeout,
    )


# --- subprocesses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One subprocess and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path


def subprocess_env() -> dict[str, str]:
    """This environment, with the checkout importable and the optional plugins off."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["AION_DISABLE_PLUGINS"] = DISABLED_PLUGINS
    return env


def engine_command(store: str, transport: str, settings: Settings) -> list[str]:
    """``aion serve`` for W3's workflow only (activities go to the workers)."""
    return [
        sys.executable, "-m", "aion_cli", "serve", DEFINITIONS,
        "--store", store, "--transport", transport,
        "--no-activities", "--max-cached", str(settings.max_cached),
    ]  # fmt: skip


def worker_command(transport: str, settings: Settings) -> list[str]:
    """``aion worker`` for W3's activity."""
    return [
        sys.executable, "-m", "aion_cli", "worker", DEFINITIONS,
        "--transport", transport, "--concurrency", str(settings.worker_concurrency),
    ]  # fmt: skip


def launch(name: str, command: list[str], folder: Path) -> Node:
    """Start `command` with its stdout and stderr in ``folder/<name>.log``."""
    log = folder / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=subprocess_env(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Node(name, process, log)


def stop(nodes: list[Node]) -> None:
    """SIGTERM every node, then SIGKILL those still running after `STOP_TIMEOUT`."""
    for node in nodes:
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for node in nodes:
        try:
            node.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{node.name} ignored SIGTERM for {STOP_TIMEOUT:.0f} s: killed", file=sys.stderr)
            node.process.kill()
            node.process.wait()


def print_tails(nodes: list[Node], stream: IO[str] = sys.stderr) -> None:
    """The last lines of every node's log, with its exit code."""
    for node in nodes:
        lines = node.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        print(f"--- {node.name} (exit code {node.process.returncode}): {node.log}", file=stream)
        for line in lines:
            print(f"    {line}", file=stream)


@contextlib.contextmanager
def running(commands: dict[str, list[str]], folder: Path) -> Iterator[list[Node]]:
    """The commands running as named nodes; stopped afterwards, their logs shown on failure."""
    nodes: list[Node] = []
    failed = True
    try:
        for name, command in commands.items():
            nodes.append(launch(name, command, folder))
        yield nodes
        failed = False
    finally:
        stop(nodes)
        if failed:
            print_tails(nodes)


async def wait_ready(nodes: list[Node]) -> None:
    """Wait until every node says it has started.

    Raises:
        RuntimeError: A node exited first, or did not start within `START_TIMEOUT`.
    """
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(nodes)
    while waiting:
        for node in list(waiting):
            if READY_TEXT in node.log.read_text(errors="replace"):
                waiting.remove(node)
            elif node.process.poll() is not None:
                raise RuntimeError(f"{node.name} exited with code {node.process.returncode}")
        if waiting and time.monotonic() > deadline:
            names = ", ".join(node.name for node in waiting)
            raise RuntimeError(f"{names}: no {READY_TEXT!r} within {START_TIMEOUT:g} s")
        await asyncio.sleep(0.05)


# --- CPU accounting ----------------------------------------------------------------------------

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
Snapshot = dict[tuple[str, int], float]
"""CPU seconds so far, by (label, pid); the machine as a whole is ``("machine", 0)``."""


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid`, None when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND  # utime, stime


def server_label(pid: str, database: str) -> str | None:
    """``nats-server``, ``postgresql`` for a backend of `database`, else None."""
    folder = PROC / pid
    with contextlib.suppress(OSError):
        name = (folder / "comm").read_text().strip()
        if name == "nats-server":
            return name
        if name == "postgres" and f" {database} " in (folder / "cmdline").read_text():
            return "postgresql"  # "postgres: USER DATABASE HOST(PORT) STATE"
    return None


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine spent not idle since boot."""
    fields = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND


def cpu_snapshot(nodes: list[Node], database: str) -> Snapshot:
    """CPU seconds so far of the nodes, this process, nats-server, `database`'s backends.

    Empty without /proc (not Linux): the numbers are only details.
    """
    if not (PROC / "stat").exists():
        return {}
    pids = {("client", os.getpid()), *((node.name, node.process.pid) for node in nodes)}
    for entry in PROC.glob("[0-9]*"):
        label = server_label(entry.name, database)
        if label is not None:
            pids.add((label, int(entry.name)))
    snapshot = {key: process_cpu_seconds(key[1]) for key in pids}
    found = {key: seconds for key, seconds in snapshot.items() if seconds is not None}
    return {**found, ("machine", 0): machine_busy_seconds()}


def cpu_used(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU seconds spent between two snapshots per label, and on the rest of the machine.

    A process that appeared in between counts whole; one that ended in between is lost.
    """
    if not after:
        return {}
    used: dict[str, float] = {}
    for (label, pid), seconds in after.items():
        used[label] = used.get(label, 0.0) + seconds - before.get((label, pid), 0.0)
    machine = used.pop("machine")
    used["rest_of_machine"] = machine - sum(used.values())
    return {label: round(seconds, 2) for label, seconds in used.items()}


# --- the workload ------------------------------------------------------------------------------


def warm_up_ids(transport: str) -> list[str]:
    """One workflow id per partition of the transport, so the warm-up reaches every one."""
    partitions = parse_nats_url(transport).partitions
    ids: dict[int, str] = {}
    candidate = 0
    while len(ids) < partitions:
        workflow_id = f"warm-{candidate}"
        ids.setdefault(partition_of(workflow_id, partitions), workflow_id)
        candidate += 1
    return [ids[p] for p in sorted(ids)]


async def warm_up(client: Client, ids: list[str]) -> None:
    """Run W3 once per id, all at once; every result must be right."""
    async with asyncio.timeout(WARM_UP_TIMEOUT):
        results = await asyncio.gather(*(client.execute_workflow(w3, 0, id=i) for i in ids))
    if results != [W3_RESULT] * len(ids):
        raise RuntimeError(f"warm-up W3 runs returned {results}")


@dataclass(frozen=True)
class Run:
    """One W3 run: when it was started, acknowledged as started and finished (perf_counter).

    Attributes:
        called: When the start was sent.
        started: When the start was acknowledged (durable).
        finished: When the result arrived.
        late_waits: Wait calls of ``result()`` whose reply missed the client's deadline,
            asked again (see `result_of`).
    """

    called: float
    started: float
    finished: float
    late_waits: int


async def result_of(handle: WorkflowHandle) -> tuple[Any, int]:
    """The workflow's result, and how many of its wait calls went unanswered in time.

    ``result()`` asks the owner in 20 s slices and gives up on a slice's reply 10 s
    after it; an engine that reaches the call late (it starts the slice only once it
    has read the workflow's row) misses that and ``result()`` raises `TransportError`.
    Waiting changes nothing, so it is asked again, and counted.
    """
    late = 0
    while True:
        try:
            return await handle.result(), late
        except TransportError:
            late += 1


async def one_run(client: Client, workflow_id: str) -> Run:
    """Start W3 and wait for its result."""
    called = time.perf_counter()
    handle = await client.start_workflow(w3, 0, id=workflow_id)
    started = time.perf_counter()
    result, late_waits = await result_of(handle)
    if result != W3_RESULT:
        raise RuntimeError(f"{workflow_id} returned {result!r}, not {W3_RESULT}")
    return Run(called, started, time.perf_counter(), late_waits)


async def watch_exits(nodes: list[Node]) -> None:
    """Raise as soon as a node exits (the run cannot finish then); never return.

    Raises:
        RuntimeError: A node exited.
    """
    while True:
        for node in nodes:
            if node.process.poll() is not None:
                raise RuntimeError(f"{node.name} exited with code {node.process.returncode}")
        await asyncio.sleep(0.2)


async def batch(client: Client, nodes: list[Node], settings: Settings) -> list[Run]:
    """N W3 started at once, each until its result; fails if a node exits meanwhile."""
    async with asyncio.timeout(settings.timeout), asyncio.TaskGroup() as group:
        watchdog = group.create_task(watch_exits(nodes))
        runs = await asyncio.gather(*(one_run(client, f"run-{i}") for i in range(settings.n)))
        watchdog.cancel()
    return runs


def timing_details(runs: list[Run]) -> dict[str, Any]:
    """Wall time of the batch, and how long starts and whole runs took."""
    first = min(run.called for run in runs)
    starts = summary_ms([run.started - run.called for run in runs])
    whole = summary_ms([run.finished - run.called for run in runs])
    return {
        "seconds": max(run.finished for run in runs) - first,
        "all_started_s": max(run.started for run in runs) - first,
        "start_p50_ms": starts["median_ms"],
        "start_p99_ms": starts["p99_ms"],
        "run_p50_ms": whole["median_ms"],
        "run_p99_ms": whole["p99_ms"],
        "late_wait_replies": sum(run.late_waits for run in runs),
    }


async def connect_client(transport: str, settings: Settings) -> Client:
    """A client for W3 whose calls may wait as long as the batch may (N starts queue up)."""
    return await Client.connect(
        transport,
        plugins=load_plugins({"AION_DISABLE_PLUGINS": DISABLED_PLUGINS}),
        workflows=[w3],
        call_timeout=timedelta(seconds=settings.timeout),
    )


async def measure(n: int, workers: int, timeout: float, folder: Path) -> Measurement:
    """Start the engine and the workers on fresh state, warm up, run the batch, report it."""
    async with fresh_postgres_database() as store, nats_namespace() as transport:
        database = urlsplit(store).path.lstrip("/")
        warm_up_runs = warm_up_ids(transport)
        settings = settings_for(n, workers, timeout, len(warm_up_runs))
        commands = {"engine": engine_command(store, transport, settings)}
        for i in range(1, workers + 1):
            commands[f"worker-{i}"] = worker_command(transport, settings)
        with running(commands, folder) as nodes:
            await wait_ready(nodes)
            async with await connect_client(transport, settings) as client:
                await warm_up(client, warm_up_runs)
                before = cpu_snapshot(nodes, database)
                runs = await batch(client, nodes, settings)
                cpu = cpu_used(before, cpu_snapshot(nodes, database))
    details = timing_details(runs)
    return Measurement(
        "w3_distributed", "aion", "nats+postgresql", n / details["seconds"], "wf/s", "higher",
        {**settings_details(settings, len(warm_up_runs)), **details, "cpu_seconds": cpu},
    )  # fmt: skip


def settings_details(settings: Settings, warm_up_runs: int) -> dict[str, Any]:
    """What the run was set up with, for the report."""
    return {
        "n": settings.n,
        "engines": 1,
        "workers": settings.workers,
        "engine_max_cached": settings.max_cached,
        "worker_concurrency": settings.worker_concurrency,
        "client_call_timeout_s": settings.timeout,
        "warm_up_runs": warm_up_runs,
        "plugins_disabled": DISABLED_PLUGINS,
        "cores": os.cpu_count(),
    }


def main() -> None:
    """Parse the command line, run the workload once, report it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="W3 runs started at once (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="aion worker processes")
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds the batch (and any one client call) may take",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny N: check the code runs")
    args = parser.parse_args()
    n = args.n or (20 if args.smoke else 2000)
    if n < 1 or args.workers < 1:
        parser.error("--n and --workers must be at least 1")
    with tempfile.TemporaryDirectory(prefix="aion-bench-distributed-") as folder:
        emit(asyncio.run(measure(n, args.workers, args.timeout, Path(folder))))


if __name__ == "__main__":
    main()
