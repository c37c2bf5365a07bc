"""The workflow list: filters from the page's query string, one page of rows, counts by status.

The filters are the ones ``aion list`` takes (status or open/closed, type,
search attributes) plus a start time range, and they are parsed by the same
helpers, so ``region=eu`` and ``tier=3`` mean what they mean on the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import click
from aion_cli.arguments import search_attributes
from aion_cli.commands.visibility import STATUS_CHOICES, statuses_named
from aion_core.events import WorkflowStatus
from aion_core.store import EventStore, WorkflowFilter, WorkflowRecord

__all__ = [
    "MAX_PAGE_SIZE",
    "FilterError",
    "ListQuery",
    "WorkflowPage",
    "parse_list_query",
    "read_page",
]

MAX_PAGE_SIZE = 200
_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


class FilterError(ValueError):
    """A filter of the list page that does not parse; its message says what is expected."""


@dataclass(frozen=True)
class ListQuery:
    """What the list page shows: the filters, and which page of the matches.

    Attributes:
        statuses: Status names as `STATUS_CHOICES` spells them (none: every status).
        workflow_type: Only this type ("" for any).
        started_after: Only runs started after this time, as typed (UTC).
        started_before: Only runs started before this time, as typed (UTC).
        search: Search attributes, ``KEY=VALUE`` separated by commas.
        page: The page, from 1.
        size: Rows per page.
    """

    statuses: tuple[str, ...] = ()
    workflow_type: str = ""
    started_after: str = ""
    started_before: str = ""
    search: str = ""
    page: int = 1
    size: int = 25

    def store_filter(
        self, limit: int, statuses: frozenset[WorkflowStatus] | None = None
    ) -> WorkflowFilter:
        """The store's filter for these conditions (`statuses` instead of the chosen ones).

        Raises:
            FilterError: A time or a search attribute does not parse.
        """
        pairs = tuple(part.strip() for part in self.search.split(",") if part.strip())
        try:
            attributes = search_attributes(pairs)
        except click.BadParameter as error:
            raise FilterError(error.message) from None
        return WorkflowFilter(
            statuses=statuses if statuses is not None else statuses_named(self.statuses),
            workflow_type=self.workflow_type or None,
            started_after=_parse_time("started after", self.started_after),
            started_before=_parse_time("started before", self.started_before),
            search_attributes=attributes,
            limit=limit,
        )

    def query_string(self, **changes: object) -> str:
        """The URL query of these filters, with `changes` (``page=2``) applied."""
        query = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        pairs: list[tuple[str, str]] = [("status", name) for name in query.statuses]
        for key in ("workflow_type", "started_after", "started_before", "search"):
            if value := getattr(query, key):
                pairs.append((key, value))
        if query.page != 1:
            pairs.append(("page", str(query.page)))
        if query.size != ListQuery.size:
            pairs.append(("size", str(query.size)))
        return urlencode(pairs)


def _parse_time(what: str, text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise FilterError(f"{what}: {text!r} is not a time; use YYYY-MM-DDTHH:MM (UTC)")


def _number(what: str, text: str | None, default: int, highest: int) -> int:
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise FilterError(f"{what} must be a whole number, not {text!r}") from None
    if not 1 <= value <= highest:
        raise FilterError(f"{what} must be between 1 and {highest}")
    return value


def parse_list_query(params: Mapping[str, str], statuses: Sequence[str], size: int) -> ListQuery:
    """The `ListQuery` of a request's query string (`statuses`: every ``status`` given).

    Raises:
        FilterError: An unknown status, a page or size that is not a positive number.
    """
    chosen = tuple(name for name in statuses if name)
    unknown = [name for name in chosen if name not in STATUS_CHOICES]
    if unknown:
        raise FilterError(f"unknown status {unknown[0]!r}; use one of {', '.join(STATUS_CHOICES)}")
    return ListQuery(
        statuses=chosen,
        workflow_type=params.get("workflow_type", "").strip(),
        started_after=params.get("started_after", "").strip(),
        started_before=params.get("started_before", "").strip(),
        search=params.get("search", "").strip(),
        page=_number("page", params.get("page"), 1, 1_000_000),
        size=_number("size", params.get("size"), size, MAX_PAGE_SIZE),
    )


@dataclass(frozen=True)
class WorkflowPage:
    """One page of the list and the counts around it.

    Attributes:
        query: What was asked for.
        records: The workflows on this page, newest start first.
        total: How many workflows match the filters.
        counts: How many match every filter but the status, for each status.
    """

    query: ListQuery
    records: list[WorkflowRecord]
    total: int
    counts: dict[str, int]

    @property
    def pages(self) -> int:
        """How many pages the matches fill (at least one)."""
        return max(1, -(-self.total // self.query.size))

    @property
    def first(self) -> int:
        """The position of the first row on this page, from 1 (0 when there is none)."""
        return (self.query.page - 1) * self.query.size + 1 if self.records else 0

    @property
    def last(self) -> int:
        """The position of the last row on this page."""
        return self.first + len(self.records) - 1 if self.records else 0


async def read_page(store: EventStore, query: ListQuery) -> WorkflowPage:
    """The page `query` asks for, its total and the counts by status.

    Raises:
        FilterError: A filter does not parse.
        StoreError: The store failed.
    """
    offset = (query.page - 1) * query.size
    # The store pages by limit only; rows before this page are read and dropped, which
    # keeps the order exactly the store's (newest start first, then workflow id).
    wanted = query.store_filter(limit=offset + query.size)
    records = (await store.list_workflows(wanted))[offset:]
    total = await store.count_workflows(wanted)
    counts = {
        status.value: await store.count_workflows(
            query.store_filter(limit=1, statuses=frozenset({status}))
        )
        for status in WorkflowStatus
    }
    return WorkflowPage(query, records, total, counts)
