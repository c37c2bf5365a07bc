"""aion: durable workflows as plain async Python.

Every decision a workflow makes is recorded in an append-only event history
and replayed deterministically, so workflows survive crashes, restarts and
deploys. This package is the core: the event model, stores, the recorder and
the plugin system. Plugins add SQL stores, the NATS transport and the CLI.
"""

from aion_core import activity, workflow
from aion_core.client import Client
from aion_core.engine import Engine
from aion_core.engine.queues import QueueSettings
from aion_core.errors import (
    ActivityError,
    AionError,
    ApplicationError,
    ChildWorkflowError,
    ConfigurationError,
    CorruptHistoryError,
    HistoryFormatError,
    NondeterminismError,
    NoReplyError,
    PayloadTooLargeError,
    PayloadValidationError,
    PluginError,
    QueryError,
    QueryHandlerFailed,
    QueryRefused,
    QueryReplyDropped,
    QueryTimeout,
    SequenceConflictError,
    StoreError,
    StoreUnavailableError,
    TransportError,
    UnknownQuery,
    UnknownURLSchemeError,
    WorkflowAlreadyStartedError,
    WorkflowClosedError,
    WorkflowFailureError,
    WorkflowNotFoundError,
)
from aion_core.events import HISTORY_FORMAT_VERSION, Event, Payload, WorkflowStatus
from aion_core.handle import WorkflowHandle
from aion_core.hookspecs import hookimpl
from aion_core.plugins import Plugins, load_plugins
from aion_core.recorder import Recorder, StoreRecorder
from aion_core.retry import RetryPolicy
from aion_core.store import EventStore, MemoryEventStore, WorkflowFilter, WorkflowRecord
from aion_core.worker import Worker

__all__ = [
    "HISTORY_FORMAT_VERSION",
    "ActivityError",
    "AionError",
    "ApplicationError",
    "ChildWorkflowError",
    "Client",
    "ConfigurationError",
    "CorruptHistoryError",
    "Engine",
    "Event",
    "EventStore",
    "HistoryFormatError",
    "MemoryEventStore",
    "NoReplyError",
    "NondeterminismError",
    "Payload",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "PluginError",
    "Plugins",
    "QueryError",
    "QueryHandlerFailed",
    "QueryRefused",
    "QueryReplyDropped",
    "QueryTimeout",
    "QueueSettings",
    "Recorder",
    "RetryPolicy",
    "SequenceConflictError",
    "StoreError",
    "StoreRecorder",
    "StoreUnavailableError",
    "TransportError",
    "UnknownQuery",
    "UnknownURLSchemeError",
    "Worker",
    "WorkflowAlreadyStartedError",
    "WorkflowClosedError",
    "WorkflowFailureError",
    "WorkflowFilter",
    "WorkflowHandle",
    "WorkflowNotFoundError",
    "WorkflowRecord",
    "WorkflowStatus",
    "activity",
    "hookimpl",
    "load_plugins",
    "workflow",
]
