"""`result()` waits in slices: a wait whose reply came late is asked again, not an error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aion_core.calls import Call, WaitCall
from aion_core.errors import NoReplyError, TransportError
from aion_core.events import Event, Payload, WorkflowCompleted
from aion_core.operations import WorkflowOperations

CLOSED = Event(
    seq=4, recorded_at=datetime(2026, 1, 1, tzinfo=UTC), workflow_id="w", run_id="r",
    body=WorkflowCompleted(result=Payload()),
)  # fmt: skip


class ScriptedOwner(WorkflowOperations):
    """Answers wait calls from a script: an exception to raise, or a reply value."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.waits = 0

    async def route(self, call: Call, timeout: float | None = None) -> Any:
        assert isinstance(call, WaitCall)
        self.waits += 1
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


async def test_a_late_reply_to_a_wait_is_asked_again() -> None:
    owner = ScriptedOwner(NoReplyError("late"), None, NoReplyError("late"), CLOSED)
    assert await owner.wait_closed("w") == CLOSED
    assert owner.waits == 4


async def test_no_engine_at_all_still_fails_the_wait() -> None:
    owner = ScriptedOwner(TransportError("no engine answered"))
    with pytest.raises(TransportError, match="no engine answered"):
        await owner.wait_closed("w")
