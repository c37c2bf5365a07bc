"""Task queues as the store sees them: which queues open workflows use, and their pending work.

aion has no queue objects of its own: a task queue is a name that workflows
(`WorkflowStarted.task_queue`) and activities (`ActivityScheduled.task_queue`)
carry, and workers serve. So the queues here are the names the open
workflows and their pending activities use, read from the visibility rows
and the latest run of each open workflow's history. Closed workflows have no
pending work and are not read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import BaseModel, ConfigDict

from aion_cli.summary import PendingActivity, latest_run, pending_activities
from aion_core.store import EventStore, WorkflowRecord

__all__ = ["QueuedActivity", "TaskQueueSummary", "open_work", "summarize_queues"]

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
        open_workflows: Open (running, paused, suspended) workflows whose task queue it is.
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
    store: EventStore, only: str | None = None
) -> tuple[list[TaskQueueSummary], list[QueuedActivity]]:
    """Every queue in use (or just `only`), by name, and the pending activities on them."""
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
    summaries = [TaskQueueSummary(name=name, **tally) for name, tally in sorted(counts.items())]
    return summaries, queued
