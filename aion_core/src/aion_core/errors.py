"""Every error aion raises, under one root: `AionError`.

Each failure a user can cause has its own type and a message that says what to
do about it. The CLI maps these types to exit codes in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = [
    "ActivityError",
    "AionError",
    "ApplicationError",
    "ChildWorkflowError",
    "ConfigurationError",
    "CorruptHistoryError",
    "DuplicateStartError",
    "HistoryFormatError",
    "NondeterminismError",
    "OwnershipLostError",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "PluginError",
    "QueryError",
    "QueryHandlerFailed",
    "QueryRefused",
    "QueryReplyDropped",
    "QueryTimeout",
    "SequenceConflictError",
    "StoreError",
    "StoreUnavailableError",
    "TimeoutError",
    "TimeoutKind",
    "TransportError",
    "UnknownQuery",
    "UnknownURLSchemeError",
    "UpdateRejectedError",
    "WireFormatError",
    "WorkflowAlreadyStartedError",
    "WorkflowClosedError",
    "WorkflowFailureError",
    "WorkflowNotFoundError",
    "WorkflowPausedError",
    "WorkflowStateError",
]


class AionError(Exception):
    """Root of every error aion raises on purpose."""


# --- configuration and plugins ---------------------------------------------------------------


class ConfigurationError(AionError):
    """The configuration (URL, option, environment variable) cannot be used as given."""


class UnknownURLSchemeError(ConfigurationError):
    """No installed plugin handles the scheme of a store or transport URL."""

    def __init__(self, kind: str, url: str, installed: Sequence[str]) -> None:
        self.kind = kind
        self.url = url
        self.installed = tuple(installed)
        names = ", ".join(self.installed) or "none"
        super().__init__(
            f"no {kind} plugin handles {url!r}; installed: {names}. "
            f"Install the plugin for this scheme (for example aion-store-sql for sqlite:// "
            f"and postgresql://) or fix the URL."
        )


class PluginError(AionError):
    """A plugin could not be loaded, or does not follow the hook specifications."""


# --- payloads ----------------------------------------------------------------------------------


class PayloadValidationError(AionError, ValueError):
    """A payload does not match the declared type; raised before anything is recorded."""


class PayloadTooLargeError(PayloadValidationError):
    """A payload is larger than the configured limit; nothing was recorded or sent.

    The limit is ``max_payload_bytes`` of the `Engine`, `Client` or `Worker` that
    encoded the value (`aion_core.converter.DEFAULT_MAX_PAYLOAD_BYTES` by default), on
    the payload's JSON; or the largest message a transport carries (`fix` says how
    to raise that one).

    Args:
        what: What was too large ("workflow 'Checkout' argument 1", "activity result").
        size: Its size in bytes.
        limit: The limit in bytes.
        fix: How to raise the limit, when it is not ``max_payload_bytes``.
    """

    def __init__(self, what: str, size: int, limit: int, *, fix: str = "") -> None:
        self.what = what
        self.size = size
        self.limit = limit
        fix = fix or (
            "raise the limit with max_payload_bytes= on Engine, Client and Worker "
            "(--max-payload-bytes, AION_MAX_PAYLOAD_BYTES or max_payload_bytes in aion.toml)"
        )
        super().__init__(
            f"{what} is {size} bytes, over the limit of {limit} bytes; nothing was recorded. "
            f"Pass a reference to the data (a URL, a file, a row id) instead of the data, or {fix}"
        )


# --- stores and histories ----------------------------------------------------------------------


class TransportError(AionError):
    """The transport could not carry a message: not connected, or no engine answered in time."""


class NoReplyError(TransportError):
    """An engine was there but its reply did not come in time (it may be overloaded).

    The call may or may not have been carried out; a call that is safe to repeat
    (a start with its run id, a read, a wait) can simply be asked again.
    """


class OwnershipLostError(TransportError):
    """This engine node no longer holds the workflow; nothing was recorded.

    Raised in place of an append once the node's lease on the workflow's
    partition may have lapsed (NATS down, the process frozen): another node may
    own the workflow by now. The call is asked again at its new owner; timers
    and activity results are the new owner's to record.
    """


class WireFormatError(AionError):
    """Bytes from the wire are not a message this version understands.

    Garbage, truncated or oversized: the message says which.
    """


class StoreError(AionError):
    """The event store failed; what was already committed is unaffected."""


class StoreUnavailableError(StoreError):
    """The event store cannot be reached right now; the operation may be retried."""


class SequenceConflictError(StoreError):
    """An append expected a different last sequence number; nothing of it was written.

    This is how the store keeps one writer per workflow history: a second writer
    (a stale engine node, a concurrent append) loses the race and must reload.
    """

    def __init__(self, workflow_id: str, expected_seq: int, actual_seq: int | None = None) -> None:
        self.workflow_id = workflow_id
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq
        found = "another writer appended first" if actual_seq is None else f"it is {actual_seq}"
        super().__init__(
            f"workflow {workflow_id!r}: append expected last seq {expected_seq} but {found}; "
            "nothing was written. Reload the history and retry."
        )


class CorruptHistoryError(StoreError):
    """A stored event of one workflow cannot be decoded; other workflows are unaffected."""

    def __init__(self, workflow_id: str, seq: int | None, reason: str) -> None:
        self.workflow_id = workflow_id
        self.seq = seq
        self.reason = reason
        where = f"event seq {seq}" if seq is not None else "its record"
        super().__init__(
            f"workflow {workflow_id!r}: {where} cannot be decoded ({reason}). "
            "The history was not changed; restore the row from a backup or terminate the workflow."
        )


class HistoryFormatError(AionError, ValueError):
    """A serialised history or event is not in a format this version of aion understands."""


# --- workflows ---------------------------------------------------------------------------------


class WorkflowNotFoundError(AionError, LookupError):
    """No workflow with this id exists."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        super().__init__(f"no workflow with id {workflow_id!r}")


