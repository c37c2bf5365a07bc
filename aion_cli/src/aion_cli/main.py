"""The `aion` command: built from the loaded plugins, so plugins can add commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from aion_cli.commands.demo import demo_command
from aion_cli.commands.plugins import plugins_command
from aion_cli.commands.run import run_command
from aion_cli.commands.serve import serve_command, worker_command
from aion_cli.commands.watch import watch_command
from aion_cli.exit_codes import USAGE_ERROR, exit_code_for
from aion_core.errors import AionError
from aion_core.plugins import Plugins, load_plugins

__all__ = ["build_cli", "main", "run"]


def build_cli(plugins: Plugins) -> click.Group:
    """The root command group, with the core commands and every plugin's commands."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="aion-cli", prog_name="aion")
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        """aion: durable workflows as plain async Python."""
        ctx.obj = plugins

    for command in (
        demo_command,
        plugins_command,
        run_command,
        serve_command,
        worker_command,
        watch_command,
    ):
        cli.add_command(command)
    plugins.add_cli_commands(cli)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; aion's errors become a message and an exit code, never a traceback."""
    try:
        plugins = load_plugins()
        cli = build_cli(plugins)
        return int(cli.main(args=argv, prog_name="aion", standalone_mode=False) or 0)
    except click.exceptions.Exit as done:
        return done.exit_code
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return USAGE_ERROR
    except AionError as error:
        click.echo(f"aion: {error}", err=True)
        return exit_code_for(error)


def run() -> None:
    """Console-script entry point: exit with `main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
