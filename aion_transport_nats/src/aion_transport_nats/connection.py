"""Connecting to NATS from a transport URL, with reconnect settings fit for leases.

nats-py retries a *first* connection forever when reconnects are unlimited,
so `connect` bounds the first connection (each server is tried a few times)
and switches to unlimited reconnects once connected: a node that started must
ride out server restarts, a node that cannot start must say why.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client

from aion_core.errors import AionError, ConfigurationError, TransportError
from aion_transport_nats.options import NatsOptions, parse_nats_url

__all__ = ["NatsUnavailableError", "connect", "when_jetstream_answers"]

log = logging.getLogger("aion.nats")

# Attempts per server for the first connection; afterwards the options' setting applies.
_FIRST_CONNECTION_ATTEMPTS = 3

_AUTH_FAILURE = re.compile(r"authori[sz]ation|authentication", re.IGNORECASE)

Callback = Callable[[], Awaitable[None]]

_T = TypeVar("_T")

JETSTREAM_PATIENCE = 60.0
"""Seconds a starting node asks JetStream again while it cannot answer yet."""

_NOT_YET_ANSWERING = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    TimeoutError,
)


class NatsUnavailableError(TransportError):
    """No NATS server of the transport URL could be reached.

    A `TransportError`, as `Client.connect` and `Engine.start` document: whoever
    catches the transport being unreachable catches this too.
    """


async def connect(
    url_or_options: str | NatsOptions,
    *,
    name: str | None = None,
    disconnected_cb: Callback | None = None,
    reconnected_cb: Callback | None = None,
    closed_cb: Callback | None = None,
) -> Client:
    """Connect to the NATS servers of a transport URL (or parsed options).

    After the first connection the client reconnects as the options say (by
    default forever, every half second per server), re-subscribing on its own.

    Args:
        url_or_options: A ``nats://`` URL (see `parse_nats_url`) or its options.
        name: Connection name shown in NATS monitoring; overrides ``?name=``.
        disconnected_cb: Awaited when the connection drops.
        reconnected_cb: Awaited when the connection is back.
        closed_cb: Awaited when the client is closed for good.

    Raises:
        ConfigurationError: The URL is invalid, the servers refuse the
            credentials, TLS fails, or creds/nkey auth lacks the nkeys package.
        NatsUnavailableError: No server could be reached.
    """
    options = parse_nats_url(url_or_options) if isinstance(url_or_options, str) else url_or_options
    where = options.redacted_url
    if (options.creds_file or options.nkey_seed_file) and not _nkeys_installed():
        raise ConfigurationError(
            f"NATS URL {where!r} uses creds= or nkey= auth, which needs the 'nkeys' package; "
            "install it (pip install nkeys)"
        )
    kwargs = options.connect_kwargs()
    if name is not None:
        kwargs["name"] = name
    reconnect_attempts = options.max_reconnect_attempts
    kwargs["max_reconnect_attempts"] = (
        _FIRST_CONNECTION_ATTEMPTS
        if reconnect_attempts <= 0
        else min(reconnect_attempts, _FIRST_CONNECTION_ATTEMPTS)
    )
    connected = False
    attempts: list[Exception] = []
    tls_failed = asyncio.Event()

    async def report_error(error: Exception) -> None:
        if connected:
            log.warning("NATS connection to %s: %s", where, error or type(error).__name__)
        else:
            attempts.append(error)
            log.debug("connecting to NATS at %s: %r", where, error)
            if isinstance(error, ssl.SSLError):
                tls_failed.set()

    async def report_disconnected() -> None:
        log.info("disconnected from NATS at %s", where)
        if disconnected_cb is not None:
            await disconnected_cb()

    async def report_reconnected() -> None:
        log.info("reconnected to NATS at %s", where)
        if reconnected_cb is not None:
            await reconnected_cb()

    kwargs["error_cb"] = report_error
    kwargs["disconnected_cb"] = report_disconnected
    kwargs["reconnected_cb"] = report_reconnected
    if closed_cb is not None:
        kwargs["closed_cb"] = closed_cb
    try:
        client = await _first_connection(kwargs, tls_failed)
    except (nats.errors.Error, OSError, TimeoutError) as error:
        raise _connection_error(where, attempts or [error]) from None
    connected = True
    # nats-py reads this option on every reconnect; from now on retry as configured.
    client.options["max_reconnect_attempts"] = reconnect_attempts
    return client


async def _first_connection(kwargs: dict[str, Any], tls_failed: asyncio.Event) -> Client:
    """``nats.connect(**kwargs)``, given up as soon as a TLS handshake fails.

    After a failed handshake nats-py waits forever for the socket that
    ``start_tls`` took over to close, so its first connection would never end;
    and a certificate that does not verify will not verify on the next attempt.

    Raises:
        ssl.SSLError: A TLS handshake failed (the error callback saw why).
    """
    connecting = asyncio.ensure_future(nats.connect(**kwargs))
    failed = asyncio.ensure_future(tls_failed.wait())
    try:
        await asyncio.wait((connecting, failed), return_when=asyncio.FIRST_COMPLETED)
    finally:
        failed.cancel()
        if not connecting.done():
            connecting.cancel()
            await asyncio.wait((connecting,))
    if connecting.cancelled():
        raise ssl.SSLError("the TLS handshake with the NATS server failed")
    return connecting.result()


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _is_refusal(error: BaseException) -> bool:
    # nats-py raises a plain Error("nats: 'Authorization Violation'") during the handshake.
    return isinstance(error, nats.errors.AuthorizationError) or bool(
        _AUTH_FAILURE.search(_describe(error))
    )


def _connection_error(where: str, attempts: list[Exception]) -> AionError:
    """The typed error for a first connection whose attempts failed with `attempts`.

    A refusal or TLS failure in any attempt explains the others: after refusing,
    a server closes the connection, so a later attempt may only see a reset.
    """
    refusal = next((error for error in attempts if _is_refusal(error)), None)
    if refusal is not None:
        return ConfigurationError(
            f"the NATS servers at {where!r} refused the credentials ({_describe(refusal)}); "
            "check the token or user:password in the URL, or the creds=/nkey= file"
        )
    tls = next((error for error in attempts if isinstance(error, ssl.SSLError)), None)
    if tls is not None:
        return ConfigurationError(
            f"TLS with the NATS servers at {where!r} failed ({_describe(tls)}); check tls_ca= "
            "(the CA that signed the server certificate), tls_cert=/tls_key= and tls_hostname="
        )
    detail = _describe(attempts[-1])
    return NatsUnavailableError(
        f"could not connect to any NATS server at {where!r} (last error: {detail}); check "
        "that nats-server is running and reachable from here on that host and port, "
        "and whether it expects TLS (tls://)"
    )


def _nkeys_installed() -> bool:
    return importlib.util.find_spec("nkeys") is not None


async def when_jetstream_answers(
    what: str, step: Callable[[], Awaitable[_T]], *, patience: float = JETSTREAM_PATIENCE
) -> _T:
    """``await step()``, asked again while JetStream cannot answer yet, for up to `patience` s.

    A server just started, or a cluster electing the leaders of new streams,
    lets JetStream requests time out or go unanswered for a while; a node
    started at the same time waits for it rather than failing.

    Raises:
        TransportError: JetStream still did not answer after `patience` seconds.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            return await step()
        except _NOT_YET_ANSWERING as error:
            if time.monotonic() > deadline:
                raise TransportError(
                    f"JetStream did not answer within {patience:g} s while {what} "
                    f"({_describe(error)}); check that nats-server runs with JetStream (-js) "
                    "and, in a cluster, that a quorum of its servers is up"
                ) from None
            log.warning("%s: JetStream did not answer (%s); asking again", what, _describe(error))
            await asyncio.sleep(1)
