"""The two plugins this distribution registers: ``sqlite://`` and ``postgresql://`` stores.

Each is published under the ``aion`` entry-point group (see pyproject.toml),
so ``pip install aion-store-sql`` is all it takes for aion to find them.
"""

from __future__ import annotations

from dataclasses import dataclass

from aion_core.hookspecs import hookimpl
from aion_core.store.protocol import EventStore
from aion_core.urls import url_scheme
from aion_store_sql.config import POSTGRESQL_SCHEMES, SQLITE_SCHEMES
from aion_store_sql.store import SqlEventStore

__all__ = ["SqlStorePlugin", "postgresql_plugin", "sqlite_plugin"]


@dataclass(frozen=True)
class SqlStorePlugin:
    """Handles store URLs whose scheme is one of `schemes`."""

    schemes: frozenset[str]

    @hookimpl
    def aion_event_store(self, url: str) -> EventStore | None:
        """A `SqlEventStore` for URLs with one of this plugin's schemes, unopened."""
        return SqlEventStore(url) if url_scheme(url) in self.schemes else None


sqlite_plugin = SqlStorePlugin(SQLITE_SCHEMES)
"""``sqlite:///path.db``: the embedded store."""

postgresql_plugin = SqlStorePlugin(POSTGRESQL_SCHEMES)
"""``postgresql://...`` (also ``postgres://``, ``postgresql+asyncpg://``)."""
