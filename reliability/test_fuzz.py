"""Fuzzing: random events, random command lines and random workflow programs.

- The event decoders (a stored row, an event's JSON, a live event on NATS) given
  valid events, valid events broken in every way hypothesis finds, random JSON
  and random bytes either return an event that survives a re-encode round trip
  unchanged, or raise their typed error (`CorruptHistoryError`,
  `HistoryFormatError`, `WireFormatError`); never anything else.
- The ``aion`` command given random argument lists (real command names and
  options mixed with garbage) exits 0, 1 or 2, never with an unhandled exception
  or a traceback.
- Random workflow programs (`aion_core.testing.programs`, shared with
  ``aion_core/tests/test_property_replay.py``, run here with more examples)
  record their history in a SQLite file; the history read back from the file is
  the one recorded and replays deterministically to the same commands and result.

Example counts are bounded so the suite stays within its time budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import click
from bad_input_events import json_values, stored_events
from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from aion_cli.main import build_cli
from aion_core.calls import decode_call, encode_call
from aion_core.errors import CorruptHistoryError, HistoryFormatError, WireFormatError
from aion_core.events import Event
from aion_core.history import StoredEvent, event_from_json, event_to_json, from_stored, to_stored
from aion_core.plugins import load_plugins
from aion_core.testing.programs import (
    PROGRAM_ID,
    Step,
    check_replays_exactly,
    programs,
    results_seen,
    run_program,
)
from aion_store_sql import SqlEventStore
from aion_transport_nats.wire import decode_events

# --- (a) the event decoders ---------------------------------------------------------------------


def _check_round_trip(record: StoredEvent) -> None:
    refused: CorruptHistoryError | None = None
    try:
        decoded = from_stored(record)
    except CorruptHistoryError as error:
        refused = error
    event("refused" if refused is not None else "decoded")
    if refused is not None:
        # Named for its own workflow and row, so the others read on.
        assert (refused.workflow_id, refused.seq) == (record.workflow_id, record.seq)
        return
    again = to_stored(decoded)
    assert from_stored(again) == decoded
    assert (again.type, again.seq, again.workflow_id) == (
        record.type,
        record.seq,
        record.workflow_id,
    )
    assert event_from_json(event_to_json(decoded)) == decoded


@settings(max_examples=2500, deadline=None)
@given(record=stored_events())
def test_a_stored_row_decodes_to_a_round_tripping_event_or_corrupt_history(
    record: StoredEvent,
) -> None:
    _check_round_trip(record)


def _document(record: StoredEvent) -> bytes:
    """The row as one event's JSON document (its body embedded when it is JSON at all)."""
    try:
        body: Any = json.loads(record.data)
    except ValueError:
        return record.data  # garbage stays garbage
    return json.dumps(
        {
            "seq": record.seq,
            "recorded_at": record.recorded_at.isoformat(),
            "workflow_id": record.workflow_id,
            "run_id": record.run_id,
            "body": body,
        }
    ).encode()


@settings(max_examples=1500, deadline=None)
@given(record=stored_events())
def test_an_events_json_decodes_to_a_round_tripping_event_or_a_typed_error(
    record: StoredEvent,
) -> None:
    document = _document(record)
    decoded: Event | None = None
    with contextlib.suppress(HistoryFormatError):
        decoded = event_from_json(document)
    live: Event | None = None
    with contextlib.suppress(WireFormatError):
        # The same JSON as a live event on NATS, where events go as a JSON array.
        published = decode_events(b"[" + document + b"]")
        live = published[0] if len(published) == 1 else None
    event("refused" if decoded is None else "decoded")
    assert live == decoded  # both decoders agree on what is an event
    if decoded is not None:
        assert event_from_json(event_to_json(decoded)) == decoded
        assert from_stored(to_stored(decoded)) == decoded


_CALL_KINDS = [
    "start", "submit", "query", "update", "wait", "describe", "history", "list", "count", "queues",
]  # fmt: skip
call_like = st.fixed_dictionaries(
    {"call": st.sampled_from(_CALL_KINDS), "workflow_id": json_values},
    optional={
        "name": json_values,
        "queue": json_values,
        "timeout": json_values,
        "wait": json_values,
        "kind": json_values,
    },
)


@settings(max_examples=600, deadline=None)
@given(
    data=st.binary(max_size=200)
    | json_values.map(lambda value: json.dumps(value).encode())
    | call_like.map(lambda value: json.dumps(value).encode())
)
def test_random_bytes_on_the_call_subjects_are_a_call_or_a_wire_format_error(data: bytes) -> None:
    try:
        call = decode_call(data)
    except WireFormatError:
        return
    assert decode_call(encode_call(call)) == call


# --- (b) the command line -----------------------------------------------------------------------

