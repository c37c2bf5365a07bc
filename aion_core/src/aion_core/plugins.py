"""The plugin manager: one factory, environment switches, and a typed facade over the hooks.

Plugins are found at start-up (never at import time) in the ``aion``
entry-point group. Built-in pieces (the memory store, the in-process
transport) register through the same hooks, by name, like any plugin.

Environment switches:

- ``AION_PLUGINS=a,b``: load only these entry-point plugins (empty: none).
  Built-ins always load unless disabled.
- ``AION_DISABLE_PLUGINS=a,b``: never load these, built-ins included.
- ``AION_TRACE_PLUGINS=1``: print every hook call and its result to stderr.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar, cast

import pluggy

from aion_core import hookspecs
from aion_core.codec import PayloadCodec
from aion_core.errors import PluginError, UnknownURLSchemeError
from aion_core.events import Event
from aion_core.interceptors import ActivityInterceptor, ClientInterceptor, WorkflowInterceptor
from aion_core.observers import EngineObserver
from aion_core.recorder import Recorder
from aion_core.store.protocol import EventStore
from aion_core.transport import EngineHandle, EngineRuntime, QueryService, TransportClient
from aion_core.urls import redact_url, url_scheme

__all__ = [
    "ENV_DISABLE_PLUGINS",
    "ENV_PLUGINS",
    "ENV_TRACE_PLUGINS",
    "PluginInfo",
    "Plugins",
    "create_plugin_manager",
    "load_plugins",
]

ENV_PLUGINS = "AION_PLUGINS"
ENV_DISABLE_PLUGINS = "AION_DISABLE_PLUGINS"
ENV_TRACE_PLUGINS = "AION_TRACE_PLUGINS"

_HOOK_PREFIX = "aion_"
log = logging.getLogger("aion.plugins")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered plugin, as `aion plugins` shows it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


class _AionPluginManager(pluggy.PluginManager):
    """Treats every ``aion_*`` function of a plugin as a hook implementation.

    Marking with `hookimpl` is then needed only for options (wrapper=True,
    tryfirst, ...), and a misspelt hook name is caught by `check_pending`
    instead of being silently ignored.
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None or not name.startswith(_HOOK_PREFIX):
            return opts
        method = getattr(plugin, name, None)
        if not inspect.isroutine(method):
            return None
        return cast(
            pluggy.HookimplOpts,
            {
                "wrapper": False,
                "hookwrapper": False,
                "optionalhook": False,
                "tryfirst": False,
                "trylast": False,
                "specname": None,
            },
        )


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _distribution(entry_point: EntryPoint) -> tuple[str | None, str | None]:
    dist = entry_point.dist
    return (dist.name, dist.version) if dist is not None else (None, None)


def create_plugin_manager(
    environ: Mapping[str, str] | None = None,
    *,
    entry_points_group: str = hookspecs.PROJECT_NAME,
) -> tuple[pluggy.PluginManager, dict[str, tuple[str | None, str | None]]]:
    """Build the plugin manager: hook specs, built-ins, then entry-point plugins.

    Returns the manager and, for each entry-point plugin, its (distribution,
    version). Most code wants `load_plugins`, which wraps both in `Plugins`.

    Raises:
        PluginError: A plugin failed to import, implements an unknown ``aion_*``
            hook, or ``AION_PLUGINS`` names a plugin that is not installed.
    """
    from aion_core._builtin_plugins import BUILTIN_PLUGINS

    env = os.environ if environ is None else environ
    only = _names(env.get(ENV_PLUGINS))
    disabled = _names(env.get(ENV_DISABLE_PLUGINS)) or set()

    manager = _AionPluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for name in disabled:
        manager.set_blocked(name)
    for name, plugin in BUILTIN_PLUGINS.items():
        if not manager.is_blocked(name):
            _register(manager, plugin, name, origin="aion-core")

    distributions: dict[str, tuple[str | None, str | None]] = {}
    available: set[str] = set()
    for entry_point in entry_points(group=entry_points_group):
        available.add(entry_point.name)
        if manager.is_blocked(entry_point.name) or manager.has_plugin(entry_point.name):
            continue
        if only is not None and entry_point.name not in only:
            continue
        dist_name, version = _distribution(entry_point)
        origin = f"{dist_name} {version}" if dist_name else "an unknown distribution"
        try:
            plugin = entry_point.load()
        except Exception as error:
            raise PluginError(
                f"plugin {entry_point.name!r} (from {origin}) failed to load: "
                f"{type(error).__name__}: {error}. Fix or uninstall it, or skip it with "
                f"{ENV_DISABLE_PLUGINS}={entry_point.name}"
            ) from error
        _register(manager, plugin, entry_point.name, origin=origin)
        distributions[entry_point.name] = (dist_name, version)

    if only is not None and (missing := only - available - set(BUILTIN_PLUGINS)):
        raise PluginError(
            f"{ENV_PLUGINS} names {', '.join(sorted(missing))}, which no installed plugin "
            f"provides; installed: {', '.join(sorted(available)) or 'none'}"
        )
    _check_pending(manager)
    if env.get(ENV_TRACE_PLUGINS, "") not in ("", "0"):
        manager.trace.root.setwriter(sys.stderr.write)
        manager.enable_tracing()
    return manager, distributions


