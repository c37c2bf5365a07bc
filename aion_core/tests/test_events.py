"""The event model: every kind round-trips through its JSON form; status derives from lifecycle."""

from __future__ import annotations

import json
import types
import typing
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, ValidationError

from aion_core import events as ev
from aion_core.errors import CorruptHistoryError, HistoryFormatError
from aion_core.events import (
    HISTORY_FORMAT_VERSION,
    Event,
    EventBody,
    Payload,
    WorkflowStatus,
    derive_status,
)
from aion_core.history import (
    StoredEvent,
    event_from_json,
    event_to_json,
    from_stored,
    history_from_json,
    history_to_json,
    to_stored,
)

BODY_TYPES: list[type[BaseModel]] = list(get_args(get_args(EventBody)[0]))


def test_every_event_kind_has_a_stable_unique_type_name() -> None:
    names = [cls.model_fields["type"].default for cls in BODY_TYPES]
    assert names == [cls.__name__ for cls in BODY_TYPES]
    assert len(set(names)) == len(names) == 46
    for name in [
        "WorkflowStarted", "WorkflowDequeued", "WorkflowStartDebounced", "WorkflowCompleted",
        "WorkflowFailed",
        "WorkflowCancelled", "WorkflowTerminated", "WorkflowTimedOut", "WorkflowContinuedAsNew",
        "WorkflowPaused",
        "WorkflowResumed", "WorkflowReopened", "ActivityScheduled", "ActivityStarted",
        "ActivityCompleted", "ActivityFailed", "ActivityTimedOut", "ActivityCancelled",
        "TimerStarted", "TimerFired", "TimerCancelled", "SignalReceived", "ExternalSignalSent",
        "UpdateAccepted", "UpdateCompleted", "ChildWorkflowStarted", "ChildWorkflowCompleted",
        "ChildWorkflowFailed", "ChildWorkflowCancelled", "ChildWorkflowTerminated",
        "MarkerRecorded", "SearchAttributesUpserted", "ScheduleCreated", "ScheduleTriggered",
    ]:  # fmt: skip
        assert name in names


# --- a strategy for any pydantic model, built from its field annotations -----------------------

_TEXT = st.text(max_size=12)
_MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def _flat(metadata: list[Any]) -> list[Any]:
    # Constraints come bare, or inside a FieldInfo when Annotated sits in a union.
    return [inner for m in metadata for inner in [m, *getattr(m, "metadata", [])]]


def _constrained_int(metadata: list[Any]) -> st.SearchStrategy[int]:
    low = next((m.ge for m in _flat(metadata) if isinstance(m, annotated_types.Ge)), -(2**53))
    return st.integers(min_value=int(low), max_value=2**53)


def _constrained_text(metadata: list[Any]) -> st.SearchStrategy[str]:
    flat = _flat(metadata)
    low = next((m.min_length for m in flat if isinstance(m, annotated_types.MinLen)), 0)
    return st.text(min_size=low, max_size=12)


def _constrained_duration(metadata: list[Any]) -> st.SearchStrategy[timedelta]:
    positive = any(isinstance(m, annotated_types.Gt) for m in _flat(metadata))
    low = timedelta(microseconds=1) if positive else timedelta(0)
    return st.timedeltas(min_value=low, max_value=timedelta(days=400))


def strategy_for(annotation: Any, metadata: list[Any] | None = None) -> st.SearchStrategy[Any]:
    metadata = metadata or []
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extra = get_args(annotation)
        return strategy_for(base, [*metadata, *extra])
    if origin is Literal:
        return st.sampled_from(get_args(annotation))
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(strategy_for(arg, metadata) for arg in get_args(annotation)))
    if origin is tuple:
        return st.lists(strategy_for(get_args(annotation)[0]), max_size=3).map(tuple)
    if origin is dict:
        key, value = get_args(annotation)
        return st.dictionaries(strategy_for(key), strategy_for(value), max_size=3)
    if annotation is AwareDatetime or annotation is datetime:
        return _MOMENTS
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_strategy(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        bool: st.booleans(),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bytes: st.binary(max_size=16),
    }
    if annotation is int:
        return _constrained_int(metadata)
    if annotation is str:
        return _constrained_text(metadata)
    if annotation is timedelta:
        return _constrained_duration(metadata)
    return simple[annotation]


_SPECIAL: dict[type[BaseModel], st.SearchStrategy[Any]] = {}


