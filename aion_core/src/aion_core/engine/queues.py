"""Flow-controlled task queues: their settings, and the dispatcher that lets runs out.

A start on a queue configured here is recorded ``queued`` (its code does not
run). The dispatcher asks the store to admit queued runs within the queue's
limits (`aion_core.store.queues`), then records `WorkflowDequeued` for each
through its owner's runner, and the code starts. Every engine sharing the
store runs a dispatcher; each admits the runs it owns among the head of the
queue, so priorities hold across engines and nothing waits for a leader.

It wakes when a run is queued or closes here, and polls otherwise: a run
closed by another engine frees its slot at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from aion_core.engine.waiting import BackgroundTasks, first_of, record_until_durable
from aion_core.errors import AionError, ConfigurationError, StoreError, WorkflowStateError
from aion_core.events import WorkflowDequeued
from aion_core.store.queues import (
    Admission,
    QueueLimits,
    QueueStats,
    QueueStore,
    throttled_by,
)

if TYPE_CHECKING:
    from aion_core.engine.engine import Engine

__all__ = ["ATTEMPT_LEASE", "AppliesTo", "QueueDispatcher", "QueueSettings", "queue_stats"]

log = logging.getLogger("aion.queues")

ATTEMPT_LEASE = timedelta(seconds=30)
"""How long an activity attempt's slot is held without renewal: an engine that dies
holding slots frees them this long after."""
_RENEW_INTERVAL = 10.0

POLL_INTERVAL = 0.5
"""Seconds between admissions on a queue when nothing here wakes the dispatcher."""
_MIN_RATE_POLL = 0.01


AppliesTo = Literal["workflows", "activities"]


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """The flow control of one task queue; see `Engine.configure_queue`."""

    name: str
    worker_concurrency: int | None = None
    global_concurrency: int | None = None
    rate_limit: tuple[int, timedelta] | None = None
    partition_concurrency: int | None = None
    applies_to: AppliesTo = "workflows"
    """What the limits hold back: the workflow runs started on the queue, or the
    activity attempts scheduled on it (a workflow's activities run on its queue
    unless given another, so one set of limits never counts both)."""
    declared: bool = True
    """False for a queue this engine does not declare (see `QueueLimits.declared`)."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigurationError("a task queue needs a name")
        if self.applies_to not in ("workflows", "activities"):
            raise ConfigurationError(
                f"queue {self.name!r}: applies_to is 'workflows' or 'activities', "
                f"not {self.applies_to!r}"
            )
        if self.applies_to == "activities" and self.partition_concurrency is not None:
            raise ConfigurationError(
                f"queue {self.name!r}: partition keys are for workflow starts; "
                "partition_concurrency does not apply to activities"
            )
        for what in ("worker_concurrency", "global_concurrency", "partition_concurrency"):
            value = getattr(self, what)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigurationError(f"queue {self.name!r}: {what} must be an integer")
            if value is not None and value < 1:
                raise ConfigurationError(f"queue {self.name!r}: {what} must be at least 1")
        if self.rate_limit is not None:
            count, period = self.rate_limit
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigurationError(
                    f"queue {self.name!r}: a rate limit is (count >= 1, period), e.g. "
                    "(100, timedelta(seconds=1))"
                )
            if not isinstance(period, timedelta) or period <= timedelta(0):
                raise ConfigurationError(
                    f"queue {self.name!r}: the rate limit's period must be a positive timedelta"
                )

    @property
    def limits(self) -> QueueLimits:
        """What the store checks at each admission."""
        rate, period = self.rate_limit if self.rate_limit is not None else (None, None)
        return QueueLimits(
            concurrency=self.global_concurrency,
            partition_concurrency=self.partition_concurrency,
            engine_concurrency=self.worker_concurrency,
            rate=rate,
            period=period,
            declared=self.declared,
        )

    @property
    def poll_interval(self) -> float:
        """How often to admit without being woken: often enough for the rate to be met."""
        if self.rate_limit is None:
            return POLL_INTERVAL
        count, period = self.rate_limit
        return min(POLL_INTERVAL, max(_MIN_RATE_POLL, period.total_seconds() / count))


