"""Live feeds of the list and detail pages (server-sent events).

Each feed polls the store every ``poll_seconds`` and sends the page's
changing parts, rendered by the same templates as the page itself, when they
differ from what it sent last. A store that fails meanwhile is reported on
the page (event ``problem``) and polled again; the feed stays open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aion_core.errors import AionError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aion_plugin_ui.history_views import read_detail
from aion_plugin_ui.listing import FilterError, read_page
from aion_plugin_ui.live import Change, event_stream
from aion_plugin_ui.pages import UiState, guarded, ui_of
from aion_plugin_ui.problems import problem_of
from aion_plugin_ui.routes.workflows import STATUSES, list_query_of
from aion_plugin_ui.security import Session

__all__ = ["routes"]


def _fragment(ui: UiState, template: str, context: dict[str, Any]) -> str:
    return ui.templates.get_template(template).render(context)


def _once_changed() -> Callable[[str, dict[str, Any]], Change]:
    """A filter passing a message on only when it differs from the previous one."""
    last: list[dict[str, Any] | None] = [None]

    def changed(event: str, data: dict[str, Any]) -> Change:
        if data == last[0]:
            return None
        last[0] = data
        return event, data

    return changed


async def list_feed(request: Request, session: Session) -> Response:
    """The list page's rows, counts and paging, whenever they change."""
    ui = ui_of(request)
    try:
        query = list_query_of(request)
    except FilterError as error:
        return Response(str(error), status_code=400)
    changed = _once_changed()

    async def look() -> Change:
        try:
            page = await read_page(await ui.store.get(), query)
        except (AionError, FilterError) as error:
            message = problem_of(error).message if isinstance(error, AionError) else str(error)
            return changed("problem", {"message": message})
        context = {"page": page, "query": query, "statuses": STATUSES}
        return changed(
            "listing",
            {
                "rows": _fragment(ui, "_list_rows.html", context),
                "counts": _fragment(ui, "_status_counts.html", context),
                "paging": _fragment(ui, "_paging.html", context),
            },
        )

    return event_stream(look, ui.settings.poll_seconds)


async def detail_feed(request: Request, session: Session) -> Response:
    """A workflow's new events and its refreshed summary, whenever it records something.

    ``?after=SEQ`` is the last event the page shows; only later events are sent.
    """
    ui = ui_of(request)
    workflow_id = request.path_params["workflow_id"]
    try:
        shown = int(request.query_params.get("after", "0"))
    except ValueError:
        return Response("after must be a whole number", status_code=400)
    last_seq = [shown]
    changed = _once_changed()

    async def look() -> Change:
        try:
            store = await ui.store.get()
            record = await store.get_workflow(workflow_id)
            if record is None or record.last_seq <= last_seq[0]:
                return None  # nothing new: reading the history again would change nothing
            detail = await read_detail(store, ui.decoder, workflow_id)
        except AionError as error:
            return changed("problem", {"message": problem_of(error).message})
        new = [event for event in detail.events if event.seq > last_seq[0]]
        last_seq[0] = detail.record.last_seq
        context = {"detail": detail, "events": new}
        return changed(
            "history",
            {
                "last_seq": detail.record.last_seq,
                "status": detail.record.status.value,
                "rows": _fragment(ui, "_event_rows.html", context),
                "summary": _fragment(ui, "_summary.html", context),
            },
        )

    return event_stream(look, ui.settings.poll_seconds)


def routes() -> list[BaseRoute]:
    """The live feeds."""
    return [
        Route("/live/list", guarded(list_feed), methods=["GET"]),
        Route("/live/workflows/{workflow_id:path}", guarded(detail_feed), methods=["GET"]),
    ]
