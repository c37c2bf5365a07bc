"""The CLI reference page (docs/cli.md), generated from the commands' own help.

    python -m aion_cli.reference > docs/cli.md

A test regenerates the page and fails when the checked-in copy differs, so the
reference never drifts from the commands. The page covers the core commands
(entry-point plugins are not loaded) and the help is laid out at a fixed
width, so it is the same on every machine.
"""

from __future__ import annotations

import click

from aion_core.plugins import load_plugins

__all__ = ["REGENERATE", "reference"]

REGENERATE = "python -m aion_cli.reference > docs/cli.md"
"""The command that writes the page."""

_WIDTH = 88


def reference() -> str:
    """The whole page, as markdown."""
    from aion_cli.main import SECTIONS, build_cli

    cli = build_cli(load_plugins({"AION_PLUGINS": ""}))
    root = click.Context(
        cli,
        info_name="aion",
        terminal_width=_WIDTH,
        max_content_width=_WIDTH,
        **cli.context_settings,
    )
    lines = [
        "# The `aion` command",
        "",
        f"Generated from the commands' own help by `{REGENERATE}`; do not edit by hand.",
        "A test regenerates it and fails when this page is out of date.",
        "",
        _help_block(cli, root),
    ]
    for title, commands in SECTIONS:
        lines += [f"## {title}", ""]
        for command in commands:
            assert command.name is not None
            lines += _command_pages(
                command, click.Context(command, info_name=command.name, parent=root)
            )
    return "\n".join(lines).rstrip() + "\n"


def _command_pages(command: click.Command, ctx: click.Context) -> list[str]:
    """The section of `command` and, for a group, of each of its subcommands."""
    heading = "#" * min(2 + ctx.command_path.count(" "), 4)
    lines = [f"{heading} `{ctx.command_path}`", "", _help_block(command, ctx)]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                lines += _command_pages(sub, click.Context(sub, info_name=name, parent=ctx))
    return lines


def _help_block(command: click.Command, ctx: click.Context) -> str:
    return f"```text\n{command.get_help(ctx)}\n```\n"


if __name__ == "__main__":
    click.echo(reference(), nl=False)
