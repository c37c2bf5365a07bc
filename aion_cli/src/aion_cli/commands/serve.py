"""`aion serve` and `aion worker`: an engine node and an activity worker, until stopped.

Both run until SIGTERM or SIGINT, then stop cleanly: an engine node hands its
workflows to the other nodes at once (it releases its partition leases); a
worker gives its unfinished tasks back to the queue. A node or worker killed
outright (SIGKILL) loses nothing either: its leases expire and its tasks are
redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import click

from aion_cli.config import config_of
from aion_cli.connections import namespace_in, store_url, with_namespace
from aion_cli.loading import definitions_in, import_module
from aion_cli.options import (
    log_level_option,
    max_payload_option,
    namespace_option,
    store_option,
    transport_option,
)
from aion_core import Engine, Worker
from aion_core.lifecycle import Service
from aion_core.plugins import Plugins

__all__ = ["serve_command", "worker_command"]


def _log_at(log_level: str) -> None:
    """Send log records to stderr from now on.

    Called before the engine or worker is built: plugins log as they are loaded
    (the crypto plugin says which key encrypts).
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _run_until_stopped(service: Service, what: str) -> None:
    """Run `service` until SIGTERM or SIGINT, saying on stderr what it does and when it stops."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):  # not on every platform
                loop.add_signal_handler(number, stop.set)
        async with service:
            click.echo(f"{what}; stop with Ctrl-C or SIGTERM", err=True)
            await stop.wait()

    asyncio.run(main())
    click.echo(f"{what.split(':')[0]}: stopped", err=True)


@click.command("serve")
@click.argument("modules", nargs=-1, required=True, metavar="MODULE...")
@store_option
@transport_option
@namespace_option
@log_level_option
@click.option(
    "--activities/--no-activities",
    default=False,
    show_default=True,
    help="Also run the modules' activities here (else workers run them).",
)
@click.option(
    "--max-cached", default=1000, show_default=True, help="Live workflows kept in memory."
)
@max_payload_option
@click.pass_obj
def serve_command(
    plugins: Plugins,
    modules: tuple[str, ...],
    store: str | None,
    transport: str,
    namespace: str | None,
    log_level: str,
    activities: bool,
    max_cached: int,
    max_payload_bytes: int,
) -> None:
    """Run an engine node for MODULE's workflows until stopped.

    Nodes of one namespace share the store and the transport; each owns a part
    of the workflows and takes over a dead node's part.
    """
    _log_at(log_level)
    workflows, found_activities = definitions_in([import_module(m) for m in modules])
    if not workflows:
        raise click.BadParameter(f"no @workflow.defn found in {', '.join(modules)}")
    namespace = namespace_in(transport) or namespace or "default"
    engine = Engine(
        store_url(plugins, store),
        transport=transport,
        namespace=namespace,
        workflows=workflows,
        activities=found_activities if activities else (),
        plugins=plugins,
        max_cached_workflows=max_cached,
        max_payload_bytes=max_payload_bytes,
        queues=config_of(click.get_current_context()).queues,
    )

    what = (
        f"aion serve: engine {engine.identity} serving {len(workflows)} workflow type(s) "
        f"in namespace {namespace!r}"
    )
    _run_until_stopped(engine, what)


_DEFAULT_CONCURRENCY = 100


@click.command("worker")
@click.argument("modules", nargs=-1, required=True, metavar="MODULE...")
@transport_option
@namespace_option
@log_level_option
@click.option("--task-queue", default="default", show_default=True, help="The queue to serve.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Activity attempts running at once. Default: the task queue's worker_concurrency "
    'in aion.toml ([queues.NAME] with applies_to = "activities"), else 100.',
)
@max_payload_option
@click.pass_obj
def worker_command(
    plugins: Plugins,
    modules: tuple[str, ...],
    transport: str,
    namespace: str | None,
    log_level: str,
    task_queue: str,
    concurrency: int | None,
    max_payload_bytes: int,
) -> None:
    """Run the activities of MODULE... for the engines, until stopped.

    The worker takes tasks of its task queue from the transport, so it needs one
    the engines share, such as nats://host:4222.
    """
    _log_at(log_level)
    _, activities = definitions_in([import_module(m) for m in modules])
    if not activities:
        raise click.BadParameter(f"no @activity.defn found in {', '.join(modules)}")
    if concurrency is None:
        declared = {
            q.name: q
            for q in config_of(click.get_current_context()).queues
            if q.applies_to == "activities"
        }
        queue = declared.get(task_queue)
        concurrency = (queue.worker_concurrency if queue else None) or _DEFAULT_CONCURRENCY
    worker = Worker(
        with_namespace(transport, namespace),
        activities=activities,
        task_queue=task_queue,
        max_concurrency=concurrency,
        plugins=plugins,
        max_payload_bytes=max_payload_bytes,
    )

    what = (
        f"aion worker: {worker.identity} running {len(activities)} activity type(s) "
        f"from task queue {task_queue!r}"
    )
    _run_until_stopped(worker, what)
