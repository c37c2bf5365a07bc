"""Hypothesis strategies for stored events: valid ones, valid ones broken, and plain garbage.

`stored_events()` draws the rows a store could hand the event decoder
(`aion_core.history.from_stored`): a valid event's row unchanged, the same row
mutated (a field dropped, added, or given a value of another JSON type, the type
renamed, the bytes truncated or flipped, the envelope broken), a random JSON
value, or random bytes. `test_fuzz.py` feeds them to every decoder of events.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from aion_core.events import (
    ActivityCompleted,
    ActivityFailed,
    ActivityScheduled,
    ActivityStarted,
    ActivityTimedOut,
    ChildWorkflowStarted,
    EventBody,
    ExternalQueryAnswered,
    ExternalSignalSent,
    Failure,
    MarkerRecorded,
    Payload,
    SearchAttributesUpserted,
    SignalReceived,
    TimerFired,
    TimerStarted,
    UpdateAccepted,
    UpdateCompleted,
    WorkflowCompleted,
    WorkflowContinuedAsNew,
    WorkflowFailed,
    WorkflowReopened,
    WorkflowStarted,
    WorkflowTimedOut,
)
from aion_core.history import StoredEvent, body_to_json
from aion_core.testing.store_contract import T0

__all__ = ["SAMPLE_BODIES", "json_values", "stored_events"]

_JSON = {"encoding": "json/plain"}
_FAILURE = Failure(
    message="boom", type="ValueError", stack_trace="line 1", non_retryable=True,
    details=(Payload(metadata=_JSON, data=b'"why"'),),
    cause=Failure(message="root cause"),
)  # fmt: skip

SAMPLE_BODIES: tuple[EventBody, ...] = (
    WorkflowStarted(
        workflow_type="Desk", input=(Payload(metadata=_JSON, data=b'"ada"'),),
        search_attributes={"tenant": "acme", "size": 3, "ratio": 0.5, "vip": True},
        execution_timeout=timedelta(hours=1), headers={"trace": "t-1"},
    ),
    ActivityScheduled(activity_id=1, activity_type="greet", input=(Payload(data=b"\x00\xff"),),
                      start_to_close_timeout=timedelta(seconds=30)),
    ActivityStarted(activity_id=1, attempt=1, worker="host:1"),
    ActivityCompleted(activity_id=1, attempt=1, result=Payload(metadata=_JSON, data=b"42")),
    ActivityFailed(activity_id=1, attempt=2, failure=_FAILURE, retry_at=T0),
    ActivityTimedOut(activity_id=1, attempt=3, timeout_kind="heartbeat"),
    TimerStarted(timer_id=1, fire_at=T0, duration=timedelta(days=30)),
    TimerFired(timer_id=1),
    SignalReceived(signal_name="note", args=(Payload(metadata=_JSON, data=b'"hi"'),)),
    ExternalSignalSent(signal_id=1, target_workflow_id="other", signal_name="poke"),
    ExternalQueryAnswered(query_id=1, target_workflow_id="other", query_name="q",
                          answer=Payload(metadata=_JSON, data=b"null")),
    UpdateAccepted(update_id="u-1", update_name="add", args=(Payload(data=b"[1]"),)),
    UpdateCompleted(update_id="u-1", failure=_FAILURE),
    ChildWorkflowStarted(child_id=1, workflow_id="child", run_id="r-2", workflow_type="Kid"),
    MarkerRecorded(name="patch", details={"id": Payload(metadata=_JSON, data=b'"p1"')}),
    SearchAttributesUpserted(attributes={"stage": "done"}),
    WorkflowContinuedAsNew(new_run_id="r-3", workflow_type="Desk"),
    WorkflowReopened(reason="fixed", rewind_from=3, rearmed_timers={1: T0}),
    WorkflowTimedOut(execution_timeout=timedelta(minutes=5)),
    WorkflowFailed(failure=_FAILURE),
    WorkflowCompleted(result=Payload(metadata=_JSON, data=b'{"ok": true}')),
)  # fmt: skip
"""One valid body of most event types, with nested values (payloads, failures, times)."""

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value."""


def _mutate_json(document: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """`document` with one change of the kind a bug, a newer aion or an operator makes."""
    mutated = dict(document)
    keys = sorted(mutated)
    how = data.draw(st.sampled_from(["drop", "add", "retype", "rename-type", "nest"]))
    if how == "drop" and keys:
        del mutated[data.draw(st.sampled_from(keys))]
    elif how == "add":
        mutated[data.draw(st.text(min_size=1, max_size=12))] = data.draw(json_values)
    elif how == "retype" and keys:
        mutated[data.draw(st.sampled_from(keys))] = data.draw(json_values)
    elif how == "rename-type":
        mutated["type"] = data.draw(st.text(max_size=20) | st.sampled_from(["", "Event", None]))
    else:
        key = data.draw(st.sampled_from(keys)) if keys else "type"
        mutated[key] = {"nested": mutated.get(key), "deeper": [mutated.get(key)]}
    return mutated


def _mutate_bytes(raw: bytes, data: st.DataObject) -> bytes:
    how = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    if not raw:
        return raw
    at = data.draw(st.integers(0, len(raw) - 1))
    if how == "truncate":
        return raw[:at]
    if how == "flip":
        return raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1 :]
    return raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at:]


@st.composite
def stored_events(draw: st.DrawFn) -> StoredEvent:
    """A row as the store may hold it: valid, mutated from valid, or garbage."""
    data = draw(st.data())
    body = draw(st.sampled_from(SAMPLE_BODIES))
    raw = body_to_json(body)
    kind = draw(st.sampled_from(["valid", "json-mutation", "byte-mutation", "json", "bytes"]))
    type_column = body.type
    if kind == "json-mutation":
        raw = json.dumps(_mutate_json(json.loads(raw), data)).encode()
    elif kind == "byte-mutation":
        raw = _mutate_bytes(raw, data)
    elif kind == "json":
        raw = json.dumps(draw(json_values)).encode()
    elif kind == "bytes":
        raw = draw(st.binary(max_size=64))
    if draw(st.integers(0, 9)) == 0:  # now and then the envelope is broken too
        type_column = draw(st.text(max_size=12))
    return StoredEvent(
        workflow_id=draw(st.sampled_from(["w", "order-42", ""])),
        seq=draw(st.integers(-2, 5)) if draw(st.integers(0, 9)) == 0 else 1,
        run_id=draw(st.sampled_from(["r-1", ""])) if draw(st.integers(0, 9)) == 0 else "r-1",
        type=type_column,
        recorded_at=draw(
            st.sampled_from([T0, T0.replace(tzinfo=None)])
            if draw(st.integers(0, 9)) == 0
            else st.just(T0)
        ),
        data=raw,
    )
