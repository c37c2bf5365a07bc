"""Live pages: the server polls the store and pushes changes as server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
from aion_core import Client
from tests.deployment import Deployment

from .conftest import WAIT, async_console, live_settings, unique


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, object]]]:
    """The (event, data) pairs of a server-sent event stream."""
    name = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


async def test_new_events_of_a_running_workflow_are_pushed_to_its_page(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = unique("ticker")
    await client.start_workflow("Ticker", 3, 0.5, id=workflow_id)
    shown = (await client.describe(workflow_id)).last_seq
    pushed: list[dict[str, object]] = []
    async with async_console(live_settings(deployment)) as http:
        url = f"/live/workflows/{workflow_id}?after={shown}"
        async with asyncio.timeout(WAIT), http.stream("GET", url) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for name, data in sse_events(response):
                assert name == "history", data
                pushed.append(data)
                if data["status"] == "completed":
                    break
    rows = "".join(str(data["rows"]) for data in pushed)
    assert rows.count("TimerFired") == 3
    assert 'data-seq="' + str(shown) + '"' not in rows  # only what the page does not show yet
    seqs = [int(data["last_seq"]) for data in pushed]  # type: ignore[call-overload]
    assert seqs == sorted(seqs)
    assert seqs[0] > shown
    assert "s-completed" in str(pushed[-1]["summary"])


async def test_the_list_page_is_told_when_a_matching_workflow_appears(
    deployment: Deployment, client: Client
) -> None:
    batch = unique("batch")
    workflow_id = unique("leaf")
    seen_empty = False
    async with async_console(live_settings(deployment)) as http:
        url = f"/live/list?search=batch%3D{batch}"
        async with asyncio.timeout(WAIT), http.stream("GET", url) as response:
            async for name, data in sse_events(response):
                assert name == "listing", data
                if "No workflow matches" in str(data["rows"]):
                    seen_empty = True
                    await client.start_workflow(
                        "Leaf", "x", id=workflow_id, search_attributes={"batch": batch}
                    )
                elif workflow_id in str(data["rows"]):
                    break
    assert seen_empty
    assert "1\N{EN DASH}1 of 1" in str(data["paging"])


async def test_a_feed_needs_what_the_pages_need(deployment: Deployment) -> None:
    settings = live_settings(deployment)
    async with async_console(settings) as http:
        bad = await http.get("/live/list?status=sleepy")
        bad_after = await http.get("/live/workflows/x?after=soon")
    assert bad.status_code == bad_after.status_code == 400