def model_strategy(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    if model in _SPECIAL:
        return _SPECIAL[model]
    if model is ev.Failure:  # recursive through `cause`
        return st.deferred(lambda: _failure)
    fields = {
        name: strategy_for(field.annotation, list(field.metadata))
        for name, field in model.model_fields.items()
        if name != "type"
    }
    return st.fixed_dictionaries(fields).map(lambda values: model.model_validate(values))


_failure: st.SearchStrategy[ev.Failure] = st.recursive(
    st.builds(
        ev.Failure, message=_TEXT, type=_TEXT, stack_trace=_TEXT, non_retryable=st.booleans()
    ),
    lambda inner: st.builds(ev.Failure, message=_TEXT, cause=inner),
    max_leaves=3,
)
_SPECIAL[ev.RetryPolicy] = st.builds(
    ev.RetryPolicy,
    initial_interval=st.timedeltas(
        min_value=timedelta(milliseconds=1), max_value=timedelta(seconds=5)
    ),
    backoff_coefficient=st.floats(min_value=1, max_value=10),
    maximum_interval=st.timedeltas(min_value=timedelta(seconds=5), max_value=timedelta(hours=1)),
    maximum_attempts=st.integers(min_value=0, max_value=100),
    non_retryable_error_types=st.lists(_TEXT, max_size=2).map(tuple),
)
_SPECIAL[ev.UpdateCompleted] = st.one_of(
    st.builds(ev.UpdateCompleted, update_id=_TEXT, result=model_strategy(Payload)),
    st.builds(ev.UpdateCompleted, update_id=_TEXT, failure=_failure),
)
_SPECIAL[ev.ScheduleSpec] = st.one_of(
    st.builds(ev.ScheduleSpec, cron=_TEXT),
    st.builds(ev.ScheduleSpec, every=st.timedeltas(min_value=timedelta(seconds=1))),
)

bodies = st.one_of(*(model_strategy(cls) for cls in BODY_TYPES))
events = st.builds(
    Event,
    seq=st.integers(min_value=1, max_value=2**53),
    recorded_at=_MOMENTS,
    workflow_id=st.text(min_size=1, max_size=12),
    run_id=st.text(min_size=1, max_size=12),
    body=bodies,
)


@pytest.mark.parametrize("body_type", BODY_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=25)
@given(data=st.data())
def test_every_event_kind_round_trips_through_json(
    body_type: type[BaseModel], data: st.DataObject
) -> None:
    body = data.draw(model_strategy(body_type))
    event = data.draw(events.map(lambda e: e.model_copy(update={"body": body})))
    text = event_to_json(event)
    assert event_from_json(text) == event
    assert json.loads(text)["body"]["type"] == body_type.__name__
    assert from_stored(to_stored(event)) == event


@settings(max_examples=50)
@given(st.lists(bodies, min_size=1, max_size=8))
def test_histories_round_trip_as_versioned_documents(drawn: list[EventBody]) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    history = [
        Event(seq=i, recorded_at=at, workflow_id="w", run_id="r", body=body)
        for i, body in enumerate(drawn, start=1)
    ]
    document = json.loads(history_to_json(history))
    assert document["format"] == "aion.history"
    assert document["version"] == HISTORY_FORMAT_VERSION
    assert history_from_json(json.dumps(document)) == history


def _history(*bodies: EventBody) -> list[Event]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Event(seq=i, recorded_at=at, workflow_id="w", run_id="r", body=body)
        for i, body in enumerate(bodies, start=1)
    ]


def test_history_from_a_newer_format_is_refused_with_upgrade_advice() -> None:
    document = json.loads(history_to_json(_history(ev.WorkflowStarted(workflow_type="T"))))
    document["version"] = HISTORY_FORMAT_VERSION + 1
    with pytest.raises(HistoryFormatError, match="upgrade aion"):
        history_from_json(json.dumps(document))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not an aion history"),
        ('{"format": "aion.history"}', "no valid format version"),
        ('{"format": "aion.history", "version": 1}', 'no "events" list'),
        (
            '{"format": "aion.history", "version": 1, "events": [{"seq": 1}]}',
            "event #1 is not valid",
        ),
    ],
)
def test_malformed_histories_get_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(HistoryFormatError, match=message):
        history_from_json(text)


def test_a_history_with_a_gap_is_refused() -> None:
    history = _history(ev.WorkflowStarted(workflow_type="T"), ev.TimerFired(timer_id=1))
    gap = [history[0], history[1].model_copy(update={"seq": 3})]
    with pytest.raises(HistoryFormatError, match="expected seq 2, found 3"):
        history_from_json(history_to_json(gap))


def test_unknown_event_type_is_a_clear_error() -> None:
    event = _history(ev.TimerFired(timer_id=1))[0]
    raw = json.loads(event_to_json(event))
    raw["body"]["type"] = "TimerExploded"
    with pytest.raises(HistoryFormatError, match="not an aion event"):
        event_from_json(json.dumps(raw))


def test_an_undecodable_row_is_reported_for_its_workflow() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    row = StoredEvent("order-7", 4, "r", "TimerFired", at, b'{"type": "TimerFired"')
    with pytest.raises(CorruptHistoryError) as caught:
        from_stored(row)
    assert (caught.value.workflow_id, caught.value.seq) == ("order-7", 4)
    mismatched = StoredEvent(
        "order-7", 5, "r", "TimerStarted", at, b'{"type":"TimerFired","timer_id":1}'
    )
    with pytest.raises(CorruptHistoryError, match="type column"):
        from_stored(mismatched)


