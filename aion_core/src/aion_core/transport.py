"""The transport seams: `EngineHandle` and `QueryService` (DESIGN 3).

A transport (in-process, NATS) gives the engine its way to everything outside
one workflow instance. Transports are chosen by URL through the
`aion_engine_handle` and `aion_query_service` hooks.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aion_core.store.protocol import EventStore

__all__ = ["EngineHandle", "EngineRuntime", "QueryService"]


@runtime_checkable
class EngineRuntime(Protocol):
    """What a transport may use of the engine it serves."""

    @property
    def namespace(self) -> str:
        """The namespace the engine serves; transports prefix their subjects with it."""
        ...

    @property
    def store(self) -> EventStore:
        """The engine's event store."""
        ...


@runtime_checkable
class EngineHandle(Protocol):
    """The engine's seam to other nodes, activity workers, timers and children."""

    async def start(self) -> None:
        """Connect and begin serving the engine."""
        ...

    async def close(self) -> None:
        """Stop serving and disconnect."""
        ...


@runtime_checkable
class QueryService(Protocol):
    """Routes queries to the live instance of a workflow and maps failures to `QueryError`s."""

    async def start(self) -> None:
        """Begin answering queries."""
        ...

    async def close(self) -> None:
        """Stop answering queries; queries in flight get `QueryReplyDropped`."""
        ...
