"""Alembic's environment script, run by Alembic for each migration command.

aion runs Alembic from code with an open connection in
``config.attributes["connection"]`` (see `aion_store_sql.migrations._alembic`),
inside a transaction the caller owns; this script never connects by itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from aion_store_sql.schema import VERSION_TABLE, Base


def run_migrations() -> None:
    """Run the pending revisions on the connection aion handed over."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "aion's migrations run through aion_store_sql.migrations (or `aion store migrate`), "
            "which pass the connection to use"
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        # SQLite alters tables by copying them; batch mode does that for later revisions.
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


# Alembic runs this file as a script inside a migration command. Imported any
# other way (a tool walking the package) there is no command, and nothing to run.
if hasattr(context, "config"):
    run_migrations()
