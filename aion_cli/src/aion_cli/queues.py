"""Task queues as the store sees them: which queues open workflows use, and their pending work.

A task queue is a name that workflows (`WorkflowStarted.task_queue`) and
activities (`ActivityScheduled.task_queue`) carry, and workers serve. So the
queues here are the names the open workflows and their pending activities
use, read from the visibility rows and the latest run of each open
workflow's history. Closed workflows have no pending work and are not read.

A queue under flow control (``[queues.NAME]`` in aion.toml, or holding queued
runs) also shows its runs queued, running past the queue and throttled, per
partition key, from the store's slots (`aion_core.store.queues`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from aion_cli.summary import PendingActivity, latest_run, pending_activities
from aion_core import QueueSettings
from aion_core.engine.queues import queue_stats
from aion_core.store import EventStore, WorkflowRecord
from aion_core.store.queues import QueueStore

__all__ = [
    "FlowControl",
    "PartitionFlow",
    "QueuedActivity",
    "TaskQueueSummary",
    "flow_control",
    "open_work",
    "summarize_queues",
]

_PAGE = 500


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QueuedActivity(_Model):
    """A pending activity and the workflow it belongs to."""

    workflow_id: str
    run_id: str
    activity: PendingActivity


class TaskQueueSummary(_Model):
    """One task queue: the open workflows on it and the state of its pending activities.

    Attributes:
        name: The queue's name.
        open_workflows: Open (queued, running, paused, suspended) workflows on it.
        pending_activities: Activities on it that have not completed or failed for good.
        running: Of those, attempts handed out to a worker or engine right now.
        retrying: Of those, waiting for their next attempt.
        scheduled: Of those, with no attempt yet (their workflow is paused, for example).
    """

    name: str
    open_workflows: int = 0
    pending_activities: int = 0
    running: int = 0
    retrying: int = 0
    scheduled: int = 0
    flow: FlowControl | None = None


class PartitionFlow(_Model):
    """Runs of one partition key of a flow-controlled queue."""

    queued: int
    running: int
    throttled: int


class FlowControl(_Model):
    """A flow-controlled queue's workflow runs, and its limits when aion.toml gives them.

    Attributes:
        queued: Runs waiting in the queue.
        running: Runs let out of it and still open.
        throttled: Of the queued, those a full limit holds back now (needs the limits).
        recent_admissions: Runs let out within the rate limit's window.
        attempts_running: Activity attempts on the queue holding one of its slots.
        limits: The limits from aion.toml (none when the queue is not declared there).
        partitions: Per partition key.
    """

    queued: int
    running: int
    throttled: int
    recent_admissions: int | None = None
    attempts_running: int = 0
    limits: dict[str, int | str] = {}
    partitions: dict[str, PartitionFlow] = {}


async def flow_control(
    store: EventStore, settings: Sequence[QueueSettings], only: str | None = None
) -> dict[str, FlowControl]:
    """The flow control of every queue `settings` declares or the store holds runs of."""
    if not isinstance(store, QueueStore):
        return {}
    declared = {s.name: s for s in settings}
    names = set(declared) | set(await store.queue_names())
    found = {}
    now = datetime.now(UTC)
    for name in sorted(names):
        if only is not None and name != only:
            continue
        queue = declared.get(name)
        workflows = queue if queue is not None and queue.applies_to == "workflows" else None
        stats = await queue_stats(store, name, workflows, now)
        found[name] = FlowControl(
            queued=stats.queued,
            running=stats.running,
            throttled=stats.throttled,
            recent_admissions=stats.recent_admissions,
            attempts_running=stats.attempts_running,
            limits=_limits(queue) if queue is not None else {},
            partitions={
                key: PartitionFlow(queued=p.queued, running=p.running, throttled=p.throttled)
                for key, p in stats.by_partition.items()
            },
        )
    return found


def _limits(queue: QueueSettings) -> dict[str, int | str]:
    limits: dict[str, int | str] = {}
    for name in ("global_concurrency", "worker_concurrency", "partition_concurrency"):
        value = getattr(queue, name)
        if value is not None:
            limits[name] = value
    if queue.rate_limit is not None:
        count, period = queue.rate_limit
        limits["rate_limit"] = f"{count}/{period.total_seconds():g}s"
    if queue.applies_to != "workflows":
        limits["applies_to"] = queue.applies_to
    return limits


async def open_work(
    store: EventStore,
) -> AsyncIterator[tuple[WorkflowRecord, list[PendingActivity]]]:
    """Every open workflow with the pending activities of its latest run, by workflow id."""
    after = ""
    while page := await store.open_workflows(after_id=after, limit=_PAGE):
        for record in page:
            events = await store.read_events(record.workflow_id)
            yield record, pending_activities(latest_run(events))
        after = page[-1].workflow_id


async def summarize_queues(
    store: EventStore, only: str | None = None, settings: Sequence[QueueSettings] = ()
) -> tuple[list[TaskQueueSummary], list[QueuedActivity]]:
    """Every queue in use (or just `only`), by name, and the pending activities on them.

    `settings`: the flow-controlled queues declared (aion.toml), for their limits.
    """
    counts: dict[str, dict[str, int]] = {}
    queued: list[QueuedActivity] = []

    def count(queue: str, key: str) -> None:
        if only is None or queue == only:
            tally = counts.setdefault(queue, {})
            tally[key] = tally.get(key, 0) + 1

    async for record, activities in open_work(store):
        count(record.task_queue, "open_workflows")
        for activity in activities:
            count(activity.task_queue, "pending_activities")
            count(activity.task_queue, activity.state)
            if only is None or activity.task_queue == only:
                queued.append(
                    QueuedActivity(
                        workflow_id=record.workflow_id, run_id=record.run_id, activity=activity
                    )
                )
    flows = await flow_control(store, settings, only)
    names = sorted(set(counts) | set(flows))
    summaries = [
        TaskQueueSummary(name=name, flow=flows.get(name), **counts.get(name, {})) for name in names
    ]
    return summaries, queued
