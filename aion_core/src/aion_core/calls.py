"""Calls between clients and engine nodes, and their replies, as they cross a transport.

Every operation on a workflow a client or another node asks for is a `Call`:
a pydantic model that serialises to JSON, is routed to the engine that owns
the workflow (or, for reads of the store, to any engine), served there by
`Engine.serve`, and answered with a `Reply`. Errors cross as `WireError` and
come back as the same `AionError` subclass with the same attributes, so a
remote caller catches exactly what a local one would.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from aion_core import errors
from aion_core.errors import AionError, WireFormatError
from aion_core.events import (
    Event,
    EventBody,
    Failure,
    Payload,
    SearchAttributeValue,
    SignalReceived,
    UpdateAccepted,
    UpdateCompleted,
    WorkflowStarted,
    WorkflowStatus,
)
from aion_core.failures import exception_from_failure, failure_from_exception
from aion_core.store.queues import QueueStats
from aion_core.store.records import WorkflowRecord

__all__ = [
    "MAX_WIRE_BYTES",
    "Call",
    "CountCall",
    "DescribeCall",
    "HistoryCall",
    "ListCall",
    "QueryCall",
    "QueuesCall",
    "Reply",
    "StartCall",
    "SubmitCall",
    "UpdateCall",
    "WaitCall",
    "WireError",
    "WireFormatError",
    "WireMessage",
    "decode_call",
    "decode_reply",
    "decode_wire",
    "encode_call",
    "error_from_wire",
    "error_reply",
    "error_to_wire",
    "reply_to",
]

_M = TypeVar("_M")

MAX_WIRE_BYTES = 8 * 1024 * 1024
"""Largest call or reply accepted from the wire; bigger ones are refused unread."""


class WireMessage(BaseModel):
    """A message on the wire: immutable, and refusing fields it does not know."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class StartCall(WireMessage):
    """Start a run (or signal-with-start); replies with the run id it went to."""

    call: Literal["start"] = "start"
    workflow_id: str = Field(min_length=1)
    started: WorkflowStarted
    run_id: str = Field(min_length=1)
    id_conflict: Literal["fail", "use_existing", "terminate_existing"] = "fail"
    id_reuse: Literal["allow", "allow_failed_only", "reject"] = "allow"
    signal: SignalReceived | None = None
    reply_type: ClassVar[Any] = str
    owner_only: ClassVar[bool] = True


class SubmitCall(WireMessage):
    """Record an event for a workflow through its runner; replies with the run id."""

    call: Literal["submit"] = "submit"
    workflow_id: str = Field(min_length=1)
    kind: Literal["input", "record", "close", "reopen"]
    body: EventBody
    run_id: str | None = None
    reply_type: ClassVar[Any] = str
    owner_only: ClassVar[bool] = True


