"""Fixtures shared by the runtime tests: a store that outlives an engine, and waiting on history."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from aion_core import Engine, Event, EventStore, MemoryEventStore

WaitForHistory = Callable[[Engine, str, Callable[[list[Event]], bool]], Awaitable[list[Event]]]


@pytest.fixture
def reusable_store(store_url: str) -> str | EventStore:
    """The test's store in a form several engines can open one after another.

    A ``memory://`` URL would give each engine a new, empty store, so memory is
    shared as one store object; SQLite and PostgreSQL are shared by URL.
    """
    return MemoryEventStore() if store_url == "memory://" else store_url


@pytest.fixture
def wait_for_history() -> WaitForHistory:
    """Poll a workflow's history until `reached(history)` holds; return it at that point."""

    async def wait(
        engine: Engine, workflow_id: str, reached: Callable[[list[Event]], bool]
    ) -> list[Event]:
        async with asyncio.timeout(10):
            while True:
                history = await engine.store.read_events(workflow_id)
                if reached(history):
                    return history
                await asyncio.sleep(0.005)

    return wait
