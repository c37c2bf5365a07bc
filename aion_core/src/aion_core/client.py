"""`Client`: start and talk to workflows run by engines elsewhere (DESIGN 2.2).

A client has no store and runs nothing: every call goes through the
transport to the engine that owns the workflow, and the reply comes back once
what it asked for is durable. Errors arrive as the same typed `AionError`s an
embedded engine raises::

    async with await Client.connect("nats://127.0.0.1:4222") as client:
        handle = await client.start_workflow(Checkout.run, order, id="order-42")
        await handle.signal(Checkout.approve, "ada")
        receipt = await handle.result()

Workflows may be given by their class or function (arguments are then
checked here against its type hints) or by name (plain JSON, checked by the
engine that runs it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from typing import Any, Self

from aion_core.calls import Call, QueryCall
from aion_core.codec import PayloadCodecChain
from aion_core.converter import DEFAULT_MAX_PAYLOAD_BYTES, check_max_payload_bytes
from aion_core.definitions import workflow_definition
from aion_core.events import Event, Payload
from aion_core.lifecycle import Service
from aion_core.operations import WorkflowOperations
from aion_core.plugins import Plugins, load_plugins
from aion_core.transport import TransportClient

__all__ = ["Client"]


class Client(WorkflowOperations, Service):
    """Talks to the engines on a transport. Make one with `Client.connect(url)`.

    Args:
        transport: A connected transport client.
        plugins: The loaded plugins (payload codecs apply to results here too).
        workflows: Workflow definitions to check arguments and results against when
            they are named by string.
        call_timeout: How long a call waits for the owning engine to answer.
        query_timeout: How long a query may wait for its answer by default.
        identity: Who the client is, recorded as the sender of its signals.
        max_payload_bytes: Largest JSON of one workflow input, signal, query or update
            argument this client sends (`PayloadTooLargeError` above it, nothing sent);
            default `DEFAULT_MAX_PAYLOAD_BYTES` (2 MiB), None for no limit here (the
            engine's own limit still applies).
    """

    def __init__(
        self,
        transport: TransportClient,
        *,
        plugins: Plugins | None = None,
        workflows: Iterable[object] = (),
        call_timeout: timedelta = timedelta(seconds=30),
        query_timeout: timedelta = timedelta(seconds=10),
        identity: str = "client",
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.transport = transport
        self.max_payload_bytes = check_max_payload_bytes(max_payload_bytes)
        self.plugins = plugins or load_plugins()
        self.codec = PayloadCodecChain(self.plugins.payload_codecs())
        self.client_interceptors = self.plugins.client_interceptors()
        self.identity = identity
        self.query_timeout = query_timeout
        self.call_timeout = call_timeout.total_seconds()
        definitions = (workflow_definition(w) for w in workflows)
        self._workflows = {definition.name: definition for definition in definitions}

    @classmethod
    async def connect(
        cls,
        url: str = "inproc://",
        *,
        plugins: Plugins | None = None,
        **options: Any,
    ) -> Self:
        """Connect to the transport at `url` (``inproc://``, ``nats://host:4222``, ...).

        Raises:
            UnknownURLSchemeError: No installed plugin handles the URL's scheme.
            ConfigurationError: The URL is malformed.
            TransportError: The transport cannot be reached.
        """
        plugins = plugins or load_plugins()
        transport = plugins.transport_client(url)
        await transport.connect()
        try:
            return cls(transport, plugins=plugins, **options)
        except BaseException:
            await transport.close()  # e.g. a codec plugin refused: leave nothing connected
            raise

    async def start(self) -> None:
        """Connect the transport (`connect` has done so already; connecting again is nothing)."""
        await self.transport.connect()

    async def close(self) -> None:
        """Disconnect."""
        await self.transport.close()

    async def route(self, call: Call, timeout: float | None = None) -> Any:
        """Carry out `call` on the engine that owns its workflow (any engine for reads).

        Its payloads travel encoded by the payload codecs; the engine decodes them.
        """
        encoded = await self.codec.encode_payloads_in(call)
        return await self.transport.call(encoded, timeout or self.call_timeout)

    async def ask(self, call: QueryCall) -> Payload:
        """The answer to the query; never records anything."""
        answer: Payload = await self.route(call, call.timeout + self.call_timeout)
        [decoded] = await self.codec.decode([answer])  # it travelled encoded
        return decoded

    async def events(self, workflow_id: str) -> AsyncIterator[Event]:
        """The workflow's events as they become durable, from now on."""
        async for event in self.transport.events(workflow_id):
            yield event
