"""Workflow ownership by partition: leases in a JetStream KV bucket (DESIGN 7).

An engine node owns a partition while it holds the key ``partition.<n>`` of
the bucket ``aion_<ns>_leases``. The bucket's TTL (``max_age``) makes every
key vanish `ttl` seconds after its last write, so:

* acquire: ``kv.create`` (fails when the key exists: someone owns it);
* renew: ``kv.update(last=revision)`` every ``ttl / 3``; a revision conflict
  means someone else wrote the key: the lease is lost;
* release: ``kv.delete(last=revision)``, so another node adopts at once;
* a node that stops renewing (crash, partition from NATS) loses its keys
  after `ttl` and another node adopts them.

Nodes register as ``node.<id>`` keys renewed the same way; each node counts
the live registrations and aims for its fair share ``ceil(partitions / nodes)``:
it takes free partitions up to it and gives back those beyond it, so a second
node joining ends up with half.

Values are JSON naming the node and this object's incarnation (a random id),
so a write of ours that NATS applied late (nats-py re-sends what it buffered
while reconnecting) is recognised as ours, never mistaken for a rival's.

Timing, for ``ttl = T``: renewals every T/3, each request given T/4; a lease
not renewed for 0.6 T is dropped locally. A key expires on the server no
earlier than T after the last renewal was *sent*, and the node drops it at
the latest 0.6 T + T/4 = 0.85 T after that send, so the old owner stops before
a new owner can start. That margin is the only timing assumption; the store's
expected-seq check still makes a stale owner's writes fail, never corrupt.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE

from aion_core.errors import ConfigurationError
from aion_transport_nats.connection import when_jetstream_answers
from aion_transport_nats.lease_bucket import (
    NODE_PREFIX,
    TRANSIENT_ERRORS,
    LeaseBucket,
    lease_value,
    node_key,
    node_of,
    partition_key,
    partitions_of,
)
from aion_transport_nats.pulling import stop
from aion_transport_nats.streams import StreamNames

__all__ = ["PartitionCallback", "PartitionLeases"]

log = logging.getLogger("aion.leases")

PartitionCallback = Callable[[int], Awaitable[None]]

MIN_TTL = 1.0
_RENEW_FRACTION = 1 / 3
_REQUEST_FRACTION = 1 / 4
# Invariant: _LOSS_FRACTION + _REQUEST_FRACTION < 1 (see the module docstring).
_LOSS_FRACTION = 0.6
# Seconds after a release or join seen on the bucket to look again (see _notice_change).
_RECHECK_DELAY = 0.25


class _State(enum.Enum):
    ACQUIRING = "acquiring"  # key held, on_acquired running
    OWNED = "owned"  # reported in `owned`
    RELEASING = "releasing"  # on_released running, then the key is deleted


@dataclass(eq=False)
class _Lease:
    """One key this node holds: a partition or its own registration."""

    key: str
    value: bytes
    revision: int
    renewed_at: float  # monotonic time the last successful write was sent
    partition: int | None = None  # None: the node registration
    state: _State = _State.ACQUIRING
    lost: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _is_lost(lease: _Lease) -> bool:
    """Whether `lease` was dropped (a call, so type checkers re-read it after an await)."""
    return lease.lost


class PartitionLeases:
    """Owns a fair share of a namespace's partitions through leases in a KV bucket.

    Callbacks run one at a time per partition, in order: ``on_acquired(p)`` is
    awaited before ``p`` appears in `owned`; ``on_released(p)`` is awaited
    exactly once after each completed ``on_acquired(p)``, when the lease is
    given up (fair share, `close`) or lost (revision conflict, or not renewed
    in time, e.g. while NATS is unreachable). A callback that raises is
    logged; if ``on_acquired`` raises, the partition is given back and not
    taken again for `ttl` seconds.

    Args:
        connection: A connected nats-py client, or a JetStream context of one.
        names: The namespace's names (bucket ``aion_<ns>_leases``).
        node_id: This node's id, unique among live nodes of the namespace.
        partitions: How many partitions the namespace has; all nodes must agree.
        ttl: Seconds a lease outlives its last renewal (at least 1).
        on_acquired: Awaited with a partition this node now owns.
        on_released: Awaited with a partition this node no longer owns.
        replicas: Replicas of the bucket when this node creates it.
    """

    def __init__(
        self,
        connection: Client | JetStreamContext,
        names: StreamNames,
        node_id: str,
        partitions: int,
        *,
        ttl: float = 10.0,
        on_acquired: PartitionCallback,
        on_released: PartitionCallback,
        replicas: int = 1,
    ) -> None:
        if not node_id:
            raise ConfigurationError("the node id of a lease holder is empty; give a unique id")
        if partitions < 1:
            raise ConfigurationError(f"partitions must be at least 1, not {partitions}")
        if not ttl >= MIN_TTL:
            raise ConfigurationError(f"the lease ttl must be at least {MIN_TTL} s, not {ttl}")
        if isinstance(connection, JetStreamContext):
            # nats-py offers no public accessor; the core connection carries the wake-ups.
            js, self._nc = connection, connection._nc
        else:
            js, self._nc = connection.jetstream(), connection
        self._names = names
        self._node_id = node_id
        self._partitions = partitions
        self._ttl = ttl
        self._on_acquired = on_acquired
        self._on_released = on_released
        self._renew_interval = ttl * _RENEW_FRACTION
        self._loss_after = ttl * _LOSS_FRACTION
        self._bucket = LeaseBucket(
            js, names, ttl=ttl, request_timeout=ttl * _REQUEST_FRACTION, replicas=replicas
        )
        incarnation = secrets.token_hex(8)
        self._lease_value = lease_value(node_id, incarnation)
        self._node_value = lease_value(node_id, incarnation, partitions)
        self._node_key = node_key(node_id)
        self._started = False
        self._registration: _Lease | None = None
        self._leases: dict[int, _Lease] = {}
        self._owned: set[int] = set()
        self._callback_locks: dict[int, asyncio.Lock] = {}
        self._retry_after: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._subscription: Subscription | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._balancer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closing = False

    # --- public API ----------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        """This node's id."""
        return self._node_id

    @property
    def ttl(self) -> float:
        """Seconds a lease outlives its last renewal."""
        return self._ttl

    @property
    def owned(self) -> frozenset[int]:
        """The partitions this node owns now (``on_acquired`` done, not yet released or lost)."""
        return frozenset(self._owned)

    def holds(self, partition: int) -> bool:
        """Whether this node holds `partition`'s lease and may still act on it.

        False once the lease is lost, and as soon as it has gone unrenewed for the
        time after which the keeper drops it, even if the keeper has not run since: a
        node whose process was frozen (SIGSTOP, a stalled VM) wakes up with work taken
        in before its keeper notices, and must not act on a lease another node may
        hold by now (the timing argument of the module docstring, checked at each use).
        """
        lease = self._leases.get(partition)
        return (
            lease is not None
            and not lease.lost
            and time.monotonic() - lease.renewed_at < self._loss_after
        )

    async def start(self) -> None:
        """Create or open the bucket, register this node and begin balancing in the background.

        Waits up to `ttl` for a registration of the same node id to expire (a
        previous run of this node that crashed).

        Raises:
            ConfigurationError: JetStream is off, the bucket has another TTL, a
                live node uses the same id, or live nodes use another partition count.
        """
        if self._started:
            raise RuntimeError("PartitionLeases.start() was called twice")
        self._started = True
        await when_jetstream_answers(
            f"opening lease bucket {self._bucket.name!r}", self._bucket.open
        )
        await self._register_at_start()
        try:
            await when_jetstream_answers("reading the lease bucket", self._check_partition_count)
        except BaseException:
            await self._deregister()
            raise
        self._subscription = await self._nc.subscribe(
            f"{self._bucket.subject_prefix}>", cb=self._notice_change
        )
        self._keeper = asyncio.create_task(self._keep_leases(), name=f"aion-leases-{self._node_id}")
        self._balancer = asyncio.create_task(
            self._balance_forever(), name=f"aion-balance-{self._node_id}"
        )

    async def close(self) -> None:
        """Give every partition back (``on_released``, then delete the key) and deregister.

        Other nodes adopt the partitions at once. Keys that cannot be deleted
        (NATS unreachable) expire after `ttl`. Safe to call twice.
        """
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        if self._balancer is not None:
            await asyncio.gather(self._balancer, return_exceptions=True)
        await asyncio.gather(*(self._release(partition) for partition in sorted(self._owned)))
        await self._deregister()
        if self._keeper is not None:
            await stop(self._keeper)
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except TRANSIENT_ERRORS as error:
                log.debug("unsubscribing from lease changes failed: %r", error)

    async def owner_of(self, partition: int) -> str | None:
        """The id of the node holding `partition`'s lease now, or None when it is free."""
        entry = await self._bucket.get(partition_key(partition))
        return None if entry is None else node_of(entry.value)

    # --- registration --------------------------------------------------------------------------

    async def _register_at_start(self) -> None:
        """Register this node, waiting out the registration of a crashed earlier run."""
        deadline = time.monotonic() + 1.5 * self._ttl
        while not await when_jetstream_answers(
            f"registering node {self._node_id!r}", self._register
        ):
            if time.monotonic() > deadline:
                raise ConfigurationError(
                    f"node id {self._node_id!r} is registered by another live node of namespace "
                    f"{self._names.namespace!r}; give every engine node a unique node id"
                )
            await asyncio.sleep(self._renew_interval)

    async def _register(self) -> bool:
        """Create this node's registration key; False while another holder's key exists."""
        sent = time.monotonic()
        try:
            revision = await self._bucket.create(self._node_key, self._node_value)
        except KeyWrongLastSequenceError:
            entry = await self._bucket.get(self._node_key)
            if entry is None or entry.value != self._node_value or entry.revision is None:
                return False
            revision = entry.revision  # a create of ours NATS applied late
        self._registration = _Lease(
            self._node_key, self._node_value, revision, sent, state=_State.OWNED
        )
        return True

    async def _check_partition_count(self) -> None:
        """Refuse to run beside live nodes that hash workflow ids to another partition count."""
        for key, entry in (await self._bucket.snapshot()).items():
            if not key.startswith(NODE_PREFIX) or key == self._node_key:
                continue
            theirs = partitions_of(entry.value)
            if theirs is not None and theirs != self._partitions:
                raise ConfigurationError(
                    f"engine node {node_of(entry.value)!r} of namespace "
                    f"{self._names.namespace!r} runs with {theirs} partitions, this node with "
                    f"{self._partitions}; every node of a namespace must use the same "
                    "partitions= (workflow ids hash to partitions)"
                )

    async def _deregister(self) -> None:
        registration, self._registration = self._registration, None
        if registration is not None:
            await self._give_back(registration)

    # --- keeping leases ------------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        """Renew every held key each ``ttl/3``; drop those not renewed in time."""
        next_renewal = time.monotonic() + self._renew_interval
        while True:
            try:
                wake_at = min(next_renewal, self._earliest_loss())
                await asyncio.sleep(max(0.0, wake_at - time.monotonic()))
                if time.monotonic() >= next_renewal:
                    began = time.monotonic()
                    renewed = await self._renew_all()
                    # After a failure, retry sooner: the lease has little time left.
                    next_renewal = began + self._renew_interval / (1 if renewed else 2)
                self._drop_overdue()
            except Exception:
                log.exception("node %s: renewing leases failed unexpectedly", self._node_id)
                await asyncio.sleep(self._renew_interval / 2)

    def _held(self) -> list[_Lease]:
        registration = [self._registration] if self._registration is not None else []
        return registration + list(self._leases.values())

    def _earliest_loss(self) -> float:
        return min(
            (lease.renewed_at + self._loss_after for lease in self._held()), default=math.inf
        )

    async def _renew_all(self) -> bool:
        """Renew every held key at once; False when some renewal could not reach NATS."""
        results = await asyncio.gather(*(self._renew(lease) for lease in self._held()))
        return all(results)

    async def _renew(self, lease: _Lease) -> bool:
        async with lease.lock:
            if lease.lost:
                return True
            sent = time.monotonic()
            try:
                revision = await self._bucket.update(lease.key, lease.value, lease.revision)
            except KeyWrongLastSequenceError:
                return await self._resolve_conflict(lease)
            except TRANSIENT_ERRORS as error:
                log.debug("node %s: renewing %s failed: %r", self._node_id, lease.key, error)
                return False
            if _is_lost(lease):
                # Dropped while the renewal was in flight: NATS holds it again, give it back.
                self._spawn(self._delete_key(lease.key, revision))
            else:
                lease.revision, lease.renewed_at = revision, sent
            return True

    async def _resolve_conflict(self, lease: _Lease) -> bool:
        """A renewal met another revision: ours, applied late (adopt it), or a rival's (lost)."""
        try:
            entry = await self._bucket.get(lease.key)
        except TRANSIENT_ERRORS:
            return False
        if entry is not None and entry.value == lease.value and entry.revision is not None:
            # Keep renewed_at: the late write was sent after it, so the key lives at least as long.
            lease.revision = entry.revision
            return False
        self._lose(lease, "its key was written by someone else (revision conflict)")
        return True

    def _drop_overdue(self) -> None:
        now = time.monotonic()
        for lease in self._held():
            if now - lease.renewed_at >= self._loss_after:
                self._lose(lease, f"not renewed for {now - lease.renewed_at:.1f} s")

    def _lose(self, lease: _Lease, reason: str) -> None:
        """Stop holding `lease` now; ``on_released`` follows if the partition was owned."""
        if lease.lost:
            return
        lease.lost = True
        self._wake.set()
        if lease.partition is None:
            if self._registration is lease:
                self._registration = None
            log.warning("node %s lost its registration: %s", self._node_id, reason)
            return
        partition = lease.partition
        if self._leases.get(partition) is lease:
            del self._leases[partition]
        log.warning("node %s lost partition %d: %s", self._node_id, partition, reason)
        if lease.state is _State.OWNED:
            self._owned.discard(partition)
            self._spawn(self._released_after_loss(partition))
        # ACQUIRING: _acquire calls on_released once on_acquired returns.
        # RELEASING: on_released is already running.

    # --- balancing -----------------------------------------------------------------------------

    async def _balance_forever(self) -> None:
        """Move towards the fair share on every change seen and at least every ``ttl/3``."""
        failures = 0
        while not self._closing:
            self._wake.clear()
            try:
                await self._balance()
                failures = 0
            except TRANSIENT_ERRORS as error:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "node %s: balancing partitions failed: %r", self._node_id, error)
            except Exception:
                log.exception("node %s: balancing partitions failed unexpectedly", self._node_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._renew_interval)

    async def _balance(self) -> None:
        if self._registration is None and not await self._register():
            log.info("node %s waits for its old registration to expire", self._node_id)
            return
        snapshot = await self._bucket.snapshot()
        if self._closing:
            return
        nodes = {key for key in snapshot if key.startswith(NODE_PREFIX)} | {self._node_key}
        share = math.ceil(self._partitions / len(nodes))
        holding = [p for p, lease in self._leases.items() if lease.state is not _State.RELEASING]
        if len(holding) > share:
            owned = sorted(p for p in holding if self._leases[p].state is _State.OWNED)
            extra = owned[share - len(holding) :]
            await asyncio.gather(*(self._release(partition) for partition in extra))
            return
        now = time.monotonic()
        free: list[int] = []
        for partition in range(self._partitions):
            entry = snapshot.get(partition_key(partition))
            if partition in self._leases:
                continue
            if entry is not None:
                if entry.value == self._lease_value and entry.revision is not None:
                    # A create of ours NATS applied late; we never owned it, so give it back.
                    self._spawn(self._delete_key(entry.key, entry.revision))
                continue
            if self._retry_after.get(partition, 0.0) <= now:
                free.append(partition)
        random.shuffle(free)  # nodes starting together then rarely race for the same keys
        room = share - len(holding)
        await asyncio.gather(*(self._acquire(partition) for partition in free[:room]))

    async def _acquire(self, partition: int) -> None:
        """Take a free partition: create its key, await ``on_acquired``, then report it owned."""
        key = partition_key(partition)
        sent = time.monotonic()
        try:
            revision = await self._bucket.create(key, self._lease_value)
        except KeyWrongLastSequenceError:
            return  # another node was faster
        except TRANSIENT_ERRORS as error:
            log.debug("node %s: acquiring partition %d failed: %r", self._node_id, partition, error)
            return
        lease = _Lease(key, self._lease_value, revision, sent, partition=partition)
        self._leases[partition] = lease
        async with self._callback_lock(partition):
            try:
                await self._on_acquired(partition)
            except Exception:
                log.exception(
                    "node %s: on_acquired(%d) failed; giving the partition back",
                    self._node_id,
                    partition,
                )
                self._retry_after[partition] = time.monotonic() + self._ttl
                lease.state = _State.RELEASING
            else:
                if lease.lost:
                    await self._call_released(partition)  # lost while on_acquired ran
                    return
                lease.state = _State.OWNED
                self._owned.add(partition)
                log.info("node %s owns partition %d", self._node_id, partition)
                return
        await self._give_back(lease)

    async def _release(self, partition: int) -> None:
        """Give an owned partition back: ``on_released``, then delete its key."""
        lease = self._leases.get(partition)
        if lease is None or lease.state is not _State.OWNED:
            return
        lease.state = _State.RELEASING
        self._owned.discard(partition)
        async with self._callback_lock(partition):
            await self._call_released(partition)
        await self._give_back(lease)
        log.info("node %s released partition %d", self._node_id, partition)

    async def _give_back(self, lease: _Lease) -> None:
        """Stop renewing `lease` and delete its key (if still ours) so others adopt it at once."""
        async with lease.lock:
            if lease.partition is not None and self._leases.get(lease.partition) is lease:
                del self._leases[lease.partition]
            if lease.lost:
                return
            lease.lost = True
            await self._delete_key(lease.key, lease.revision)

    async def _delete_key(self, key: str, revision: int) -> None:
        try:
            await self._bucket.delete(key, revision)
        except TRANSIENT_ERRORS as error:
            log.debug(
                "node %s: deleting %s failed (it expires instead): %r", self._node_id, key, error
            )

    async def _released_after_loss(self, partition: int) -> None:
        async with self._callback_lock(partition):
            await self._call_released(partition)

    async def _call_released(self, partition: int) -> None:
        try:
            await self._on_released(partition)
        except Exception:
            log.exception("node %s: on_released(%d) failed", self._node_id, partition)

    def _callback_lock(self, partition: int) -> asyncio.Lock:
        return self._callback_locks.setdefault(partition, asyncio.Lock())

    async def _notice_change(self, msg: Msg) -> None:
        """Balance now and shortly after when a key is deleted (a release) or a node joins.

        Subscribers get the message while JetStream stores it (in a cluster, once
        replicated), so the first snapshot may not show it yet; the second pass does.
        """
        headers = msg.headers or {}
        key = msg.subject[len(self._bucket.subject_prefix) :]
        created = headers.get(Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value) == "0"
        joined = key.startswith(NODE_PREFIX) and created
        if (headers.get(KV_OP) in (KV_DEL, KV_PURGE) or joined) and not self._closing:
            self._wake.set()
            asyncio.get_running_loop().call_later(_RECHECK_DELAY, self._wake.set)

    # --- helpers -------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
