"""The event model: every fact aion records about a workflow, as immutable pydantic models.

A workflow's history is one stream of `Event`s. Each event is an envelope
(`seq`, `recorded_at`, `workflow_id`, `run_id`) around a body whose `type` is a
stable string such as ``"ActivityCompleted"``. Type names and field names are
part of the versioned JSON form (`HISTORY_FORMAT_VERSION`, see
`aion_core.history` and docs/history-format.md): add optional fields freely,
never rename or repurpose one without raising the version.

Per-run ordinals (`activity_id`, `timer_id`, `child_id`, `signal_id`) number
the commands a run issues, in the order its code issued them; replay matches
commands to events by them (DESIGN 4.2).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias, TypeVar, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from aion_core.retry import RetryPolicy

__all__ = [
    "CLOSING_EVENT_TYPES",
    "HISTORY_FORMAT_VERSION",
    "ActivityCancelRequested",
    "ActivityCancelled",
    "ActivityCompleted",
    "ActivityFailed",
    "ActivityScheduled",
    "ActivityStarted",
    "ActivityTimedOut",
    "ChildWorkflowCancelled",
    "ChildWorkflowCompleted",
    "ChildWorkflowFailed",
    "ChildWorkflowStartFailed",
    "ChildWorkflowStarted",
    "ChildWorkflowTerminated",
    "ChildWorkflowTimedOut",
    "Event",
    "EventBody",
    "ExternalQueryAnswered",
    "ExternalSignalDelivered",
    "ExternalSignalFailed",
    "ExternalSignalSent",
    "Failure",
    "MarkerRecorded",
    "ParentClosePolicy",
    "ParentWorkflow",
    "Payload",
    "QueuePlacement",
    "ScheduleAction",
    "ScheduleCreated",
    "ScheduleDeleted",
    "SchedulePaused",
    "ScheduleResumed",
    "ScheduleSpec",
    "ScheduleTriggered",
    "ScheduleUpdated",
    "SearchAttributeValue",
    "SearchAttributesUpserted",
    "SignalReceived",
    "TimerCancelled",
    "TimerFired",
    "TimerStarted",
    "UpdateAccepted",
    "UpdateCompleted",
    "WorkflowCancelRequested",
    "WorkflowCancelled",
    "WorkflowCompleted",
    "WorkflowContinuedAsNew",
    "WorkflowDequeued",
    "WorkflowFailed",
    "WorkflowPaused",
    "WorkflowReopened",
    "WorkflowResumed",
    "WorkflowStartDebounced",
    "WorkflowStarted",
    "WorkflowStatus",
    "WorkflowSuspended",
    "WorkflowTerminated",
    "WorkflowTimedOut",
    "construct_trusted",
    "derive_status",
    "stamped_event",
    "status_after",
]

HISTORY_FORMAT_VERSION = 1
"""Version of the JSON form of events and histories. Raised on any incompatible change."""


class _Frozen(BaseModel):
    # Bytes travel as base64 in JSON so encrypted or compressed payloads round-trip.
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )


Ordinal = Annotated[int, Field(ge=1)]
Attempt = Annotated[int, Field(ge=1)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
SearchAttributeValue: TypeAlias = str | int | FiniteFloat | bool
"""A search attribute value. Times are stored as ISO 8601 strings so they sort as text."""


# --- values carried by events ------------------------------------------------------------------


class Payload(_Frozen):
    """One serialised value: its bytes plus metadata naming the encoding and codecs applied."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: bytes = b""


Payloads: TypeAlias = tuple[Payload, ...]


class Failure(_Frozen):
    """A recorded error: what a workflow, activity or child failed with."""

    message: str
    type: str = "Exception"
    stack_trace: str = ""
    non_retryable: bool = False
    details: Payloads = ()
    cause: Failure | None = None


class WorkflowStatus(StrEnum):
    """A workflow's status, derived from the last lifecycle event of its history."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"
    TIMED_OUT = "timed_out"
    CONTINUED_AS_NEW = "continued_as_new"

    @property
    def is_closed(self) -> bool:
        """Whether a run in this status can no longer make progress by itself."""
        return self not in _OPEN_STATUSES


_OPEN_STATUSES = frozenset(
    {
        WorkflowStatus.QUEUED,
        WorkflowStatus.RUNNING,
        WorkflowStatus.PAUSED,
        WorkflowStatus.SUSPENDED,
    }
)

ParentClosePolicy: TypeAlias = Literal["terminate", "request_cancel", "abandon"]


class ParentWorkflow(_Frozen):
    """The workflow run that started a child, and the child's ordinal in that run."""

    workflow_id: str
    run_id: str
    child_id: Ordinal | None = None


