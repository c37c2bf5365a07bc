"""`create_app`: the console as an ASGI application (Starlette), for ``aion ui`` or embedding.

    from aion_plugin_ui import UiSettings, create_app

    app = create_app(UiSettings(store="sqlite:///aion.db", transport="nats://127.0.0.1:4222"))
    # uvicorn.run(app, host="127.0.0.1", port=8233)

The store and the client are opened on first use and closed when the
application shuts down (its lifespan).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from aion_core.plugins import Plugins, load_plugins
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from aion_plugin_ui.pages import UiState, render_problem
from aion_plugin_ui.problems import Problem
from aion_plugin_ui.routes import routes
from aion_plugin_ui.security import SecurityHeaders
from aion_plugin_ui.settings import UiSettings

__all__ = ["create_app"]


def create_app(settings: UiSettings, plugins: Plugins | None = None) -> Starlette:
    """The console for `settings`.

    Args:
        settings: Where the store and the engines are, the token, the replay modules.
        plugins: The loaded plugins (store and transport plugins, payload codecs);
            default: `load_plugins()`.

    Raises:
        click.BadParameter: A replay module cannot be imported or defines no workflow.
    """
    state = UiState(settings, plugins or load_plugins())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.close()

    static = StaticFiles(directory=str(files("aion_plugin_ui") / "static"))
    app = Starlette(
        routes=[*routes(), Mount("/static", static, name="static")],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: _http_problem, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.ui = state
    return app


async def _http_problem(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        problem = Problem("there is no page at this address", 404, "Not found")
    else:
        problem = Problem(error.detail, error.status_code, "That did not work")
    return render_problem(request, None, problem)


async def _unexpected(request: Request, error: Exception) -> Response:
    # A bug, not a user's mistake: the traceback goes to the server's log, never to the page.
    UiState.log.exception("unexpected error serving %s", request.url.path, exc_info=error)
    problem = Problem(
        "an unexpected error happened; the server's log has the details", 500, "Sorry"
    )
    return render_problem(request, None, problem)
