"""aion ui: a web console for aion workflows.

Installing the distribution registers the ``ui`` plugin (the ``aion`` entry
point), which adds ``aion ui`` to the command line::

    aion ui --store sqlite:///aion.db --transport nats://127.0.0.1:4222

An application can serve the console itself with `create_app` (an ASGI app).
Engines and workers load every installed plugin, so importing this package
stays light: the web stack is imported on first use of `create_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aion_plugin_ui.plugin import UiPlugin, ui_plugin
from aion_plugin_ui.settings import DEFAULT_HOST, DEFAULT_PORT, UiSettings, is_loopback

if TYPE_CHECKING:
    from aion_plugin_ui.app import create_app

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "UiPlugin",
    "UiSettings",
    "create_app",
    "is_loopback",
    "ui_plugin",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from aion_plugin_ui.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
