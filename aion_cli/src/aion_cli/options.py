"""Options shared by several commands, defined once."""

from __future__ import annotations

import click

__all__ = ["json_option", "store_option"]

store_option = click.option(
    "--store",
    envvar="AION_STORE",
    default=None,
    metavar="URL",
    help="Event store URL (AION_STORE); default sqlite:///aion.db, or memory:// "
    "without aion-store-sql.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
