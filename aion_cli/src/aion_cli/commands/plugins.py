"""`aion plugins`: which plugins are loaded, from which distribution, with which hooks."""

from __future__ import annotations

from dataclasses import asdict

import click

from aion_cli.options import json_option
from aion_cli.output import console, echo_json, table
from aion_core.plugins import Plugins

__all__ = ["plugins_command"]


@click.command("plugins")
@json_option
@click.pass_obj
def plugins_command(plugins: Plugins, as_json: bool) -> None:
    """List loaded plugins, their versions and hooks.

    Each plugin's name, the distribution and version it comes from, and the
    hooks it implements.
    """
    infos = plugins.describe()
    if as_json:
        echo_json([asdict(info) for info in infos])
        return
    listing = table("plugin", "distribution", "version", "hooks")
    for info in infos:
        origin = f"{info.distribution or '?'}{' (built-in)' if info.builtin else ''}"
        listing.add_row(info.name, origin, info.version or "?", ", ".join(info.hooks))
    console().print(listing)
