"""Visibility queries: one workflow, listings with filters, counts, and open workflows.

Each read is one statement (a page of workflows joined to their search
attributes), so it sees one commit even under PostgreSQL's READ COMMITTED.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, bindparam, exists, func, select
from sqlalchemy.engine import Connection, Result

from aion_core.errors import CorruptHistoryError
from aion_core.events import SearchAttributeValue, WorkflowStatus
from aion_core.store.records import WorkflowFilter, WorkflowRecord
from aion_store_sql.compiled import fetch_mappings
from aion_store_sql.rows import search_attribute_row, workflow_from_row
from aion_store_sql.schema import SearchAttributeRow, WorkflowRow

__all__ = ["count_workflows", "get_workflow", "list_workflows", "open_workflows"]

log = logging.getLogger("aion.store.sql")

_OPEN_STATUSES = [status.value for status in WorkflowStatus if not status.is_closed]
_VALUE_COLUMNS = ("text_value", "int_value", "float_value")


def get_workflow(connection: Connection, workflow_id: str) -> WorkflowRecord | None:
    """The visibility row of one workflow, or None.

    Raises:
        CorruptHistoryError: Its row does not decode.
    """
    try:
        rows = fetch_mappings(connection, _ONE_WORKFLOW, {"workflow_id": workflow_id})
    except (ValueError, TypeError, OverflowError) as error:
        # A column the driver itself cannot convert (SQLite keeps any value in any column).
        raise CorruptHistoryError(workflow_id, None, str(error)) from None
    records = _records(rows, skip_corrupt=False)
    return records[0] if records else None


def list_workflows(connection: Connection, query: WorkflowFilter) -> list[WorkflowRecord]:
    """Rows matching `query`, newest start first, then by id; corrupt rows are logged, skipped."""
    order = [WorkflowRow.start_time.desc(), WorkflowRow.workflow_id]
    page = (
        select(WorkflowRow)
        .where(*_conditions(query))
        .order_by(*order)
        .limit(query.limit)
        .subquery()
    )
    statement = _with_attributes(page, [page.c.start_time.desc(), page.c.workflow_id])
    return _records(_mappings(connection.execute(statement)), skip_corrupt=True)


def count_workflows(connection: Connection, query: WorkflowFilter) -> int:
    """How many rows match `query`, ignoring its limit."""
    statement = select(func.count()).select_from(WorkflowRow).where(*_conditions(query))
    return int(connection.execute(statement).scalar_one())


def open_workflows(connection: Connection, after_id: str, limit: int) -> list[WorkflowRecord]:
    """Workflows that are not closed, by id after `after_id`; corrupt rows are logged, skipped."""
    page = (
        select(WorkflowRow)
        .where(WorkflowRow.status.in_(_OPEN_STATUSES), WorkflowRow.workflow_id > after_id)
        .order_by(WorkflowRow.workflow_id)
        .limit(limit)
        .subquery()
    )
    statement = _with_attributes(page, [page.c.workflow_id])
    return _records(_mappings(connection.execute(statement)), skip_corrupt=True)


def _conditions(query: WorkflowFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.statuses is not None:
        conditions.append(WorkflowRow.status.in_([status.value for status in query.statuses]))
    if query.workflow_type is not None:
        conditions.append(WorkflowRow.workflow_type == query.workflow_type)
    if query.started_after is not None:
        conditions.append(WorkflowRow.start_time > query.started_after)
    if query.started_before is not None:
        conditions.append(WorkflowRow.start_time < query.started_before)
    if query.parent_workflow_id is not None:
        conditions.append(WorkflowRow.parent_workflow_id == query.parent_workflow_id)
    for name, value in query.search_attributes.items():
        conditions.append(
            exists().where(
                SearchAttributeRow.workflow_id == WorkflowRow.workflow_id,
                SearchAttributeRow.name == name,
                *_same_value(value),
            )
        )
    return conditions


def _same_value(value: SearchAttributeValue) -> list[ColumnElement[bool]]:
    """An attribute equal to `value` and of its kind (True never matches 1)."""
    row = search_attribute_row("", "", value)
    return [SearchAttributeRow.kind == row["kind"]] + [
        getattr(SearchAttributeRow, column) == row[column]
        for column in _VALUE_COLUMNS
        if row[column] is not None
    ]


def _with_attributes(page: Subquery, order: Sequence[Any]) -> Select[Any]:
    """The rows of `page`, each joined with its search attributes, in `order`."""
    return (
        select(
            page,
            SearchAttributeRow.name,
            SearchAttributeRow.kind,
            SearchAttributeRow.text_value,
            SearchAttributeRow.int_value,
            SearchAttributeRow.float_value,
        )
        .outerjoin(SearchAttributeRow, SearchAttributeRow.workflow_id == page.c.workflow_id)
        .order_by(*order, page.c.workflow_id, SearchAttributeRow.name)
    )


# Built once: a workflow is read on every first touch of it (a new start, a recovery),
# and building a select with its subquery costs more than running it on SQLite.
_ONE_WORKFLOW = _with_attributes(
    select(WorkflowRow).where(WorkflowRow.workflow_id == bindparam("workflow_id")).subquery(), []
)


def _records(rows: Sequence[Mapping[Any, Any]], *, skip_corrupt: bool) -> list[WorkflowRecord]:
    """Workflow records from rows of `_with_attributes`, grouped by workflow."""
    records = []
    for workflow_id, group in groupby(rows, key=lambda row: row["workflow_id"]):
        workflow_rows = list(group)
        try:
            records.append(workflow_from_row(workflow_rows[0], _attributes(workflow_rows)))
        except CorruptHistoryError as error:
            if not skip_corrupt:
                raise
            log.error("skipping workflow %r in a listing: %s", workflow_id, error)
    return records


def _mappings(result: Result[Any]) -> list[Mapping[Any, Any]]:
    return [row._mapping for row in result]


def _attributes(rows: Iterable[Any]) -> list[Any]:
    return [row for row in rows if row["name"] is not None]
