"""Engine observers see replays, the cache and every store commit; a failing one is ignored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

import pytest

from aion_core import Engine, EventStore, workflow
from aion_core.observers import EngineObserver
from aion_core.plugins import Plugins, load_plugins


class Notes(EngineObserver):
    def __init__(self) -> None:
        self.replays: list[tuple[str, int]] = []
        self.cache: list[tuple[int, int]] = []
        self.commits: list[tuple[int, int]] = []
        self.closed = 0

    def workflow_replayed(self, workflow_type: str, events: int, seconds: float) -> None:
        assert seconds >= 0
        self.replays.append((workflow_type, events))

    def cache_changed(self, cached: int, evicted: int) -> None:
        self.cache.append((cached, evicted))

    def store_committed(self, appends: int, events: int, seconds: float) -> None:
        assert seconds >= 0
        self.commits.append((appends, events))

    def engine_closed(self) -> None:
        self.closed += 1


class Broken(EngineObserver):
    def store_committed(self, appends: int, events: int, seconds: float) -> None:
        raise RuntimeError("observer bug")


class Observing:
    """A plugin giving each engine a fresh `Notes` (and a broken observer before it)."""

    def __init__(self) -> None:
        self.notes: list[Notes] = []

    def aion_engine_observers(self) -> Sequence[EngineObserver]:
        self.notes.append(Notes())
        return [Broken(), self.notes[-1]]


def observing() -> tuple[Plugins, Observing]:
    plugins = load_plugins()
    plugin = Observing()
    plugins.register(plugin, "observing")
    return plugins, plugin


@workflow.defn(name="observers.Nap")
async def nap(seconds: float) -> str:
    await workflow.sleep(timedelta(seconds=seconds))
    return "rested"


async def test_each_engine_gets_observers_that_see_commits_replays_and_its_cache(
    reusable_store: str | EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    plugins, plugin = observing()
    async with Engine(reusable_store, workflows=[nap], plugins=plugins) as engine:
        await asyncio.gather(*(engine.start_workflow(nap, 0.2, id=f"nap-{n}") for n in range(5)))
        durable = 0
        for n in range(5):
            durable += len(await engine.store.read_events(f"nap-{n}"))
    first = plugin.notes[0]
    assert sum(events for _, events in first.commits) == durable
    assert sum(appends for appends, _ in first.commits) >= 5
    assert first.cache[-1] == (5, 0)
    assert first.replays == []
    assert first.closed == 1
    assert "observer bug" in caplog.text  # logged, and the engine went on
    assert caplog.records[0].levelno == logging.ERROR

    async with Engine(
        reusable_store, workflows=[nap], max_cached_workflows=1, plugins=plugins
    ) as e:
        for n in range(5):
            assert await e.get_handle(f"nap-{n}").result() == "rested"
    second = plugin.notes[1]
    # Each napping workflow was rebuilt from its start and its timer: two events (later
    # replays, after leaving the cache of one, have the timer's firing as well).
    assert sorted(second.replays)[:5] == [("observers.Nap", 2)] * 5
    assert {events for _, events in second.replays} <= {2, 3}
    # Busy workflows stay cached; once they are idle, the cache shrinks back to one.
    assert second.cache[-1][0] == 1
    assert sum(evicted for _, evicted in second.cache) >= 4
    assert second.closed == 1
