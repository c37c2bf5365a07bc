"""Who may use the console and how forms are protected: sessions, the token, CSRF, headers.

- A session is a random id in an HttpOnly, SameSite=Strict cookie; what it
  holds (its CSRF token, whether it logged in) stays in this process.
- With a token configured, every page, live feed and form needs it: either
  the session logged in with it (``/login``), or the request carries
  ``Authorization: Bearer TOKEN``. Only ``/login`` and the static files are open.
- Every POST must carry its session's CSRF token (form field ``csrf_token``
  or header ``X-CSRF-Token``), compared in constant time; anything else is a 403
  before the form is acted on. The CSRF token is random per session, so another
  site cannot forge a form even though the browser would send the cookie.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "SecurityHeaders",
    "Session",
    "Sessions",
    "bearer_token",
    "csrf_ok",
    "safe_next",
    "same_secret",
    "set_session_cookie",
]

SESSION_COOKIE = "aion_ui_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 10_000
"""Sessions kept; the least recently used is forgotten first (its user logs in again)."""


@dataclass
class Session:
    """One browser's session.

    Attributes:
        id: The cookie's value.
        csrf_token: What every form of this session must send back.
        authenticated: Whether it logged in with the token.
        notices: What the next page says was done (after a redirect).
    """

    id: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    authenticated: bool = False
    notices: list[str] = field(default_factory=list)

    def take_notices(self) -> list[str]:
        """What the next page says was done, said once."""
        notices, self.notices = self.notices, []
        return notices


class Sessions:
    """The sessions of this process, least recently used forgotten beyond `MAX_SESSIONS`."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._limit = limit

    def of(self, request: Request) -> tuple[Session, bool]:
        """The request's session, and whether it is new (its cookie must then be set)."""
        known = self._sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if known is not None:
            self._sessions.move_to_end(known.id)
            return known, False
        session = Session()
        self._sessions[session.id] = session
        while len(self._sessions) > self._limit:
            self._sessions.popitem(last=False)
        return session, True

    def renew(self, session: Session) -> Session:
        """A fresh session replacing `session` (on login, so an id set before it is useless)."""
        self._sessions.pop(session.id, None)
        fresh = Session()
        self._sessions[fresh.id] = fresh
        return fresh

    def forget(self, session: Session) -> None:
        """End `session` (log out)."""
        self._sessions.pop(session.id, None)


def set_session_cookie(response: Response, session: Session) -> None:
    """Make the browser send `session`'s id with every request to this console."""
    response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="strict", path="/")


def same_secret(given: str, expected: str) -> bool:
    """Whether `given` is `expected`, compared in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def csrf_ok(request: Request, session: Session) -> bool:
    """Whether a POST carries `session`'s CSRF token."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else ""
    return bool(given) and same_secret(given, session.csrf_token)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this console only, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


_HEADERS = {
    # Only the console's own scripts and styles; no framing (clickjacking on actions).
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware adding the console's security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve `scope` with the headers added to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
