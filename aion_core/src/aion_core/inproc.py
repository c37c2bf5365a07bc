"""The in-process transport (``inproc://``): engine, workers and clients in one process.

One `InProcessHub` per namespace stands in for the network: the engine
registers with it and owns every workflow; clients reach the engine's
`serve`; workers pull activity tasks from its queues. Calls, replies, tasks
and reports are encoded to bytes and decoded again on the way, exactly as a
networked transport carries them, so `TransportContract` tests the same
messages here as on NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from aion_core.calls import Call, QueryCall, decode_call, decode_reply, encode_call, reply_to
from aion_core.errors import AionError, TransportError
from aion_core.events import Event, Payload
from aion_core.hookspecs import hookimpl
from aion_core.tasks import ActivityTask, AttemptReport, decode_report, decode_task
from aion_core.transport import (
    EngineHandle,
    EngineRuntime,
    QueryService,
    TaskDelivery,
    TransportClient,
)
from aion_core.urls import url_scheme

__all__ = ["InProcessTransportPlugin", "namespace_of"]

log = logging.getLogger("aion.inproc")

_REDELIVERY_DELAY = 0.05


def namespace_of(url: str) -> str:
    """The namespace an ``inproc://`` URL names ("" when none): ``inproc://NAME``."""
    parts = urlsplit(url)
    return parse_qs(parts.query).get("namespace", [""])[0] or parts.netloc


@dataclass
class _Hub:
    """Where the engine, workers and clients of one namespace meet."""

    namespace: str
    engines: list[EngineRuntime] = field(default_factory=list)
    engine_ready: asyncio.Event = field(default_factory=asyncio.Event)
    queues: defaultdict[str, asyncio.Queue[bytes]] = field(
        default_factory=lambda: defaultdict(asyncio.Queue)
    )
    queued: set[str] = field(default_factory=set)
    """Task ids queued or being worked on: a second dispatch of one is dropped."""
    pollers: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    watchers: defaultdict[str, list[asyncio.Queue[Event]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    cancel_watchers: list[asyncio.Queue[str]] = field(default_factory=list)

    @property
    def engine(self) -> EngineRuntime | None:
        """The engine clients and workers talk to: the newest one started."""
        return self.engines[-1] if self.engines else None

    def enqueue(self, data: bytes, task_id: str, task_queue: str) -> None:
        if task_id in self.queued:
            return
        self.queued.add(task_id)
        self.queues[task_queue].put_nowait(data)


_HUBS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Hub]] = (
    weakref.WeakKeyDictionary()
)


def _hub(namespace: str) -> _Hub:
    """The hub of `namespace` on the running event loop (its queues belong to that loop)."""
    hubs = _HUBS.setdefault(asyncio.get_running_loop(), {})
    hub = hubs.get(namespace)
    if hub is None:
        hub = hubs[namespace] = _Hub(namespace)
    return hub


async def _serve_encoded(engine: EngineRuntime, call: Call) -> object:
    """Carry a call to the engine and its reply back as bytes, as a network would."""
    received = decode_call(encode_call(call))
    try:
        reply = reply_to(received, await engine.serve(received))
    except AionError as refusal:
        reply = reply_to(received, error=refusal)
    return decode_reply(call, reply)


class _EngineHandle:
    """The engine's side: it owns every workflow of its namespace in this process."""

    def __init__(self, namespace: str, engine: EngineRuntime) -> None:
        self._namespace = namespace
        self._engine = engine
        self._hub_or_none: _Hub | None = None

    @property
    def _hub(self) -> _Hub:
        if self._hub_or_none is None:
            self._hub_or_none = _hub(self._namespace)
        return self._hub_or_none

    async def start(self) -> None:
        # Several engines of one namespace in one process (a test standing in for a
        # crashed engine and its successor) all own everything, as with a shared store;
        # clients and workers talk to the newest.
        self._hub.engines.append(self._engine)
        self._hub.engine_ready.set()
        await self._engine.adopt(lambda _: True)

    async def close(self) -> None:
        if self._engine in self._hub.engines:
            self._hub.engines.remove(self._engine)
        if not self._hub.engines:
            self._hub.engine_ready.clear()

    def owns(self, workflow_id: str) -> bool:
        return True

    def may_record(self, workflow_id: str) -> bool:
        return True

    async def forward(self, call: Call, timeout: float) -> object:
        return await _serve_encoded(self._engine, call)

    async def dispatch(self, task: ActivityTask) -> None:
        self._hub.enqueue(task.model_dump_json().encode(), task.task_id, task.task_queue)

    async def cancel(self, task: ActivityTask) -> None:
        for watcher in self._hub.cancel_watchers:
            watcher.put_nowait(task.task_id)

    def serves_task_queue(self, task_queue: str) -> bool:
        return self._hub.pollers[task_queue] > 0

    def published(self, workflow_id: str, events: Sequence[Event]) -> None:
        for watcher in self._hub.watchers.get(workflow_id, ()):
            for event in events:
                watcher.put_nowait(event)


