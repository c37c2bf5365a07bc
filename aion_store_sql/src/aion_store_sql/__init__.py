"""aion's SQL event store: SQLite (the embedded default) and PostgreSQL, on SQLAlchemy 2.

Installing this distribution registers the ``sqlite://`` and ``postgresql://``
store URLs with aion; `SqlEventStore` can also be used directly::

    async with SqlEventStore("sqlite:///aion.db") as store:
        events = await store.read_events("order-42")

`migrations` holds what ``aion store init|migrate|status`` call.
"""

from aion_store_sql import migrations
from aion_store_sql.errors import SchemaState, SchemaVersionError
from aion_store_sql.migrations import SchemaStatus
from aion_store_sql.store import SqlEventStore

__all__ = ["SchemaState", "SchemaStatus", "SchemaVersionError", "SqlEventStore", "migrations"]
