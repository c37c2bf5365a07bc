"""The token's login form: a session that presents the token once is let in until it logs out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from aion_plugin_ui.pages import guarded, render, ui_of
from aion_plugin_ui.security import Session, safe_next, same_secret, set_session_cookie

__all__ = ["routes"]


async def login_page(request: Request, session: Session) -> Response:
    """The form (or straight on, when no token is needed or the session has logged in)."""
    target = safe_next(request.query_params.get("next"))
    if not ui_of(request).settings.token or session.authenticated:
        return RedirectResponse(target, status_code=303)
    return render(request, session, "login.html", {"next": target, "wrong": False})


async def log_in(request: Request, session: Session) -> Response:
    """Check the token; on success a fresh session, logged in, goes where it wanted to."""
    ui = ui_of(request)
    form = await request.form()
    target = safe_next(str(form.get("next", "")))
    token = ui.settings.token
    if not token:
        return RedirectResponse(target, status_code=303)
    if not same_secret(str(form.get("token", "")), token):
        return render(request, session, "login.html", {"next": target, "wrong": True}, 401)
    # A new session id on login: an id planted in the browser before is worth nothing.
    fresh = ui.sessions.renew(session)
    fresh.authenticated = True
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, fresh)
    return response


async def log_out(request: Request, session: Session) -> Response:
    """End the session."""
    ui_of(request).sessions.forget(session)
    return RedirectResponse("/login", status_code=303)


def routes() -> list[BaseRoute]:
    """The login routes."""
    return [
        Route("/login", guarded(login_page, login=True), methods=["GET"]),
        Route("/login", guarded(log_in, login=True), methods=["POST"]),
        Route("/logout", guarded(log_out), methods=["POST"]),
    ]