class WorkflowAlreadyStartedError(AionError):
    """A workflow with this id exists and the id conflict or reuse policy forbids a new run."""

    def __init__(self, workflow_id: str, run_id: str, reason: str = "") -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        detail = f": {reason}" if reason else ""
        super().__init__(f"workflow {workflow_id!r} already started (run {run_id}){detail}")


class DuplicateStartError(WorkflowAlreadyStartedError):
    """A start's deduplication id is held by an open run of its task queue; nothing recorded.

    `workflow_id` and `run_id` name that run (``id_conflict="use_existing"`` returns it).
    """

    def __init__(self, workflow_id: str, run_id: str, queue: str, dedup_id: str) -> None:
        super().__init__(
            workflow_id,
            run_id,
            f"it holds dedup id {dedup_id!r} on task queue {queue!r} until it closes",
        )
        self.queue = queue
        self.dedup_id = dedup_id


class WorkflowClosedError(AionError):
    """The workflow run is closed; a signal, update or timer fire to it is refused."""

    def __init__(self, workflow_id: str, status: str) -> None:
        self.workflow_id = workflow_id
        self.status = status
        super().__init__(f"workflow {workflow_id!r} is closed ({status}); nothing was recorded")


class WorkflowStateError(AionError):
    """The workflow is not in a state that allows this (pause a paused run, resume a running one).

    Nothing was recorded.
    """


class WorkflowPausedError(WorkflowStateError):
    """The workflow is paused: no new activity attempt starts until it resumes."""


class ApplicationError(AionError):
    """An error raised by user code (workflow or activity) on purpose.

    Args:
        message: What went wrong, for people.
        non_retryable: When true, an activity failing with it is not retried.
        details: JSON-serialisable values carried with the error.
        type: A name for the kind of failure; defaults to the class name.
    """

    def __init__(
        self,
        message: str,
        *,
        non_retryable: bool = False,
        details: Sequence[object] = (),
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)
        self.non_retryable = non_retryable
        self.type = type or self.__class__.__name__


class WorkflowFailureError(AionError):
    """The workflow a caller waited on failed, was cancelled, terminated or timed out."""

    def __init__(self, workflow_id: str, status: str, message: str) -> None:
        self.workflow_id = workflow_id
        self.status = status
        super().__init__(f"workflow {workflow_id!r} {status}: {message}")


class ActivityError(AionError):
    """An activity failed for good (retries exhausted, non-retryable, timed out or cancelled)."""

    def __init__(self, activity_type: str, attempt: int, message: str) -> None:
        self.activity_type = activity_type
        self.attempt = attempt
        super().__init__(f"activity {activity_type!r} failed on attempt {attempt}: {message}")


class ChildWorkflowError(AionError):
    """A child workflow did not complete successfully."""

    def __init__(self, workflow_id: str, status: str, message: str) -> None:
        self.workflow_id = workflow_id
        self.status = status
        super().__init__(f"child workflow {workflow_id!r} {status}: {message}")


TimeoutKind = Literal[
    "start_to_close", "schedule_to_close", "heartbeat", "workflow_execution", "condition"
]


class TimeoutError(AionError):
    """A deadline passed: an activity timeout, a workflow execution timeout, a condition."""

    def __init__(self, kind: TimeoutKind, message: str = "") -> None:
        self.kind = kind
        super().__init__(message or f"{kind.replace('_', '-')} timeout")


class NondeterminismError(AionError):
    """Workflow code issued a command that does not match its recorded history."""

    def __init__(
        self, workflow_id: str, seq: int, expected: str, found: str, source: str = ""
    ) -> None:
        self.workflow_id = workflow_id
        self.seq = seq
        self.expected = expected
        self.found = found
        self.source = source
        at = f" at {source}" if source else ""
        super().__init__(
            f"workflow {workflow_id!r} is not deterministic at seq {seq}{at}: "
            f"the code now issues {expected} but the history recorded {found}"
        )


class UpdateRejectedError(AionError):
    """An update was refused before it was accepted (unknown, bad arguments, validator said no).

    Nothing was recorded.
    """


# --- queries (DESIGN 4.5) ----------------------------------------------------------------------


class QueryError(AionError):
    """A query could not be answered. Queries never append events, in any outcome."""


class UnknownQuery(QueryError):
    """The workflow has no query handler with this name; the workflow is untouched."""

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        self.known = tuple(known)
        hint = f"; known queries: {', '.join(self.known)}" if self.known else ""
        super().__init__(f"unknown query {name!r}{hint}")


class QueryHandlerFailed(QueryError):
    """The query handler raised; the workflow survives."""


class QueryTimeout(QueryError):
    """The query was not answered within its timeout."""


class QueryReplyDropped(QueryError):
    """The workflow closed while the query was in flight."""


class QueryRefused(QueryError):
    """A query handler tried to issue a command, or to query another workflow."""
