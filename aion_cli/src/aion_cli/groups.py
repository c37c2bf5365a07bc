"""Click groups of the `aion` command: the root, and groups that list commands in order."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from aion_cli.exit_codes import run_reporting_errors

__all__ = ["AionGroup", "InOrderGroup"]

_PLUGIN_SECTION = "Commands from plugins"


class InOrderGroup(click.Group):
    """A group whose help lists its commands in the order they were added, not by name."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands' names, as added."""
        return list(self.commands)


class AionGroup(click.Group):
    """The root group: commands listed by purpose, and errors as one line and an exit code.

    Args:
        sections: Headings of ``aion --help`` and the names of the commands under each;
            commands under none (plugins') are listed last.
        **attrs: What `click.Group` takes.
    """

    def __init__(
        self, *args: Any, sections: Sequence[tuple[str, Sequence[str]]] = (), **attrs: Any
    ) -> None:
        super().__init__(*args, **attrs)
        self.sections = [(title, list(names)) for title, names in sections]

    def _sections(self) -> list[tuple[str, list[str]]]:
        """Command names under their headings; plugins' commands last, by name."""
        sections = [
            (title, [name for name in names if name in self.commands])
            for title, names in self.sections
        ]
        core = {name for _, names in self.sections for name in names}
        return [*sections, (_PLUGIN_SECTION, sorted(set(self.commands) - core))]

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Core commands in section order, then plugins' commands by name."""
        return [name for _, names in self._sections() for name in names]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands under headings that say what each group is for."""
        width = formatter.width - 6 - max((len(name) for name in self.commands), default=0)
        for title, names in self._sections():
            rows = [
                (name, self.commands[name].get_short_help_str(width))
                for name in names
                if not self.commands[name].hidden
            ]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run; in standalone mode, errors end as one line on stderr and their exit code."""

        def invoke() -> Any:
            return super(AionGroup, self).main(
                args, prog_name, complete_var, standalone_mode=False, **extra
            )

        if not standalone_mode:
            return invoke()
        sys.exit(run_reporting_errors(invoke))
