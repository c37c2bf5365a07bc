"""The console's URLs, one module per page family.

=====================================  ====================================  ============
``GET  /workflows``                    the list, filters, counts, paging      `workflows`
``POST /workflows``                    start a workflow (the list's form)     `workflows`
``GET  /workflows/{id}``               a workflow's detail                    `workflows`
``POST /workflows/{id}``               an action on it (``action=signal``)    `workflows`
``GET  /live/list``, ``/live/...``     server-sent events for those pages     `live`
``GET|POST /schedules``                schedules, pause/resume/trigger        `schedules`
``GET  /replay``                       a history against the current code     `replay`
``GET|POST /login``, ``POST /logout``  the token's login form                 `login`
=====================================  ====================================  ============
"""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from aion_plugin_ui.routes import live, login, replay, schedules, workflows

__all__ = ["routes"]


async def _home(_: object) -> Response:
    return RedirectResponse("/workflows", status_code=303)


def routes() -> list[BaseRoute]:
    """Every route of the console (static files are mounted by the application)."""
    return [
        Route("/", _home),
        *workflows.routes(),
        *live.routes(),
        *schedules.routes(),
        *replay.routes(),
        *login.routes(),
    ]