class _QueryService:
    """Queries go to the engine itself: it owns every workflow."""

    def __init__(self, engine: EngineRuntime) -> None:
        self._engine = engine

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def query(self, call: QueryCall) -> Payload:
        answer = await self._engine.serve(call)
        assert isinstance(answer, Payload)
        return answer


@dataclass
class _Delivery:
    """A task taken from a hub queue by a worker."""

    task: ActivityTask
    data: bytes
    hub: _Hub
    settled: bool = False

    async def in_progress(self) -> None:
        pass

    async def ack(self) -> None:
        if not self.settled:
            self.settled = True
            self.hub.queued.discard(self.task.task_id)

    async def nak(self) -> None:
        if not self.settled:
            self.settled = True
            self.hub.queues[self.task.task_queue].put_nowait(self.data)


class _Client:
    """The side of clients and workers in this process."""

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace

    @property
    def _hub(self) -> _Hub:
        return _hub(self._namespace)

    @property
    def namespace(self) -> str:
        return self._namespace

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def call(self, call: Call, timeout: float) -> object:
        engine = self._hub.engine
        if engine is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._hub.engine_ready.wait()
            engine = self._hub.engine
        if engine is None:
            raise TransportError(
                f"no engine serves namespace {self._namespace!r} in this process; "
                "start an Engine(transport='inproc://') first"
            )
        return await _serve_encoded(engine, call)

    async def events(self, workflow_id: str) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        watchers = self._hub.watchers[workflow_id]
        watchers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            watchers.remove(queue)

    async def tasks(self, task_queue: str, capacity: int) -> AsyncIterator[TaskDelivery]:
        hub = self._hub
        hub.pollers[task_queue] += 1
        try:
            while True:
                data = await hub.queues[task_queue].get()
                yield _Delivery(decode_task(data), data, hub)
        finally:
            hub.pollers[task_queue] -= 1

    async def report(self, report: AttemptReport) -> None:
        received = decode_report(report.model_dump_json().encode())
        while True:
            engine = self._hub.engine
            if engine is not None and await engine.attempt_reported(received):
                return
            await asyncio.sleep(_REDELIVERY_DELAY)  # the engine is adopting the workflow

    async def cancellations(self) -> AsyncIterator[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._hub.cancel_watchers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._hub.cancel_watchers.remove(queue)


class InProcessTransportPlugin:
    """Handles ``inproc://`` transport URLs (the default: everything in this process)."""

    @hookimpl
    def aion_engine_handle(self, url: str, engine: EngineRuntime) -> EngineHandle | None:
        """The in-process engine handle for ``inproc://`` URLs."""
        if url_scheme(url, kind="transport") != "inproc":
            return None
        return _EngineHandle(namespace_of(url) or engine.namespace, engine)

    @hookimpl
    def aion_query_service(self, url: str, engine: EngineRuntime) -> QueryService | None:
        """The in-process query service for ``inproc://`` URLs."""
        if url_scheme(url, kind="transport") != "inproc":
            return None
        return _QueryService(engine)

    @hookimpl
    def aion_transport_client(self, url: str) -> TransportClient | None:
        """The in-process client side for ``inproc://`` URLs."""
        if url_scheme(url, kind="transport") != "inproc":
            return None
        return _Client(namespace_of(url) or "default")
