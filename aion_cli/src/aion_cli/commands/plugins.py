"""`aion plugins`: which plugins are loaded, from which distribution, with which hooks."""

from __future__ import annotations

import json
from dataclasses import asdict

import click
from rich.console import Console
from rich.table import Table

from aion_core.plugins import Plugins

__all__ = ["plugins_command"]


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def plugins_command(plugins: Plugins, as_json: bool) -> None:
    """List loaded plugins: name, distribution, version and the hooks each implements."""
    infos = plugins.describe()
    if as_json:
        click.echo(json.dumps([asdict(info) for info in infos], indent=2))
        return
    table = Table("plugin", "distribution", "version", "hooks", box=None)
    for info in infos:
        origin = f"{info.distribution or '?'}{' (built-in)' if info.builtin else ''}"
        table.add_row(info.name, origin, info.version or "?", ", ".join(info.hooks))
    Console().print(table)
