"""The replay page: does the current code (``aion ui --module``) still reproduce a history?"""

from __future__ import annotations

from aion_cli.connections import read_workflow
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aion_plugin_ui.pages import guarded, render, ui_of
from aion_plugin_ui.replay_diff import ReplayReport, replay_history
from aion_plugin_ui.security import Session

__all__ = ["routes"]


async def replay_page(request: Request, session: Session) -> Response:
    """The form, and for ``?workflow_id=ID`` the replay's verdict and first mismatch."""
    ui = ui_of(request)
    workflow_id = request.query_params.get("workflow_id", "").strip()
    report: ReplayReport | None = None
    if workflow_id and ui.code.modules:
        _, stored = await read_workflow(await ui.store.get(), workflow_id)
        events, _ = await ui.decoder.decode_all(stored)
        report = await replay_history(ui.code, workflow_id, events)
    context = {"workflow_id": workflow_id, "report": report, "code": ui.code}
    return render(request, session, "replay.html", context)


def routes() -> list[BaseRoute]:
    """The replay route."""
    return [Route("/replay", guarded(replay_page), methods=["GET"])]