def test_events_are_immutable() -> None:
    event = _history(ev.TimerFired(timer_id=1))[0]
    with pytest.raises(ValueError, match="frozen"):
        event.seq = 2  # type: ignore[misc]


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Event(
            seq=1,
            recorded_at=datetime(2026, 1, 1),
            workflow_id="w",
            run_id="r",
            body=ev.TimerFired(timer_id=1),
        )


def test_status_is_that_of_the_last_lifecycle_event() -> None:
    started = ev.WorkflowStarted(workflow_type="T")
    queued = ev.WorkflowStarted(workflow_type="T", queue=ev.QueuePlacement(priority=1))
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    failure = ev.Failure(message="boom")
    cases: list[tuple[list[EventBody], WorkflowStatus | None]] = [
        ([], None),
        ([started], WorkflowStatus.RUNNING),
        ([started, ev.SignalReceived(signal_name="s")], WorkflowStatus.RUNNING),
        ([started, ev.WorkflowCancelRequested()], WorkflowStatus.RUNNING),
        ([started, ev.WorkflowPaused()], WorkflowStatus.PAUSED),
        ([queued], WorkflowStatus.QUEUED),
        ([queued, ev.WorkflowStartDebounced(debounce=timedelta(1))], WorkflowStatus.QUEUED),
        ([queued, ev.WorkflowDequeued(queue="q", admitted_at=moment)], WorkflowStatus.RUNNING),
        ([started, ev.WorkflowPaused(), ev.WorkflowResumed()], WorkflowStatus.RUNNING),
        ([started, ev.WorkflowCompleted(result=Payload())], WorkflowStatus.COMPLETED),
        ([started, ev.WorkflowFailed(failure=failure)], WorkflowStatus.FAILED),
        (
            [started, ev.WorkflowFailed(failure=failure), ev.WorkflowReopened()],
            WorkflowStatus.RUNNING,
        ),
        ([started, ev.WorkflowSuspended(failure=failure)], WorkflowStatus.SUSPENDED),
        ([started, ev.WorkflowCancelled()], WorkflowStatus.CANCELLED),
        ([started, ev.WorkflowTerminated()], WorkflowStatus.TERMINATED),
        ([started, ev.WorkflowTimedOut(execution_timeout=timedelta(1))], WorkflowStatus.TIMED_OUT),
        (
            [started, ev.WorkflowContinuedAsNew(new_run_id="r2", workflow_type="T"), started],
            WorkflowStatus.RUNNING,
        ),
    ]
    for bodies_, expected in cases:
        assert derive_status(_history(*bodies_)) == expected, bodies_


def test_closed_statuses() -> None:
    open_ = {s for s in WorkflowStatus if not s.is_closed}
    assert open_ == {
        WorkflowStatus.QUEUED,
        WorkflowStatus.RUNNING,
        WorkflowStatus.PAUSED,
        WorkflowStatus.SUSPENDED,
    }
    assert {
        "WorkflowCompleted", "WorkflowFailed", "WorkflowCancelled", "WorkflowTerminated",
        "WorkflowTimedOut", "WorkflowContinuedAsNew",
    } == ev.CLOSING_EVENT_TYPES  # fmt: skip


def test_update_completed_needs_exactly_one_outcome() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ev.UpdateCompleted(update_id="u")
    with pytest.raises(ValueError, match="exactly one"):
        ev.UpdateCompleted(update_id="u", result=Payload(), failure=ev.Failure(message="x"))


def test_search_attribute_floats_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        ev.SearchAttributesUpserted(attributes={"score": float("inf")})


@given(body=bodies, seq=st.integers(1, 2**40), data=st.data())
def test_a_stamped_event_is_the_event_the_constructor_makes(
    body: EventBody, seq: int, data: st.DataObject
) -> None:
    at = data.draw(st.datetimes(timezones=st.just(UTC)))
    fast = ev.stamped_event(seq, at, "wf-1", "run-1", body)
    slow = Event(seq=seq, recorded_at=at, workflow_id="wf-1", run_id="run-1", body=body)
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set
    assert Event.model_validate_json(fast.model_dump_json()) == slow


@pytest.mark.parametrize(
    ("seq", "at", "workflow_id"),
    [
        (0, datetime(2026, 1, 1, tzinfo=UTC), "wf"),
        (1, datetime(2026, 1, 1), "wf"),  # naive: no time zone
        (1, datetime(2026, 1, 1, tzinfo=UTC), ""),
    ],
)
def test_stamping_refuses_what_the_constructor_refuses(
    seq: int, at: datetime, workflow_id: str
) -> None:
    body = ev.TimerFired(timer_id=1)
    with pytest.raises(ValidationError):
        ev.stamped_event(seq, at, workflow_id, "run-1", body)
