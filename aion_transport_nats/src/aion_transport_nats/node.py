"""An engine node on NATS: owns partitions, serves calls, hands out tasks, records reports.

Workflow ids hash to partitions (`partition_of`); the node owns the
partitions whose leases it holds (`PartitionLeases`). For each one it

- answers calls on ``aion.<ns>.ctl.<p>`` (request/reply; the reply is sent
  after the engine made the call's effect durable),
- consumes ``aion.<ns>.result.<p>`` (worker reports, acknowledged only once
  their outcome is recorded, so a node that dies loses none),
- and, on adoption, recovers the partition's open workflows from the store
  (re-handing out their unfinished attempts under the same task ids).

Giving a partition up, it lets the signals and updates it is serving finish
(briefly), tells other callers to ask the new owner, and leaves the reports it
has not acknowledged to the new owner.

Every node also answers store reads on ``aion.<ns>.api`` (a queue group).
Garbage on any of these subjects is answered with an error or dropped, and
logged; it never stops the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Coroutine, Sequence
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import Error as JetStreamError

from aion_core.calls import Call, QueryCall, decode_call, error_reply, reply_to
from aion_core.errors import AionError, OwnershipLostError, TransportError, WireFormatError
from aion_core.events import Event, Payload
from aion_core.tasks import ActivityTask, decode_report
from aion_core.transport import EngineRuntime, Ownership
from aion_transport_nats.connection import connect, when_jetstream_answers
from aion_transport_nats.leases import PartitionLeases
from aion_transport_nats.listening import start_listening, stop_listening
from aion_transport_nats.options import NatsOptions
from aion_transport_nats.partitions import partition_of
from aion_transport_nats.pulling import fetch, stop
from aion_transport_nats.streams import StreamNames, ensure_streams
from aion_transport_nats.wire import encode_events, is_repeatable, request_call

__all__ = ["NatsEngineHandle", "NatsQueryService", "cancel_subject"]

log = logging.getLogger("aion.nats")

_REPORT_BATCH = 64
_REDELIVER_AFTER = 0.5
"""Seconds before a report the engine could not take yet is delivered again."""
_RESULT_ACK_WAIT = 10.0
"""Seconds before an unacknowledged report is delivered again. A node giving up a
partition can have reports delivered to its last pull after it stopped reading;
they reach the new owner only after this. A report delivered twice meanwhile
is recorded once (the engine settles each attempt once)."""
_HANDOVER_FRACTION = 0.1
"""Of the lease ttl: how long calls being served may go on once their partition is released."""
_ROUND_TRIP_TIMEOUT = 2.0
"""Seconds a subscription being started or given up waits for the server's round trip."""


def cancel_subject(names: StreamNames) -> str:
    """``aion.<ns>.cancel``: engines ask workers to stop an attempt (payload: its task id)."""
    return f"{names.prefix}.cancel"


