"""The transport seams (DESIGN 3): `EngineHandle`, `QueryService` and `TransportClient`.

A transport connects engines, activity workers and clients. It is chosen by
URL (``inproc://``, ``nats://...``) through the hooks `aion_engine_handle` and
`aion_query_service` (the engine's side) and `aion_transport_client` (the
side of clients and workers, which have no store). What crosses it is defined
in `aion_core.calls` (operations on workflows) and `aion_core.tasks`
(activity attempts), so every transport carries the same messages. Their
payloads are encoded by the payload codecs, as the store holds them: a
transport carries them as they are and never needs the codecs.

Ownership: each workflow is served by one engine at a time. `EngineHandle.owns`
says whether that is this engine; calls for other workflows are forwarded to
their owner. When ownership moves (a node joins, leaves or dies), the handle
tells the engine through `EngineRuntime.adopt` and `EngineRuntime.release`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol, runtime_checkable

from aion_core.calls import Call, QueryCall
from aion_core.events import Event, Payload
from aion_core.store.protocol import EventStore
from aion_core.tasks import ActivityTask, AttemptReport

__all__ = [
    "EngineHandle",
    "EngineRuntime",
    "Ownership",
    "QueryService",
    "TaskDelivery",
    "TransportClient",
]

Ownership = Callable[[str], bool]
"""Whether a workflow id belongs to a set of workflows (a partition, all of them)."""


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

    @property
    def identity(self) -> str:
        """``host:pid`` of the engine's process, for logs and recorded events."""
        ...

    async def serve(self, call: Call) -> object:
        """Carry out a call as the owner of its workflow; return the reply value.

        The call's payloads are encoded, and so are the reply's.

        Raises:
            AionError: The typed refusal the caller gets (it crosses the wire intact).
        """
        ...

    async def adopt(self, owns: Ownership) -> None:
        """Workflows for which `owns` holds are now this engine's: recover them."""
        ...

    async def release(self, owns: Ownership) -> None:
        """Workflows for which `owns` holds are no longer this engine's: drop them from memory.

        Nothing recorded is lost; their new owner recovers them from the store.
        """
        ...

    async def attempt_reported(self, report: AttemptReport) -> bool:
        """A worker reported on an activity attempt of a workflow this engine owns.

        Returns:
            True when the report is settled (recorded, or stale and dropped), False when
            the engine cannot take it yet (it is adopting the workflow): deliver it again
            later.
        """
        ...


@runtime_checkable
class EngineHandle(Protocol):
    """The engine's seam to other nodes, activity workers and clients."""

    async def start(self) -> None:
        """Connect, begin serving calls, and claim ownership (which calls `adopt`)."""
        ...

    async def close(self) -> None:
        """Give up ownership (other nodes adopt at once), stop serving, disconnect."""
        ...

    def owns(self, workflow_id: str) -> bool:
        """Whether this engine serves `workflow_id` now."""
        ...

    def may_record(self, workflow_id: str) -> bool:
        """Whether this engine may append to `workflow_id`'s history at this moment.

        Asked right before every append. Stricter than `owns` where ownership is
        a lease: False as soon as the lease has gone unrenewed long enough that
        another node could hold it, even before this node has noticed and let
        the workflow go. A node frozen past its lease then records nothing.
        """
        ...

    async def forward(self, call: Call, timeout: float) -> object:
        """Carry out `call` on the engine that owns its workflow; its reply value.

        Raises:
            AionError: The owner's typed refusal, or `TransportError` when no owner
                answered within `timeout` seconds.
        """
        ...

    async def dispatch(self, task: ActivityTask) -> None:
        """Hand an activity attempt to the workers of its task queue (idempotent per task id)."""
        ...

    async def cancel(self, task: ActivityTask) -> None:
        """Ask the worker running `task` to stop (best effort; the engine records the outcome)."""
        ...

    def serves_task_queue(self, task_queue: str) -> bool:
        """Whether workers may take tasks of `task_queue`.

        An engine fails attempts of activities it cannot run itself when no worker can.
        """
        ...

    def published(self, workflow_id: str, events: Sequence[Event]) -> None:
        """Events just made durable: publish them to live watchers (never blocks)."""
        ...


@runtime_checkable
class QueryService(Protocol):
    """Routes a query to the live instance of its workflow and maps failures to `QueryError`s."""

    async def start(self) -> None:
        """Begin answering queries."""
        ...

    async def close(self) -> None:
        """Stop answering queries."""
        ...

    async def query(self, call: QueryCall) -> Payload:
        """The answer to the query `call` asks; nothing is ever recorded.

        Its arguments and the answer are encoded by the payload codecs; its
        headers reach the handler's interceptors.

        Raises:
            QueryError: `UnknownQuery`, `QueryHandlerFailed`, `QueryTimeout`,
                `QueryReplyDropped` or `QueryRefused`.
            WorkflowNotFoundError: No such workflow.
        """
        ...


@runtime_checkable
class TaskDelivery(Protocol):
    """One activity task handed to a worker; settle it with `ack` or `nak`."""

    @property
    def task(self) -> ActivityTask:
        """The attempt to run."""
        ...

    async def in_progress(self) -> None:
        """Tell the transport the attempt is still running (keeps it from redelivery)."""
        ...

    async def ack(self) -> None:
        """Done with it: its outcome was reported."""
        ...

    async def nak(self) -> None:
        """Give it back for another worker (this one is stopping)."""
        ...


@runtime_checkable
class TransportClient(Protocol):
    """The side of clients and activity workers: no store, no ownership."""

    @property
    def namespace(self) -> str:
        """The namespace it talks to."""
        ...

    async def connect(self) -> None:
        """Connect to the transport; nothing when connected already."""
        ...

    async def close(self) -> None:
        """Disconnect; tasks taken and not acked go back to the queue."""
        ...

    async def call(self, call: Call, timeout: float) -> object:
        """Carry out `call` on the engine that owns its workflow (any engine for reads).

        Raises:
            AionError: The engine's typed refusal, or `TransportError` when no engine
                answered within `timeout` seconds.
        """
        ...

    def events(self, workflow_id: str) -> AsyncIterator[Event]:
        """Events of `workflow_id` as they become durable, from now on."""
        ...

    def tasks(self, task_queue: str, capacity: int) -> AsyncIterator[TaskDelivery]:
        """Activity tasks of `task_queue`, at most `capacity` unsettled at once."""
        ...

    async def report(self, report: AttemptReport) -> None:
        """Send an attempt's heartbeat or outcome to the engine that owns its workflow."""
        ...

    def cancellations(self) -> AsyncIterator[str]:
        """Task ids engines asked to stop."""
        ...
