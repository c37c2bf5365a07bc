"""The ``aion_event_store`` hook: installed entry points give sqlite:// and postgresql:// URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from aion_core.errors import UnknownURLSchemeError
from aion_core.events import SignalReceived
from aion_core.plugins import load_plugins
from aion_core.store.projection import batch_for
from aion_core.testing.store_contract import make_events
from aion_store_sql import SqlEventStore


async def test_every_store_url_opens_through_the_hook_and_round_trips_an_event(
    store_url: str,
) -> None:
    store = load_plugins().event_store(store_url)
    events = make_events("hook-check", [SignalReceived(signal_name="ping")])
    await store.open()
    try:
        assert await store.append([batch_for(None, 0, events)]) == [None]
        assert await store.read_events("hook-check") == events
    finally:
        await store.close()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///aion.db",
        "sqlite+aiosqlite:////tmp/x.db",
        "postgresql://h/db",
        "postgres://h/db",
        "postgresql+asyncpg://u:p@h:5433/db",
    ],
)
def test_sql_schemes_get_a_sql_store(url: str) -> None:
    assert isinstance(load_plugins().event_store(url), SqlEventStore)


def test_an_unknown_scheme_lists_the_installed_store_plugins() -> None:
    with pytest.raises(UnknownURLSchemeError, match="installed: memory, postgresql, sqlite"):
        load_plugins().event_store("mysql://h/db")


def test_the_plugins_are_listed_with_their_distribution() -> None:
    infos = {info.name: info for info in load_plugins().describe()}
    for name in ("sqlite", "postgresql"):
        assert infos[name].distribution == "aion-store-sql"
        assert infos[name].hooks == ("aion_event_store",)


def test_a_store_is_returned_unopened(tmp_path: Path) -> None:
    load_plugins().event_store(f"sqlite:///{tmp_path / 'never.db'}")
    assert not (tmp_path / "never.db").exists()
