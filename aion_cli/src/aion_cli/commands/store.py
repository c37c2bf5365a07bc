"""`aion store init|migrate|status`: the schema of a SQL store (aion-store-sql).

Opening a store creates the schema in an empty database but never changes an
existing one: an older schema is refused until `aion store migrate` runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any

import click

from aion_cli.connections import store_url
from aion_cli.exit_codes import DOMAIN_FAILURE
from aion_cli.groups import InOrderGroup
from aion_cli.options import json_option, store_option
from aion_cli.output import console, echo_json
from aion_core.plugins import Plugins
from aion_store_sql import migrations
from aion_store_sql.migrations import SchemaState, SchemaStatus

__all__ = ["store_group"]


@click.group("store", cls=InOrderGroup)
def store_group() -> None:
    """Create, migrate or inspect the schema of a SQL store.

    For SQLite and PostgreSQL stores (aion-store-sql).
    """


@store_group.command("init")
@store_option
@json_option
@click.pass_obj
def init_command(plugins: Plugins, store: str | None, as_json: bool) -> None:
    """Create the schema in an empty database; a current one is left as it is."""
    _print(_changing("creating the schema", migrations.init, store_url(plugins, store)), as_json)


@store_group.command("migrate")
@store_option
@json_option
@click.pass_obj
def migrate_command(plugins: Plugins, store: str | None, as_json: bool) -> None:
    """Bring the schema up to this aion's revision: create it, upgrade it, or leave it.

    All pending revisions apply in one transaction, so a failure leaves the
    schema as it was. Back up a production database first all the same.
    """
    url = store_url(plugins, store)
    before = asyncio.run(migrations.status(url))
    after = _changing(f"applying {len(before.pending)} revision(s)", migrations.migrate, url)
    _print(after, as_json, applied=before.pending)


@store_group.command("status")
@store_option
@json_option
@click.pass_obj
def status_command(plugins: Plugins, store: str | None, as_json: bool) -> None:
    """Show where the store's schema stands; changes nothing.

    Exits with code 1 when the store cannot be opened as it is (its schema is
    older or newer than this aion).
    """
    status = asyncio.run(migrations.status(store_url(plugins, store)))
    _print(status, as_json)
    if status.state in (SchemaState.OLDER, SchemaState.NEWER):
        raise SystemExit(DOMAIN_FAILURE)


def _changing(
    what: str, change: Callable[[str], Coroutine[Any, Any, SchemaStatus]], url: str
) -> SchemaStatus:
    with console(stderr=True).status(f"{what} in {url}"):
        return asyncio.run(change(url))


def _print(
    status: SchemaStatus, as_json: bool, applied: tuple[migrations.Revision, ...] = ()
) -> None:
    if as_json:
        echo_json({**asdict(status), "applied": [asdict(revision) for revision in applied]})
        return
    out = console()
    out.print(f"store     {status.url}")
    out.print(f"schema    {status.state.value} (revision {status.current or 'none'})")
    out.print(f"this aion {status.head}")
    for revision in applied:
        out.print(f"applied   {revision.id}: {revision.description}")
    for revision in status.pending:
        out.print(f"pending   {revision.id}: {revision.description}")
    if status.state is SchemaState.OLDER:
        out.print("run aion store migrate to bring it up to date")
    elif status.state is SchemaState.NEWER:
        out.print("a newer aion migrated it: upgrade aion-store-sql to use it")