class QueuePlacement(_Frozen):
    """How a run waits in its task queue until the queue lets it out (its code runs then).

    Attributes:
        priority: Higher runs first; FIFO (by start time) within a priority.
        partition_key: Runs sharing a key share the queue's per-partition concurrency.
        dedup_id: While a run with this id is open on the queue, another start with it
            is refused or given that run.
        debounce: The run waits at least this long after its start, and after every later
            start of the same workflow id that replaced its input
            (`WorkflowStartDebounced`), before it may leave the queue.
    """

    priority: int = 0
    partition_key: str | None = Field(default=None, min_length=1, max_length=200)
    dedup_id: str | None = Field(default=None, min_length=1, max_length=200)
    debounce: timedelta | None = Field(default=None, gt=timedelta(0))
    limited: bool = False
    """Its queue was under flow control where it started: only an engine that declares the
    queue lets it out (another would not know the limits). Otherwise (a dedup id or a
    debounce on a queue without limits) any engine does."""


# --- workflow lifecycle ------------------------------------------------------------------------


class WorkflowStarted(_Frozen):
    """A run began. Continue-as-new starts the next run in the same stream with this event."""

    type: Literal["WorkflowStarted"] = "WorkflowStarted"
    workflow_type: str
    input: Payloads = ()
    task_queue: str = "default"
    code_version: str = ""
    attempt: Attempt = 1
    parent_run_id: str | None = None
    """The run this one continues (continue-as-new), if any."""
    parent: ParentWorkflow | None = None
    """The parent of a child workflow."""
    parent_close_policy: ParentClosePolicy = "terminate"
    execution_timeout: timedelta | None = None
    search_attributes: dict[str, SearchAttributeValue] = Field(default_factory=dict)
    schedule_id: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    queue: QueuePlacement | None = None
    """Set when the run waits on a flow-controlled queue: its code runs once dequeued."""


class WorkflowDequeued(_Frozen):
    """A queued run was given a slot on its task queue; its code starts here."""

    type: Literal["WorkflowDequeued"] = "WorkflowDequeued"
    queue: str
    admitted_at: AwareDatetime
    """When the run's slot was taken (this event may be recorded later, after a crash)."""
    by: str = ""
    """The engine that let it out (its ``worker_concurrency`` counted the run)."""


class WorkflowStartDebounced(_Frozen):
    """A debounced start of a workflow still queued: its input replaces the queued run's.

    The run's code starts with the input of the last of these before `WorkflowDequeued`,
    and it may leave the queue `debounce` after this one at the earliest.
    """

    type: Literal["WorkflowStartDebounced"] = "WorkflowStartDebounced"
    input: Payloads = ()
    debounce: timedelta = Field(gt=timedelta(0))


class WorkflowCompleted(_Frozen):
    """The run returned a value."""

    type: Literal["WorkflowCompleted"] = "WorkflowCompleted"
    result: Payload


class WorkflowFailed(_Frozen):
    """The run raised, or supervision gave up on it."""

    type: Literal["WorkflowFailed"] = "WorkflowFailed"
    failure: Failure


class WorkflowCancelRequested(_Frozen):
    """Someone asked the run to cancel; the workflow code decides how it ends."""

    type: Literal["WorkflowCancelRequested"] = "WorkflowCancelRequested"
    reason: str = ""


class WorkflowCancelled(_Frozen):
    """The run ended by accepting a cancellation."""

    type: Literal["WorkflowCancelled"] = "WorkflowCancelled"
    message: str = ""


class WorkflowTerminated(_Frozen):
    """The run was stopped from outside, without running any more of its code."""

    type: Literal["WorkflowTerminated"] = "WorkflowTerminated"
    reason: str = ""
    identity: str = ""


class WorkflowTimedOut(_Frozen):
    """The run exceeded its execution timeout."""

    type: Literal["WorkflowTimedOut"] = "WorkflowTimedOut"
    execution_timeout: timedelta


