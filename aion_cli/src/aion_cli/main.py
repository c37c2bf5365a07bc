"""The `aion` command: built from the loaded plugins, so plugins can add commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from aion_cli.commands.check import check_command
from aion_cli.commands.demo import demo_command
from aion_cli.commands.lifecycle import (
    cancel_command,
    pause_command,
    reopen_command,
    resume_command,
    terminate_command,
)
from aion_cli.commands.messages import query_command, signal_command, update_command
from aion_cli.commands.plugins import plugins_command
from aion_cli.commands.queue import queue_group
from aion_cli.commands.replay import replay_command
from aion_cli.commands.run import run_command
from aion_cli.commands.schedule import schedule_group
from aion_cli.commands.serve import serve_command, worker_command
from aion_cli.commands.start import result_command, start_command
from aion_cli.commands.store import store_group
from aion_cli.commands.visibility import history_command, list_command, show_command
from aion_cli.commands.watch import watch_command
from aion_cli.config import load_config, remember_config
from aion_cli.exit_codes import exit_code_for, report
from aion_cli.groups import AionGroup
from aion_cli.options import global_setting_options
from aion_core.errors import AionError
from aion_core.plugins import Plugins, load_plugins

__all__ = ["build_cli", "main", "run"]

SECTIONS: tuple[tuple[str, tuple[click.Command, ...]], ...] = (
    ("Run workflows in this process", (demo_command, run_command)),
    ("Run engine nodes and activity workers", (serve_command, worker_command)),
    (
        "Talk to running workflows (through --transport)",
        (
            start_command,
            result_command,
            signal_command,
            query_command,
            update_command,
            cancel_command,
            terminate_command,
            pause_command,
            resume_command,
            reopen_command,
            watch_command,
            schedule_group,
        ),
    ),
    (
        "Look into the store (--store)",
        (list_command, show_command, history_command, replay_command, queue_group),
    ),
    ("Set up and check", (store_group, check_command, plugins_command)),
)
"""Every core command, in the groups ``aion --help`` lists them in."""

_SECTION_NAMES = [
    (title, [command.name for command in commands if command.name is not None])
    for title, commands in SECTIONS
]


def build_cli(plugins: Plugins) -> click.Group:
    """The root command group, with the core commands and every plugin's commands."""

    @click.group(
        cls=AionGroup,
        sections=_SECTION_NAMES,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    @click.version_option(package_name="aion-cli", prog_name="aion")
    @click.option(
        "--config",
        "config_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar="AION_CONFIG",
        help="Read settings from this TOML file (AION_CONFIG); default ./aion.toml if present.",
    )
    @global_setting_options
    @click.pass_context
    def cli(
        ctx: click.Context,
        config_path: Path | None,
        global_store: str | None,
        global_transport: str | None,
        global_namespace: str | None,
    ) -> None:
        """aion: durable workflows as plain async Python.

        Start with `aion demo`. `aion COMMAND --help` explains each command.

        \b
        Settings, first found wins:
          1. flags: --store, --transport, --namespace (here or after the command)
          2. environment: AION_STORE, AION_TRANSPORT, AION_NAMESPACE, AION_LOG_LEVEL,
             AION_MAX_PAYLOAD_BYTES
          3. aion.toml in the working directory (or --config PATH), with the
             keys store, transport, namespace, log_level, max_payload_bytes
          4. defaults: sqlite:///aion.db, inproc://, namespace 'default'

        \b
        Exit codes: 0 done, 1 the operation failed (the workflow failed, no
        such workflow, not reachable), 2 a usage error (bad option, input or URL).
        """  # noqa: D301 (\b keeps Click from rewrapping a paragraph)
        ctx.obj = plugins
        flags = {"store": global_store, "transport": global_transport}
        remember_config(
            ctx, load_config(config_path, flags={**flags, "namespace": global_namespace})
        )

    for _, commands in SECTIONS:
        for command in commands:
            cli.add_command(command)
    plugins.add_cli_commands(cli)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; errors become one line on stderr and an exit code, never a traceback."""
    try:
        plugins = load_plugins()
    except AionError as error:
        report(str(error))
        return exit_code_for(error)
    try:
        cli = build_cli(plugins)
    except AionError as error:  # a plugin's commands could not be added
        report(str(error))
        return exit_code_for(error)
    try:
        cli.main(args=argv, prog_name="aion")
    except SystemExit as done:
        if done.code is None:
            return 0
        return done.code if isinstance(done.code, int) else 1


def run() -> None:
    """Console-script entry point: exit with `main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
