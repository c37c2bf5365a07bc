"""The JSON form of events and histories, and the narrow record stores persist.

A history document (what `aion history --json` prints and `Replayer` reads)::

    {"format": "aion.history", "version": 1, "workflow_id": "order-42",
     "events": [{"seq": 1, "recorded_at": "2026-01-01T00:00:00Z",
                 "workflow_id": "order-42", "run_id": "...",
                 "body": {"type": "WorkflowStarted", ...}}, ...]}

Readers refuse a document or event from a newer format version with a message
that says to upgrade, rather than guessing at fields they do not know.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from aion_core.errors import CorruptHistoryError, HistoryFormatError
from aion_core.events import HISTORY_FORMAT_VERSION, Event, EventBody

__all__ = [
    "HISTORY_DOCUMENT_FORMAT",
    "StoredEvent",
    "body_to_json",
    "check_contiguous",
    "event_from_json",
    "event_to_json",
    "from_stored",
    "from_stored_many",
    "history_from_json",
    "history_to_json",
    "to_stored",
]

HISTORY_DOCUMENT_FORMAT = "aion.history"

_BODY: TypeAdapter[EventBody] = TypeAdapter(EventBody)


_NEWER = "written by a newer aion? upgrade aion to read it"


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "document"
    # An unknown event type or field is what a newer aion's history looks like: say so,
    # instead of listing every type this version knows.
    if problem["type"] == "union_tag_invalid":
        tag = (problem.get("ctx") or {}).get("tag")
        return f"{where}: event type {tag!r} is unknown to this version of aion ({_NEWER})"
    if problem["type"] == "extra_forbidden":
        return f"{where}: a field unknown to this version of aion ({_NEWER})"
    return f"{where}: {problem['msg']}"


def event_to_json(event: Event) -> str:
    """One event in its JSON form."""
    return event.model_dump_json()


def event_from_json(text: str | bytes) -> Event:
    """Parse one event; `HistoryFormatError` says what is wrong with malformed input."""
    try:
        return Event.model_validate_json(text)
    except ValidationError as error:
        raise HistoryFormatError(f"not an aion event ({_first_problem(error)})") from None


def check_contiguous(events: Sequence[Event]) -> None:
    """Raise `HistoryFormatError` unless events are one stream with seq 1, 2, 3, ..."""
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            raise HistoryFormatError(
                f"history is not contiguous: expected seq {expected_seq}, found {event.seq}"
            )
        if event.workflow_id != events[0].workflow_id:
            raise HistoryFormatError(
                f"history mixes workflows {events[0].workflow_id!r} and {event.workflow_id!r}"
            )


def history_to_json(events: Sequence[Event], *, indent: int | None = None) -> str:
    """A whole history as a versioned JSON document."""
    document = {
        "format": HISTORY_DOCUMENT_FORMAT,
        "version": HISTORY_FORMAT_VERSION,
        "workflow_id": events[0].workflow_id if events else None,
        "events": [event.model_dump(mode="json") for event in events],
    }
    return json.dumps(document, indent=indent)


def history_from_json(text: str | bytes) -> list[Event]:
    """Parse a history document, refusing newer format versions and broken streams."""
    try:
        document: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise HistoryFormatError(f"history is not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("format") != HISTORY_DOCUMENT_FORMAT:
        raise HistoryFormatError(
            f'not an aion history: expected an object with "format": "{HISTORY_DOCUMENT_FORMAT}"'
        )
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise HistoryFormatError("history has no valid format version")
    if version > HISTORY_FORMAT_VERSION:
        raise HistoryFormatError(
            f"history uses format version {version}, newer than this aion understands "
            f"({HISTORY_FORMAT_VERSION}); upgrade aion to read it"
        )
    raw_events = document.get("events")
    if not isinstance(raw_events, list):
        raise HistoryFormatError('history has no "events" list')
    events: list[Event] = []
    for index, raw in enumerate(raw_events):
        try:
            events.append(Event.model_validate(raw))
        except ValidationError as error:
            raise HistoryFormatError(
                f"event #{index + 1} is not valid ({_first_problem(error)})"
            ) from None
    check_contiguous(events)
    return events


# --- stored records ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as a database row: envelope columns plus the body's JSON bytes."""

    workflow_id: str
    seq: int
    run_id: str
    type: str
    recorded_at: datetime
    data: bytes


def to_stored(event: Event) -> StoredEvent:
    """The row for one event."""
    return StoredEvent(
        workflow_id=event.workflow_id,
        seq=event.seq,
        run_id=event.run_id,
        type=event.type,
        recorded_at=event.recorded_at,
        data=body_to_json(event.body),
    )


def body_to_json(body: EventBody) -> bytes:
    """The stored form of an event body: its JSON, as `StoredEvent.data` holds it."""
    # The body's own serializer writes the same bytes as the `EventBody` union's
    # (it is the member the discriminator picks) at a quarter of the cost, which
    # every append pays once per event.
    return body.__pydantic_serializer__.to_json(body)


def from_stored(record: StoredEvent) -> Event:
    """The event of one row; a row that does not decode is a `CorruptHistoryError`."""
    try:
        body = _BODY.validate_json(record.data)
        if body.type != record.type:
            raise CorruptHistoryError(
                record.workflow_id,
                record.seq,
                f"type column says {record.type!r} but the body is {body.type!r}",
            )
        return Event(
            seq=record.seq,
            recorded_at=record.recorded_at,
            workflow_id=record.workflow_id,
            run_id=record.run_id,
            body=body,
        )
    except ValidationError as error:
        raise CorruptHistoryError(record.workflow_id, record.seq, _first_problem(error)) from None


def from_stored_many(records: Iterable[StoredEvent]) -> list[Event]:
    """Decode rows of one stream in order."""
    return [from_stored(record) for record in records]
