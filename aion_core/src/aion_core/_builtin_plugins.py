"""aion-core's own pieces, registered through the same hooks as any third-party plugin."""

from __future__ import annotations

from aion_core.hookspecs import hookimpl
from aion_core.inproc import InProcessTransportPlugin
from aion_core.recorder import Recorder
from aion_core.store.memory import MemoryEventStore
from aion_core.store.protocol import EventStore
from aion_core.urls import url_scheme


class MemoryStorePlugin:
    """Handles ``memory://`` store URLs: a fresh in-process store per URL opened."""

    @hookimpl
    def aion_event_store(self, url: str) -> EventStore | None:
        """A `MemoryEventStore` for ``memory://`` URLs."""
        return MemoryEventStore(url) if url_scheme(url) == "memory" else None


class CoreRecorderPlugin:
    """The innermost `aion_recorder_wrapper`: the recorder itself, unwrapped."""

    @hookimpl(trylast=True)
    def aion_recorder_wrapper(self, recorder: Recorder) -> Recorder:
        """Return `recorder` as it is; wrapper plugins wrap around this result."""
        return recorder


BUILTIN_PLUGINS: dict[str, object] = {
    "memory": MemoryStorePlugin(),
    "inproc": InProcessTransportPlugin(),
    "core": CoreRecorderPlugin(),
}
"""Built-in plugins by name; `AION_DISABLE_PLUGINS` can block them like any other."""
