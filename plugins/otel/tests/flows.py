"""The workflows and activities the tracing tests run, and how they read the spans."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from aion_core import Client, Engine, RetryPolicy, activity, load_plugins, workflow
from aion_core.plugins import Plugins
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aion_plugin_otel import OtelPlugin

QUICK_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=20))


@activity.defn(name="otel.charge")
async def charge(amount: int) -> int:
    if activity.info().attempt == 1:
        raise RuntimeError("card reader busy")  # the first attempt fails: a span marked failed
    return amount


@activity.defn(name="otel.ship")
async def ship(item: str) -> str:
    return f"shipped {item}"


@workflow.defn(name="otel.Shipping")
class Shipping:
    @workflow.run
    async def run(self, item: str) -> str:
        result: str = await workflow.execute_activity(ship, item)
        return result


@workflow.defn(name="otel.Order")
class Order:
    def __init__(self) -> None:
        self.approved = False
        self.note = ""

    @workflow.run
    async def run(self, amount: int) -> str:
        await workflow.wait_condition(lambda: self.approved)
        charged = await workflow.execute_activity(charge, amount, retry_policy=QUICK_RETRY)
        shipped = await workflow.execute_child_workflow(
            Shipping.run, "book", id=f"{workflow.info().workflow_id}/shipping"
        )
        return f"{charged} {shipped} {self.note}"

    @workflow.signal
    def approve(self) -> None:
        self.approved = True

    @workflow.query
    def status(self) -> str:
        return "approved" if self.approved else "waiting"

    @workflow.update
    async def annotate(self, note: str) -> str:
        self.note = note
        return note


WORKFLOWS = [Order, Shipping]
ACTIVITIES = [charge, ship]

# What a client does to an order, each inside the test's own span, and the tree it makes.
EXPECTED_TREE = [
    "test",
    "  QueryWorkflow:status",
    "    HandleQuery:status",
    "  SignalWorkflow:approve",
    "    HandleSignal:approve",
    "  StartWorkflow:otel.Order",
    "    RunWorkflow:otel.Order",
    "      RunActivity:otel.charge (attempt 1, failed)",
    "      RunActivity:otel.charge (attempt 2)",
    "      RunWorkflow:otel.Shipping",
    "        RunActivity:otel.ship (attempt 1)",
    "  UpdateWorkflow:annotate",
    "    HandleUpdate:annotate",
]


class Traces:
    """A tracer provider whose spans are kept in memory, and plugin sets tracing to it."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def plugins(self, env: dict[str, str] | None = None) -> Plugins:
        """Installed plugins (as `env` selects) plus a tracing plugin of this provider."""
        plugins = load_plugins(env)
        plugins.register(OtelPlugin(tracer_provider=self.provider), "otel-under-test")
        return plugins

    def tracer(self) -> trace.Tracer:
        return self.provider.get_tracer("tests")

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def tree(self) -> list[str]:
        """The finished spans as an indented tree, children sorted by how they print."""
        spans = self.spans()
        ids = {span.context.span_id for span in spans}
        children: dict[int | None, list[ReadableSpan]] = {}
        for span in spans:
            parent = span.parent.span_id if span.parent is not None else None
            children.setdefault(parent if parent in ids else None, []).append(span)

        def lines(parent: int | None, depth: int) -> Iterator[str]:
            for span in sorted(children.get(parent, []), key=describe):
                yield "  " * depth + describe(span)
                yield from lines(span.context.span_id, depth + 1)

        return list(lines(None, 0))


def describe(span: ReadableSpan) -> str:
    """The span's name, with the attempt and failure of an activity span."""
    attributes = span.attributes or {}
    if not span.name.startswith("RunActivity:"):
        return span.name
    failed = ", failed" if span.status.status_code == trace.StatusCode.ERROR else ""
    return f"{span.name} (attempt {attributes['aion.attempt']}{failed})"


async def order_something(operations: Engine | Client, traces: Traces, order_id: str) -> str:
    """Start an order, query it, approve it, annotate it and wait for it, in one test span."""
    with traces.tracer().start_as_current_span("test"):
        handle = await operations.start_workflow(Order.run, 7, id=order_id)
        assert await handle.query(Order.status) == "waiting"
        await handle.signal(Order.approve)
        assert await handle.execute_update(Order.annotate, "gift") == "gift"
        result: str = await handle.result()
    return result
