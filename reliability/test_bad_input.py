"""Bad input at every entry point is refused clearly, records nothing, and stops nothing.

Each case is its own test. Through the Python API (`Engine`, and a `Client`
that checks nothing itself, so the engine must), through the CLI, and over a
real nats-server, it aims malformed JSON, values of the wrong type, values
that are not JSON at all, unknown workflow, signal, query and update names,
oversized payloads (`max_payload_bytes`), invalid cron expressions and invalid
store and transport URLs at a running engine over a SQLite file. Inside the
store it plants corrupt rows and events from a newer aion. Every case asserts
three things:

- the caller gets a typed `AionError` (the API) or one ``aion: ...`` line and
  the right exit code (the CLI), never a traceback;
- nothing was appended: the store's rows are the same before and after;
- where an engine is involved, it still serves: the workflow aimed at still
  answers, and another workflow runs to completion.

Not repeated here, only extended: `aion_cli/tests/test_mistakes.py` (bad JSON
for ``aion start``, unknown URL schemes, unknown commands),
`tests/test_distributed.py::test_garbage_on_every_subject_is_dropped_with_a_log_line_and_stops_nothing`
(garbage bytes on every NATS subject, across processes; here: well-formed calls
whose payloads are bad), `aion_store_sql/tests/test_corrupt_rows.py` (corrupt
rows at the store; here: through a running engine), and
`aion_core/tests/test_schedules.py` (the message of each invalid cron).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from bad_input_flows import (
    LIMIT,
    Desk,
    assert_one_line,
    assert_still_serves,
    fetch_blob,
    greet,
    hello,
    make_blob,
    stored_rows,
)
from click.testing import CliRunner, Result

from aion_cli.main import build_cli
from aion_core import (
    AionError,
    Client,
    ConfigurationError,
    CorruptHistoryError,
    Engine,
    PayloadTooLargeError,
    PayloadValidationError,
    StoreError,
    TransportError,
    UnknownQuery,
    UnknownURLSchemeError,
    Worker,
    WorkflowFailureError,
    WorkflowNotFoundError,
)
from aion_core.calls import Reply, SubmitCall, encode_call
from aion_core.errors import UpdateRejectedError
from aion_core.events import ActivityFailed, Payload, SignalReceived
from aion_core.plugins import load_plugins
from aion_store_sql import SchemaVersionError
from aion_store_sql.schema import VERSION_TABLE
from aion_transport_nats.connection import connect as connect_nats
from aion_transport_nats.options import parse_nats_url
from aion_transport_nats.partitions import partition_of
from aion_transport_nats.streams import StreamNames

if TYPE_CHECKING:
    from conftest import DropNamespace

DESK = "desk-1"
BIG = "x" * LIMIT
"""A string whose JSON (LIMIT + 2 bytes) is over the engine's limit."""


@dataclass
class World:
    """A running engine over a SQLite file, a desk workflow waiting on it, a client."""

    engine: Engine
    client: Client
    path: Path
    transport: str

    def rows(self) -> dict[str, list[tuple[object, ...]]]:
        """Every row of the store right now."""
        return stored_rows(self.path)


async def _world(path: Path, transport: str) -> AsyncIterator[World]:
    async with Engine(
        f"sqlite:///{path}", transport=transport, workflows=[Desk, hello, fetch_blob],
        activities=[greet], max_payload_bytes=LIMIT,
    ) as engine:  # fmt: skip
        handle = await engine.start_workflow(Desk.run, "ada", id=DESK)
        await handle.signal(Desk.note, "first")
        # A client that checks nothing itself: what it sends, the engine must judge.
        client = await Client.connect(transport, max_payload_bytes=None)
        async with client:
            yield World(engine, client, path, transport)


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """An engine reached in-process (``inproc://``)."""
    async for made in _world(tmp_path / "aion.db", f"inproc://bad-input-{uuid.uuid4().hex}"):
        yield made


@pytest_asyncio.fixture
async def nats_world(
    tmp_path: Path, nats_url: str, drop_nats_namespace: DropNamespace
) -> AsyncIterator[World]:
    """An engine node on a real nats-server, in a namespace of its own."""
    names = StreamNames(f"badin{uuid.uuid4().hex[:10]}")
    transport = f"{nats_url}?namespace={names.namespace}&lease_ttl=2"
    try:
        async for made in _world(tmp_path / "aion.db", transport):
            yield made
    finally:
        await drop_nats_namespace(nats_url, names)


