"""Event stores: the `EventStore` seam, its records, the projection rules and `memory://`."""

from aion_core.store.memory import MemoryEventStore
from aion_core.store.projection import batch_for, project_timers, project_workflow
from aion_core.store.protocol import EventStore, EventStoreBase
from aion_core.store.records import (
    AppendBatch,
    TimerKey,
    TimerRecord,
    WorkflowFilter,
    WorkflowRecord,
)

__all__ = [
    "AppendBatch",
    "EventStore",
    "EventStoreBase",
    "MemoryEventStore",
    "TimerKey",
    "TimerRecord",
    "WorkflowFilter",
    "WorkflowRecord",
    "batch_for",
    "project_timers",
    "project_workflow",
]
