"""Options shared by several commands, defined once.

`--store`, `--transport`, `--namespace`, `--log-level` and `--max-payload-bytes`
are settings: given
on the command, before it (``aion --store URL list``), in the environment or
in ``aion.toml`` (see `aion_cli.config`). Their callback fills in a value the
command line left out from those sources, so commands receive the final value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from aion_cli.arguments import ByteSize
from aion_cli.config import Setting, config_of
from aion_core.converter import DEFAULT_MAX_PAYLOAD_BYTES

__all__ = [
    "DEFAULT_TRANSPORT",
    "client_options",
    "configured_max_payload_bytes",
    "global_setting_options",
    "input_option",
    "json_option",
    "log_level_option",
    "max_payload_option",
    "namespace_option",
    "reason_option",
    "store_option",
    "timeout_option",
    "transport_option",
]

DEFAULT_TRANSPORT = "inproc://"

_STORE_HELP = (
    "Event store URL: sqlite:///aion.db, postgresql://user@host/db, memory://. "
    "Else AION_STORE, else store in aion.toml; default sqlite:///aion.db."
)
_TRANSPORT_HELP = (
    "Where engines, workers and clients meet, e.g. nats://host:4222. "
    "Else AION_TRANSPORT, else transport in aion.toml; default inproc:// (this process only)."
)
_NAMESPACE_HELP = (
    "Keeps applications sharing a transport apart (a namespace= in the transport URL wins). "
    "Else AION_NAMESPACE, else namespace in aion.toml; default 'default'."
)
_MAX_PAYLOAD_HELP = (
    "Largest JSON of one payload (input, argument, result), e.g. 4MiB; bigger ones are refused "
    "and nothing is recorded. Else AION_MAX_PAYLOAD_BYTES, else max_payload_bytes in aion.toml; "
    f"default {DEFAULT_MAX_PAYLOAD_BYTES // (1024 * 1024)}MiB."
)
_LOG_LEVEL_HELP = (
    "How much to log to stderr. Else AION_LOG_LEVEL, else log_level in aion.toml; default warning."
)


def _setting(
    setting: Setting, default: Any
) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback giving an option left out on the command line its configured value."""

    def resolve(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            return value
        found = config_of(ctx).lookup(setting)
        if found is None:
            return default
        text, source = found
        try:
            return param.type.convert(text, param, ctx)
        except click.BadParameter as error:
            raise click.BadParameter(f"{error.message} (from {source})", ctx, param) from None

    return resolve


store_option = click.option(
    "--store", metavar="URL", callback=_setting("store", None), help=_STORE_HELP
)
transport_option = click.option(
    "--transport",
    metavar="URL",
    callback=_setting("transport", DEFAULT_TRANSPORT),
    help=_TRANSPORT_HELP,
)
namespace_option = click.option(
    "--namespace", metavar="NAME", callback=_setting("namespace", None), help=_NAMESPACE_HELP
)
log_level_option = click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    callback=_setting("log_level", "warning"),
    help=_LOG_LEVEL_HELP,
)
max_payload_option = click.option(
    "--max-payload-bytes",
    type=ByteSize(),
    metavar="SIZE",
    callback=_setting("max_payload_bytes", DEFAULT_MAX_PAYLOAD_BYTES),
    help=_MAX_PAYLOAD_HELP,
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for an engine to answer.",
)
input_option = click.option(
    "--input",
    "raw_input",
    metavar="JSON",
    help="The arguments: a JSON array of arguments, or one JSON value (the only argument).",
)
reason_option = click.option(
    "--reason", default="", help="Why, recorded in the history for whoever looks later."
)


def global_setting_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--store`, `--transport` and `--namespace` on the root command, before any command."""
    for option in reversed(
        (
            click.option("--store", "global_store", metavar="URL", help=_STORE_HELP),
            click.option("--transport", "global_transport", metavar="URL", help=_TRANSPORT_HELP),
            click.option("--namespace", "global_namespace", metavar="NAME", help=_NAMESPACE_HELP),
        )
    ):
        command = option(command)
    return command


def client_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--transport`, `--namespace` and `--timeout`: what commands talking to engines take."""
    return transport_option(namespace_option(timeout_option(command)))


def configured_max_payload_bytes(ctx: click.Context | None) -> int:
    """The payload limit from the environment or aion.toml (commands without the flag).

    Raises:
        click.BadParameter: The configured value is not a size.
    """
    found = config_of(ctx).lookup("max_payload_bytes") if ctx is not None else None
    if found is None:
        return DEFAULT_MAX_PAYLOAD_BYTES
    text, source = found
    try:
        return ByteSize().convert(text, None, ctx)
    except click.BadParameter as error:
        raise click.BadParameter(f"{error.message} (from {source})", ctx) from None
