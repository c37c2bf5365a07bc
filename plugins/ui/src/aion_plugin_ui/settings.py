"""What one `aion ui` serves: where the store and the engines are, and who may look.

`UiSettings` is built by the ``aion ui`` command from its options (resolved
like every other command's: flag, ``AION_*``, ``aion.toml``, default) or by an
application embedding the console with `create_app`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aion_core.urls import redact_url

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "UiSettings", "is_loopback"]

DEFAULT_HOST = "127.0.0.1"
"""Loopback: only this machine can reach the console unless ``--host`` says otherwise."""
DEFAULT_PORT = 8233


@dataclass(frozen=True)
class UiSettings:
    """The console's configuration.

    Attributes:
        store: The event store URL pages read from (None: aion's default SQLite file).
        transport: Where the engine nodes are; actions go there through a `Client`.
        namespace: The namespace on the transport (a ``namespace=`` in its URL wins).
        token: When set, every request must present it (login form or
            ``Authorization: Bearer``); required to listen beyond loopback.
        replay_modules: Modules whose workflows the replay view checks histories against.
        poll_seconds: How often live pages look for changes in the store.
        page_size: Workflows per page of the list.
        call_timeout: How long an action waits for an engine to answer, in seconds.
    """

    store: str | None = None
    transport: str = "inproc://"
    namespace: str | None = None
    token: str | None = None
    replay_modules: tuple[str, ...] = ()
    poll_seconds: float = 1.0
    page_size: int = 25
    call_timeout: float = 30.0

    def __repr__(self) -> str:
        # The token and any password in a URL are secrets: never in logs or error messages.
        store = redact_url(self.store) if self.store else None
        transport = redact_url(self.transport, token_auth=True)
        return (
            f"UiSettings(store={store!r}, transport={transport!r}, "
            f"namespace={self.namespace!r}, token={'<set>' if self.token else None}, "
            f"replay_modules={self.replay_modules!r})"
        )


def is_loopback(host: str) -> bool:
    """Whether listening on `host` keeps the console on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
