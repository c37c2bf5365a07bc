"""What the console says when something cannot be done: one place maps errors to pages.

Every error a user can cause (an unknown id, malformed JSON, a refused
action, a store or transport out of reach) becomes a short message and an
HTTP status; the page around it still renders. Nothing else is ever shown:
an unexpected exception is logged with its traceback and the page says only
that it happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from aion_core.errors import (
    AionError,
    ApplicationError,
    ConfigurationError,
    PayloadValidationError,
    QueryError,
    StoreError,
    TransportError,
    UnknownQuery,
    UpdateRejectedError,
    WorkflowAlreadyStartedError,
    WorkflowClosedError,
    WorkflowNotFoundError,
    WorkflowStateError,
)
from aion_core.schedules.spec import ScheduleNotFoundError

__all__ = ["Problem", "problem_of", "start_problem_of"]


@dataclass(frozen=True)
class Problem:
    """A message for the page and the HTTP status that goes with it."""

    message: str
    status: int = 400
    title: str = "That did not work"


_STATUSES: tuple[tuple[type[AionError], int, str], ...] = (
    (WorkflowNotFoundError, 404, "No such workflow"),
    (ScheduleNotFoundError, 404, "No such schedule"),
    (PayloadValidationError, 400, "The input does not fit"),
    (UnknownQuery, 400, "No such query"),
    (UpdateRejectedError, 400, "The update was rejected"),
    (WorkflowAlreadyStartedError, 409, "Already started"),
    (WorkflowClosedError, 409, "The workflow is closed"),
    (WorkflowStateError, 409, "Not in this state"),
    (QueryError, 422, "The query was not answered"),
    (ApplicationError, 422, "The workflow refused"),
    (StoreError, 503, "The store is out of reach"),
    (TransportError, 503, "The engines are out of reach"),
    (ConfigurationError, 503, "Not configured for this"),
)


def problem_of(error: AionError) -> Problem:
    """The message and status for `error`, by its type."""
    for kind, status, title in _STATUSES:
        if isinstance(error, kind):
            return Problem(str(error), status, title)
    return Problem(str(error), 400)


def start_problem_of(error: AionError) -> Problem:
    """The message and status for `error` raised by starting a workflow.

    The client was connected before the start was sent, so a configuration error
    now is the engine refusing what the form asked for (a workflow type it does not
    run): the user's to fix, not the console's setup.
    """
    if isinstance(error, ConfigurationError):
        return Problem(str(error), 400, "The workflow cannot start")
    return problem_of(error)