async def assert_desk_untouched(world: World) -> None:
    """The desk workflow still answers and takes a good signal; another workflow runs."""
    handle = world.engine.get_handle(DESK)
    assert await handle.query(Desk.count) == 1
    await handle.signal(Desk.note, "second")
    assert await handle.query(Desk.starting_with, "s") == ["second"]
    await assert_still_serves(world.engine)


async def assert_refused(
    world: World,
    action: Callable[[World], Awaitable[object]],
    error: type[AionError],
    match: str,
) -> AionError:
    """`action` raises `error` (matching `match`) in one line, appends nothing, stops nothing."""
    before = world.rows()
    with pytest.raises(error, match=match) as raised:
        await action(world)
    assert_one_line(str(raised.value))
    assert world.rows() == before
    await assert_desk_untouched(world)
    return raised.value


def named(cases: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Each ``(name, *values)`` of a matrix as a test of its own, named `name`."""
    return [pytest.param(*values, id=name) for name, *values in cases]


# --- the Python API ----------------------------------------------------------------------------

Action = Callable[[World], Awaitable[object]]


def _desk(world: World) -> Any:
    return world.client.get_handle(DESK)


API_CASES: list[tuple[str, Action, type[AionError], str]] = [
    # Starts: the input is checked before anything is recorded (DESIGN 2.1).
    ("start-wrong-type", lambda w: w.engine.start_workflow(Desk.run, 42, id="w"),
     PayloadValidationError, "workflow 'Desk' argument 1 is not a valid str"),
    ("start-by-name-wrong-type", lambda w: w.client.start_workflow("Desk", 42, id="w"),
     PayloadValidationError, "workflow 'Desk' argument 1 is not a valid str"),
    ("start-too-many-arguments", lambda w: w.client.start_workflow("Desk", "a", "b", id="w"),
     PayloadValidationError, "workflow 'Desk' takes 1 argument, got 2"),
    ("start-not-json", lambda w: w.client.start_workflow("Desk", object(), id="w"),
     PayloadValidationError, "cannot be serialised as JSON"),
    ("start-not-finite", lambda w: w.engine.start_workflow("Desk", float("nan"), id="w"),
     PayloadValidationError, "workflow 'Desk' argument 1 is not a valid str"),
    ("start-unknown-workflow", lambda w: w.client.start_workflow("NoSuchFlow", id="w"),
     ConfigurationError, "workflow type 'NoSuchFlow' is not registered"),
    ("start-empty-id", lambda w: w.engine.start_workflow(Desk.run, "a", id="  "),
     ConfigurationError, "a workflow id must not be empty"),
    ("start-unknown-id-policy", lambda w: w.client.start_workflow(
        "Desk", "a", id="w", id_conflict="sometimes"),
     ConfigurationError, "id_conflict must be one of 'fail', 'use_existing', 'terminate_existing'"),
    ("start-nested-search-attribute", lambda w: w.engine.start_workflow(
        Desk.run, "a", id="w", search_attributes={"tenant": {"nested": 1}}),
     ConfigurationError, "cannot start 'Desk': search_attributes.tenant"),
    ("start-nan-search-attribute", lambda w: w.client.start_workflow(
        "Desk", "a", id="w", search_attributes={"score": float("nan")}),
     ConfigurationError, "cannot start 'Desk': search_attributes.score"),
    ("start-endless-timeout", lambda w: w.engine.start_workflow(
        Desk.run, "a", id="w", execution_timeout=timedelta.max),
     ConfigurationError, "execution_timeout of .* is too long"),
    ("start-negative-timeout", lambda w: w.client.start_workflow(
        "Desk", "a", id="w", execution_timeout=timedelta(seconds=-1)),
     ConfigurationError, "execution_timeout must be positive, a timedelta"),
    ("start-with-bad-signal", lambda w: w.client.start_workflow(
        "Desk", "a", id=DESK, start_signal=("note", [7])),
     PayloadValidationError, "signal 'note' argument 1 is not a valid str"),
    ("start-oversized", lambda w: w.client.start_workflow("Desk", BIG, id="w"),
     PayloadTooLargeError, "a payload of the start call is 1002 bytes, over the limit of 1000"),
    # Signals: a signal its handler cannot take would fail the workflow when delivered.
    ("signal-wrong-type", lambda w: w.engine.get_handle(DESK).signal(Desk.note, 42),
     PayloadValidationError, "signal 'note' argument 1 is not a valid str"),
    ("signal-by-name-wrong-type", lambda w: _desk(w).signal("note", 42),
     PayloadValidationError, "signal 'note' argument 1 is not a valid str"),
    ("signal-by-name-missing-argument", lambda w: _desk(w).signal("note"),
     PayloadValidationError, "signal 'note' takes 1 argument, got 0"),
    ("signal-not-json", lambda w: _desk(w).signal("note", object()),
     PayloadValidationError, "cannot be serialised as JSON"),
    ("signal-a-query-method", lambda w: _desk(w).signal(Desk.count),
     ConfigurationError, "is not a @workflow.signal handler"),
    ("signal-unknown-workflow", lambda w: w.client.get_handle("nope").signal("note", "x"),
     WorkflowNotFoundError, "no workflow with id 'nope'"),
    ("signal-oversized", lambda w: _desk(w).signal("note", BIG),
     PayloadTooLargeError, "a payload of the submit call is 1002 bytes"),
    # Queries never record anything, in any outcome (DESIGN 4.5).
    ("query-unknown-name", lambda w: _desk(w).query("nope"),
     UnknownQuery, "unknown query 'nope'; known queries: count, starting_with"),
    ("query-wrong-type", lambda w: _desk(w).query("starting_with", 5),
     PayloadValidationError, "query 'starting_with' argument 1 is not a valid str"),
    ("query-oversized", lambda w: _desk(w).query("starting_with", BIG),
     PayloadTooLargeError, "a payload of the query call is 1002 bytes"),
    ("query-unknown-workflow", lambda w: w.client.get_handle("nope").query("count"),
     WorkflowNotFoundError, "no workflow with id 'nope'"),
    # An empty id names no workflow: the same typed error, never a pydantic one.
    ("describe-empty-id", lambda w: w.client.describe(""),
     WorkflowNotFoundError, "no workflow with id ''"),
    ("signal-empty-id", lambda w: w.client.get_handle("").signal("note", "x"),
     WorkflowNotFoundError, "no workflow with id ''"),
    ("cancel-empty-id", lambda w: w.client.get_handle("").cancel(),
     WorkflowNotFoundError, "no workflow with id ''"),
    ("result-empty-id", lambda w: w.client.get_handle("").result(),
     WorkflowNotFoundError, "no workflow with id ''"),
    ("history-empty-id", lambda w: w.client.get_handle("").history(),
     WorkflowNotFoundError, "no workflow with id ''"),
    ("describe-queue-empty-name", lambda w: w.client.describe_queue(""),
     ConfigurationError, "needs a task queue name"),
    # Updates: validated before they are accepted; a rejection records nothing.
    ("update-unknown-name", lambda w: _desk(w).execute_update("nope"),
     UpdateRejectedError, "the workflow has no update 'nope'; known updates: add"),
    ("update-wrong-type", lambda w: _desk(w).execute_update("add", "x", "many"),
     UpdateRejectedError, "update 'add' argument 2 is not a valid int"),
    ("update-too-few-arguments", lambda w: _desk(w).execute_update("add", "x"),
     UpdateRejectedError, "update 'add' takes 2 arguments, got 1"),
    ("update-oversized", lambda w: _desk(w).execute_update("add", BIG, 1),
     PayloadTooLargeError, "a payload of the update call is 1002 bytes"),
    # Schedules: an invalid rule is refused before the schedule's workflow starts.
    ("cron-out-of-range", lambda w: w.engine.create_schedule("s", hello, "a", cron="61 * * * *"),
     ConfigurationError, "minute value 61 is out of range 0-59"),
    ("cron-too-few-fields", lambda w: w.engine.create_schedule("s", hello, "a", cron="* * *"),
     ConfigurationError, "invalid cron expression"),
    ("cron-garbage", lambda w: w.engine.create_schedule("s", hello, "a", cron="\x00☃ ; DROP"),
     ConfigurationError, "invalid cron expression"),
    ("cron-unknown-time-zone", lambda w: w.engine.create_schedule(
        "s", hello, "a", cron="0 * * * *", time_zone="Mars/Olympus_Mons"),
     ConfigurationError, "Mars/Olympus_Mons"),
    ("schedule-wrong-input", lambda w: w.engine.create_schedule("s", hello, 5, cron="0 * * * *"),
     PayloadValidationError, "workflow 'hello' argument 1 is not a valid str"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("action", "error", "match"),
    named(API_CASES),
)
async def test_bad_input_through_the_api_is_a_typed_error_and_records_nothing(
    world: World, action: Action, error: type[AionError], match: str
) -> None:
    await assert_refused(world, action, error, match)


async def test_an_unknown_signal_name_is_buffered_not_refused(world: World) -> None:
    # Not bad input: a handler may be registered later (DESIGN 4.4). The signal is
    # recorded, the workflow is unaffected, and still closes normally.
    handle = world.client.get_handle(DESK)
    await handle.signal("not_yet_handled", {"any": ["json"]})
    events = await handle.history()
    assert events[-1].type == "SignalReceived"
    await assert_desk_untouched(world)
    await handle.signal("close")
    assert await handle.result() == ["ada", "first", "second"]


# --- well-formed calls with bad payloads, on the NATS wire --------------------------------------


async def _request(world: World, call: SubmitCall) -> Reply:
    """Send `call` to the owner of its workflow as raw bytes; the raw reply."""
    options = parse_nats_url(world.transport)
    names = StreamNames(options.namespace or "default")
    subject = names.control_subject(partition_of(call.workflow_id, options.partitions))
    nc = await connect_nats(world.transport, name="aion-test-bad-input")
    try:
        reply = await nc.request(subject, encode_call(call), timeout=30)
        return Reply.model_validate_json(reply.data)
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (Payload(metadata={"encoding": "json/plain"}, data=b"{bad"), "not a valid str"),
        (Payload(metadata={"encoding": "json/plain"}, data=b"\xff\xfe"), "not a valid str"),
        (Payload(metadata={"encoding": "json/plain"}, data=b"42"), "not a valid str"),
        (Payload(metadata={"encoding": "pickle"}, data=b"\x80\x04K*."), "encoding 'pickle'"),
    ],
    ids=["malformed-json", "not-utf8", "wrong-type", "not-json-encoding"],
)
async def test_a_signal_call_with_a_bad_payload_is_refused_on_the_wire(
    nats_world: World, payload: Payload, problem: str
) -> None:
    call = SubmitCall(
        workflow_id=DESK, kind="input", body=SignalReceived(signal_name="note", args=(payload,))
    )
    before = nats_world.rows()
    reply = await _request(nats_world, call)
    assert reply.error is not None
    assert reply.error.type == "PayloadValidationError"
    assert problem in reply.error.message
    assert_one_line(reply.error.message)
    assert nats_world.rows() == before
    await assert_desk_untouched(nats_world)


async def test_a_call_over_the_nats_servers_max_payload_is_refused_before_it_is_sent(
    nats_world: World,
) -> None:
    client = nats_world.client
    nc = client.transport.nc  # type: ignore[attr-defined]
    huge = "x" * (nc.max_payload + 1)
    error = await assert_refused(
        nats_world, lambda w: _desk(w).signal("note", huge), PayloadTooLargeError,
        "the submit call is .* bytes, over the limit of .*raise max_payload in the nats-server",
    )  # fmt: skip
    assert isinstance(error, PayloadTooLargeError)
    assert error.limit == nc.max_payload


async def test_an_oversized_signal_from_a_client_is_refused_by_the_engine_over_nats(
    nats_world: World,
) -> None:
    await assert_refused(
        nats_world, lambda w: _desk(w).signal("note", BIG), PayloadTooLargeError,
        "a payload of the submit call is 1002 bytes, over the limit of 1000 bytes",
    )  # fmt: skip


async def test_a_result_too_large_for_nats_fails_its_attempt_once_not_forever(
    nats_world: World,
) -> None:
    # The worker allows any size; the NATS server does not carry it. Reporting it would
    # fail on every retry, so the attempt fails for good, saying which limit to raise.
    async with Worker(nats_world.transport, activities=[make_blob], max_payload_bytes=None):
        engine = nats_world.engine
        assert await engine.execute_workflow(fetch_blob, 10, id="small-blob") == 10
        nc = nats_world.client.transport.nc  # type: ignore[attr-defined]
        handle = await engine.start_workflow(fetch_blob, nc.max_payload, id="huge-blob")
        with pytest.raises(WorkflowFailureError, match="raise max_payload in the nats-server"):
            await asyncio.wait_for(handle.result(), 60)
        history = await handle.history()
        assert [e.type for e in history].count("ActivityStarted") == 1
        [failed] = [e.body for e in history if isinstance(e.body, ActivityFailed)]
        assert failed.failure.type == "PayloadTooLargeError"
        assert failed.failure.non_retryable
    await assert_desk_untouched(nats_world)


# --- the CLI -----------------------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``aion ARGS`` in this process, as a user would type it."""
    return CliRunner().invoke(build_cli(load_plugins()), list(args), env=env)


def assert_cli_refused(result: Result, code: int, message: str) -> None:
    """Exit `code`, nothing on stdout, one ``aion: ...`` line on stderr starting `message`."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert_one_line(result.stderr)
    assert result.stderr.startswith(f"aion: {message}"), result.stderr


LOCAL_CLI_CASES: list[tuple[str, list[str], dict[str, str], int, str]] = [
    # Malformed --input on every verb that takes one (test_mistakes covers `start`).
    ("signal-malformed-json", ["signal", DESK, "note", "--input", "{bad"], {}, 2,
     "Invalid value: --input is not valid JSON"),
    ("query-malformed-json", ["query", DESK, "count", "--input", "[1,"], {}, 2,
     "Invalid value: --input is not valid JSON"),
    ("update-malformed-json", ["update", DESK, "add", "--input", "'single'"], {}, 2,
     "Invalid value: --input is not valid JSON"),
    ("run-malformed-json", ["run", "bad_input_flows:hello", "--input", '{"a":'], {}, 2,
     "Invalid value: --input is not valid JSON"),
    ("schedule-malformed-json", ["schedule", "create", "s", "hello", "--input", "nul"], {}, 2,
     "Invalid value: --input is not valid JSON"),
    # Wrong types checked here, before any engine is reached.
    ("run-wrong-type", ["run", "bad_input_flows:hello", "--input", "42"], {}, 2,
     "workflow 'hello' argument 1 is not a valid str"),
    ("run-too-many-arguments", ["run", "bad_input_flows:hello", "--input", '["a", "b"]'], {}, 2,
     "workflow 'hello' takes 1 argument, got 2"),
    ("start-wrong-timeout", ["start", "Desk", "--execution-timeout", "soon"], {}, 2,
     "Invalid value: 'soon' is not a duration"),
    # Oversized input, with the limit from a flag, the environment, or aion.toml.
    ("run-oversized-flag", ["run", "bad_input_flows:hello", "--input", json.dumps(BIG),
     "--max-payload-bytes", "1000"], {}, 2,
     "workflow 'hello' argument 1 is 1002 bytes, over the limit of 1000 bytes"),
    ("run-oversized-env", ["run", "bad_input_flows:hello", "--input", json.dumps(BIG)],
     {"AION_MAX_PAYLOAD_BYTES": "1000"}, 2, "workflow 'hello' argument 1 is 1002 bytes"),
    ("run-oversized-kib", ["run", "bad_input_flows:hello", "--input", json.dumps("x" * 1100),
     "--max-payload-bytes", "1KiB"], {}, 2, "workflow 'hello' argument 1 is 1102 bytes"),
    ("max-payload-not-a-size", ["run", "bad_input_flows:hello", "--max-payload-bytes", "lots"],
     {}, 2, "Invalid value for '--max-payload-bytes': 'lots' is not a size"),
    ("max-payload-zero", ["run", "bad_input_flows:hello", "--max-payload-bytes", "0"], {}, 2,
     "Invalid value for '--max-payload-bytes': '0' is not a positive size"),
    ("max-payload-env-not-a-size", ["run", "bad_input_flows:hello", "--input", '"a"'],
     {"AION_MAX_PAYLOAD_BYTES": "-5"}, 2,
     "Invalid value for '--max-payload-bytes': '-5' is not a size"),
    # Store and transport URLs (test_mistakes covers unknown schemes and 'not a url').
    ("store-no-such-folder", ["list", "--store", "sqlite:////no/such/folder/aion.db"], {}, 1,
     "no store at"),
    ("store-unreachable-postgresql", ["list", "--store", "postgresql://u@127.0.0.1:1/db"], {}, 1,
     "SQL store postgresql://u@127.0.0.1:1/db is unavailable"),
    ("store-port-not-a-number", ["list", "--store", "postgresql://u@127.0.0.1:port/db"], {}, 2,
     "'postgresql://u@127.0.0.1:port/db' is not a valid store URL: its port is not a number"),
    ("store-empty-sqlite-path", ["list", "--store", "sqlite://"], {}, 2,
     "'sqlite://' names no database file"),
    ("transport-bad-port", ["signal", DESK, "note", "--transport", "nats://127.0.0.1:port"],
     {}, 2, "server 1 of the NATS URL has a port that is not a number"),
    ("transport-no-host", ["query", DESK, "count", "--transport", "nats://"], {}, 2,
     "server 1 of the NATS URL has no host"),
    ("transport-unreachable", ["query", DESK, "count", "--transport", "nats://127.0.0.1:1",
     "--timeout", "2"], {}, 1, "could not connect to any NATS server"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    named(LOCAL_CLI_CASES),
)
def test_a_cli_mistake_is_one_line_and_its_exit_code(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    code: int,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # `aion run` keeps its default store here
    store = tmp_path / "aion.db"
    result = invoke(*args, env=env)
    assert_cli_refused(result, code, message)
    if args[0] == "run":  # the embedded engine recorded nothing
        assert not store.exists() or stored_rows(store)["aion_events"] == []


def test_an_invalid_max_payload_in_aion_toml_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "aion.toml").write_text("max_payload_bytes = true\n")
    result = invoke("run", "bad_input_flows:hello", "--input", '"a"')
    assert_cli_refused(result, 2, "config file aion.toml: max_payload_bytes must be a string")
    (tmp_path / "aion.toml").write_text("max_payload_bytes = 1000\n")
    too_big = invoke("run", "bad_input_flows:hello", "--input", json.dumps(BIG))
    assert_cli_refused(too_big, 2, "workflow 'hello' argument 1 is 1002 bytes")
    fits = invoke("run", "bad_input_flows:hello", "--input", '"ada"')
    assert (fits.exit_code, fits.stdout) == (0, '"hello ada"\n')


ENGINE_CLI_CASES: list[tuple[str, list[str], dict[str, str], int, str]] = [
    # Checked by the engine: the CLI names workflows and handlers by name, plain JSON.
    ("start-wrong-type", ["start", "Desk", "--input", "42"], {}, 2,
     "workflow 'Desk' argument 1 is not a valid str"),
    ("start-unknown-workflow", ["start", "NoSuchFlow"], {}, 1,
     "workflow type 'NoSuchFlow' is not registered"),
    ("signal-wrong-type", ["signal", DESK, "note", "--input", "42"], {}, 2,
     "signal 'note' argument 1 is not a valid str"),
    ("signal-too-many-arguments", ["signal", DESK, "note", "--input", '["a", "b"]'], {}, 2,
     "signal 'note' takes 1 argument, got 2"),
    ("signal-unknown-workflow", ["signal", "nope", "note", "--input", '"x"'], {}, 1,
     "no workflow with id 'nope'"),
    ("query-unknown-name", ["query", DESK, "nope"], {}, 1, "unknown query 'nope'"),
    ("query-wrong-type", ["query", DESK, "starting_with", "--input", "5"], {}, 2,
     "query 'starting_with' argument 1 is not a valid str"),
    ("update-unknown-name", ["update", DESK, "nope"], {}, 1, "the workflow has no update 'nope'"),
    ("update-wrong-type", ["update", DESK, "add", "--input", '["x", "many"]'], {}, 1,
     "update 'add' argument 2 is not a valid int"),
    ("cron-out-of-range", ["schedule", "create", "s", "hello", "--input", '"a"', "--cron",
     "0 25 * * *"], {}, 2, "invalid cron expression '0 25 * * *': hour value 25"),
    ("cron-unknown-time-zone", ["schedule", "create", "s", "hello", "--input", '"a"', "--cron",
     "0 * * * *", "--time-zone", "Mars/Olympus_Mons"], {}, 2,
     "unknown time zone 'Mars/Olympus_Mons'"),
    ("cron-empty", ["schedule", "create", "s", "hello", "--cron", ""], {}, 2,
     "invalid cron expression '': needs 5 fields"),
    # Oversized: refused by the CLI's own client (the environment's limit) ...
    ("signal-oversized-by-the-cli", ["signal", DESK, "note", "--input", json.dumps("x" * 600)],
     {"AION_MAX_PAYLOAD_BYTES": "500"}, 2, "signal 'note' argument 1 is 602 bytes"),
    # ... or by the engine, whose limit is lower than the CLI's default.
    ("signal-oversized-by-the-engine", ["signal", DESK, "note", "--input", json.dumps(BIG)],
     {}, 2, "a payload of the submit call is 1002 bytes, over the limit of 1000 bytes"),
    ("start-oversized-by-the-engine", ["start", "Desk", "--input", json.dumps(BIG)], {}, 2,
     "a payload of the start call is 1002 bytes"),
    ("update-oversized-by-the-engine", ["update", DESK, "add", "--input",
     json.dumps([BIG, 1])], {}, 2, "a payload of the update call is 1002 bytes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    named(ENGINE_CLI_CASES),
)
async def test_a_cli_mistake_against_a_running_engine_records_nothing(
    nats_world: World, args: list[str], env: dict[str, str], code: int, message: str
) -> None:
    before = nats_world.rows()
    result = await asyncio.to_thread(
        invoke, *args, "--transport", nats_world.transport, "--timeout", "20", env=env
    )
    assert_cli_refused(result, code, message)
    assert nats_world.rows() == before
    await assert_desk_untouched(nats_world)


# --- URLs given to the API ---------------------------------------------------------------------


async def _open_engine(store: str, transport: str = "inproc://") -> None:
    async with Engine(store, transport=transport, workflows=[hello], activities=[greet]):
        pass


URL_CASES: list[tuple[str, Callable[[], Awaitable[object]], type[AionError], str]] = [
    ("store-unknown-scheme", lambda: _open_engine("mongodb://db/aion"),
     UnknownURLSchemeError, "no store plugin handles 'mongodb://db/aion'"),
    ("store-not-a-url", lambda: _open_engine("aion.db"), ConfigurationError, "aion.db"),
    ("store-sqlite-no-folder", lambda: _open_engine("sqlite:////no/such/folder/aion.db"),
     ConfigurationError, "folder /no/such/folder does not exist; create it first"),
    ("store-postgresql-unreachable", lambda: _open_engine("postgresql://u@127.0.0.1:1/db"),
     StoreError, "127.0.0.1"),
    ("store-sqlite-bad-option", lambda: _open_engine("sqlite:///x.db?synchronous=sometimes"),
     ConfigurationError, "synchronous"),
    ("transport-unknown-scheme", lambda: _open_engine("memory://", "amqp://broker"),
     UnknownURLSchemeError, "no transport plugin handles 'amqp://broker'"),
    ("transport-bad-port", lambda: _open_engine("memory://", "nats://127.0.0.1:port"),
     ConfigurationError, "port"),
    ("transport-unreachable", lambda: _open_engine("memory://", "nats://127.0.0.1:1"),
     TransportError, "could not connect to any NATS server"),
    ("client-unreachable", lambda: Client.connect("nats://127.0.0.1:1"),
     TransportError, "could not connect to any NATS server"),
    ("client-unknown-scheme", lambda: Client.connect("http://127.0.0.1:4222"),
     UnknownURLSchemeError, "no transport plugin handles"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("open_it", "error", "match"),
    named(URL_CASES),
)
async def test_an_invalid_url_is_a_typed_error_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    open_it: Callable[[], Awaitable[object]],
    error: type[AionError],
    match: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match) as raised:
        await asyncio.wait_for(open_it(), 60)
    assert_one_line(str(raised.value))
    assert _files_in(tmp_path) == []  # no store file made on the way


def _files_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


# --- corrupt and newer histories in the store, through a running engine ------------------------


def _sql(path: Path, statement: str, *values: object) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(statement, values)


def _append_raw_event(path: Path, workflow_id: str, type_: str, body: dict[str, Any]) -> None:
    """Append an event row the way another aion version would: after the last, heads moved on."""
    with sqlite3.connect(path) as connection:
        run_id, last, recorded_at = connection.execute(
            "SELECT run_id, seq, recorded_at FROM aion_events WHERE workflow_id = ?"
            " ORDER BY seq DESC LIMIT 1",
            (workflow_id,),
        ).fetchone()
        connection.execute(
            "INSERT INTO aion_events (workflow_id, seq, run_id, type, recorded_at, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (workflow_id, last + 1, run_id, type_, recorded_at, json.dumps(body).encode()),
        )
        for table in ("aion_stream_heads", "aion_workflows"):
            connection.execute(
                f"UPDATE {table} SET last_seq = ? WHERE workflow_id = ?",
                (last + 1, workflow_id),
            )


def _newer_event_type(path: Path) -> None:
    _append_raw_event(path, DESK, "WorkflowSnoozed", {"type": "WorkflowSnoozed", "until": "x"})


def _newer_field(path: Path) -> None:
    body = {"type": "SignalReceived", "signal_name": "note", "priority": 5}
    _append_raw_event(path, DESK, "SignalReceived", body)


def _truncated_body(path: Path) -> None:
    _sql(path, "UPDATE aion_events SET data = ? WHERE workflow_id = ? AND seq = 2",
         b'{"type": "Signal', DESK)  # fmt: skip


def _binary_garbage(path: Path) -> None:
    _sql(path, "UPDATE aion_events SET data = ? WHERE workflow_id = ? AND seq = 1",
         b"\xff\xfe\x00garbage", DESK)  # fmt: skip


def _type_mismatch(path: Path) -> None:
    _sql(path, "UPDATE aion_events SET type = 'TimerFired' WHERE workflow_id = ? AND seq = 2", DESK)


def _bad_timestamp(path: Path) -> None:
    _sql(path, "UPDATE aion_events SET recorded_at = 'yesterday' WHERE workflow_id = ?", DESK)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_newer_event_type, "event type 'WorkflowSnoozed' is unknown to this version of aion"),
        (_newer_field, "a field unknown to this version of aion .*upgrade aion"),
        (_truncated_body, "event seq 2 cannot be decoded"),
        (_binary_garbage, "event seq 1 cannot be decoded"),
        (_type_mismatch, "type column says 'TimerFired'"),
        (_bad_timestamp, "'desk-1'"),
    ],
    ids=["newer-event-type", "newer-field", "truncated", "binary", "type-mismatch", "timestamp"],
)
async def test_a_damaged_or_newer_history_is_refused_and_the_engine_serves_the_rest(
    tmp_path: Path, damage: Callable[[Path], None], match: str
) -> None:
    path = tmp_path / "aion.db"
    store = f"sqlite:///{path}"
    options: dict[str, Any] = {"workflows": [Desk, hello], "activities": [greet]}
    async with Engine(store, **options) as engine:
        desk = await engine.start_workflow(Desk.run, "ada", id=DESK)
        await desk.signal(Desk.note, "first")
        other = await engine.start_workflow(Desk.run, "bob", id="desk-2")
        await other.signal(Desk.note, "kept")
    damage(path)
    before = stored_rows(path)
    # A new engine recovers what it can: the damaged workflow stays where it is.
    async with Engine(store, **options) as engine:
        handle = engine.get_handle(DESK)
        for action in (
            lambda: handle.signal(Desk.note, "more"),
            lambda: handle.query(Desk.count),
            lambda: handle.execute_update(Desk.add, "x", 1),
            lambda: handle.history(),
        ):
            with pytest.raises(AionError, match=match) as refused:
                await action()
            assert isinstance(refused.value, CorruptHistoryError | UnknownQuery) or (
                "cannot be decoded" in str(refused.value)
            )
            assert_one_line(str(refused.value))
        assert stored_rows(path) == before
        other = engine.get_handle("desk-2")
        assert await other.query(Desk.count) == 1
        await other.signal(Desk.close)
        assert await other.result() == ["bob", "kept"]
        await assert_still_serves(engine)
    rows = stored_rows(path)["aion_events"]
    assert [row for row in rows if row[0] == DESK] == [
        row for row in before["aion_events"] if row[0] == DESK
    ]


async def test_a_store_from_a_newer_schema_is_refused_whole_by_engine_and_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "aion.db"
    store = f"sqlite:///{path}"
    async with Engine(store, workflows=[hello], activities=[greet]) as engine:
        await engine.execute_workflow(hello, "ada", id="hello-1")
    _sql(path, f"UPDATE {VERSION_TABLE} SET version_num = '0099_from_the_future'")
    before = stored_rows(path)
    with pytest.raises(SchemaVersionError, match="upgrade aion-store-sql") as refused:
        await _open_engine(store)
    assert_one_line(str(refused.value))
    assert stored_rows(path) == before
    monkeypatch.chdir(tmp_path)
    result = await asyncio.to_thread(invoke, "show", "hello-1", "--store", store)
    assert_cli_refused(result, 2, "")
    assert "upgrade aion-store-sql" in result.stderr
    assert stored_rows(path) == before