def _register(manager: pluggy.PluginManager, plugin: object, name: str, *, origin: str) -> None:
    try:
        manager.register(plugin, name=name)
    except pluggy.PluginValidationError as error:
        raise PluginError(f"plugin {name!r} (from {origin}) is invalid: {error}") from error


def _check_pending(manager: pluggy.PluginManager) -> None:
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith(_HOOK_PREFIX)))
        raise PluginError(
            f"plugin {manager.get_name(error.plugin)!r} implements a hook aion does not have "
            f"({error}); known hooks: {known}"
        ) from error


def load_plugins(environ: Mapping[str, str] | None = None) -> Plugins:
    """Find and register every plugin; the one way aion builds its plugin manager."""
    manager, distributions = create_plugin_manager(environ)
    return Plugins(manager, distributions)


class Plugins:
    """A typed facade over the plugin manager: engine code calls this, never hooks directly."""

    def __init__(
        self,
        manager: pluggy.PluginManager,
        distributions: Mapping[str, tuple[str | None, str | None]] | None = None,
    ) -> None:
        self.manager = manager
        self._distributions = dict(distributions or {})
        self._hook: Any = manager.hook

    def _implementers(self, hook_name: str) -> list[str]:
        impls = getattr(self.manager.hook, hook_name).get_hookimpls()
        return sorted({impl.plugin_name for impl in impls})

    def _first(self, hook_name: str, kind: str, url: str, **arguments: object) -> Any:
        """What the first plugin handling `url`'s scheme returns from `hook_name`."""
        url_scheme(url, kind="store" if kind == "store" else "transport")
        found = getattr(self._hook, hook_name)(url=url, **arguments)
        if found is None:
            redacted = redact_url(url, token_auth=kind != "store")
            raise UnknownURLSchemeError(kind, redacted, self._implementers(hook_name))
        return found

    def event_store(self, url: str) -> EventStore:
        """The store for `url`, unopened.

        Raises:
            ConfigurationError: `url` is not a URL.
            UnknownURLSchemeError: No installed plugin handles its scheme.
        """
        store: EventStore = self._first("aion_event_store", "store", url)
        return store

    def engine_handle(self, url: str, engine: EngineRuntime) -> EngineHandle:
        """The transport for `url`, serving `engine` (errors as `event_store`)."""
        handle: EngineHandle = self._first("aion_engine_handle", "transport", url, engine=engine)
        return handle

    def query_service(self, url: str, engine: EngineRuntime) -> QueryService:
        """The query service of the transport at `url` (errors as `event_store`)."""
        service: QueryService = self._first(
            "aion_query_service", "query service", url, engine=engine
        )
        return service

    def transport_client(self, url: str) -> TransportClient:
        """The unconnected client side of transport `url` (errors as `event_store`)."""
        client: TransportClient = self._first("aion_transport_client", "transport", url)
        return client

    def register(self, plugin: object, name: str) -> None:
        """Register `plugin` under `name` from code, checked as entry-point plugins are.

        (``manager.register`` also works, but skips the check for misspelt hooks.)

        Raises:
            PluginError: `plugin` implements a hook aion does not have, or a hook with
                arguments it does not offer; nothing is registered then.
        """
        _register(self.manager, plugin, name, origin="code")
        try:
            _check_pending(self.manager)
        except PluginError:
            self.manager.unregister(name=name)
            raise

    def wrap_recorder(self, recorder: Recorder) -> Recorder:
        """`recorder` wrapped by every plugin that wraps recorders.

        Raises:
            PluginError: A plugin's wrapper failed, or none returned a recorder (the
                built-in ``core`` plugin, innermost, is disabled).
        """
        try:
            wrapped: Recorder | None = self._hook.aion_recorder_wrapper(recorder=recorder)
        except Exception as error:
            raise PluginError(
                f"a plugin failed in aion_recorder_wrapper: {error!r}; fix or disable it "
                "(AION_DISABLE_PLUGINS=name; `aion plugins` lists the names)"
            ) from error
        if wrapped is None:
            raise PluginError(
                "no plugin returned a recorder from aion_recorder_wrapper; the built-in "
                "'core' plugin must not be disabled (check AION_DISABLE_PLUGINS)"
            )
        return wrapped

    def events_recorded(self, workflow_id: str, events: Sequence[Event]) -> None:
        """Tell every plugin about durable events; a failing plugin is logged, not raised."""
        for impl in reversed(self.manager.hook.aion_events_recorded.get_hookimpls()):
            try:
                impl.function(workflow_id=workflow_id, events=events)
            except Exception:
                log.exception("plugin %r failed in aion_events_recorded", impl.plugin_name)

    def payload_codecs(self) -> list[PayloadCodec]:
        """Codecs from every plugin, in encoding order."""
        return _flatten(self._hook.aion_payload_codecs())

    def activity_interceptors(self) -> list[ActivityInterceptor]:
        """Activity interceptors from every plugin, outermost first."""
        return _flatten(self._hook.aion_activity_interceptors())

    def workflow_interceptors(self) -> list[WorkflowInterceptor]:
        """Workflow interceptors from every plugin, outermost first."""
        return _flatten(self._hook.aion_workflow_interceptors())

    def engine_observers(self) -> list[EngineObserver]:
        """Engine observers from every plugin, for one new engine."""
        return _flatten(self._hook.aion_engine_observers())

    def client_interceptors(self) -> list[ClientInterceptor]:
        """Client interceptors from every plugin, outermost first."""
        return _flatten(self._hook.aion_client_interceptors())

    def add_cli_commands(self, cli: hookspecs.CommandGroup) -> None:
        """Let every plugin add commands to the CLI.

        Raises:
            PluginError: A plugin failed to add its commands; the message names it.
        """
        for impl in reversed(self.manager.hook.aion_cli_commands.get_hookimpls()):
            try:
                impl.function(cli=cli)
            except Exception as error:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} failed to add its commands: {error!r}; "
                    f"fix or disable it (AION_DISABLE_PLUGINS={impl.plugin_name})"
                ) from error

    def describe(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution, version and hooks, by name."""
        from aion_core._builtin_plugins import BUILTIN_PLUGINS

        infos = []
        for name, plugin in self.manager.list_name_plugin():
            if plugin is None:
                continue  # blocked
            hooks = tuple(
                sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or ())
            )
            builtin = name in BUILTIN_PLUGINS and self._distributions.get(name) is None
            dist, version = (
                ("aion-core", _core_version())
                if builtin
                else self._distributions.get(name, (None, None))
            )
            infos.append(PluginInfo(name, dist, version, hooks, builtin))
        return sorted(infos, key=lambda info: info.name)


def _flatten(groups: Iterable[Sequence[_T] | None]) -> list[_T]:
    return [item for group in groups if group for item in group]


def _core_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aion-core")
    except PackageNotFoundError:
        return None
