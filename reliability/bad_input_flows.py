"""Workflows, store snapshots and checks the bad-input suite shares (`test_bad_input.py`).

`Desk` is a workflow with typed signal, query and update handlers to aim bad
arguments at; `hello` is "another workflow" an engine must still run after
refusing something. `stored_rows` reads a SQLite store's tables raw (a corrupt
row cannot be decoded, so "nothing appended" compares rows, not events), and
`assert_one_line` is what a clear error looks like: one line, no traceback.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

from aion_core import Engine, RetryPolicy, activity, workflow

__all__ = [
    "LIMIT",
    "Desk",
    "assert_one_line",
    "assert_still_serves",
    "fetch_blob",
    "greet",
    "hello",
    "make_blob",
    "stored_rows",
]

LIMIT = 1000
"""The payload limit the suite's engines run with: a string of n characters is n + 2 bytes."""


@activity.defn
async def greet(name: str) -> str:
    """An activity, so "still serves" covers dispatching and recording one."""
    return f"hello {name}"


@workflow.defn
async def hello(name: str) -> str:
    """Another workflow: proof that the engine still runs workflows after a refusal."""
    return await workflow.execute_activity(greet, name)


@activity.defn
async def make_blob(size: int) -> str:
    """A result of `size` characters: too large for a transport when `size` is."""
    return "x" * size


@workflow.defn
async def fetch_blob(size: int) -> int:
    """Runs `make_blob` wherever a worker takes it; the result's length."""
    blob = await workflow.execute_activity(
        make_blob, size, retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50))
    )
    return len(blob)


@workflow.defn
class Desk:
    """Collects notes until closed; typed handlers of every kind."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.closed = False

    @workflow.run
    async def run(self, owner: str) -> list[str]:
        """Wait until closed; the notes."""
        await workflow.wait_condition(lambda: self.closed)
        return [owner, *self.notes]

    @workflow.signal
    def note(self, text: str) -> None:
        """Add a note."""
        self.notes.append(text)

    @workflow.signal
    def close(self) -> None:
        """Stop collecting."""
        self.closed = True

    @workflow.query
    def count(self) -> int:
        """How many notes."""
        return len(self.notes)

    @workflow.query
    def starting_with(self, prefix: str) -> list[str]:
        """The notes starting with `prefix`."""
        return [note for note in self.notes if note.startswith(prefix)]

    @workflow.update
    def add(self, text: str, times: int) -> int:
        """Add `text` `times` times; the number of notes."""
        self.notes.extend([text] * times)
        return len(self.notes)


def stored_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the store's event, visibility and stream-head tables, in order."""
    tables = {
        "aion_events": "workflow_id, seq",
        "aion_workflows": "workflow_id",
        "aion_stream_heads": "workflow_id",
    }
    with sqlite3.connect(path) as connection:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in tables.items()
        }


async def assert_still_serves(engine: Engine) -> None:
    """The engine starts and finishes another workflow, activity included."""
    name = f"after-{uuid.uuid4().hex[:8]}"
    assert await engine.execute_workflow(hello, name, id=name) == f"hello {name}"


def assert_one_line(message: str) -> None:
    """A clear error: one line, not a traceback or a dump of the internals."""
    assert message.strip(), "an empty message"
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message, message
