"""The engine: runners, activity execution, timers and supervision around the recorder."""

from aion_core.engine.clock import Clock, SkippingClock, SystemClock
from aion_core.engine.engine import Engine, default_store_url

__all__ = ["Clock", "Engine", "SkippingClock", "SystemClock", "default_store_url"]
