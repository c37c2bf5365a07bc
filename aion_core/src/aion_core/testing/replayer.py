"""`Replayer`: check recorded histories against the current workflow code.

Replays each run of a history and raises `NondeterminismError` with a
readable diff (the command the code issues now, the event recorded at that
seq, and the workflow source line) at the first point they part.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aion_core.definitions import workflow_definition
from aion_core.errors import ConfigurationError
from aion_core.events import Event, WorkflowStarted
from aion_core.history import check_contiguous, history_from_json
from aion_core.runtime.instance import WorkflowInstance

__all__ = ["Replayer"]


class Replayer:
    """Replays histories against workflow code without running anything.

    Args:
        workflows: The workflow definitions the histories may name.
    """

    def __init__(self, *, workflows: Iterable[object]) -> None:
        self._definitions = {
            definition.name: definition
            for definition in (workflow_definition(w) for w in workflows)
        }

    def replay(self, history: Sequence[Event] | str | bytes) -> None:
        """Replay every run of `history` (events, or a JSON history document).

        Raises:
            NondeterminismError: The code no longer produces what the history recorded.
            HistoryFormatError: The history is malformed.
            ConfigurationError: The history's workflow type is not among `workflows`.
        """
        events = history_from_json(history) if isinstance(history, str | bytes) else list(history)
        check_contiguous(events)
        starts = [i for i, event in enumerate(events) if isinstance(event.body, WorkflowStarted)]
        for position, start in enumerate(starts):
            end = starts[position + 1] if position + 1 < len(starts) else len(events)
            run = events[start:end]
            started = run[0].body
            assert isinstance(started, WorkflowStarted)
            definition = self._definitions.get(started.workflow_type)
            if definition is None:
                raise ConfigurationError(
                    f"the history is of workflow type {started.workflow_type!r}, "
                    f"not among the replayer's: {', '.join(sorted(self._definitions)) or 'none'}"
                )
            instance = WorkflowInstance(definition, run[0].workflow_id, run[0].run_id, run)
            try:
                instance.replay()
            finally:
                instance.discard()