class NatsEngineHandle:
    """The `EngineHandle` of one engine node on NATS."""

    def __init__(self, options: NatsOptions, engine: EngineRuntime, lease_ttl: float) -> None:
        self._options = options
        self._engine = engine
        self._names = StreamNames(options.namespace or engine.namespace)
        self._partitions = options.partitions
        self._lease_ttl = lease_ttl
        self.node_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._leases: PartitionLeases | None = None
        self._owned: set[int] = set()
        self._control: dict[int, Subscription] = {}
        self._consumers: dict[int, asyncio.Task[None]] = {}
        self._api: Subscription | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._serving: dict[int, set[asyncio.Task[Any]]] = {}
        """Signals and updates being served, by the partition of their workflow."""
        self._handed_over: set[asyncio.Task[Any]] = set()
        self.tasks_deduplicated = 0
        """Tasks handed out again (after an adoption) that the stream had already."""

    @property
    def nc(self) -> NATS:
        """The node's connection (after `start`)."""
        if self._nc is None:
            raise TransportError("the NATS engine handle is not started")
        return self._nc

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, create the streams, serve store reads, and take partition leases."""
        self._nc = await connect(self._options, name=f"aion-engine {self.node_id}")
        js = self._js = self._nc.jetstream()
        await when_jetstream_answers(
            f"creating the streams of namespace {self._names.namespace!r}",
            lambda: ensure_streams(js, self._names),
        )
        self._api = await start_listening(
            self._nc,
            self._names.api_subject(),
            self._on_api,
            _ROUND_TRIP_TIMEOUT,
            queue=self._names.api_queue_group,
        )
        self._leases = PartitionLeases(
            self._nc, self._names, self.node_id, self._partitions, ttl=self._lease_ttl,
            on_acquired=self._acquired, on_released=self._released,
        )  # fmt: skip
        await self._leases.start()

    async def close(self) -> None:
        """Stop and disconnect."""
        if self._leases is not None:
            await self._leases.close()  # releases every partition: others adopt at once
        if self._api is not None and self._nc is not None:
            await stop_listening(self._nc, self._api, _ROUND_TRIP_TIMEOUT)
        await asyncio.gather(*(stop(task) for task in list(self._background)))
        if self._nc is not None:
            with contextlib.suppress(NatsError):
                await self._nc.close()
        self._nc = None

    # --- ownership -----------------------------------------------------------------------------

    def owns(self, workflow_id: str) -> bool:
        """Whether the workflow's partition is one this node holds the lease of."""
        return partition_of(workflow_id, self._partitions) in self._owned

    def may_record(self, workflow_id: str) -> bool:
        """Whether the lease of the workflow's partition is held and fresh (see `_serves`)."""
        return self._engine_owns(workflow_id)

    def _serves(self, partition: int) -> bool:
        """Whether calls and reports of `partition` may be carried out here now.

        The lease is checked too, not only `_owned`: after a freeze (SIGSTOP, a stalled
        VM) the calls and reports that piled up run before the lease keeper notices the
        leases lapsed, and the new owner, sent the same calls, may have recorded them
        already: a workflow loaded afresh here would pass the store's expected-seq check
        and record them again (a signal twice in its history). The engine asks the same
        (`may_record`) right before every append, whatever led to it: a timer, an
        activity result, a retry after a sequence conflict.
        """
        leases = self._leases
        return partition in self._owned and leases is not None and leases.holds(partition)

    def _in(self, partition: int) -> Ownership:
        return lambda workflow_id: partition_of(workflow_id, self._partitions) == partition

    async def _acquired(self, partition: int) -> None:
        # Whatever this node still caches of the partition dates from an earlier
        # ownership (a query served while it was given up may have loaded a
        # workflow again), and another node may have moved those workflows on since.
        await self._engine.release(self._in(partition))
        self._owned.add(partition)
        await self._engine.adopt(self._in(partition))
        # Only once the server routes the partition's calls here is the partition reported
        # owned: a caller told so may send at once, and a call the server routed before
        # the subscription reached it went only to the former owner, which may be frozen
        # and still subscribed (it answers no one, not even "ask the new owner").
        self._control[partition] = await start_listening(
            self.nc, self._names.control_subject(partition), self._on_call, _ROUND_TRIP_TIMEOUT
        )
        self._consumers[partition] = asyncio.create_task(
            self._consume_reports(partition), name=f"aion-results-{partition}"
        )
        log.info("node %s owns partition %d", self.node_id, partition)

    async def _released(self, partition: int) -> None:
        self._owned.discard(partition)
        control = self._control.pop(partition, None)
        if control is not None:  # calls already on their way are told to ask the new owner
            await stop_listening(self.nc, control, _ROUND_TRIP_TIMEOUT)
        # Signals and updates taken already may finish first (briefly: a lost lease leaves
        # 0.15 of its ttl before another node adopts): releasing stops the workflows under
        # them, and their senders could not know whether they were recorded. Other calls
        # are asked again at the new owner.
        serving = self._serving.pop(partition, set())
        if serving:
            await asyncio.wait(set(serving), timeout=self._lease_ttl * _HANDOVER_FRACTION)
        consumer = self._consumers.pop(partition, None)
        if consumer is not None:
            await stop(consumer)
        await self._engine.release(self._in(partition))
        for call in serving:  # the rest is told the workflow moved (see _answer)
            if not call.done():
                self._handed_over.add(call)
                call.cancel()
        log.info("node %s gave up partition %d", self.node_id, partition)

    # --- calls ---------------------------------------------------------------------------------

    async def forward(self, call: Call, timeout: float) -> object:
        """Send `call` to the owner of its workflow's partition; its reply value."""
        partition = partition_of(call.workflow_id, self._partitions)
        return await request_call(self.nc, self._names.control_subject(partition), call, timeout)

    async def _on_call(self, msg: Msg) -> None:
        self._spawn(self._answer(msg, owner=True))

    async def _on_api(self, msg: Msg) -> None:
        self._spawn(self._answer(msg, owner=False))

    async def _answer(self, msg: Msg, *, owner: bool) -> None:
        try:
            call = decode_call(msg.data)
            if call.owner_only and not owner:  # it would be asked to retry forever
                raise WireFormatError(
                    f"a {call.call} call goes to the control subject of its workflow's "
                    f"partition, not to {msg.subject}"
                )
        except WireFormatError as garbage:
            log.warning("dropped a message on %s: %s", msg.subject, garbage)
            if msg.reply:
                with contextlib.suppress(NatsError):
                    await msg.respond(error_reply(garbage))
            return
        if call.owner_only and not (owner and self._engine_owns(call.workflow_id)):
            if owner:
                self._log_not_served(call)
            await self._moved(msg)  # the caller asks the new owner
            return
        this = asyncio.current_task()
        serving: set[asyncio.Task[Any]] = set()
        if call.owner_only and not is_repeatable(call) and this is not None:
            serving = self._serving.setdefault(
                partition_of(call.workflow_id, self._partitions), set()
            )
            serving.add(this)
        try:
            reply = reply_to(call, await self._engine.serve(call))
        except asyncio.CancelledError:
            if this is not None and this.cancelling() and this not in self._handed_over:
                raise  # the node stops
            # The workflow was released under the call (its partition moved, see _released).
            if is_repeatable(call):
                await self._moved(msg)
                return
            reply = reply_to(call, error=TransportError(
                f"{call.call} call for {call.workflow_id!r}: the workflow moved to another "
                "engine node meanwhile; it may or may not have been recorded (look at the history)"
            ))  # fmt: skip
        except OwnershipLostError:
            # The lease lapsed under the call, before anything of it was recorded: safe
            # to carry out again, even a signal, at whoever owns the workflow now.
            self._log_not_served(call)
            await self._moved(msg)
            return
        except AionError as refusal:
            reply = reply_to(call, error=refusal)
        except Exception as bug:  # never let one call stop the node
            log.exception("serving %s failed", call.call)
            reply = reply_to(call, error=TransportError(f"the engine failed: {bug}"))
        finally:
            serving.discard(this)
            self._handed_over.discard(this)
        if msg.reply:
            with contextlib.suppress(NatsError):
                await msg.respond(reply)

    async def _moved(self, msg: Msg) -> None:
        """Tell the caller to ask again: another node owns the workflow's partition now."""
        if msg.reply:
            with contextlib.suppress(NatsError):
                await self.nc.publish(msg.reply, b"", headers={"Aion-Retry": "the partition moved"})

    def _engine_owns(self, workflow_id: str) -> bool:
        return bool(workflow_id) and self._serves(partition_of(workflow_id, self._partitions))

    def _log_not_served(self, call: Call) -> None:
        partition = partition_of(call.workflow_id, self._partitions)
        state = "lapsed (unrenewed; was this node frozen?)" if partition in self._owned else "gone"
        log.info(
            "node %s: %s call for %r not served: the lease of partition %d is %s; "
            "the caller asks its owner",
            self.node_id, call.call, call.workflow_id, partition, state,
        )  # fmt: skip

    # --- activity tasks and reports ------------------------------------------------------------

    async def dispatch(self, task: ActivityTask) -> None:
        """Publish the task on its queue's subject, de-duplicated by its task id."""
        js = self._js
        if js is None:
            raise TransportError("the NATS engine handle is not started")
        try:
            ack = await js.publish(
                self._names.task_subject(task.task_queue),
                task.model_dump_json().encode(),
                headers={"Nats-Msg-Id": task.task_id},
            )
        except (NatsError, JetStreamError) as error:
            raise TransportError(f"cannot hand out {task.task_id}: {error}") from None
        if ack.duplicate:
            self.tasks_deduplicated += 1
            log.debug("task %s was handed out already; the stream kept one copy", task.task_id)

    async def cancel(self, task: ActivityTask) -> None:
        """Ask whichever worker runs `task` to stop it."""
        with contextlib.suppress(NatsError):
            await self.nc.publish(cancel_subject(self._names), task.task_id.encode())

    def serves_task_queue(self, task_queue: str) -> bool:
        """Always: workers may join at any time and tasks wait in the stream."""
        return True  # workers may join at any time; tasks wait in the stream

    async def _consume_reports(self, partition: int) -> None:
        while True:
            try:
                await self._consume_reports_once(partition)
            except asyncio.CancelledError:
                raise
            except Exception:  # whatever the client library raises, keep consuming
                log.exception("results of partition %d: consumer failed; restarting", partition)
                await asyncio.sleep(1)

    async def _consume_reports_once(self, partition: int) -> None:
        assert self._js is not None
        config = ConsumerConfig(
            durable_name=self._names.result_consumer(partition),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=_RESULT_ACK_WAIT,
            filter_subject=self._names.result_subject(partition),
        )
        while True:
            try:
                subscription = await self._js.pull_subscribe(
                    self._names.result_subject(partition),
                    durable=config.durable_name,
                    stream=self._names.results_stream,
                    config=config,
                )
                break
            except (NatsError, JetStreamError) as error:
                log.warning("results of partition %d: %s; retrying", partition, error)
                await asyncio.sleep(1)
        try:
            while True:
                try:
                    messages = await fetch(subscription, _REPORT_BATCH, timeout=1)
                except (NatsError, JetStreamError) as error:
                    log.warning("results of partition %d: %s; retrying", partition, error)
                    await asyncio.sleep(1)
                    continue
                for message in messages:
                    self._spawn(self._take_report(partition, message))
        finally:
            # A fetch outlives its caller on the server: without this, a report that
            # arrives just after the partition moved would go to this node's inbox and
            # wait out the ack wait before reaching the new owner.
            with contextlib.suppress(NatsError, JetStreamError):
                await subscription.unsubscribe()

    async def _take_report(self, partition: int, msg: Msg) -> None:
        try:
            report = decode_report(msg.data)
        except WireFormatError as garbage:
            log.warning("dropped a message on %s: %s", msg.subject, garbage)
            with contextlib.suppress(NatsError, JetStreamError):
                await msg.term()  # never deliver it again
            return
        with contextlib.suppress(NatsError, JetStreamError):
            if not self._serves(partition):  # the new owner records it
                await msg.nak(delay=_REDELIVER_AFTER)
                return
            settled = await self._engine.attempt_reported(report)
            # Acknowledged only while the partition is still ours: a partition given up
            # meanwhile settles its attempts unrecorded, and the report is the new
            # owner's (its outcome would be lost: the task id is de-duplicated).
            if settled and partition in self._owned:
                await msg.ack()
            else:
                await msg.nak(delay=_REDELIVER_AFTER)

    # --- live events ---------------------------------------------------------------------------

    def published(self, workflow_id: str, events: Sequence[Event]) -> None:
        """Publish freshly durable events on the workflow's events subject."""
        if self._nc is None or not self._nc.is_connected:
            return  # live events are best effort; the history has them all
        subject = self._names.events_subject(workflow_id)
        self._spawn(self._publish_events(subject, list(events)))

    async def _publish_events(self, subject: str, events: list[Event]) -> None:
        for message in encode_events(events, self.nc.max_payload):
            with contextlib.suppress(NatsError):
                await self.nc.publish(subject, message)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


class NatsQueryService:
    """Queries go to the engine itself when it owns the workflow, else to the owner."""

    def __init__(self, handle: NatsEngineHandle, engine: EngineRuntime) -> None:
        self._handle = handle
        self._engine = engine

    async def start(self) -> None:
        """Nothing to start: the engine handle carries the queries."""

    async def close(self) -> None:
        """Nothing to stop: the engine handle carries the queries."""

    async def query(self, call: QueryCall) -> Payload:
        """The answer, asked here when this node owns the workflow, else at its owner."""
        if self._handle.owns(call.workflow_id):
            answer = await self._engine.serve(call)
        else:
            answer = await self._handle.forward(call, call.timeout + 5)
        assert isinstance(answer, Payload)
        return answer