class WorkflowContinuedAsNew(_Frozen):
    """The run ended by starting a fresh run (`new_run_id`) of the same workflow id."""

    type: Literal["WorkflowContinuedAsNew"] = "WorkflowContinuedAsNew"
    new_run_id: str
    workflow_type: str
    input: Payloads = ()
    headers: dict[str, str] = Field(default_factory=dict)


class WorkflowPaused(_Frozen):
    """The run stops receiving new work until resumed."""

    type: Literal["WorkflowPaused"] = "WorkflowPaused"
    reason: str = ""


class WorkflowResumed(_Frozen):
    """A paused run continues."""

    type: Literal["WorkflowResumed"] = "WorkflowResumed"
    reason: str = ""


class WorkflowSuspended(_Frozen):
    """Supervision exhausted its restarts with ``on_exhausted="suspend"``; reopen revives it."""

    type: Literal["WorkflowSuspended"] = "WorkflowSuspended"
    failure: Failure


class WorkflowReopened(_Frozen):
    """A failed, cancelled or suspended run is revived (after a code fix) and replayed.

    Replay skips what the run did from `rewind_from` on (its close, the code's
    commands after that point, a cancellation it honoured) and retries the
    activities whose final failure lies there; the events stay in the history.
    """

    type: Literal["WorkflowReopened"] = "WorkflowReopened"
    reason: str = ""
    identity: str = ""
    rewind_from: int | None = None
    """The seq replay rewinds to (None: nothing is rewound, as for a suspended run)."""
    rearmed_timers: dict[int, AwareDatetime] = Field(default_factory=dict)
    """Timers still pending at the rewind point (timer id to fire time), armed again."""


# --- activities --------------------------------------------------------------------------------


class ActivityScheduled(_Frozen):
    """The workflow asked for an activity; attempts follow until one completes or retries end."""

    type: Literal["ActivityScheduled"] = "ActivityScheduled"
    activity_id: Ordinal
    activity_type: str
    input: Payloads = ()
    task_queue: str = "default"
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    start_to_close_timeout: timedelta | None = None
    schedule_to_close_timeout: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class ActivityStarted(_Frozen):
    """A worker began attempt `attempt`."""

    type: Literal["ActivityStarted"] = "ActivityStarted"
    activity_id: Ordinal
    attempt: Attempt
    worker: str = ""


class ActivityCompleted(_Frozen):
    """Attempt `attempt` returned a result; the activity is done."""

    type: Literal["ActivityCompleted"] = "ActivityCompleted"
    activity_id: Ordinal
    attempt: Attempt
    result: Payload


class ActivityFailed(_Frozen):
    """Attempt `attempt` raised. `retry_at` is set when another attempt will follow."""

    type: Literal["ActivityFailed"] = "ActivityFailed"
    activity_id: Ordinal
    attempt: Attempt
    failure: Failure
    retry_at: AwareDatetime | None = None
    last_heartbeat_details: Payloads = ()


class ActivityTimedOut(_Frozen):
    """Attempt `attempt` ran past a timeout. `retry_at` is set when another attempt will follow."""

    type: Literal["ActivityTimedOut"] = "ActivityTimedOut"
    activity_id: Ordinal
    attempt: Attempt
    timeout_kind: Literal["start_to_close", "schedule_to_close", "heartbeat"]
    retry_at: AwareDatetime | None = None
    last_heartbeat_details: Payloads = ()


class ActivityCancelRequested(_Frozen):
    """The workflow asked a running activity to stop."""

    type: Literal["ActivityCancelRequested"] = "ActivityCancelRequested"
    activity_id: Ordinal


class ActivityCancelled(_Frozen):
    """The activity ended by cancellation."""

    type: Literal["ActivityCancelled"] = "ActivityCancelled"
    activity_id: Ordinal
    attempt: Attempt


# --- timers ------------------------------------------------------------------------------------


class TimerStarted(_Frozen):
    """A durable timer: it fires at `fire_at` (workflow time + duration), across restarts."""

    type: Literal["TimerStarted"] = "TimerStarted"
    timer_id: Ordinal
    fire_at: AwareDatetime
    duration: timedelta


class TimerFired(_Frozen):
    """The timer fired; recorded before the workflow sees it, exactly once."""

    type: Literal["TimerFired"] = "TimerFired"
    timer_id: Ordinal


class TimerCancelled(_Frozen):
    """The workflow no longer waits for the timer."""

    type: Literal["TimerCancelled"] = "TimerCancelled"
    timer_id: Ordinal


