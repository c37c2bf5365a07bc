"""Workflows and activities of the security tests.

The tests import this module as ``reliability.security_flows``; `aion serve`,
`aion run` and `aion replay` subprocesses import it as ``security_flows`` (the
tests put this folder on their ``PYTHONPATH``). Names of the SQL case hold SQL
metacharacters on purpose: they must reach the store as bound values.
"""

from __future__ import annotations

from datetime import timedelta

from aion_core import activity, workflow

__all__ = [
    "SQL_SIGNAL",
    "SQL_WORKFLOW_TYPE",
    "Courier",
    "Ledger",
    "sealed",
    "stamp",
]

SQL_WORKFLOW_TYPE = 'ledger\'); DELETE FROM aion_workflows; --\\ "Grüße" %s ?'
"""A workflow type name a string-built statement would execute."""

SQL_SIGNAL = "entry\"; DROP TABLE aion_search_attributes; -- ' OR '1'='1"
"""A signal name a string-built statement would execute."""


@activity.defn(name="security.stamp")
async def stamp(parcel: str) -> str:
    """Stamp a parcel: the activity a worker runs on the far side of the transport."""
    return f"{parcel} stamped"


@workflow.defn(name="security.Courier")
class Courier:
    """Runs an activity, waits for a signal, answers a query: every path through a transport."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    @workflow.run
    async def run(self, parcel: str) -> list[str]:
        """Stamp `parcel`, then wait for a note; the receipt and the notes."""
        receipt = await workflow.execute_activity(
            stamp, parcel, start_to_close_timeout=timedelta(seconds=20)
        )
        await workflow.wait_condition(lambda: bool(self.notes))
        return [receipt, *self.notes]

    @workflow.signal
    def note(self, text: str) -> None:
        """Add a note."""
        self.notes.append(text)

    @workflow.query
    def notes_taken(self) -> int:
        """How many notes arrived."""
        return len(self.notes)


@workflow.defn(name=SQL_WORKFLOW_TYPE)
class Ledger:
    """Records entries sent as signals under a name full of SQL metacharacters."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    @workflow.run
    async def run(self, owner: str) -> list[str]:
        """Wait for one entry; the owner and the entries."""
        await workflow.wait_condition(lambda: bool(self.entries))
        return [owner, *self.entries]

    @workflow.signal(name=SQL_SIGNAL)
    def entry(self, text: str) -> None:
        """Add an entry."""
        self.entries.append(text)


@workflow.defn(name="security.Sealed")
async def sealed(letter: str) -> str:
    """Return the letter: its input and result are payloads the crypto plugin encrypts."""
    return f"sealed: {letter}"
