"""Exceptions to recorded `Failure`s and back, so errors cross histories and the wire intact."""

from __future__ import annotations

import traceback

from aion_core.converter import from_payload, to_payload
from aion_core.errors import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    PayloadValidationError,
    TimeoutError,
)
from aion_core.events import Failure, Payload

__all__ = ["exception_from_failure", "failure_from_exception"]

_MAX_CAUSES = 8


def _details(error: BaseException) -> tuple[Payload, ...]:
    if not isinstance(error, ApplicationError):
        return ()
    try:
        return tuple(to_payload(detail) for detail in error.details)
    except PayloadValidationError:
        return (to_payload(repr(error.details)),)


def failure_from_exception(error: BaseException, *, depth: int = 0) -> Failure:
    """A `Failure` describing `error`, its traceback and (a few levels of) its cause."""
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return Failure(
        message=str(error) or type(error).__name__,
        type=error.type if isinstance(error, ApplicationError) else type(error).__name__,
        stack_trace="".join(traceback.format_exception(error, chain=False)),
        non_retryable=isinstance(error, ApplicationError) and error.non_retryable,
        details=_details(error),
        cause=(
            failure_from_exception(cause, depth=depth + 1)
            if cause is not None and depth < _MAX_CAUSES
            else None
        ),
    )


def exception_from_failure(failure: Failure) -> ApplicationError:
    """An `ApplicationError` carrying what `failure` recorded (type, details, cause chain)."""
    details = []
    for payload in failure.details:
        try:
            details.append(from_payload(payload))
        except PayloadValidationError:
            details.append(payload)
    error = ApplicationError(
        failure.message, non_retryable=failure.non_retryable, details=details, type=failure.type
    )
    error.stack_trace = failure.stack_trace  # type: ignore[attr-defined]
    if failure.cause is not None:
        error.__cause__ = exception_from_failure(failure.cause)
    return error


DOMAIN_FAILURES: tuple[type[BaseException], ...] = (
    ApplicationError,
    ActivityError,
    ChildWorkflowError,
    TimeoutError,
    PayloadValidationError,
)
"""Exceptions that fail a workflow at once; anything else is a bug that supervision restarts."""
