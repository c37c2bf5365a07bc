"""Store and transport URLs: scheme lookup and redaction of secrets for messages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from aion_core.errors import ConfigurationError

__all__ = ["redact_url", "url_scheme"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


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


def redact_url(url: str) -> str:
    """`url` with any password replaced by ``***``, safe to print and log."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparseable URL>"
