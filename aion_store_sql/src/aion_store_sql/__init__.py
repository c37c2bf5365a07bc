"""aion event store on SQLAlchemy 2: SQLite and PostgreSQL."""

__all__: list[str] = []
