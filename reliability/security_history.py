"""A hostile history: stored data that names importable code, and a module that tells if it ran.

An attacker who can write to the store (or forge a message) controls every
string in a history: workflow and activity type names, failure types, payload
metadata and bytes. The history built here names things a careless reader
would import or call (``os:system``, ``subprocess.call``, ``builtins.exec``, a
pickle that calls into the marker module). The marker module, planted on the
import path of the commands under test, leaves a file behind the moment it is
imported and another when its ``boom`` runs, so "no code ran" is checked on
disk, not assumed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aion_core.events import (
    ActivityFailed,
    ActivityScheduled,
    ActivityStarted,
    Event,
    EventBody,
    Failure,
    Payload,
    SignalReceived,
    WorkflowFailed,
    WorkflowStarted,
)
from aion_core.store import EventStore
from aion_core.store.projection import batch_for

__all__ = [
    "HOSTILE_NAMES",
    "HOSTILE_WORKFLOW_ID",
    "MARKER_MODULE",
    "PICKLE_CALLING_MARKER",
    "hostile_events",
    "marker_traces",
    "plant_marker_module",
    "write_hostile_history",
]

MARKER_MODULE = "aion_security_marker"
"""Importing this module creates ``IMPORTED`` beside it; calling its ``boom`` creates ``CALLED``."""

HOSTILE_WORKFLOW_ID = "hostile-1"

PICKLE_CALLING_MARKER = f"c{MARKER_MODULE}\nboom\n(tR.".encode()
"""Protocol-0 pickle of ``boom()``: unpickling it imports the marker module and calls ``boom``."""

HOSTILE_NAMES = (
    f"{MARKER_MODULE}:Workflow",
    "os:system",
    "subprocess.call",
    "builtins.exec",
    f"{MARKER_MODULE}.Boom",
)
"""Names the history holds where types and handlers are named; each must print as text."""

_MARKER_SOURCE = '''\
"""Planted by the security tests: leaves a file behind when imported, another when called."""
import pathlib

pathlib.Path(__file__).with_name("IMPORTED").write_text("imported")


def boom(*args, **kwargs):
    pathlib.Path(__file__).with_name("CALLED").write_text("called")


class Boom(Exception):
    def __init__(self, *args):
        boom()
        super().__init__(*args)
'''


def plant_marker_module(folder: Path) -> None:
    """Write the marker module into `folder` (which the commands under test import from)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{MARKER_MODULE}.py").write_text(_MARKER_SOURCE)


def marker_traces(folder: Path) -> list[str]:
    """The files the marker module left in `folder`: empty while it was never imported."""
    return sorted(path.name for path in folder.iterdir() if path.name in ("IMPORTED", "CALLED"))


def _pickled(kind: str) -> Payload:
    return Payload(
        metadata={"encoding": "python/pickle", "type": f"{MARKER_MODULE}.Boom", "kind": kind},
        data=PICKLE_CALLING_MARKER,
    )


def _json(text: str) -> Payload:
    return Payload(metadata={"encoding": "json/plain"}, data=text.encode())


def hostile_events(workflow_id: str = HOSTILE_WORKFLOW_ID) -> list[Event]:
    """A failed run whose every name and payload points at code to run."""
    failure = Failure(
        message=f"__import__({MARKER_MODULE!r}).boom()",
        type="builtins.exec",
        stack_trace=f'  File "{MARKER_MODULE}.py", line 1, in boom\n',
        details=(_pickled("failure details"),),
        cause=Failure(message="exec('import os')", type=f"{MARKER_MODULE}.Boom"),
    )
    bodies: list[EventBody] = [
        WorkflowStarted(
            workflow_type=f"{MARKER_MODULE}:Workflow",
            input=(_pickled("workflow input"), _json('{"py/object": "os.system"}')),
            search_attributes={"handler": "subprocess.call"},
            headers={"codec": f"{MARKER_MODULE}:boom"},
        ),
        ActivityScheduled(activity_id=1, activity_type="os:system", input=(_pickled("input"),)),
        ActivityStarted(activity_id=1, attempt=1, worker="builtins.exec"),
        ActivityFailed(
            activity_id=1,
            attempt=1,
            failure=Failure(message="rm -rf /", type=f"{MARKER_MODULE}.Boom"),
            last_heartbeat_details=(_pickled("heartbeat"),),
        ),
        SignalReceived(signal_name="subprocess.call", args=(_json('{"py/reduce": "os:system"}'),)),
        WorkflowFailed(failure=failure),
    ]
    start = datetime.now(UTC)
    return [
        Event(
            seq=seq,
            recorded_at=start + timedelta(milliseconds=seq),
            workflow_id=workflow_id,
            run_id="run-hostile",
            body=body,
        )
        for seq, body in enumerate(bodies, start=1)
    ]


async def write_hostile_history(store: EventStore) -> list[Event]:
    """Append the hostile history to an open store, as a writer with store access could."""
    events = hostile_events()
    [conflict] = await store.append([batch_for(None, 0, events)])
    assert conflict is None, conflict
    return events