# --- signals and updates -----------------------------------------------------------------------


class SignalReceived(_Frozen):
    """A signal arrived; buffered until a handler consumes it, ordered per name."""

    type: Literal["SignalReceived"] = "SignalReceived"
    signal_name: str
    args: Payloads = ()
    sender: str = ""
    headers: dict[str, str] = Field(default_factory=dict)


class ExternalSignalSent(_Frozen):
    """The workflow is sending a signal to another workflow."""

    type: Literal["ExternalSignalSent"] = "ExternalSignalSent"
    signal_id: Ordinal
    target_workflow_id: str
    signal_name: str
    args: Payloads = ()
    headers: dict[str, str] = Field(default_factory=dict)


class ExternalSignalDelivered(_Frozen):
    """The target workflow recorded the signal."""

    type: Literal["ExternalSignalDelivered"] = "ExternalSignalDelivered"
    signal_id: Ordinal


class ExternalSignalFailed(_Frozen):
    """The signal could not be delivered (unknown or closed target)."""

    type: Literal["ExternalSignalFailed"] = "ExternalSignalFailed"
    signal_id: Ordinal
    failure: Failure


class ExternalQueryAnswered(_Frozen):
    """The answer (or the failure) of a query the workflow asked another workflow.

    Recorded in the asking workflow only, so its replay gets the same answer;
    the queried workflow records nothing.
    """

    type: Literal["ExternalQueryAnswered"] = "ExternalQueryAnswered"
    query_id: Ordinal
    target_workflow_id: str
    query_name: str
    answer: Payload | None = None
    failure: Failure | None = None


class UpdateAccepted(_Frozen):
    """An update passed its validator; its handler runs. A rejected update records nothing."""

    type: Literal["UpdateAccepted"] = "UpdateAccepted"
    update_id: str
    update_name: str
    args: Payloads = ()
    headers: dict[str, str] = Field(default_factory=dict)


class UpdateCompleted(_Frozen):
    """An update's handler returned (`result`) or raised (`failure`); exactly one is set."""

    type: Literal["UpdateCompleted"] = "UpdateCompleted"
    update_id: str
    result: Payload | None = None
    failure: Failure | None = None

    @model_validator(mode="after")
    def _exactly_one_outcome(self) -> UpdateCompleted:
        if (self.result is None) == (self.failure is None):
            raise ValueError("UpdateCompleted needs exactly one of result and failure")
        return self


# --- child workflows ---------------------------------------------------------------------------


class ChildWorkflowStarted(_Frozen):
    """Recorded in the parent before the child exists (record before spawn)."""

    type: Literal["ChildWorkflowStarted"] = "ChildWorkflowStarted"
    child_id: Ordinal
    workflow_id: str
    run_id: str
    workflow_type: str
    input: Payloads = ()
    task_queue: str = "default"
    parent_close_policy: ParentClosePolicy = "terminate"
    headers: dict[str, str] = Field(default_factory=dict)


class ChildWorkflowStartFailed(_Frozen):
    """The child could not be started (for example its id is taken)."""

    type: Literal["ChildWorkflowStartFailed"] = "ChildWorkflowStartFailed"
    child_id: Ordinal
    workflow_id: str
    failure: Failure


class ChildWorkflowCompleted(_Frozen):
    """The child returned a value."""

    type: Literal["ChildWorkflowCompleted"] = "ChildWorkflowCompleted"
    child_id: Ordinal
    result: Payload


class ChildWorkflowFailed(_Frozen):
    """The child failed."""

    type: Literal["ChildWorkflowFailed"] = "ChildWorkflowFailed"
    child_id: Ordinal
    failure: Failure


class ChildWorkflowCancelled(_Frozen):
    """The child was cancelled."""

    type: Literal["ChildWorkflowCancelled"] = "ChildWorkflowCancelled"
    child_id: Ordinal
    message: str = ""


class ChildWorkflowTerminated(_Frozen):
    """The child was terminated."""

    type: Literal["ChildWorkflowTerminated"] = "ChildWorkflowTerminated"
    child_id: Ordinal
    reason: str = ""


class ChildWorkflowTimedOut(_Frozen):
    """The child exceeded its execution timeout."""

    type: Literal["ChildWorkflowTimedOut"] = "ChildWorkflowTimedOut"
    child_id: Ordinal


