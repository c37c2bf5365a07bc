"""The ``nats://`` transport plugin: engine nodes, query routing, clients and workers."""

from __future__ import annotations

import weakref

from aion_core.hookspecs import hookimpl
from aion_core.transport import EngineHandle, EngineRuntime, QueryService, TransportClient
from aion_core.urls import url_scheme
from aion_transport_nats.client import NatsTransportClient
from aion_transport_nats.node import NatsEngineHandle, NatsQueryService
from aion_transport_nats.options import NATS_SCHEMES, parse_nats_url

__all__ = ["NatsTransportPlugin", "nats_plugin"]

DEFAULT_LEASE_TTL = 10.0
"""Seconds a dead node keeps its partitions before others adopt them (``?lease_ttl=``)."""


class NatsTransportPlugin:
    """Handles ``nats://`` (and ``tls://``, ``ws://``, ``wss://``) transport URLs."""

    def __init__(self) -> None:
        self._handles: weakref.WeakKeyDictionary[EngineRuntime, NatsEngineHandle] = (
            weakref.WeakKeyDictionary()
        )

    @hookimpl
    def aion_engine_handle(self, url: str, engine: EngineRuntime) -> EngineHandle | None:
        """The engine-node side for NATS URLs."""
        if url_scheme(url, kind="transport") not in NATS_SCHEMES:
            return None
        options = parse_nats_url(url)
        handle = NatsEngineHandle(options, engine, options.lease_ttl or DEFAULT_LEASE_TTL)
        self._handles[engine] = handle
        return handle

    @hookimpl
    def aion_query_service(self, url: str, engine: EngineRuntime) -> QueryService | None:
        """Query routing for NATS URLs: the engine's own workflows here, others at their owner."""
        if url_scheme(url, kind="transport") not in NATS_SCHEMES:
            return None
        handle = self._handles.get(engine)
        if handle is None:
            handle = self._handles[engine] = NatsEngineHandle(
                parse_nats_url(url), engine, DEFAULT_LEASE_TTL
            )
        return NatsQueryService(handle, engine)

    @hookimpl
    def aion_transport_client(self, url: str) -> TransportClient | None:
        """The side of clients and workers for NATS URLs."""
        if url_scheme(url, kind="transport") not in NATS_SCHEMES:
            return None
        return NatsTransportClient(parse_nats_url(url))


nats_plugin = NatsTransportPlugin()
"""The instance the ``aion`` entry point names."""
