"""What every page shares: the console's state, the guard in front of each endpoint, rendering.

`guarded` puts the safety model (see `aion_plugin_ui.security`) in front of
an endpoint: the session, the token, and for POSTs the CSRF token, all
checked before the endpoint runs, so no endpoint can forget one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from aion_cli.connections import store_url
from aion_cli.output import format_time
from aion_core.errors import AionError
from aion_core.plugins import Plugins
from aion_core.urls import redact_url
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from aion_plugin_ui.backends import engine_client, store_reader
from aion_plugin_ui.payloads import PayloadDecoder
from aion_plugin_ui.problems import Problem, problem_of
from aion_plugin_ui.replay_diff import WorkflowCode
from aion_plugin_ui.security import (
    CSRF_FIELD,
    Session,
    Sessions,
    bearer_token,
    csrf_ok,
    same_secret,
    set_session_cookie,
)
from aion_plugin_ui.settings import UiSettings

__all__ = ["Endpoint", "UiState", "guarded", "render", "render_problem", "ui_of", "workflow_url"]

Endpoint = Callable[[Request, Session], Awaitable[Response]]
"""An endpoint behind the guard: it gets the request's session."""


def workflow_url(workflow_id: str) -> str:
    """The detail page of `workflow_id` (ids may hold any character)."""
    return f"/workflows/{quote(workflow_id, safe='')}"


def _templates() -> Jinja2Templates:
    environment = Environment(
        loader=PackageLoader("aion_plugin_ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["time"] = format_time
    environment.globals["workflow_url"] = workflow_url
    environment.globals["csrf_field"] = CSRF_FIELD
    return Jinja2Templates(env=environment)


class UiState:
    """The console's long-lived parts, shared by every request.

    Args:
        settings: What to serve.
        plugins: The loaded plugins.
    """

    log = logging.getLogger("aion.ui")

    def __init__(self, settings: UiSettings, plugins: Plugins) -> None:
        self.settings = settings
        self.plugins = plugins
        self.store = store_reader(plugins, settings.store)
        self.engines = engine_client(
            plugins, settings.transport, settings.namespace, settings.call_timeout
        )
        self.decoder = PayloadDecoder(plugins)
        self.code = WorkflowCode(settings.replay_modules)
        self.sessions = Sessions()
        self.templates = _templates()

    @property
    def where(self) -> Mapping[str, str]:
        """What the header says the console looks at (secrets redacted)."""
        return {
            "store": redact_url(store_url(self.plugins, self.settings.store)),
            "transport": redact_url(self.settings.transport, token_auth=True),
            "namespace": self.settings.namespace or "default",
        }

    async def close(self) -> None:
        """Close the store and disconnect the client."""
        await self.engines.close()
        await self.store.close()


def ui_of(request: Request) -> UiState:
    """The console's state, from the application."""
    state: UiState = request.app.state.ui
    return state


def render(
    request: Request,
    session: Session | None,
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
) -> Response:
    """`template` with `context` and what every page needs (CSRF token, header, notices)."""
    ui = ui_of(request)
    shared = {
        "csrf_token": session.csrf_token if session is not None else "",
        "where": ui.where,
        "logged_in": bool(ui.settings.token and session is not None and session.authenticated),
        "codec_problem": ui.decoder.problem,
    }
    return ui.templates.TemplateResponse(
        request, template, {**shared, **context}, status_code=status
    )


def render_problem(request: Request, session: Session | None, problem: Problem) -> Response:
    """A page saying what went wrong, with the problem's HTTP status."""
    return render(request, session, "problem.html", {"problem": problem}, problem.status)


def _refuse_unauthenticated(request: Request) -> Response:
    if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return PlainTextResponse(
        "this console needs its token: log in at /login or send Authorization: Bearer TOKEN",
        status_code=401,
        headers={"www-authenticate": "Bearer"},
    )


def guarded(endpoint: Endpoint, *, login: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """`endpoint` behind the session, token and CSRF checks.

    Args:
        endpoint: The endpoint.
        login: It is the login page itself (open to sessions without the token).
    """

    async def guard(request: Request) -> Response:
        ui = ui_of(request)
        session, new = ui.sessions.of(request)
        token = ui.settings.token
        response: Response
        if token and not login:
            bearer = bearer_token(request)
            allowed = same_secret(bearer, token) if bearer is not None else session.authenticated
            if not allowed:
                response = _refuse_unauthenticated(request)
                if new:
                    set_session_cookie(response, session)
                return response
        if request.method == "POST" and not await csrf_ok(request, session):
            problem = Problem(
                "the form's security token is missing or out of date; reload the page and "
                "try again (nothing was done)",
                403,
                "Refused",
            )
            response = render_problem(request, session, problem)
        else:
            try:
                response = await endpoint(request, session)
            except AionError as error:  # a store or transport out of reach, a refusal
                response = render_problem(request, session, problem_of(error))
        if new:
            set_session_cookie(response, session)
        return response

    return guard
