"""NATS transport URLs: what ``nats://...`` means, checked before connecting.

A transport URL names one or more NATS servers and carries every connection
option nats-py supports, so a deployment is configured by one string:

* servers: ``nats://host:4222``, several comma-separated (``nats://h1:4222,h2:4223``
  or ``nats://h1:4222,nats://h2:4223``); ``tls://`` for TLS, ``ws://``/``wss://``
  for WebSocket (not mixed with ``nats``/``tls``); the port defaults to 4222.
* auth: a token (``nats://TOKEN@host``) or user and password
  (``nats://user:pass@host``), percent-encoded when they hold ``@ : / , ? %``;
  ``?creds=FILE`` (a ``.creds`` file with JWT and seed) or ``?nkey=FILE`` (an
  nkeys seed file); both need the ``nkeys`` package.
* TLS: ``?tls_ca=FILE``, ``?tls_cert=FILE``, ``?tls_key=FILE``, ``?tls_hostname=NAME``,
  ``?tls_handshake_first=true``.
* connection: ``?name=`` (shown in NATS monitoring), ``?connect_timeout=SECONDS``,
  ``?reconnect_time_wait=SECONDS``, ``?max_reconnect_attempts=N`` (-1: forever),
  ``?ping_interval=SECONDS``, ``?max_outstanding_pings=N``, ``?drain_timeout=SECONDS``,
  ``?no_echo=true``, ``?inbox_prefix=PREFIX``.
* aion: ``?namespace=NAME`` (prefix of every subject, stream and bucket; absent:
  the engine's namespace applies) and ``?partitions=N`` (how many partitions
  workflow ids hash to; every engine node of a namespace must agree, which the
  lease bucket checks), ``?lease_ttl=SECONDS`` (how long a dead engine node keeps
  its partitions before others adopt them; default 10).

Errors never echo a password or token: messages name the server by position
and `redact_nats_url` hides credentials in anything printed or logged.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aion_core.errors import ConfigurationError
from aion_transport_nats.streams import validate_namespace

__all__ = [
    "DEFAULT_PARTITIONS",
    "NATS_SCHEMES",
    "NatsOptions",
    "parse_nats_url",
    "redact_nats_url",
]

NATS_SCHEMES = frozenset({"nats", "tls", "ws", "wss"})
DEFAULT_PARTITIONS = 16
_MAX_PARTITIONS = 4096
_DEFAULT_PORT = 4222
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
_HOST = re.compile(r"^[A-Za-z0-9._-]+$")
_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")
_EXAMPLES = "for example nats://127.0.0.1:4222 or nats://user:pass@h1:4222,h2:4222?namespace=shop"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """Everything a NATS transport URL says: servers, auth, TLS, connection and aion options.

    Attributes:
        servers: Server URLs without credentials (``nats://host:port``), in the given order.
        user: User name for user/password auth.
        password: Password for user/password auth (never shown in ``repr``).
        token: Token for token auth (never shown in ``repr``).
        creds_file: A ``.creds`` file (user JWT and nkey seed).
        nkey_seed_file: A file holding an nkeys user seed.
        tls_ca_file: CA bundle that verifies the servers' certificates.
        tls_cert_file: Client certificate (mutual TLS); may also hold the key.
        tls_key_file: Private key of the client certificate.
        tls_hostname: Host name expected in the servers' certificates.
        tls_handshake_first: Start TLS before the NATS protocol (servers configured so).
        name: Connection name shown in NATS monitoring.
        connect_timeout: Seconds one connection attempt to one server may take.
        reconnect_time_wait: Seconds between two attempts to reach the same server.
        max_reconnect_attempts: Attempts per server after a disconnect; -1 retries forever.
        ping_interval: Seconds between pings; None keeps nats-py's default.
        max_outstanding_pings: Unanswered pings before the connection counts as lost.
        drain_timeout: Seconds a drain may take; None keeps nats-py's default.
        no_echo: Do not deliver the connection's own publications to its subscriptions.
        inbox_prefix: Prefix of reply subjects; None keeps ``_INBOX``.
        namespace: The aion namespace; None when the URL leaves it to the engine.
        partitions: How many partitions workflow ids hash to.
        lease_ttl: Seconds a partition lease lasts unrenewed; None keeps the default.
    """

    servers: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    creds_file: str | None = None
    nkey_seed_file: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_hostname: str | None = None
    tls_handshake_first: bool = False
    name: str | None = None
    connect_timeout: float = 2.0
    reconnect_time_wait: float = 0.5
    max_reconnect_attempts: int = -1
    ping_interval: float | None = None
    max_outstanding_pings: int | None = None
    drain_timeout: float | None = None
    no_echo: bool = False
    inbox_prefix: str | None = None
    namespace: str | None = None
    partitions: int = DEFAULT_PARTITIONS
    lease_ttl: float | None = None

    @property
    def uses_tls(self) -> bool:
        """Whether connections are encrypted (a ``tls``/``wss`` server or TLS files given)."""
        return (
            any(server.split("://", 1)[0] in ("tls", "wss") for server in self.servers)
            or self.tls_ca_file is not None
            or self.tls_cert_file is not None
        )

    @property
    def redacted_url(self) -> str:
        """The servers as one URL with any credentials shown as ``***``, safe to print and log."""
        secret = "***" if self.token is not None else None
        if self.user is not None:
            secret = f"{self.user}:***"
        servers = list(self.servers)
        if secret is not None and servers:
            scheme, rest = servers[0].split("://", 1)
            servers[0] = f"{scheme}://{secret}@{rest}"
        return ",".join(servers)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context built from ``tls_ca``/``tls_cert``/``tls_key``; None without files.

        Without files a ``tls://`` server still gets TLS: nats-py then uses the
        system's default context.

        Raises:
            ConfigurationError: A TLS file cannot be loaded (not PEM, key does not match).
        """
        if self.tls_ca_file is None and self.tls_cert_file is None:
            return None
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.tls_ca_file)
            if self.tls_cert_file is not None:
                context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        except (ssl.SSLError, OSError) as error:
            raise ConfigurationError(
                f"cannot load the TLS files of NATS URL {self.redacted_url!r} ({error}); "
                "tls_ca= must be a PEM CA bundle, tls_cert= a PEM certificate and tls_key= "
                "its PEM private key"
            ) from error
        return context

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect`` that realise these options.

        The reconnect settings are included as configured. With the default
        ``max_reconnect_attempts=-1`` nats-py retries a *first* connection
        forever; `aion_transport_nats.connection.connect` bounds the first
        connection and then retries forever.
        """
        kwargs: dict[str, Any] = {
            "servers": list(self.servers),
            "allow_reconnect": True,
            "connect_timeout": self.connect_timeout,
            "reconnect_time_wait": self.reconnect_time_wait,
            "max_reconnect_attempts": self.max_reconnect_attempts,
        }
        optional: dict[str, Any] = {
            "name": self.name,
            "user": self.user,
            "password": self.password,
            "token": self.token,
            "user_credentials": self.creds_file,
            "nkeys_seed": self.nkey_seed_file,
            "tls": self.ssl_context(),
            "tls_hostname": self.tls_hostname,
            "ping_interval": self.ping_interval,
            "max_outstanding_pings": self.max_outstanding_pings,
            "drain_timeout": self.drain_timeout,
            "inbox_prefix": self.inbox_prefix,
        }
        kwargs.update({key: value for key, value in optional.items() if value is not None})
        if self.tls_handshake_first:
            kwargs["tls_handshake_first"] = True
        if self.no_echo:
            kwargs["no_echo"] = True
        return kwargs


def redact_nats_url(url: str) -> str:
    """`url` with the user info of every server replaced (``user:***@``, ``***@``).

    Works on URLs that do not parse, too, so error messages can always show one.
    User info ends at the last ``@`` of each comma-separated server; credentials
    holding a raw ``,`` must be percent-encoded (as `parse_nats_url` requires).
    """
    servers, mark, query = url.partition("?")
    redacted = []
    for piece in servers.split(","):
        match = _SCHEME.match(piece)
        prefix, rest = (f"{match.group(1)}://", match.group(2)) if match else ("", piece)
        userinfo, at, hostport = rest.rpartition("@")
        if at:
            user, colon, _ = userinfo.partition(":")
            rest = f"{user}:***@{hostport}" if colon else f"***@{hostport}"
        redacted.append(prefix + rest)
    return ",".join(redacted) + mark + query


# --- parsing -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Auth:
    """The credentials one server of the URL carries."""

    user: str | None = None
    password: str | None = None
    token: str | None = None


def parse_nats_url(url: str) -> NatsOptions:
    """Parse a NATS transport URL (see the module docstring for every form and option).

    Raises:
        ConfigurationError: The URL cannot be used; the message says what to fix
            and never contains a password or token.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"the NATS URL is empty; expected a server URL, {_EXAMPLES}")
    text = url.strip()
    if "#" in text:
        raise ConfigurationError(
            f"NATS URL {redact_nats_url(text)!r} has a '#' fragment; remove it "
            "(percent-encode '#' as %23 inside a password or token)"
        )
    servers_text, _, query = text.partition("?")
    servers: list[str] = []
    auth = _Auth()
    schemes: set[str] = set()
    default_scheme: str | None = None
    for position, piece in enumerate(servers_text.split(","), start=1):
        scheme, server, piece_auth = _parse_server(piece.strip(), position, default_scheme)
        default_scheme = scheme
        schemes.add(scheme)
        servers.append(server)
        auth = _merge_auth(auth, piece_auth, position)
    if schemes & {"ws", "wss"} and schemes & {"nats", "tls"}:
        raise ConfigurationError(
            "the NATS URL mixes WebSocket (ws://, wss://) and TCP (nats://, tls://) servers; "
            "nats-py connects through one kind only, so list servers of one kind"
        )
    return NatsOptions(
        servers=tuple(servers),
        user=auth.user,
        password=auth.password,
        token=auth.token,
        **_parse_query(query),
    )


