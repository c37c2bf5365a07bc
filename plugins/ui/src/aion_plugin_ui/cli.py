"""``aion ui``: serve the console until stopped.

``--store``, ``--transport`` and ``--namespace`` are the CLI's own options, so
they resolve exactly as for every other command (flag, ``AION_*``,
``aion.toml``, default). Click is imported here only: the `aion_cli_commands`
hook, which only the ``aion`` command calls, loads this module.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
from collections.abc import Iterator

import click
import uvicorn
from aion_cli.options import log_level_option, namespace_option, store_option, transport_option
from aion_core.plugins import Plugins

from aion_plugin_ui.app import create_app
from aion_plugin_ui.settings import DEFAULT_HOST, DEFAULT_PORT, UiSettings, is_loopback

__all__ = ["TOKEN_ENV", "ui_command"]

TOKEN_ENV = "AION_UI_TOKEN"
GRACEFUL_SHUTDOWN_SECONDS = 5
"""How long open pages (live feeds never end by themselves) may delay a stop."""


class _Server(uvicorn.Server):
    """uvicorn's server, stopping on SIGINT or SIGTERM and then returning, as ``aion serve`` does.

    uvicorn raises the signal again once it has shut down, which would end the
    process by that signal instead of with exit code 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Ask the server to stop on SIGINT and SIGTERM while it runs."""
        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {number: signal.signal(number, self.handle_exit) for number in stops}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port` (0: a free port), or a one-line error."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
        listener = socket.socket(family, kind, protocol)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None
    return listener


@click.command("ui")
@store_option
@transport_option
@namespace_option
@click.option(
    "--host",
    default=DEFAULT_HOST,
    metavar="HOST",
    show_default=True,
    help="The address to listen on. Any other than loopback needs --token.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    metavar="PORT",
    show_default=True,
    help="The TCP port (0: a free one, printed at start).",
)
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    metavar="TOKEN",
    help=(
        f"Require this token for every request (login form, or Authorization: Bearer). "
        f"Prefer {TOKEN_ENV}: a command line is visible to other users of the machine."
    ),
)
@click.option(
    "--module",
    "-m",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="Workflow code the replay page checks histories against (repeatable).",
)
@log_level_option
@click.pass_obj
def ui_command(
    plugins: Plugins,
    store: str | None,
    transport: str,
    namespace: str | None,
    host: str,
    port: int,
    token: str | None,
    modules: tuple[str, ...],
    log_level: str,
) -> None:
    """Serve the web console for workflows until stopped.

    Lists and filters workflows, shows each one's summary, pending work,
    children and a live timeline, sends signals, queries and updates, cancels,
    terminates or reopens, pauses and triggers schedules, and replays a
    history against the code of --module. Pages read --store directly; actions
    go to the engine nodes through --transport.

    It listens on 127.0.0.1 unless --host says otherwise, and refuses any
    other address without --token. Every form carries a per-session CSRF token.
    """
    token = token or None
    if not is_loopback(host) and token is None:
        raise click.UsageError(
            f"refusing to listen on {host} without a token: anyone who can reach it could "
            f"signal, cancel or terminate workflows; pass --token (or set {TOKEN_ENV})"
        )
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = UiSettings(
        store=store, transport=transport, namespace=namespace, token=token, replay_modules=modules
    )
    app = create_app(settings, plugins)
    listener = _listen(host, port)
    config = uvicorn.Config(
        app,
        log_level=log_level.lower(),
        access_log=log_level.lower() in ("debug", "info"),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    bound_host, bound_port = listener.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    needs = "token required" if token else "no token"
    click.echo(
        f"aion ui: serving http://{shown}:{bound_port}/ ({needs}); stop with Ctrl-C or SIGTERM",
        err=True,
    )
    _Server(config).run(sockets=[listener])
    click.echo("aion ui: stopped", err=True)