# --- markers and search attributes -------------------------------------------------------------


class MarkerRecorded(_Frozen):
    """A deterministic decision kept for replay: a patch, a side effect, a query answer."""

    type: Literal["MarkerRecorded"] = "MarkerRecorded"
    name: str
    details: dict[str, Payload] = Field(default_factory=dict)


class SearchAttributesUpserted(_Frozen):
    """Search attributes (visibility) were added or changed."""

    type: Literal["SearchAttributesUpserted"] = "SearchAttributesUpserted"
    attributes: dict[str, SearchAttributeValue]


# --- schedules ---------------------------------------------------------------------------------


class ScheduleSpec(_Frozen):
    """When a schedule fires: a cron expression or a fixed interval (exactly one)."""

    cron: str | None = None
    every: timedelta | None = None
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _exactly_one_rule(self) -> ScheduleSpec:
        if (self.cron is None) == (self.every is None):
            raise ValueError("a schedule needs exactly one of cron and every")
        return self


class ScheduleAction(_Frozen):
    """What a schedule starts each time it fires."""

    workflow_type: str
    input: Payloads = ()
    task_queue: str = "default"
    workflow_id_prefix: str = ""


class ScheduleCreated(_Frozen):
    """A schedule was created."""

    type: Literal["ScheduleCreated"] = "ScheduleCreated"
    schedule_id: str
    spec: ScheduleSpec
    action: ScheduleAction
    paused: bool = False


class ScheduleUpdated(_Frozen):
    """A schedule's timing or action changed."""

    type: Literal["ScheduleUpdated"] = "ScheduleUpdated"
    schedule_id: str
    spec: ScheduleSpec
    action: ScheduleAction


class SchedulePaused(_Frozen):
    """A schedule stops firing until resumed."""

    type: Literal["SchedulePaused"] = "SchedulePaused"
    schedule_id: str
    note: str = ""


class ScheduleResumed(_Frozen):
    """A paused schedule fires again."""

    type: Literal["ScheduleResumed"] = "ScheduleResumed"
    schedule_id: str
    note: str = ""


class ScheduleTriggered(_Frozen):
    """A schedule started a workflow, on time or by hand."""

    type: Literal["ScheduleTriggered"] = "ScheduleTriggered"
    schedule_id: str
    scheduled_at: AwareDatetime
    workflow_id: str
    run_id: str
    manual: bool = False


class ScheduleDeleted(_Frozen):
    """A schedule was deleted."""

    type: Literal["ScheduleDeleted"] = "ScheduleDeleted"
    schedule_id: str


# --- the envelope ------------------------------------------------------------------------------

EventBody: TypeAlias = Annotated[
    WorkflowStarted
    | WorkflowDequeued
    | WorkflowStartDebounced
    | WorkflowCompleted
    | WorkflowFailed
    | WorkflowCancelRequested
    | WorkflowCancelled
    | WorkflowTerminated
    | WorkflowTimedOut
    | WorkflowContinuedAsNew
    | WorkflowPaused
    | WorkflowResumed
    | WorkflowSuspended
    | WorkflowReopened
    | ActivityScheduled
    | ActivityStarted
    | ActivityCompleted
    | ActivityFailed
    | ActivityTimedOut
    | ActivityCancelRequested
    | ActivityCancelled
    | TimerStarted
    | TimerFired
    | TimerCancelled
    | SignalReceived
    | ExternalSignalSent
    | ExternalSignalDelivered
    | ExternalSignalFailed
    | ExternalQueryAnswered
    | UpdateAccepted
    | UpdateCompleted
    | ChildWorkflowStarted
    | ChildWorkflowStartFailed
    | ChildWorkflowCompleted
    | ChildWorkflowFailed
    | ChildWorkflowCancelled
    | ChildWorkflowTerminated
    | ChildWorkflowTimedOut
    | MarkerRecorded
    | SearchAttributesUpserted
    | ScheduleCreated
    | ScheduleUpdated
    | SchedulePaused
    | ScheduleResumed
    | ScheduleTriggered
    | ScheduleDeleted,
    Field(discriminator="type"),
]
"""Any event body; `type` tells which."""


