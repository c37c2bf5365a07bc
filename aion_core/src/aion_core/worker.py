"""`Worker`: runs activity attempts that engines hand out through a transport (DESIGN 2.2).

A worker pulls `ActivityTask`s of one task queue, runs the activity code
(async on its loop, sync in a thread pool, through the activity
interceptors), keeps the transport told that the attempt is alive, forwards
heartbeats to the owning engine, and reports the outcome before it
acknowledges the task. Payloads travel encoded by the payload codecs both
ways: the worker decodes those of a task and encodes those of its reports.
The engine enforces every timeout and decides retries; a worker that dies
leaves its task unacknowledged, so the transport hands it to another worker::

    async with Worker("nats://127.0.0.1:4222", activities=[charge], task_queue="default"):
        await asyncio.Event().wait()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aion_core.activity import ActivityContext, ActivityInfo
from aion_core.codec import PayloadCodecChain
from aion_core.converter import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    check_max_payload_bytes,
    from_payloads,
    to_payload,
)
from aion_core.definitions import ActivityDefinition, activity_definition
from aion_core.errors import (
    AionError,
    ApplicationError,
    ConfigurationError,
    PayloadTooLargeError,
)
from aion_core.failures import failure_from_exception
from aion_core.interceptors import ActivityCall, invoke_activity
from aion_core.lifecycle import Service
from aion_core.plugins import Plugins, load_plugins
from aion_core.slots import Slots
from aion_core.tasks import ActivityTask, AttemptReport
from aion_core.transport import TaskDelivery, TransportClient

__all__ = ["Worker"]

log = logging.getLogger("aion.worker")

_KEEP_ALIVE = 5.0
"""Seconds between "still running" notices to the transport while an attempt runs."""


class Worker(Service):
    """Runs the activities of one task queue for engines on a transport.

    Args:
        transport: A transport URL (``inproc://``, ``nats://host:4222``) or client.
        activities: Activity functions (``@activity.defn``) this worker runs.
        task_queue: The queue it takes tasks from.
        max_concurrency: Attempts running at once.
        plugins: The loaded plugins (activity interceptors and payload codecs apply here).
        max_payload_bytes: Largest JSON of one activity result it reports; a bigger result
            fails its attempt with `PayloadTooLargeError`, not retried. Default
            `DEFAULT_MAX_PAYLOAD_BYTES` (2 MiB); None for no limit.
    """

    def __init__(
        self,
        transport: str | TransportClient = "inproc://",
        *,
        activities: Iterable[object],
        task_queue: str = "default",
        max_concurrency: int = 100,
        plugins: Plugins | None = None,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        self.max_payload_bytes = check_max_payload_bytes(max_payload_bytes)
        self.plugins = plugins or load_plugins()
        self.transport = (
            self.plugins.transport_client(transport) if isinstance(transport, str) else transport
        )
        self.definitions: dict[str, ActivityDefinition] = {}
        for fn in activities:
            definition = activity_definition(fn)
            self.definitions[definition.name] = definition
        if not self.definitions:
            raise ConfigurationError("a worker needs at least one activity")
        self.task_queue = task_queue
        self.max_concurrency = max_concurrency
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self._interceptors = self.plugins.activity_interceptors()
        self.codec = PayloadCodecChain(self.plugins.payload_codecs())
        self._threads = ThreadPoolExecutor(max_concurrency, thread_name_prefix="aion-worker")
        self._slots = Slots(max_concurrency)
        self._running: dict[str, tuple[ActivityContext, asyncio.Task[None]]] = {}
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Connect and begin taking tasks."""
        await self.transport.connect()
        self._loops = [
            asyncio.create_task(self._take_tasks(), name=f"aion-worker-{self.task_queue}"),
            asyncio.create_task(self._take_cancellations(), name="aion-worker-cancellations"),
        ]

    async def close(self) -> None:
        """Stop: running attempts are cancelled and their tasks given back, then disconnect."""
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for context, task in self._running.values():
            context.cancel()
            task.cancel()
        await asyncio.gather(*(task for _, task in self._running.values()), return_exceptions=True)
        await self.transport.close()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def run(self) -> None:
        """Run until cancelled (``aion worker``)."""
        async with self:
            await asyncio.Event().wait()

    @property
    def running(self) -> int:
        """Attempts running now."""
        return len(self._running)

    async def _take_tasks(self) -> None:
        while True:
            try:
                await self._take_tasks_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a transport fault must not leave the worker idle
                log.exception("taking tasks of %r failed; starting again", self.task_queue)
                await asyncio.sleep(1)

    async def _take_tasks_once(self) -> None:
        # A slot first, then a task: a task taken and left waiting for a slot would
        # look abandoned to the transport and go to another worker as well.
        deliveries = aiter(self.transport.tasks(self.task_queue, self.max_concurrency))
        while True:
            await self._slots.acquire()
            try:
                delivery = await anext(deliveries)
            except BaseException:
                self._slots.release()
                raise
            task_id = delivery.task.task_id
            if task_id in self._running:
                self._slots.release()
                continue  # a copy of an attempt this worker runs already
            work = asyncio.create_task(self._run(delivery), name=f"aion-attempt-{task_id}")
            context = ActivityContext(_info(delivery.task), lambda _: None)
            self._running[task_id] = (context, work)

    async def _take_cancellations(self) -> None:
        while True:
            try:
                await self._take_cancellations_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("listening for cancellations failed; starting again")
                await asyncio.sleep(1)

    async def _take_cancellations_once(self) -> None:
        async for task_id in self.transport.cancellations():
            running = self._running.get(task_id)
            if running is not None:
                context, work = running
                context.cancel()
                work.cancel()

    async def _run(self, delivery: TaskDelivery) -> None:
        task = delivery.task
        keep_alive = asyncio.create_task(_keep_alive(delivery))
        try:
            report = await self._attempt(task)
            try:
                await self.transport.report(await self.codec.encode_payloads_in(report))
            except PayloadTooLargeError as too_large:
                # The transport cannot carry this result, now or on any retry: the
                # attempt fails for good instead of running again and again.
                failed = self._failed(task, too_large, non_retryable=True)
                await self.transport.report(await self.codec.encode_payloads_in(failed))
            await delivery.ack()
        except asyncio.CancelledError:
            # Cancelled by its engine (which records the outcome) or by close().
            with contextlib.suppress(AionError):
                await delivery.nak()
            raise
        except AionError as error:
            log.warning("attempt %s not reported (%s); it will be retried", task.task_id, error)
            with contextlib.suppress(AionError):
                await delivery.nak()
        finally:
            keep_alive.cancel()
            self._running.pop(task.task_id, None)
            self._slots.release()

    async def _attempt(self, task: ActivityTask) -> AttemptReport:
        """Run the attempt; its outcome as a report (completed or failed)."""
        definition = self.definitions.get(task.activity_type)
        if definition is None:
            error = ApplicationError(
                f"worker {self.identity} on task queue {task.task_queue!r} has no activity "
                f"named {task.activity_type!r}; it has: {', '.join(sorted(self.definitions))}",
                type="ActivityNotRegistered",
            )
            return self._failed(task, error)
        try:
            # A worker without the codec's key fails the attempt, retryably: it may
            # be configured meanwhile, or another worker has the key.
            task = await self.codec.decode_payloads_in(task)
        except AionError as undecodable:
            return self._failed(task, undecodable)
        try:
            args = from_payloads(
                task.input, definition.param_types, f"activity {definition.name!r}"
            )
            previous = tuple(from_payloads(task.heartbeat_details, None, "heartbeat details"))
        except AionError as invalid:
            return self._failed(task, invalid, non_retryable=True)
        loop = asyncio.get_running_loop()
        context = ActivityContext(
            _info(task, previous), lambda details: self._heartbeat(loop, task, details)
        )
        running = self._running.get(task.task_id)
        if running is not None:
            self._running[task.task_id] = (context, running[1])
        call = ActivityCall(
            task.activity_type, tuple(args), task.workflow_id, task.attempt, task.headers
        )
        try:
            result = await invoke_activity(
                definition, context, call, interceptors=self._interceptors, threads=self._threads
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            return self._failed(task, error)
        try:
            payload = to_payload(
                result, definition.return_type, what="activity result",
                max_bytes=self.max_payload_bytes,
            )  # fmt: skip
        except AionError as invalid:  # invalid or too large: every retry would be too
            return self._failed(task, invalid, non_retryable=True)
        return _report(task, self.identity, "completed", result=payload)

    def _failed(
        self, task: ActivityTask, error: BaseException, *, non_retryable: bool = False
    ) -> AttemptReport:
        failure = failure_from_exception(error)
        if non_retryable:
            failure = failure.model_copy(update={"non_retryable": True})
        return _report(task, self.identity, "failed", failure=failure)

    def _heartbeat(
        self, loop: asyncio.AbstractEventLoop, task: ActivityTask, details: tuple[Any, ...]
    ) -> None:
        """From the activity (any thread): forward the details to the owning engine."""
        try:
            payloads = tuple(to_payload(detail) for detail in details)
        except AionError:
            payloads = (to_payload(repr(details)),)
        report = _report(task, self.identity, "heartbeat", heartbeat_details=payloads)

        def send() -> None:
            loop.create_task(self._send_heartbeat(report))

        with contextlib.suppress(RuntimeError):  # the loop is closed: the worker stopped
            loop.call_soon_threadsafe(send)

    async def _send_heartbeat(self, report: AttemptReport) -> None:
        try:
            await self.transport.report(await self.codec.encode_payloads_in(report))
        except AionError as error:
            log.info("heartbeat of %s:%s not sent: %s", report.workflow_id, report.attempt, error)


async def _keep_alive(delivery: TaskDelivery) -> None:
    """Tell the transport the attempt is alive, so it is not handed to another worker."""
    while True:
        await asyncio.sleep(_KEEP_ALIVE)
        with contextlib.suppress(AionError):
            await delivery.in_progress()


def _info(task: ActivityTask, heartbeat_details: tuple[Any, ...] = ()) -> ActivityInfo:
    return ActivityInfo(
        activity_id=task.activity_id,
        activity_type=task.activity_type,
        attempt=task.attempt,
        workflow_id=task.workflow_id,
        run_id=task.run_id,
        task_queue=task.task_queue,
        scheduled_at=task.scheduled_at,
        idempotency_key=task.idempotency_key,
        heartbeat_details=heartbeat_details,
    )


def _report(task: ActivityTask, worker: str, kind: Any, **outcome: Any) -> AttemptReport:
    return AttemptReport(
        workflow_id=task.workflow_id,
        run_id=task.run_id,
        activity_id=task.activity_id,
        attempt=task.attempt,
        kind=kind,
        worker=worker,
        **outcome,
    )
