"""The span tree of a workflow with a child and activities: one trace, in one process and over
NATS (engine, activity worker and client apart, the context crossing only in headers)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from aion_core import Client, Engine, MemoryEventStore, Worker
from aion_transport_nats.streams import StreamNames
from opentelemetry.trace import SpanKind, StatusCode

from .flows import ACTIVITIES, EXPECTED_TREE, WORKFLOWS, Order, Traces, order_something

STORE_AND_TRANSPORT = {"AION_PLUGINS": "sqlite,nats"}


async def test_one_trace_from_the_client_to_the_last_activity_in_one_engine() -> None:
    traces = Traces()
    async with Engine(
        "memory://", workflows=WORKFLOWS, activities=ACTIVITIES, plugins=traces.plugins()
    ) as engine:
        assert await order_something(engine, traces, "order-1") == "7 shipped book gift"
    assert traces.tree() == EXPECTED_TREE
    spans = traces.spans()
    assert len({span.context.trace_id for span in spans}) == 1
    by_name = {span.name: span for span in spans}
    run = by_name["RunWorkflow:otel.Order"]
    assert run.kind == SpanKind.SERVER
    assert run.attributes == {
        "aion.workflow_id": "order-1",
        "aion.run_id": (await_run := run.attributes["aion.run_id"]),  # type: ignore[index]
        "aion.workflow_type": "otel.Order",
        "aion.replaying": False,
    }
    assert isinstance(await_run, str)
    assert by_name["StartWorkflow:otel.Order"].kind == SpanKind.CLIENT
    failed = [span for span in spans if span.status.status_code == StatusCode.ERROR]
    assert [span.name for span in failed] == ["RunActivity:otel.charge"]
    assert failed[0].events[0].name == "exception"


async def test_one_trace_across_an_engine_a_worker_and_a_client_over_nats(
    nats_url: str, drop_nats_namespace: Any, tmp_path: Path
) -> None:
    names = StreamNames(f"otel{uuid.uuid4().hex[:10]}")
    url = f"{nats_url}?namespace={names.namespace}"
    traces = Traces()
    try:
        # Each party its own plugin object: the trace context crosses the wire in headers only.
        async with (
            Engine(
                f"sqlite:///{tmp_path / 'aion.db'}",
                transport=url,
                workflows=WORKFLOWS,
                plugins=traces.plugins(STORE_AND_TRANSPORT),
            ),
            Worker(url, activities=ACTIVITIES, plugins=traces.plugins(STORE_AND_TRANSPORT)),
            await Client.connect(
                url, workflows=WORKFLOWS, plugins=traces.plugins(STORE_AND_TRANSPORT)
            ) as client,
        ):
            assert await order_something(client, traces, "order-nats") == "7 shipped book gift"
    finally:
        await drop_nats_namespace(nats_url, names)
    assert traces.tree() == EXPECTED_TREE
    assert len({span.context.trace_id for span in traces.spans()}) == 1


async def test_a_run_rebuilt_after_a_restart_stays_in_the_trace_of_its_start() -> None:
    traces = Traces()
    store = MemoryEventStore()
    options: dict[str, Any] = {"workflows": WORKFLOWS, "activities": ACTIVITIES}
    with traces.tracer().start_as_current_span("test"):
        async with Engine(store, plugins=traces.plugins(), **options) as engine:
            await engine.start_workflow(Order.run, 7, id="order-2")
        async with Engine(store, plugins=traces.plugins(), **options) as engine:
            handle = engine.get_handle("order-2")
            await handle.signal(Order.approve)
            await handle.execute_update(Order.annotate, "late")
            assert await handle.result() == "7 shipped book late"
    runs = [span for span in traces.spans() if span.name == "RunWorkflow:otel.Order"]
    # The first engine's run span ends as the engine stops; the second is the rebuilt run.
    assert [run.attributes["aion.replaying"] for run in runs] == [False, True]  # type: ignore[index]
    start = next(span for span in traces.spans() if span.name == "StartWorkflow:otel.Order")
    assert {run.parent.span_id for run in runs if run.parent} == {start.context.span_id}
    rebuilt = runs[1].context.span_id
    charges = [span for span in traces.spans() if span.name == "RunActivity:otel.charge"]
    assert {span.parent.span_id for span in charges if span.parent} == {rebuilt}
    assert len({span.context.trace_id for span in traces.spans()}) == 1