class Event(_Frozen):
    """One recorded fact in a workflow's history.

    Attributes:
        seq: Position in the workflow's stream, from 1, contiguous.
        recorded_at: When the recorder stamped it (UTC).
        workflow_id: The stream it belongs to.
        run_id: The run it belongs to (continue-as-new starts a new run in the same stream).
        body: What happened.
    """

    seq: int = Field(ge=1)
    recorded_at: AwareDatetime
    workflow_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    body: EventBody

    @property
    def type(self) -> str:
        """The stable type name of the body, such as ``"TimerFired"``."""
        return self.body.type


# --- status ------------------------------------------------------------------------------------

_STATUS_AFTER: dict[str, WorkflowStatus] = {
    "WorkflowStarted": WorkflowStatus.RUNNING,
    "WorkflowDequeued": WorkflowStatus.RUNNING,
    "WorkflowResumed": WorkflowStatus.RUNNING,
    "WorkflowReopened": WorkflowStatus.RUNNING,
    "WorkflowPaused": WorkflowStatus.PAUSED,
    "WorkflowSuspended": WorkflowStatus.SUSPENDED,
    "WorkflowCompleted": WorkflowStatus.COMPLETED,
    "WorkflowFailed": WorkflowStatus.FAILED,
    "WorkflowCancelled": WorkflowStatus.CANCELLED,
    "WorkflowTerminated": WorkflowStatus.TERMINATED,
    "WorkflowTimedOut": WorkflowStatus.TIMED_OUT,
    "WorkflowContinuedAsNew": WorkflowStatus.CONTINUED_AS_NEW,
}

CLOSING_EVENT_TYPES = frozenset(t for t, s in _STATUS_AFTER.items() if s.is_closed)
"""Types of the events that close a run."""


def status_after(body: EventBody) -> WorkflowStatus | None:
    """The status a lifecycle event puts its workflow in; None for other events."""
    status = _STATUS_AFTER.get(body.type)
    if status is WorkflowStatus.RUNNING and isinstance(body, WorkflowStarted) and body.queue:
        return WorkflowStatus.QUEUED
    return status


def derive_status(events: list[Event] | tuple[Event, ...]) -> WorkflowStatus | None:
    """A workflow's status: that of the last lifecycle event, None for an empty history."""
    for event in reversed(events):
        status = status_after(event.body)
        if status is not None:
            return status
    return None


# --- fast construction -------------------------------------------------------------------------

_Model = TypeVar("_Model", bound=BaseModel)

# The slots every pydantic model instance has besides its fields (their
# descriptors, called directly: through `object.__setattr__` each costs a lookup).
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def construct_trusted(model: type[_Model], values: dict[str, Any], fields_set: set[str]) -> _Model:
    """A `model` holding `values` as they are, unvalidated: ``model.model_construct``, faster.

    Only for values already known to be what validation would keep, and for
    models without private attributes or extra fields (aion's). pydantic's
    `model_construct` fills an instance field by field in Python; this fills
    it the same way at once, for the paths every append takes.
    """
    instance = object.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    _set_fields_set(instance, fields_set)
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


_BODY_TYPES = frozenset(get_args(get_args(EventBody)[0]))
_EVENT_FIELDS_SET = set(Event.model_fields)
"""Every stamped event's fields set, shared: pydantic copies a model's fields set
before changing it, and a frozen model's never changes."""


def stamped_event(
    seq: int, recorded_at: datetime, workflow_id: str, run_id: str, body: EventBody
) -> Event:
    """``Event(seq=seq, recorded_at=recorded_at, ...)``, as the recorder stamps every event.

    Validation keeps such values as they are, so values that plainly pass it
    (a positive int, non-empty strings, an aware datetime, a body model) skip
    it: validating costs more than the rest of stamping an event. Anything
    else goes through the `Event` constructor, and fails as it would.
    """
    if (
        type(seq) is int
        and seq >= 1
        and type(workflow_id) is str
        and workflow_id
        and type(run_id) is str
        and run_id
        and type(recorded_at) is datetime
        and recorded_at.utcoffset() is not None
        and type(body) in _BODY_TYPES
    ):
        values = {
            "seq": seq,
            "recorded_at": recorded_at,
            "workflow_id": workflow_id,
            "run_id": run_id,
            "body": body,
        }
        return construct_trusted(Event, values, _EVENT_FIELDS_SET)
    return Event(
        seq=seq, recorded_at=recorded_at, workflow_id=workflow_id, run_id=run_id, body=body
    )
