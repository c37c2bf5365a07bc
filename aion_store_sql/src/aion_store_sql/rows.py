"""Records to rows and back: the only place that knows both aion's models and the columns.

Decoding is strict: a row that does not make a valid record raises
`CorruptHistoryError` naming its workflow, so one bad row never hides behind
a generic failure and never spoils the reads of other workflows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from operator import attrgetter
from typing import Any

from pydantic import ValidationError

from aion_core.errors import CorruptHistoryError
from aion_core.events import Event, SearchAttributeValue
from aion_core.history import StoredEvent, body_to_json, from_stored
from aion_core.store.records import TimerRecord, WorkflowRecord

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "event_column",
    "event_from_row",
    "search_attribute_row",
    "search_value_from_row",
    "timer_from_row",
    "timer_row",
    "workflow_column",
    "workflow_from_row",
]

Row = Mapping[Any, Any]
"""A result row by column name (``row._mapping``) or a dict of column values."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def event_column(name: str) -> Callable[[Event], Any]:
    """What column `name` of an event's `aion_events` row holds, read from the event.

    Appends write a thousand events at a time, a column at a time, straight from
    the events: no row object per event. The columns are those of `StoredEvent`.
    """
    if name == "type":
        return attrgetter("body.type")
    if name == "data":
        return _event_data
    return attrgetter(name)


def _event_data(event: Event) -> bytes:
    return body_to_json(event.body)


def event_from_row(row: Row) -> Event:
    """The event of an `aion_events` row.

    Raises:
        CorruptHistoryError: The row does not decode into an event.
    """
    return from_stored(
        StoredEvent(
            workflow_id=row["workflow_id"],
            seq=row["seq"],
            run_id=row["run_id"],
            type=row["type"],
            recorded_at=row["recorded_at"],
            data=row["data"],
        )
    )


def workflow_column(name: str) -> Callable[[WorkflowRecord], Any]:
    """What column `name` of a visibility record's `aion_workflows` row holds, read from it.

    The columns are the record's fields of the same names, the status as its
    value; search attributes go to their own table.
    """
    if name == "status":
        return _workflow_status
    return attrgetter(name)


def _workflow_status(record: WorkflowRecord) -> str:
    return record.status.value


def workflow_from_row(row: Row, attributes: Iterable[Row]) -> WorkflowRecord:
    """The visibility record of an `aion_workflows` row and its `aion_search_attributes` rows.

    Raises:
        CorruptHistoryError: A column holds a value the record does not allow.
    """
    workflow_id = row["workflow_id"]
    try:
        return WorkflowRecord(
            workflow_id=workflow_id,
            run_id=row["run_id"],
            workflow_type=row["workflow_type"],
            status=row["status"],
            task_queue=row["task_queue"],
            start_time=row["start_time"],
            close_time=row["close_time"],
            updated_at=row["updated_at"],
            last_seq=row["last_seq"],
            parent_workflow_id=row["parent_workflow_id"],
            parent_run_id=row["parent_run_id"],
            priority=row["priority"],
            partition_key=row["partition_key"],
            dedup_id=row["dedup_id"],
            ready_at=row["ready_at"],
            queue_limited=row["queue_limited"],
            search_attributes={
                attribute["name"]: search_value_from_row(workflow_id, attribute)
                for attribute in attributes
            },
        )
    except ValidationError as error:
        raise CorruptHistoryError(workflow_id, None, f"visibility row: {_problem(error)}") from None


def search_attribute_row(
    workflow_id: str, name: str, value: SearchAttributeValue
) -> dict[str, Any]:
    """The `aion_search_attributes` row of one attribute: its kind and its typed column."""
    row: dict[str, Any] = {
        "workflow_id": workflow_id,
        "name": name,
        "text_value": None,
        "int_value": None,
        "float_value": None,
    }
    # bool before int: True is an int in Python, but a different kind here.
    if isinstance(value, bool):
        row.update(kind="bool", int_value=int(value))
    elif isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        row.update(kind="int", int_value=value)
    elif isinstance(value, int):
        row.update(kind="int", text_value=str(value))
    elif isinstance(value, float):
        row.update(kind="float", float_value=value)
    else:
        row.update(kind="str", text_value=value)
    return row


def search_value_from_row(workflow_id: str, row: Row) -> SearchAttributeValue:
    """The value of one `aion_search_attributes` row.

    Raises:
        CorruptHistoryError: The kind is unknown or its column is empty.
    """
    kind, text, integer, number = (
        row[c] for c in ("kind", "text_value", "int_value", "float_value")
    )
    if kind == "str" and text is not None:
        return str(text)
    if kind == "int" and integer is not None:
        return int(integer)
    if kind == "int" and isinstance(text, str) and text.lstrip("-").isdigit():
        return int(text)
    if kind == "bool" and integer in (0, 1):
        return bool(integer)
    if kind == "float" and number is not None:
        return float(number)
    raise CorruptHistoryError(
        workflow_id, None, f"search attribute {row['name']!r} has no valid {kind!r} value"
    )


def timer_row(timer: TimerRecord) -> dict[str, Any]:
    """The `aion_timers` row of an armed, unclaimed timer."""
    return {
        "workflow_id": timer.workflow_id,
        "run_id": timer.run_id,
        "timer_id": timer.timer_id,
        "fire_at": timer.fire_at,
        "claimed_by": None,
        "claimed_until": None,
    }


def timer_from_row(row: Row) -> TimerRecord:
    """The timer of an `aion_timers` row.

    Raises:
        CorruptHistoryError: A column holds a value a timer does not allow.
    """
    try:
        return TimerRecord(
            workflow_id=row["workflow_id"],
            run_id=row["run_id"],
            timer_id=row["timer_id"],
            fire_at=row["fire_at"],
        )
    except ValidationError as error:
        raise CorruptHistoryError(row["workflow_id"], None, f"timer: {_problem(error)}") from None


def _problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "row"
    return f"{where}: {problem['msg']}"