def _parse_server(piece: str, position: int, default_scheme: str | None) -> tuple[str, str, _Auth]:
    """One comma-separated server: its scheme, its URL without credentials, its credentials.

    Messages name the server by `position`, never by its text, which may hold a secret.
    """
    where = f"server {position} of the NATS URL"
    match = _SCHEME.match(piece)
    if match:
        scheme, rest = match.group(1).lower(), match.group(2)
        if scheme not in NATS_SCHEMES:
            raise ConfigurationError(
                f"{where} has scheme {scheme!r}; use nats://, tls://, ws:// or wss://, {_EXAMPLES}"
            )
    elif default_scheme is None:
        raise ConfigurationError(
            f"the NATS URL must start with nats://, tls://, ws:// or wss://, {_EXAMPLES}"
        )
    else:
        scheme, rest = default_scheme, piece
    userinfo, at, hostport = rest.rpartition("@")
    hostport = hostport.rstrip("/")
    if "/" in hostport:
        raise ConfigurationError(
            f"{where} has a path; a NATS server is host[:port] only "
            "(percent-encode '/' inside a password or token as %2F)"
        )
    host, port = _split_host_port(hostport, where)
    if port is None and scheme in ("nats", "tls"):
        port = _DEFAULT_PORT
    location = host if port is None else f"{host}:{port}"
    return scheme, f"{scheme}://{location}", _parse_userinfo(userinfo, bool(at), where)


