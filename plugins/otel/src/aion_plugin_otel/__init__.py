"""OpenTelemetry tracing for aion: one trace from a client's start to the last activity.

Installing the distribution registers the ``otel`` plugin (entry point group
``aion``). It records spans through the OpenTelemetry API, on the tracer
provider the application configures (``opentelemetry.trace.set_tracer_provider``),
and carries the trace context in aion's headers: from a client to the
workflow, from the workflow to its activities, children and signals, across
processes and the NATS transport::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    trace.set_tracer_provider(TracerProvider())  # plus an exporter of your choice

A plugin object with a provider of its own: ``OtelPlugin(tracer_provider=provider)``.
"""

from aion_plugin_otel.interceptors import (
    TracingActivityInterceptor,
    TracingClientInterceptor,
    TracingWorkflowInterceptor,
)
from aion_plugin_otel.plugin import OtelPlugin, otel_plugin

__all__ = [
    "OtelPlugin",
    "TracingActivityInterceptor",
    "TracingClientInterceptor",
    "TracingWorkflowInterceptor",
    "otel_plugin",
]
