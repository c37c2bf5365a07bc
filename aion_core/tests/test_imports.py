"""aion-core stays small: it imports neither SQLAlchemy, nats nor click, and pins its exports."""

from __future__ import annotations

import subprocess
import sys

import aion_core


def test_aion_core_imports_neither_sqlalchemy_nor_nats_nor_click() -> None:
    code = (
        "import sys, aion_core, aion_core.plugins, aion_core.testing, aion_core.store, "
        "aion_core.history, aion_core.recorder, aion_core.group_commit, aion_core.inproc, "
        "aion_core.client, aion_core.worker, aion_core.calls, aion_core.tasks\n"
        "aion_core.plugins.load_plugins({'AION_PLUGINS': ''})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'nats', 'click', 'rich', 'pytest'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_public_exports_are_pinned() -> None:
    assert set(aion_core.__all__) == {
        "HISTORY_FORMAT_VERSION", "ActivityError", "AionError", "ApplicationError",
        "ChildWorkflowError", "Client", "ConfigurationError", "CorruptHistoryError", "Engine",
        "Event", "TransportError", "Worker",
        "EventStore",
        "HistoryFormatError", "MemoryEventStore", "NoReplyError", "NondeterminismError", "Payload",
        "PayloadTooLargeError", "PayloadValidationError", "PluginError", "Plugins", "QueryError",
        "QueryHandlerFailed",
        "QueryRefused", "QueryReplyDropped", "QueryTimeout", "QueueSettings", "Recorder",
        "RetryPolicy",
        "SequenceConflictError", "StoreError", "StoreRecorder", "StoreUnavailableError",
        "UnknownQuery", "UnknownURLSchemeError", "WorkflowAlreadyStartedError",
        "WorkflowClosedError", "WorkflowFailureError", "WorkflowFilter", "WorkflowHandle",
        "WorkflowNotFoundError", "activity", "workflow",
        "WorkflowRecord", "WorkflowStatus", "hookimpl", "load_plugins",
    }  # fmt: skip
    for name in aion_core.__all__:
        assert getattr(aion_core, name) is not None


def test_every_error_has_one_root() -> None:
    from aion_core import errors

    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, errors.AionError), name
