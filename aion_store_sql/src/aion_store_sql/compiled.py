"""Statements compiled once and run on the driver's own cursor, past SQLAlchemy's bookkeeping.

SQLAlchemy prepares each execution's parameters and result rows in Python; for
a statement SQLite runs in microseconds (a row by its key, a row of a thousand
in a group commit) that bookkeeping is most of the cost. Here a statement is
compiled by SQLAlchemy once per dialect, and every value still passes through
its column type's own conversion, as SQLAlchemy would do it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Compiled", "compiled", "fetch_mappings"]

Conversions = tuple[tuple[int, Callable[[Any], Any]], ...]
"""(position, conversion) for the values that have one."""


@dataclass(frozen=True)
class Compiled:
    """A statement compiled for one dialect.

    Attributes:
        sql: Its text, with positional parameters.
        names: Its parameters, in order.
        values: The values bound in the statement itself (such as SQLite's ``OFFSET 0``).
        conversions: The parameters' conversions to what the driver takes.
        keys: The names of the columns it selects (none for a write).
        results: The selected columns' conversions from what the driver gives.
    """

    sql: str
    names: tuple[str, ...]
    values: Mapping[str, Any]
    conversions: Conversions
    keys: tuple[str, ...]
    results: Conversions


@cache
def compiled(statement: Executable, dialect: Dialect) -> Compiled:
    """`statement` compiled for `dialect`, kept for the next call."""
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    assert compiled.positiontup is not None, "both drivers take positional parameters"
    names = tuple(compiled.positiontup)
    binds = [
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    # A select's columns; a write selects none.
    columns: list[Any] = list(getattr(statement, "selected_columns", []))
    results = [
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    ]
    return Compiled(
        sql=str(compiled),
        names=names,
        values=compiled.params,
        conversions=_present(binds),
        keys=tuple(column.key for column in columns),
        results=_present(results),
    )


def fetch_mappings(
    connection: Connection, statement: Executable, parameters: dict[str, Any]
) -> list[Mapping[Any, Any]]:
    """The rows of `statement`, each a mapping by column key.

    On SQLite the statement runs on the driver's cursor (outside any SQLAlchemy
    transaction of `connection`); elsewhere through SQLAlchemy.

    Raises:
        ValueError, TypeError, OverflowError: A value does not convert to its column's
            type (SQLite keeps any value in any column).
    """
    if connection.dialect.name != "sqlite":
        return [row._mapping for row in connection.execute(statement, parameters)]
    plan = compiled(statement, connection.dialect)
    values = [parameters[n] if n in parameters else plan.values[n] for n in plan.names]
    for position, convert in plan.conversions:
        values[position] = convert(values[position])
    driver = connection.connection.driver_connection
    assert driver is not None
    rows = driver.execute(plan.sql, values).fetchall()
    if plan.results:
        converted = []
        for row in rows:
            row = list(row)
            for position, convert in plan.results:
                row[position] = convert(row[position])
            converted.append(row)
        rows = converted
    keys = plan.keys
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _present(conversions: Sequence[Callable[[Any], Any] | None]) -> Conversions:
    return tuple((i, convert) for i, convert in enumerate(conversions) if convert is not None)
