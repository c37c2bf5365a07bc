"""``--metrics-port`` and ``--metrics-host`` for the ``aion serve`` and ``aion worker`` commands.

Click is imported here only: this module is loaded by the `aion_cli_commands`
hook, which only the ``aion`` command calls, so click is no dependency of the plugin.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import click
from prometheus_client import CollectorRegistry

from aion_plugin_metrics.exposition import DEFAULT_METRICS_HOST, start_metrics_server

__all__ = ["METRICS_PORT_ENV", "SERVED_COMMANDS", "add_metrics_options"]

METRICS_PORT_ENV = "AION_METRICS_PORT"
METRICS_HOST_ENV = "AION_METRICS_HOST"
SERVED_COMMANDS = ("serve", "worker")
"""The long-running commands whose process is worth scraping."""


def add_metrics_options(cli: click.Group, registry: CollectorRegistry) -> None:
    """Give `cli`'s serve and worker commands the options that expose `registry`.

    The commands are module-level objects of aion-cli, shared by every CLI
    built in the process; each is copied and the copy replaces it in `cli`,
    so building the CLI twice never adds the options twice.
    """
    for name in SERVED_COMMANDS:
        command = cli.commands.get(name)
        if command is None or command.callback is None:
            continue
        served = copy.copy(command)
        served.params = [*command.params, *_metrics_options()]
        served.callback = _serving_metrics(command.callback, registry)
        cli.add_command(served, name)


def _metrics_options() -> list[click.Option]:
    return [
        click.Option(
            ["--metrics-port"],
            type=click.IntRange(0, 65535),
            envvar=METRICS_PORT_ENV,
            default=None,
            metavar="PORT",
            help=f"Serve Prometheus metrics at http://HOST:PORT/metrics [env {METRICS_PORT_ENV}].",
        ),
        click.Option(
            ["--metrics-host"],
            envvar=METRICS_HOST_ENV,
            default=DEFAULT_METRICS_HOST,
            show_default=True,
            help=f"The address the metrics endpoint listens on [env {METRICS_HOST_ENV}].",
        ),
    ]


def _serving_metrics(
    callback: Callable[..., Any], registry: CollectorRegistry
) -> Callable[..., Any]:
    def serve_then_run(
        *args: Any, metrics_port: int | None, metrics_host: str, **kwargs: Any
    ) -> Any:
        if metrics_port is not None:
            # Before the command starts its engine or worker: the first events count.
            server, _ = start_metrics_server(registry, metrics_port, metrics_host)
            url = f"http://{metrics_host}:{server.server_port}/metrics"
            click.echo(f"aion metrics: {url}", err=True)
        return callback(*args, **kwargs)

    return serve_then_run
