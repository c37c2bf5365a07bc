"""Trace context in aion headers, through the propagator the application configured.

`opentelemetry.propagate` uses W3C Trace Context and Baggage unless
``OTEL_PROPAGATORS`` (or ``set_global_textmap``) says otherwise, so aion's
headers interoperate with whatever else the application traces.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import propagate
from opentelemetry.context import Context

__all__ = ["context_from", "with_current_context"]


def with_current_context(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` with the current trace context added (unchanged without one)."""
    carrier = dict(headers)
    propagate.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, str]) -> Context:
    """The trace context `headers` carry (an empty context when they carry none)."""
    return propagate.extract(headers)
