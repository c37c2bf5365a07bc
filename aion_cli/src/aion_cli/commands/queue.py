"""`aion queue list|describe`: the task queues open workflows use, and their pending work.

Read from the store (``--store``): see `aion_cli.queues` for what counts.
"""

from __future__ import annotations

import click

from aion_cli.config import config_of
from aion_cli.connections import run_with_store
from aion_cli.groups import InOrderGroup
from aion_cli.options import json_option, store_option
from aion_cli.output import console, echo_json, format_time, table
from aion_cli.queues import QueuedActivity, TaskQueueSummary, summarize_queues
from aion_core.plugins import Plugins
from aion_core.store import EventStore

__all__ = ["queue_group"]


@click.group("queue", cls=InOrderGroup)
def queue_group() -> None:
    """Task queues in use and their pending work, from the store.

    A task queue is a name workflows and activities carry and workers serve;
    these commands count, per name, the open workflows on it and the activities
    of their latest runs that still have work to do (running, waiting for a
    retry, or not started yet). They read every open workflow's history, not
    the transport's own buffers (a task handed to NATS but not yet picked up
    counts as running).

    A queue under flow control ([queues.NAME] in aion.toml, or holding queued
    runs) also shows its workflow runs queued, running (let out of the queue)
    and throttled (held back by a full limit), per partition key.
    """


@queue_group.command("list")
@store_option
@json_option
@click.pass_obj
def list_command(plugins: Plugins, store: str | None, as_json: bool) -> None:
    """List the task queues open workflows and their pending activities use."""
    declared = config_of(click.get_current_context()).queues

    async def read(opened: EventStore) -> list[TaskQueueSummary]:
        return (await summarize_queues(opened, settings=declared))[0]

    queues = run_with_store(plugins, store, read)
    if as_json:
        echo_json([queue.model_dump(mode="json") for queue in queues])
        return
    listing = table(
        "task queue", "open workflows", "queued", "running", "throttled", "pending activities",
        "attempts running", "retrying", "scheduled",
    )  # fmt: skip
    for queue in queues:
        flow = queue.flow
        listing.add_row(
            queue.name, str(queue.open_workflows),
            *((str(flow.queued), str(flow.running), str(flow.throttled)) if flow else ("-",) * 3),
            str(queue.pending_activities), str(queue.running), str(queue.retrying),
            str(queue.scheduled),
        )  # fmt: skip
    out = console()
    out.print(listing)
    if not queues:
        out.print("no open workflows: no task queue has pending work", style="dim")


@queue_group.command("describe")
@click.argument("name")
@store_option
@json_option
@click.pass_obj
def describe_command(plugins: Plugins, name: str, store: str | None, as_json: bool) -> None:
    """Show task queue NAME: its counts and every pending activity on it."""
    declared = config_of(click.get_current_context()).queues

    async def read(opened: EventStore) -> tuple[list[TaskQueueSummary], list[QueuedActivity]]:
        return await summarize_queues(opened, only=name, settings=declared)

    queues, queued = run_with_store(plugins, store, read)
    summary = queues[0] if queues else TaskQueueSummary(name=name)
    if as_json:
        echo_json(
            {
                "queue": summary.model_dump(mode="json"),
                "pending_activities": [item.model_dump(mode="json") for item in queued],
            }
        )
        return
    out = console()
    out.print(
        f"task queue {name}: {summary.open_workflows} open workflows, "
        f"{summary.pending_activities} pending activities ({summary.running} running, "
        f"{summary.retrying} retrying, {summary.scheduled} scheduled)"
    )
    flow = summary.flow
    if flow is not None:
        limits = ", ".join(f"{k} {v}" for k, v in flow.limits.items()) or "not in aion.toml"
        rate = (
            ""
            if flow.recent_admissions is None
            else f", {flow.recent_admissions} let out in the rate window"
        )
        out.print(
            f"flow control ({limits}): {flow.queued} queued, {flow.running} running, "
            f"{flow.throttled} throttled{rate}; {flow.attempts_running} activity attempts "
            "holding a slot"
        )
        if flow.partitions:
            partitions = table("partition key", "queued", "running", "throttled")
            for key, partition in flow.partitions.items():
                partitions.add_row(
                    key, str(partition.queued), str(partition.running), str(partition.throttled)
                )
            out.print(partitions)
    if queued:
        listing = table("workflow id", "#", "activity", "state", "attempt", "since", "retry at")
        for item in queued:
            activity = item.activity
            listing.add_row(
                item.workflow_id, str(activity.activity_id), activity.activity_type,
                activity.state, str(activity.attempt), format_time(activity.since),
                format_time(activity.retry_at),
            )  # fmt: skip
        out.print(listing)