def _split_host_port(hostport: str, where: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (``[v6]:port`` for IPv6), checking both parts."""
    if hostport.startswith("["):
        host, bracket, port_text = hostport.partition("]")
        host += bracket
        if not bracket or not _IPV6.match(host) or (port_text and not port_text.startswith(":")):
            raise ConfigurationError(f"{where} has a malformed IPv6 address; write [::1]:4222")
        port_text = port_text[1:]
    else:
        host, _, port_text = hostport.partition(":")
        if not host:
            raise ConfigurationError(f"{where} has no host; {_EXAMPLES}")
        if not _HOST.match(host):
            raise ConfigurationError(
                f"{where} has characters a host name cannot have; percent-encode "
                "'@ : / , ? # %' inside a user name, password or token"
            )
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigurationError(
            f"{where} has a port that is not a number from 1 to 65535; percent-encode "
            "'@ : / , ? # %' inside a user name, password or token"
        )
    return host, int(port_text)


def _parse_userinfo(userinfo: str, present: bool, where: str) -> _Auth:
    """``user:password`` or ``token`` (percent-decoded); empty when the server has none."""
    if not present:
        return _Auth()
    if not userinfo:
        raise ConfigurationError(f"{where} has an '@' but no token or user before it")
    user, colon, password = userinfo.partition(":")
    if not colon:
        return _Auth(token=unquote(userinfo))
    if not user:
        raise ConfigurationError(f"{where} has a password but no user name (write user:pass@)")
    return _Auth(user=unquote(user), password=unquote(password))


def _merge_auth(current: _Auth, piece: _Auth, position: int) -> _Auth:
    """Credentials of all servers: given once, or the same on every server that has any."""
    if piece == _Auth():
        return current
    if current != _Auth() and current != piece:
        raise ConfigurationError(
            f"server {position} of the NATS URL has other credentials than an earlier server; "
            "nats-py uses one set for all servers: give them once, on the first server"
        )
    return piece


# --- query parameters --------------------------------------------------------------------------


def _file(name: str, what: str) -> Callable[[str], str]:
    """A converter that checks a query parameter names an existing file."""

    def convert(value: str) -> str:
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"{name}={value!r}: no such file; {name}= must name {what}")
        return str(path)

    return convert


def _number(name: str, *, minimum: float, allow_zero: bool = True) -> Callable[[str], float]:
    """A converter for seconds and other non-negative numbers."""

    def convert(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < minimum or (number == 0 and not allow_zero):
            raise ConfigurationError(
                f"{name}={value!r} is not a valid number; give a number of at least {minimum}"
                + ("" if allow_zero else " and above 0")
            )
        return number

    return convert


def _integer(name: str, *, minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A converter for whole numbers within bounds."""

    def convert(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise ConfigurationError(f"{name}={value!r} is not a whole number {bounds}")
        return number

    return convert


def _boolean(name: str) -> Callable[[str], bool]:
    """A converter for ``true``/``false`` (also 1/0, yes/no, on/off)."""

    def convert(value: str) -> bool:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigurationError(f"{name}={value!r} is not a boolean; write true or false")

    return convert


def _text(value: str) -> str:
    return value


def _namespace(value: str) -> str:
    return validate_namespace(value)


# Query parameter -> (NatsOptions field, converter).
_PARAMETERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "creds": ("creds_file", _file("creds", "a NATS .creds file (user JWT and nkey seed)")),
    "nkey": ("nkey_seed_file", _file("nkey", "a file holding an nkeys user seed")),
    "tls_ca": ("tls_ca_file", _file("tls_ca", "a PEM file of CA certificates")),
    "tls_cert": ("tls_cert_file", _file("tls_cert", "a PEM client certificate")),
    "tls_key": ("tls_key_file", _file("tls_key", "the PEM private key of tls_cert")),
    "tls_hostname": ("tls_hostname", _text),
    "tls_handshake_first": ("tls_handshake_first", _boolean("tls_handshake_first")),
    "name": ("name", _text),
    "connect_timeout": (
        "connect_timeout",
        _number("connect_timeout", minimum=0, allow_zero=False),
    ),
    "reconnect_time_wait": ("reconnect_time_wait", _number("reconnect_time_wait", minimum=0)),
    "max_reconnect_attempts": (
        "max_reconnect_attempts",
        _integer("max_reconnect_attempts", minimum=-1),
    ),
    "ping_interval": ("ping_interval", _number("ping_interval", minimum=0, allow_zero=False)),
    "max_outstanding_pings": (
        "max_outstanding_pings",
        _integer("max_outstanding_pings", minimum=1),
    ),
    "drain_timeout": ("drain_timeout", _number("drain_timeout", minimum=0, allow_zero=False)),
    "no_echo": ("no_echo", _boolean("no_echo")),
    "inbox_prefix": ("inbox_prefix", _text),
    "namespace": ("namespace", _namespace),
    "partitions": ("partitions", _integer("partitions", minimum=1, maximum=_MAX_PARTITIONS)),
    "lease_ttl": ("lease_ttl", _number("lease_ttl", minimum=1, allow_zero=False)),
}


def _parse_query(query: str) -> dict[str, Any]:
    """The NatsOptions fields the query string sets, converted and checked."""
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for pair in query.split("&") if query else ():
        if not pair:
            continue
        raw_name, equals, raw_value = pair.partition("=")
        name, value = unquote(raw_name), unquote(raw_value)
        if name not in _PARAMETERS:
            known = ", ".join(sorted(_PARAMETERS))
            raise ConfigurationError(
                f"unknown NATS URL parameter {name!r}; known parameters: {known}"
            )
        if name in seen:
            raise ConfigurationError(f"NATS URL parameter {name!r} is given twice; give it once")
        if not equals or not value:
            raise ConfigurationError(f"NATS URL parameter {name!r} has no value; write {name}=...")
        seen.add(name)
        attribute, convert = _PARAMETERS[name]
        values[attribute] = convert(value)
    _check_combinations(values)
    return values


def _check_combinations(values: dict[str, Any]) -> None:
    """Refuse parameters that only make sense together, or contradict each other."""
    if "creds_file" in values and "nkey_seed_file" in values:
        raise ConfigurationError(
            "the NATS URL gives both creds= and nkey=; use creds= for JWT auth "
            "or nkey= for a bare nkey, not both"
        )
    if "tls_key_file" in values and "tls_cert_file" not in values:
        raise ConfigurationError(
            "the NATS URL gives tls_key= without tls_cert=; add the client certificate"
        )
