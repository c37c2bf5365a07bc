"""With the codec active, no payload is readable at rest or on the wire (real servers).

Each test runs real workflows with activities and then looks for a distinctive
marker, passed as workflow input, signal argument and produced as an activity
result, where a reader without the keys could look: the SQLite file and its
WAL, every row of the aion tables in PostgreSQL, every NATS message of the
namespace. Each runs once without the codec as well, to prove that the marker
would be found there if it were stored in plaintext.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import nats
import pytest
import pytest_asyncio
from nats.aio.msg import Msg

from aion_core import Client, Engine, Worker
from aion_core.codec import payloads_in
from aion_core.events import Event
from aion_core.operations import WorkflowOperations
from aion_plugin_crypto import is_encrypted
from aion_transport_nats.streams import StreamNames, delete_namespace

from .conftest import new_keyring, plugins_with, reveals
from .flows import MARKER, Courier, deliver

encryption = pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "plaintext"])


def reveals_marker(data: bytes | str) -> bool:
    """Whether `data` holds the marker, in any form a payload carries it (see `reveals`)."""
    return reveals(data, MARKER.encode())


def kind(subject: str) -> str:
    """What a subject carries: ``aion.<ns>.<kind>...`` (ctl: calls, task, result: reports, ...)."""
    return subject.split(".")[2]


async def run_couriers(caller: WorkflowOperations, count: int = 3) -> list[Event]:
    """Run `count` couriers to completion, checking their results; their histories."""
    histories: list[Event] = []
    for number in range(count):
        parcel = f"parcel {number} {MARKER}-input"
        handle = await caller.start_workflow(Courier.run, parcel, id=f"courier-{number}")
        await handle.signal(Courier.note, f"note {MARKER}-signal")
        receipt = f"{parcel} delivered; receipt {MARKER}-receipt"
        assert await handle.result() == [receipt, f"note {MARKER}-signal"]
        assert await handle.query(Courier.last_receipt) == receipt
        histories += await handle.history()
    return histories


async def check_history_payloads(history: list[Event], encrypted: bool) -> None:
    payloads = payloads_in(tuple(history))
    assert len(payloads) >= 4 * 3  # input, activity input and result, signal, result: each run
    assert all(is_encrypted(p) for p in payloads) is encrypted
    if encrypted:
        assert {p.metadata["encryption-key-id"] for p in payloads} == {"k1"}


def read_sqlite_files(database: Path) -> bytes:
    """The database file and its journals, as a reader of the disk sees them."""
    files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-journal"))]
    return b"".join(path.read_bytes() for path in files if path.exists())


@encryption
async def test_a_sqlite_file_holds_no_plaintext_payload(tmp_path: Path, encrypted: bool) -> None:
    database = tmp_path / "x.db"
    plugins = plugins_with(new_keyring("k1") if encrypted else None)
    async with Engine(
        f"sqlite:///{database}", workflows=[Courier], activities=[deliver], plugins=plugins
    ) as engine:
        history = await run_couriers(engine)
        while_open = read_sqlite_files(database)  # the WAL holds the latest writes
    after_close = read_sqlite_files(database)
    await check_history_payloads(history, encrypted)
    assert reveals_marker(while_open) is not encrypted
    assert reveals_marker(after_close) is not encrypted


async def rows_as_text(url: str) -> dict[str, list[str]]:
    """Every row of every aion table, each printed as PostgreSQL prints a row."""
    connection = await asyncpg.connect(url)
    try:
        tables = [
            record["tablename"]
            for record in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE tablename LIKE 'aion%'"
            )
        ]
        return {
            table: [
                r["row"] for r in await connection.fetch(f'SELECT t::text AS row FROM "{table}" t')
            ]
            for table in tables
        }
    finally:
        await connection.close()


@encryption
async def test_no_postgresql_row_holds_a_plaintext_payload(
    fresh_postgres_url: str, encrypted: bool
) -> None:
    plugins = plugins_with(new_keyring("k1") if encrypted else None)
    async with Engine(
        fresh_postgres_url, workflows=[Courier], activities=[deliver], plugins=plugins
    ) as engine:
        history = await run_couriers(engine)
    await check_history_payloads(history, encrypted)
    rows = await rows_as_text(fresh_postgres_url)
    assert {"aion_events", "aion_workflows"} <= set(rows)
    assert len(rows["aion_events"]) == len(history)
    leaking = [table for table, texts in rows.items() if any(map(reveals_marker, texts))]
    assert leaking == ([] if encrypted else ["aion_events"])


@pytest_asyncio.fixture
async def namespace(nats_url: str) -> AsyncIterator[str]:
    """A namespace of its own on the test server, deleted afterwards."""
    name = f"crypto{uuid.uuid4().hex[:12]}"
    yield name
    connection = await nats.connect(nats_url)
    try:
        await delete_namespace(connection.jetstream(), StreamNames(name))
    finally:
        await connection.close()


@encryption
async def test_no_nats_message_carries_a_plaintext_payload(
    nats_url: str, namespace: str, tmp_path: Path, encrypted: bool
) -> None:
    # Replies and pulled messages come to inboxes inside the namespace too, so one
    # subscription sees every message: calls and replies, tasks, reports, live events.
    url = f"{nats_url}?namespace={namespace}&inbox_prefix=aion.{namespace}.inbox"
    plugins = plugins_with(new_keyring("k1") if encrypted else None)
    captured: list[Msg] = []

    async def capture(message: Msg) -> None:
        captured.append(message)

    listener = await nats.connect(nats_url)
    try:
        await listener.subscribe(f"aion.{namespace}.>", cb=capture)
        await listener.flush()
        store = f"sqlite:///{tmp_path / 'x.db'}"
        engine = Engine(store, transport=url, workflows=[Courier], plugins=plugins)
        async with (
            engine,
            Worker(url, activities=[deliver], plugins=plugins),
            await Client.connect(url, plugins=plugins, workflows=[Courier]) as client,
        ):
            history = await run_couriers(client)
        await listener.flush()
    finally:
        with contextlib.suppress(nats.errors.Error):
            await listener.close()
    await check_history_payloads(history, encrypted)
    assert {"ctl", "task", "result", "inbox"} <= {kind(m.subject) for m in captured}
    leaking = sorted({kind(m.subject) for m in captured if reveals_marker(m.data)})
    assert leaking == ([] if encrypted else ["ctl", "events", "inbox", "result", "task"])