class QueryCall(WireMessage):
    """Ask a query; replies with the answer. Records nothing."""

    call: Literal["query"] = "query"
    workflow_id: str = Field(min_length=1)
    name: str
    args: tuple[Payload, ...] = ()
    timeout: float = Field(gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    reply_type: ClassVar[Any] = Payload
    owner_only: ClassVar[bool] = True


class UpdateCall(WireMessage):
    """Run an update; replies with its completion (result or failure)."""

    call: Literal["update"] = "update"
    workflow_id: str = Field(min_length=1)
    accepted: UpdateAccepted
    reply_type: ClassVar[Any] = UpdateCompleted
    owner_only: ClassVar[bool] = True


class WaitCall(WireMessage):
    """Wait up to `wait` seconds for the workflow to close; replies with the closing event.

    None means "still open": the caller asks again (the owner may have changed meanwhile).
    `open_run` is a run the caller saw started and not closed: an owner whose own
    memory shows that run still open may wait without reading the store first (a
    close recorded meanwhile by another owner then shows at the next ask).
    """

    call: Literal["wait"] = "wait"
    workflow_id: str = Field(min_length=1)
    wait: float = Field(ge=0)
    open_run: str | None = None
    reply_type: ClassVar[Any] = Event | None
    owner_only: ClassVar[bool] = True


class DescribeCall(WireMessage):
    """Read the workflow's visibility row from the store (any engine answers)."""

    call: Literal["describe"] = "describe"
    workflow_id: str = Field(min_length=1)
    reply_type: ClassVar[Any] = WorkflowRecord
    owner_only: ClassVar[bool] = False


class HistoryCall(WireMessage):
    """Read the workflow's events from the store (any engine answers)."""

    call: Literal["history"] = "history"
    workflow_id: str = Field(min_length=1)
    after_seq: int = Field(default=0, ge=0)
    reply_type: ClassVar[Any] = list[Event]
    owner_only: ClassVar[bool] = False


class _Filter(WireMessage):
    """Conditions every listed workflow meets (`WorkflowFilter` on the wire)."""

    workflow_id: str = ""
    statuses: frozenset[WorkflowStatus] | None = None
    workflow_type: str | None = None
    search: dict[str, SearchAttributeValue] = Field(default_factory=dict)
    started_after: datetime | None = None
    started_before: datetime | None = None
    owner_only: ClassVar[bool] = False


class ListCall(_Filter):
    """List workflows matching every given filter, newest first (any engine answers)."""

    call: Literal["list"] = "list"
    limit: int = Field(default=100, ge=1)
    reply_type: ClassVar[Any] = list[WorkflowRecord]


class CountCall(_Filter):
    """Count workflows matching every given filter (any engine answers)."""

    call: Literal["count"] = "count"
    reply_type: ClassVar[Any] = int


class QueuesCall(WireMessage):
    """Describe one task queue's flow control, or every queue's (any engine answers)."""

    call: Literal["queues"] = "queues"
    workflow_id: Literal[""] = ""
    """No workflow: every call names one, and transports route by it when `owner_only`."""
    queue: str | None = Field(default=None, min_length=1)
    """The queue to describe; None: every queue configured or holding runs."""
    reply_type: ClassVar[Any] = list[QueueStats]
    owner_only: ClassVar[bool] = False


Call: TypeAlias = Annotated[
    StartCall
    | SubmitCall
    | QueryCall
    | UpdateCall
    | WaitCall
    | DescribeCall
    | HistoryCall
    | ListCall
    | CountCall
    | QueuesCall,
    Field(discriminator="call"),
]

_CALL: TypeAdapter[Call] = TypeAdapter(Call)


class WireError(WireMessage):
    """An `AionError` as it crosses the wire: class name, message, attributes, cause."""

    type: str
    message: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    cause: Failure | None = None


class Reply(WireMessage):
    """The answer to a call: a JSON value of the call's reply type, or an error."""

    value: Any = None
    error: WireError | None = None


_REPLY: TypeAdapter[Reply] = TypeAdapter(Reply)


def encode_call(call: Call) -> bytes:
    """The call as JSON bytes."""
    return _CALL.dump_json(call)


def decode_call(data: bytes) -> Call:
    """A call from JSON bytes.

    Raises:
        WireFormatError: Too large, truncated, or not a call (the message says which).
    """
    return decode_wire(_CALL, data, "call")


@cache
def _reply_adapter(reply_type: Any) -> TypeAdapter[Any]:
    """The adapter of a call's reply type, built once (building one takes a schema's worth)."""
    return TypeAdapter(reply_type)


def decode_wire(adapter: TypeAdapter[_M], data: bytes, what: str) -> _M:
    """A message of `adapter`'s type from JSON bytes, size-checked.

    Raises:
        WireFormatError: Too large, truncated, or not such a message (the message says which).
    """
    _check_size(data, what)
    try:
        return adapter.validate_json(data)
    except ValidationError as invalid:
        raise WireFormatError(f"not a valid {what}: {_first_problem(invalid)}") from None


def error_reply(error: BaseException) -> bytes:
    """A reply carrying `error`, for a message that could not even be read as a call."""
    return _REPLY.dump_json(Reply(error=error_to_wire(error)))


def reply_to(call: Call, value: Any = None, error: BaseException | None = None) -> bytes:
    """The reply to `call` as JSON bytes: `value` (of the call's reply type) or `error`."""
    if error is not None:
        return _REPLY.dump_json(Reply(error=error_to_wire(error)))
    encoded = _reply_adapter(call.reply_type).dump_python(value, mode="json")
    return _REPLY.dump_json(Reply(value=encoded))


def decode_reply(call: Call, data: bytes) -> Any:
    """The value a reply to `call` carries; raises the error it carries instead.

    Raises:
        AionError: The remote error, rebuilt as its own class.
        WireFormatError: The bytes are not a reply to this call.
    """
    _check_size(data, "reply")
    try:
        reply = _REPLY.validate_json(data)
        if reply.error is not None:
            raise error_from_wire(reply.error)
        return _reply_adapter(call.reply_type).validate_python(reply.value)
    except ValidationError as invalid:
        raise WireFormatError(f"not a valid reply: {_first_problem(invalid)}") from None


def error_to_wire(error: BaseException) -> WireError:
    """An error as it crosses the wire (non-aion errors travel as plain `AionError`)."""
    if not isinstance(error, AionError):
        return WireError(type="AionError", message=f"{type(error).__name__}: {error}")
    attributes = {k: v for k, v in vars(error).items() if _is_plain(v)}
    cause = error.__cause__
    return WireError(
        type=type(error).__name__,
        message=str(error),
        attributes=attributes,
        cause=failure_from_exception(cause) if cause is not None else None,
    )


def error_from_wire(wire: WireError) -> AionError:
    """The error a `WireError` describes, as its own class when aion_core defines it."""
    cls = _ERROR_CLASSES.get(wire.type, AionError)
    error = cls.__new__(cls)
    Exception.__init__(error, wire.message)
    vars(error).update(wire.attributes)
    if wire.cause is not None:
        error.__cause__ = exception_from_failure(wire.cause)
    return error


def _all_subclasses(cls: type[AionError]) -> list[type[AionError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _all_subclasses(sub)
    return found


_ERROR_CLASSES = {
    cls.__name__: cls for cls in _all_subclasses(AionError) if cls.__module__ == errors.__name__
}


def _is_plain(value: object) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(item) for item in value)
    return False


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_WIRE_BYTES:
        raise WireFormatError(f"{what} of {len(data)} bytes exceeds {MAX_WIRE_BYTES} bytes")


def _first_problem(invalid: ValidationError) -> str:
    problem = invalid.errors()[0]
    where = ".".join(str(part) for part in problem.get("loc", ())) or "message"
    return f"{where}: {problem.get('msg', 'invalid')}"
