"""The ui plugin's one hook, and `ui_plugin`, the object the ``aion`` entry point names.

Engines and workers load every installed plugin, so this module imports
nothing heavy: the web stack is imported only when the ``aion`` command asks
for its commands.
"""

from __future__ import annotations

from aion_core import hookimpl
from aion_core.hookspecs import CommandGroup

__all__ = ["UiPlugin", "ui_plugin"]


class UiPlugin:
    """Adds ``aion ui`` to the ``aion`` command; changes nothing in engines, workers or clients."""

    @hookimpl
    def aion_cli_commands(self, cli: CommandGroup) -> None:
        """Add the ``ui`` command."""
        from aion_plugin_ui.cli import ui_command

        cli.add_command(ui_command, "ui")


ui_plugin = UiPlugin()
"""The instance the ``aion`` entry point names."""