COMMANDS = [
    "list", "show", "history", "replay", "queue", "plugins", "store", "check", "run", "start",
    "signal", "query", "update", "cancel", "terminate", "pause", "resume", "reopen", "schedule",
    "create", "describe", "trigger", "delete", "status", "init", "migrate", "frobnicate",
]  # fmt: skip
"""Real verbs and subcommands (and one that is not). Never serve, worker, watch, demo or
result: they run until stopped or wait for a workflow by design."""
OPTIONS = [
    "--json", "--help", "--version", "--input", "--store", "--transport", "--namespace",
    "--timeout", "--id", "--status", "--type", "--search", "--limit", "--cron", "--every",
    "--time-zone", "--reason", "--module", "--all", "--file", "--config", "--log-level",
    "--max-payload-bytes", "--execution-timeout", "--id-conflict", "--task-queue", "-h", "--",
]  # fmt: skip
VALUES = [
    "{bad", "[1,", "null", "42", '"text"', "[]", "{}", "-1", "0", "1e999", "NaN", "", " ",
    "memory://", "sqlite:///fuzz.db", "sqlite:////no/such/dir/x.db", "mysql://db", "not a url",
    "nats://127.0.0.1:port", "amqp://broker", "inproc://", "61 * * * *", "* * *", "1h30m",
    "soon", "Mars/Olympus", "running", "sleeping", "order-42", "no_such_module:Flow",
    "aion_cli:main", "4MiB", "lots", "\x01", "☃", "../../etc/passwd", "--store=memory://",
]  # fmt: skip
# A command line from a shell can hold any character but NUL (exec's strings end there).
argv_text = st.text(st.characters(blacklist_characters="\x00"), max_size=12)
argv_lists = st.lists(
    st.sampled_from(COMMANDS) | st.sampled_from(OPTIONS) | st.sampled_from(VALUES) | argv_text,
    max_size=8,
)


_CLI: click.Group = build_cli(load_plugins())


values = st.sampled_from(VALUES) | argv_text
SKELETONS = [
    ["list", "--store", 0, "--status", 1, "--json"],
    ["show", 0, "--store", 1],
    ["history", 0, "--json", "--store", 1],
    ["replay", 0, "--module", 1, "--store", 2],
    ["store", "status", "--store", 0],
    ["store", "init", "--store", 0],
    ["run", 0, "--input", 1, "--store", 2, "--max-payload-bytes", 3],
    ["start", 0, "--input", 1, "--transport", 2, "--execution-timeout", 3],
    ["signal", 0, 1, "--input", 2, "--transport", 3],
    ["query", 0, 1, "--input", 2, "--transport", 3, "--timeout", 4],
    ["update", 0, 1, "--input", 2, "--transport", 3],
    ["cancel", 0, "--reason", 1, "--transport", 2],
    ["schedule", "create", 0, 1, "--cron", 2, "--time-zone", 3, "--transport", 4],
    ["schedule", "create", 0, 1, "--every", 2, "--input", 3, "--transport", 4],
    ["queue", "list", "--store", 0],
    ["check", 0],
    ["plugins", "--json"],
]
"""Well-formed command lines with holes (numbers) for random values: they get past Click's
own checks into aion's, where a traceback would hide."""


@st.composite
def filled_skeletons(draw: st.DrawFn) -> list[str]:
    skeleton = draw(st.sampled_from(SKELETONS))
    return [draw(values) if isinstance(part, int) else part for part in skeleton]


@settings(
    max_examples=1200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    argv=st.one_of(
        argv_lists,
        st.sampled_from(COMMANDS).flatmap(lambda c: argv_lists.map(lambda a: [c, *a])),
        filled_skeletons(),
    )
)
# Found by this test: SQLAlchemy's URL parser raised ValueError for a port that is no
# number; importlib raised ValueError for an empty module name; timedelta overflowed.
@example(argv=["store", "status", "--store", "nats://127.0.0.1:port"])
@example(argv=["replay", "{bad", "--module", "", "--store", "{bad"])
@example(argv=["start", "{bad", "--transport", "{bad", "--execution-timeout", "1E100"])
def test_random_command_lines_exit_0_1_or_2_without_a_traceback(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        # No aion.toml here, and nothing from the environment: only what argv says counts.
        env = dict.fromkeys(("AION_STORE", "AION_TRANSPORT", "AION_CONFIG"), "")
        result = CliRunner().invoke(_CLI, argv, env=env)
    event(f"exit code {result.exit_code}")  # --hypothesis-show-statistics: how deep it got
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        argv,
        result.exc_info,
    )
    assert result.exit_code in {0, 1, 2}, (argv, result.output)
    assert "Traceback" not in result.output, (argv, result.output)


# --- (c) random workflow programs, recorded in SQLite and replayed ------------------------------


async def _record_and_read_back(
    program: list[Step], path: Path
) -> tuple[list[Any], list[Any], list[Any]]:
    url = f"sqlite:///{path}"
    result, recorded = await run_program(program, store=url)
    async with SqlEventStore(url) as store:
        stored = await store.read_events(PROGRAM_ID)
    return result, recorded, stored


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(program=programs(max_leaves=12, max_steps=8))
def test_random_programs_recorded_in_sqlite_replay_exactly(program: list[Step]) -> None:
    results_seen.clear()
    with tempfile.TemporaryDirectory() as folder:
        result, recorded, stored = asyncio.run(
            _record_and_read_back(program, Path(folder) / "aion.db")
        )
    assert stored == recorded  # the file holds exactly what was recorded, in order
    check_replays_exactly(stored, result)
