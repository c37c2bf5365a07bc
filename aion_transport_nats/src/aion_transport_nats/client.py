"""The side of clients and activity workers on NATS (`TransportClient`).

Calls go by request/reply to the owner of the workflow's partition
(``aion.<ns>.ctl.<p>``), reads of the store to any engine
(``aion.<ns>.api``). Workers pull tasks from the namespace's work-queue stream
through one durable consumer per task queue, tell JetStream an attempt is
alive with ``in_progress()``, and publish reports on the result subject of
the workflow's partition before they acknowledge the task. Live events arrive
on ``aion.<ns>.events.<workflow_id>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import MaxPayloadError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import Error as JetStreamError

from aion_core.calls import MAX_WIRE_BYTES, Call
from aion_core.errors import TransportError, WireFormatError
from aion_core.events import Event
from aion_core.tasks import ActivityTask, AttemptReport, decode_task
from aion_core.transport import TaskDelivery
from aion_transport_nats.connection import connect
from aion_transport_nats.node import cancel_subject
from aion_transport_nats.options import NatsOptions
from aion_transport_nats.partitions import partition_of
from aion_transport_nats.pulling import fetch
from aion_transport_nats.streams import StreamNames, ensure_streams
from aion_transport_nats.wire import decode_events, over_max_payload, request_call

__all__ = ["NatsTransportClient"]

log = logging.getLogger("aion.nats")

TASK_ACK_WAIT = 30.0
"""Seconds a task may go without ``in_progress()`` before JetStream gives it to another worker."""


@dataclass
class _Delivery:
    """A task pulled from the stream."""

    task: ActivityTask
    msg: Msg

    async def in_progress(self) -> None:
        with contextlib.suppress(NatsError, JetStreamError):
            await self.msg.in_progress()

    async def ack(self) -> None:
        try:
            await self.msg.ack_sync()
        except (NatsError, JetStreamError) as error:
            raise TransportError(f"cannot acknowledge {self.task.task_id}: {error}") from None

    async def nak(self) -> None:
        with contextlib.suppress(NatsError, JetStreamError):
            await self.msg.nak()


class NatsTransportClient:
    """Clients and workers on NATS."""

    def __init__(self, options: NatsOptions) -> None:
        self._options = options
        self._names = StreamNames(options.namespace or "default")
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    @property
    def namespace(self) -> str:
        """The namespace it talks to."""
        return self._names.namespace

    @property
    def nc(self) -> NATS:
        """The connection (after `connect`)."""
        if self._nc is None:
            raise TransportError("the NATS client is not connected; call connect() first")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context (after `connect`)."""
        if self._js is None:
            raise TransportError("the NATS client is not connected; call connect() first")
        return self._js

    async def connect(self) -> None:
        """Connect to the NATS servers of the URL."""
        if self._nc is not None:
            return
        self._nc = await connect(self._options)
        self._js = self._nc.jetstream()

    async def close(self) -> None:
        """Stop and disconnect."""
        if self._nc is not None:
            with contextlib.suppress(NatsError):
                await self._nc.close()
        self._nc = self._js = None

    async def call(self, call: Call, timeout: float) -> object:
        """Carry out `call` at the owner of its workflow (any engine for store reads)."""
        if call.owner_only:
            partition = partition_of(call.workflow_id, self._options.partitions)
            subject = self._names.control_subject(partition)
        else:
            subject = self._names.api_subject()
        return await request_call(self.nc, subject, call, timeout)

    async def events(self, workflow_id: str) -> AsyncIterator[Event]:
        """Events of `workflow_id` as they are published after commit."""
        subscription = await self.nc.subscribe(self._names.events_subject(workflow_id))
        try:
            async for msg in subscription.messages:
                try:
                    events = decode_events(msg.data)
                except WireFormatError as garbage:
                    log.warning("dropped a message on %s: %s", msg.subject, garbage)
                    continue
                for event in events:
                    yield event
        finally:
            with contextlib.suppress(NatsError):
                await subscription.unsubscribe()

    async def tasks(self, task_queue: str, capacity: int) -> AsyncIterator[TaskDelivery]:
        """Tasks of `task_queue`, one at a time, from the queue's durable consumer."""
        subject = self._names.task_subject(task_queue)
        durable = self._names.task_consumer(task_queue)
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=TASK_ACK_WAIT,
            filter_subject=subject,
            max_ack_pending=-1,
            max_waiting=max(512, capacity),
        )
        while True:
            try:  # the first worker or engine of a namespace creates the streams
                await ensure_streams(self.js, self._names)
                subscription = await self.js.pull_subscribe(
                    subject, durable=durable, stream=self._names.tasks_stream, config=config
                )
                break
            except (NatsError, JetStreamError) as error:
                log.warning("tasks of %r not reachable yet: %s; retrying", task_queue, error)
                await asyncio.sleep(1)
        while True:
            try:
                # One at a time: the worker asks for the next task once it has a free
                # slot, so no task waits here unacknowledged.
                messages = await fetch(subscription, 1, timeout=1)
            except (NatsError, JetStreamError) as error:
                log.warning("tasks of %r: %s; retrying", task_queue, error)
                await asyncio.sleep(1)
                continue
            for msg in messages:
                try:
                    task = decode_task(msg.data)
                except WireFormatError as garbage:
                    log.warning("dropped a message on %s: %s", msg.subject, garbage)
                    with contextlib.suppress(NatsError, JetStreamError):
                        await msg.term()
                    continue
                yield _Delivery(task, msg)

    async def report(self, report: AttemptReport) -> None:
        """Publish a report on the result subject of the workflow's partition."""
        partition = partition_of(report.workflow_id, self._options.partitions)
        headers = None
        if report.kind != "heartbeat":  # a re-sent outcome is de-duplicated by the stream
            task_id = f"{report.workflow_id}:{report.run_id}:{report.activity_id}:{report.attempt}"
            headers = {"Nats-Msg-Id": f"{task_id}:outcome"}
        data = report.model_dump_json().encode()
        try:
            await self.js.publish(self._names.result_subject(partition), data, headers=headers)
        except MaxPayloadError:
            raise over_max_payload(self.nc, f"the {report.kind} report", len(data)) from None
        except (NatsError, JetStreamError) as error:
            raise TransportError(f"cannot report {report.kind}: {error}") from None

    async def cancellations(self) -> AsyncIterator[str]:
        """Task ids engines asked to stop."""
        subscription = await self.nc.subscribe(cancel_subject(self._names))
        try:
            async for msg in subscription.messages:
                task_id = _task_id_in(msg.data)
                if task_id is None:
                    log.warning(
                        "dropped a message on %s: not a task id (%d bytes)",
                        msg.subject,
                        len(msg.data),
                    )
                    continue
                yield task_id
        finally:
            with contextlib.suppress(NatsError):
                await subscription.unsubscribe()


def _task_id_in(data: bytes) -> str | None:
    """The task id (``<workflow>:<run>:<activity>:<attempt>``) a cancellation carries, or None."""
    if len(data) > MAX_WIRE_BYTES:
        return None
    try:
        task_id = data.decode()
    except UnicodeDecodeError:
        return None
    head, _, attempt = task_id.rpartition(":")
    head, _, activity = head.rpartition(":")
    workflow_id, _, run_id = head.rpartition(":")
    numbers = (activity + attempt).isascii() and activity.isdigit() and attempt.isdigit()
    return task_id if workflow_id and run_id and numbers else None
