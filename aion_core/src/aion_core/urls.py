"""Store and transport URLs: scheme lookup and redaction of secrets for messages."""

from __future__ import annotations

import re

from aion_core.errors import ConfigurationError

__all__ = ["redact_url", "url_scheme"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# User info as SQLAlchemy reads it: a user without ':' or '/', then ':' and a password
# running to the first '@', so a password may hold '#', '?' or '/' unencoded.
_USERINFO = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@]*)(?P<password>:[^@]*)?@"
)


def url_scheme(url: str, *, kind: str = "store") -> str:
    """The lower-case scheme of `url` (`"sqlite"`, `"postgresql+asyncpg"`, ...).

    Raises:
        ConfigurationError: `url` is not of the form ``scheme://...``.
    """
    if not isinstance(url, str) or not _SCHEME.match(url):
        raise ConfigurationError(
            f"{redact_url(str(url))!r} is not a {kind} URL; expected scheme://..., "
            "for example sqlite:///aion.db, postgresql://host/db, memory://, nats://host:4222"
        )
    return url.split("://", 1)[0].lower()


def redact_url(url: str, *, token_auth: bool = False) -> str:
    """`url` with any password replaced by ``***``, safe to print and log.

    Args:
        url: A store or transport URL, parsed or not.
        token_auth: The URL may carry a token where a user name goes
            (``nats://TOKEN@host``), so a user without a password is hidden too.
    """
    found = _USERINFO.match(url)
    if found is None:
        return url
    if found.group("password") is not None:
        secret = f"{found.group('user')}:***"
    elif token_auth:
        secret = "***"
    else:
        return url
    return f"{found.group('scheme')}{secret}@{url[found.end() :]}"
