# mypy: disable-error-code="empty-body"
# (hook specifications have no bodies; pluggy calls the implementations)
"""The hook specifications: everything a plugin can provide to aion (DESIGN 5).

Pluggy calls are synchronous, so hooks hand back factories and objects; the
runtime I/O happens later through the async seams they return. Every hook is
prefixed ``aion_``. A plugin implements a hook by defining a function (or
method) of the same name, marked with `aion_core.hookimpl` or not; a function
named ``aion_*`` that matches no hook here is reported as an error at start-up.

docs/plugin_hooks.md documents each hook with an example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from aion_core.codec import PayloadCodec
    from aion_core.events import Event
    from aion_core.interceptors import ActivityInterceptor, ClientInterceptor, WorkflowInterceptor
    from aion_core.observers import EngineObserver
    from aion_core.recorder import Recorder
    from aion_core.store.protocol import EventStore
    from aion_core.transport import EngineHandle, EngineRuntime, QueryService, TransportClient

__all__ = ["PROJECT_NAME", "CommandGroup", "hookimpl", "hookspec"]

PROJECT_NAME = "aion"
"""The pluggy project name, and the entry-point group plugins are published under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class CommandGroup(Protocol):
    """What `aion_cli_commands` receives: a Click group (typed structurally, no import)."""

    def add_command(self, cmd: Any, name: str | None = None) -> None:
        """Add a Click command or group."""
        ...


# --- storage -----------------------------------------------------------------------------------


@hookspec(firstresult=True)
def aion_event_store(url: str) -> EventStore | None:
    """Return an event store for `url` if this plugin handles its scheme, else None.

    firstresult: the first plugin that returns a store wins. The store is
    returned unopened; the engine awaits its `open()`.

    Args:
        url: A store URL such as ``memory://``, ``sqlite:///aion.db`` or ``postgresql://...``.
    """


@hookspec(firstresult=True)
def aion_recorder_wrapper(recorder: Recorder) -> Recorder:
    """Wrap a workflow's recorder to observe or alter appends (metrics, audit).

    Implement it as a pluggy wrapper: ``@hookimpl(wrapper=True)``, receive the
    inner recorder with ``inner = yield`` and return your wrapper around it.
    The core's implementation returns `recorder` itself, innermost.

    Args:
        recorder: The recorder being created for one workflow.
    """


@hookspec
def aion_events_recorded(workflow_id: str, events: Sequence[Event]) -> None:
    """Called after events of one workflow are durable (tracing, live feeds).

    Broadcast: every plugin is called. An exception in one is logged and does
    not affect the workflow or the other plugins.

    Args:
        workflow_id: The stream that grew.
        events: The events just made durable, in seq order.
    """


# --- transport ---------------------------------------------------------------------------------


@hookspec(firstresult=True)
def aion_engine_handle(url: str, engine: EngineRuntime) -> EngineHandle | None:
    """Return the engine handle (transport) for `url` if this plugin handles its scheme.

    firstresult: the first plugin that returns one wins.

    Args:
        url: A transport URL such as ``inproc://`` or ``nats://host:4222``.
        engine: The engine the handle serves.
    """


@hookspec(firstresult=True)
def aion_query_service(url: str, engine: EngineRuntime) -> QueryService | None:
    """Return the query service for transport `url` if this plugin handles its scheme.

    firstresult: the first plugin that returns one wins.

    Args:
        url: The transport URL, as given to `aion_engine_handle`.
        engine: The engine whose workflows the service answers for.
    """


@hookspec(firstresult=True)
def aion_transport_client(url: str) -> TransportClient | None:
    """Return the client side of transport `url` (for `Client` and `Worker`), if handled.

    firstresult. Clients and activity workers have no store and own no workflows; they
    reach engines through this object. It is returned unconnected.

    Args:
        url: The transport URL, as given to `aion_engine_handle`.
    """


# --- payloads and interception -----------------------------------------------------------------


@hookspec
def aion_payload_codecs() -> Sequence[PayloadCodec]:
    """Return payload codecs (encryption, compression) to apply to every payload.

    Collected from every plugin into one chain: encoding runs the codecs in the
    order collected, decoding in reverse.
    """


@hookspec
def aion_activity_interceptors() -> Sequence[ActivityInterceptor]:
    """Return interceptors wrapping every activity attempt (tracing, metrics).

    Collected from every plugin; the first collected is the outermost.
    """


@hookspec
def aion_workflow_interceptors() -> Sequence[WorkflowInterceptor]:
    """Return interceptors wrapping every workflow run and handler (tracing, metrics).

    They also set the headers of the activities, children and signals the
    workflow code starts (`WorkflowInterceptor.command_headers`).
    Collected from every plugin; the first collected is the outermost.
    """


@hookspec
def aion_client_interceptors() -> Sequence[ClientInterceptor]:
    """Return interceptors wrapping what callers send: starts, signals, queries, updates.

    Used by `Client` and by an `Engine`'s own operations; they set the headers
    that travel with the operation to the workflow (trace context).
    Collected from every plugin; the first collected is the outermost.
    """


@hookspec
def aion_engine_observers() -> Sequence[EngineObserver]:
    """Return observers of an engine's internals: replays, its cache, store commits (metrics).

    Called once for each `Engine` created, so each engine can get observers of
    its own. Collected from every plugin.
    """


# --- command line ------------------------------------------------------------------------------


@hookspec
def aion_cli_commands(cli: CommandGroup) -> None:
    """Add commands to the ``aion`` command line with ``cli.add_command(...)``.

    Broadcast: every plugin is called once while the CLI is built.

    Args:
        cli: The root Click group.
    """