async def queue_stats(
    store: QueueStore, queue: str, settings: QueueSettings | None, now: datetime
) -> QueueStats:
    """A queue's counts in `store`, throttled runs counted by `settings` when given."""
    period = settings.rate_limit[1] if settings and settings.rate_limit else None
    stats = await store.queue_stats(queue, now=now, period=period)
    return throttled_by(stats, settings.limits) if settings is not None else stats


class QueueDispatcher:
    """Admits and dequeues the queued runs of an engine's flow-controlled queues."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._settings: dict[str, QueueSettings] = {}
        self._activity_settings: dict[str, QueueSettings] = {}
        self._wake = asyncio.Event()
        self._dequeuing: set[tuple[str, str]] = set()
        self._plain: set[str] = set()
        """Queues without flow control here that held queued runs (dedup ids, debounces)."""
        self._attempt_waiters: dict[str, dict[str, asyncio.Future[None]]] = {}
        """Per queue, activity attempts waiting for a slot, in the order they came."""
        self._held_attempts: set[str] = set()
        self._released: list[str] = []
        self._next_renewal = 0.0
        self._tasks = BackgroundTasks()

    def configure(self, settings: QueueSettings) -> None:
        """Declare (or change) a queue's flow control; applies from the next admission."""
        if settings.applies_to == "activities":
            self._activity_settings[settings.name] = settings
        else:
            self._settings[settings.name] = settings
        self._wake.set()

    def settings(self, queue: str) -> QueueSettings | None:
        """The flow control of workflow starts on `queue`, or None when it has none here."""
        return self._settings.get(queue)

    def activity_settings(self, queue: str) -> QueueSettings | None:
        """The flow control of activity attempts on `queue`, or None."""
        return self._activity_settings.get(queue)

    @property
    def queues(self) -> list[QueueSettings]:
        """Every flow-controlled queue, by name (workflow queues first for a name in both)."""
        both = [*self._settings.values(), *self._activity_settings.values()]
        return sorted(both, key=lambda s: (s.name, s.applies_to != "workflows"))

    def store(self) -> QueueStore:
        """The engine's store, which must admit queued runs.

        Raises:
            ConfigurationError: The store does not implement `QueueStore`.
        """
        store = self.engine.store
        if not isinstance(store, QueueStore):
            raise ConfigurationError(
                f"the store {store.url} has no flow control (admit_queued): "
                "task queues with limits need one of aion's stores"
            )
        return store

    def wake(self, queue: str | None = None) -> None:
        """Admit now: a run was queued on `queue`, or a run closed here."""
        if queue is not None and queue not in self._settings:
            self._plain.add(queue)
        self._wake.set()

    def _queues_now(self) -> list[QueueSettings]:
        """The configured queues, and queues without flow control holding queued runs.

        A start with a dedup id or a debounce waits on any queue; one without limits lets
        it out as soon as it is ready. Such queues are learnt as runs are queued here
        (`wake`) and as queued runs are recovered here (`recovered`).
        """
        self._plain.difference_update(self._settings)
        plain = [QueueSettings(name, declared=False) for name in sorted(self._plain)]
        return [*self._settings.values(), *plain]

    def recovered(self, queue: str) -> None:
        """A queued run on `queue` became this engine's (start, failover): admit it."""
        self.wake(queue)

    # --- activity attempts -----------------------------------------------------------------------

    def limits_attempts(self, queue: str) -> bool:
        """Whether activity attempts on `queue` need a slot (a global or rate limit on it)."""
        settings = self._activity_settings.get(queue)
        return settings is not None and (
            settings.global_concurrency is not None or settings.rate_limit is not None
        )

    async def attempt_slot(self, queue: str, key: str) -> None:
        """Wait until the activity attempt `key` holds a slot of `queue`.

        Release it with `release_attempt` once the attempt ended; while held, its lease
        is renewed, and an engine that dies frees it after `ATTEMPT_LEASE`.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._attempt_waiters.setdefault(queue, {})
        waiters[key] = future
        self._wake.set()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release_attempt(key)  # given a slot just as the wait was called off
            raise
        finally:
            if waiters.get(key) is future:
                del waiters[key]

    def release_attempt(self, key: str) -> None:
        """The attempt `key` ended: its slot is freed (at the dispatcher's next turn)."""
        if key in self._held_attempts:
            self._held_attempts.discard(key)
            self._released.append(key)
            self._wake.set()

    async def _admit_attempts(self) -> None:
        store, engine = self.store(), self.engine
        if self._released:
            released, self._released = self._released, []
            try:
                await store.release_attempts(released)
            except BaseException:
                self._released += released  # tried again at the next turn
                raise
        for queue, waiters in list(self._attempt_waiters.items()):
            waiting = [key for key, future in waiters.items() if not future.done()]
            if not waiting:
                continue
            settings = self._activity_settings.get(queue) or QueueSettings(queue)
            # Per process, attempts are bounded where they run (executor, worker).
            limits = replace(settings.limits, engine_concurrency=None)
            admitted = await store.admit_attempts(
                queue, limits, waiting, engine_id=engine.identity, clock=engine.clock.now,
                lease=ATTEMPT_LEASE,
            )  # fmt: skip
            for key in admitted:
                self._held_attempts.add(key)
                future = waiters.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(None)
                else:
                    self.release_attempt(key)
        now = time.monotonic()
        if self._held_attempts and now >= self._next_renewal:
            self._next_renewal = now + _RENEW_INTERVAL
            await store.renew_attempts(
                list(self._held_attempts), clock=engine.clock.now, lease=ATTEMPT_LEASE
            )

    async def stats(self, queue: str) -> QueueStats:
        """The queue's counts now: queued, running, throttled, per partition key."""
        settings = self._settings.get(queue)
        return await queue_stats(self.store(), queue, settings, self.engine.clock.now())

    async def run(self) -> None:
        """Admit and dequeue until cancelled (the engine closing)."""
        delay = POLL_INTERVAL
        try:
            while True:
                self._wake.clear()
                failed = False
                queues = self._queues_now()
                if self._attempt_waiters or self._held_attempts or self._released:
                    try:
                        await self._admit_attempts()
                    except StoreError as error:
                        failed = True
                        log.warning("admitting activity attempts failed: %s", error)
                    except Exception:
                        failed = True
                        log.exception("admitting activity attempts failed")
                for settings in queues:
                    try:
                        await self._admit(settings)
                    except StoreError as error:
                        failed = True
                        log.warning("admitting runs of queue %r failed: %s", settings.name, error)
                    except Exception:
                        # A bug must not stop every queue for good: it is logged, and retried.
                        failed = True
                        log.exception("admitting runs of queue %r failed", settings.name)
                if failed:
                    delay = min(delay * 2, 5.0)
                else:
                    delay = min(
                        (s.poll_interval for s in self._settings.values()), default=POLL_INTERVAL
                    )
                await first_of(self._wake.wait(), asyncio.sleep(delay))
        finally:
            await self._tasks.close()
            held = [*self._held_attempts, *self._released]
            if held:  # stopping cleanly: free them now rather than when their leases run out
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.store().release_attempts(held), 2.0)

    async def _admit(self, settings: QueueSettings) -> None:
        engine = self.engine
        admissions = await self.store().admit_queued(
            settings.name,
            settings.limits,
            engine_id=engine.identity,
            owns=engine.handle.owns,
            clock=engine.clock.now,
        )
        for admission in admissions:
            key = (admission.workflow_id, admission.run_id)
            if key not in self._dequeuing:
                self._dequeuing.add(key)
                self._tasks.spawn(
                    self._dequeue(settings.name, admission),
                    name=f"aion-dequeue-{admission.workflow_id}",
                )

    async def _dequeue(self, queue: str, admission: Admission) -> None:
        """Record `WorkflowDequeued` for an admitted run; its code starts after it."""
        body = WorkflowDequeued(
            queue=queue, admitted_at=admission.admitted_at, by=self.engine.identity
        )

        async def submit() -> None:
            await self.engine.submit(admission.workflow_id, "record", body, run_id=admission.run_id)

        try:
            await record_until_durable(submit, what=f"the dequeue of {admission.workflow_id!r}")
        except WorkflowStateError:
            pass  # dequeued already (this is a retry after a crash), or closed meanwhile
        except AionError as error:
            log.info("workflow %s was not dequeued: %s", admission.workflow_id, error)
        finally:
            self._dequeuing.discard((admission.workflow_id, admission.run_id))
