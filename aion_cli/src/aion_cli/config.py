"""Where the settings (`--store`, `--transport`, `--max-payload-bytes`, ...) come from, in order.

1. the command's own flag (``aion list --store URL``), then the same flag given
   before the command (``aion --store URL list``);
2. the environment: ``AION_STORE``, ``AION_TRANSPORT``, ``AION_NAMESPACE``,
   ``AION_LOG_LEVEL``, ``AION_MAX_PAYLOAD_BYTES``;
3. the config file: ``--config PATH`` (or ``AION_CONFIG``), else ``aion.toml``
   in the working directory when it exists, with top-level keys ``store``,
   ``transport``, ``namespace``, ``log_level``, ``max_payload_bytes`` (a size:
   ``"4MiB"`` or a number of bytes);
4. the built-in default of each setting.

The config file also declares flow-controlled task queues, one table each,
read by every command that builds an engine (and by ``aion queue``)::

    [queues.emails]
    global_concurrency = 20       # over every engine sharing the store
    worker_concurrency = 8        # per engine process
    partition_concurrency = 2     # per partition key
    rate_limit = "100/1s"         # at most 100 let out in any 1 s window

    [queues.payments-api]         # activity attempts on it, over every engine and worker
    applies_to = "activities"
    global_concurrency = 5

The file is read once, when the root command starts, and kept in the Click
context's `meta`, which every subcommand shares.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import click

from aion_cli.arguments import parse_duration
from aion_core import QueueSettings
from aion_core.errors import ConfigurationError

__all__ = [
    "CONFIG_FILE",
    "SETTINGS",
    "Config",
    "Setting",
    "config_of",
    "load_config",
    "remember_config",
]

CONFIG_FILE = "aion.toml"
"""The config file read from the working directory when no ``--config`` is given."""

Setting = Literal["store", "transport", "namespace", "log_level", "max_payload_bytes"]

SETTINGS: dict[Setting, str] = {
    "store": "AION_STORE",
    "transport": "AION_TRANSPORT",
    "namespace": "AION_NAMESPACE",
    "log_level": "AION_LOG_LEVEL",
    "max_payload_bytes": "AION_MAX_PAYLOAD_BYTES",
}
"""Every setting and the environment variable that gives it."""

_META_KEY = "aion.config"
_NUMBERS: frozenset[str] = frozenset({"max_payload_bytes"})
"""Settings the config file may give as a TOML integer as well as a string."""


@dataclass(frozen=True)
class Config:
    """The settings from every source but the command's own flags.

    Attributes:
        flags: Settings given as flags before the command (``aion --store URL list``).
        environ: The environment.
        file: Settings from the config file.
        path: The config file read, or None.
    """

    flags: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    file: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None
    queues: tuple[QueueSettings, ...] = ()

    def lookup(self, setting: Setting) -> tuple[str, str] | None:
        """The value of `setting` and where it came from, or None when nothing sets it."""
        if (value := self.flags.get(setting)) is not None:
            return value, f"--{setting.replace('_', '-')}"
        variable = SETTINGS[setting]
        if value := self.environ.get(variable):
            return value, variable
        if (value := self.file.get(setting)) is not None:
            return value, f"{self.path} ({setting})"
        return None


def load_config(
    path: Path | None = None,
    *,
    flags: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read the config file (`path`, else ``aion.toml`` here if present) into a `Config`.

    Raises:
        ConfigurationError: The file is not valid TOML, has a key aion does not know,
            or a value that is not a string (or, for a size, an integer).
    """
    if path is None and Path(CONFIG_FILE).is_file():
        path = Path(CONFIG_FILE)
    file: dict[str, str] = {}
    queues: tuple[QueueSettings, ...] = ()
    if path is not None:
        file, queues = _read(path)
    given = {key: value for key, value in (flags or {}).items() if value is not None}
    return Config(
        flags=given,
        environ=os.environ if environ is None else environ,
        file=file,
        path=path,
        queues=queues,
    )


def _read(path: Path) -> tuple[dict[str, str], tuple[QueueSettings, ...]]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(f"cannot read config file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"config file {path} is not valid TOML: {error}") from None
    known = ", ".join([*SETTINGS, "[queues.NAME]"])
    settings: dict[str, str] = {}
    queues = _queues(path, document.pop(_QUEUES, {}))
    for key, value in document.items():
        if key not in SETTINGS:
            raise ConfigurationError(f"config file {path}: unknown key {key!r}; aion reads {known}")
        if key in _NUMBERS and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ConfigurationError(
                f'config file {path}: {key} must be a string, such as {key} = "..."'
            )
        settings[key] = value
    return settings, queues


_QUEUES = "queues"
_QUEUE_LIMITS = ("worker_concurrency", "global_concurrency", "partition_concurrency")
_RATE_LIMIT = "rate_limit"
_APPLIES_TO = "applies_to"


def _queues(path: Path, tables: object) -> tuple[QueueSettings, ...]:
    """The ``[queues.NAME]`` tables of the config file."""
    example = "such as [queues.emails] with global_concurrency = 20"
    if not isinstance(tables, dict):
        raise ConfigurationError(f"config file {path}: queues must be tables, {example}")
    found = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigurationError(
                f"config file {path}: queues.{name} must be a table, {example}"
            )
        known = ", ".join([*_QUEUE_LIMITS, _RATE_LIMIT, _APPLIES_TO])
        limits: dict[str, int | None] = dict.fromkeys(_QUEUE_LIMITS)
        rate_limit = None
        applies_to: object = "workflows"
        for key, value in table.items():
            where = f"config file {path}: queues.{name}.{key}"
            if key == _RATE_LIMIT:
                rate_limit = _rate_limit(where, value)
            elif key == _APPLIES_TO:
                applies_to = value
            elif key not in _QUEUE_LIMITS:
                raise ConfigurationError(f"{where} is not a queue setting; aion reads {known}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise ConfigurationError(f"{where} must be an integer, such as {key} = 10")
            else:
                limits[key] = value
        try:
            found.append(
                QueueSettings(
                    name,
                    worker_concurrency=limits["worker_concurrency"],
                    global_concurrency=limits["global_concurrency"],
                    partition_concurrency=limits["partition_concurrency"],
                    rate_limit=rate_limit,
                    applies_to=applies_to,  # type: ignore[arg-type]  # checked by QueueSettings
                )
            )
        except ConfigurationError as error:
            raise ConfigurationError(f"config file {path}: {error}") from None
    return tuple(found)


def _rate_limit(where: str, value: object) -> tuple[int, timedelta]:
    """``"COUNT/DURATION"``, such as ``"100/1s"`` or ``"5/1m"``."""
    usage = f'{where} must be "COUNT/DURATION", such as "100/1s" or "5/1m"'
    if not isinstance(value, str) or value.count("/") != 1:
        raise ConfigurationError(usage)
    count, period = value.split("/")
    try:
        return int(count), parse_duration(period.strip())
    except (ValueError, click.BadParameter):
        raise ConfigurationError(usage) from None


def config_of(ctx: click.Context) -> Config:
    """The `Config` of this invocation (read on first use when the root command did not)."""
    config = ctx.meta.get(_META_KEY)
    if config is None:
        config = ctx.meta[_META_KEY] = load_config()
    assert isinstance(config, Config)
    return config


def remember_config(ctx: click.Context, config: Config) -> None:
    """Keep `config` for every subcommand of this invocation."""
    ctx.meta[_META_KEY] = config
