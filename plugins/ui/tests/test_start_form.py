"""Starting a workflow from the list's form: by type name, on a real engine (``aion serve``).

A start is a POST with the session's CSRF token; it redirects to the new
workflow's page. A form that does not parse, a type the engines do not run,
input that does not fit, an id already running: each is a message on the list
with the form as it was filled in, and nothing is started.
"""

from __future__ import annotations

import html
from dataclasses import replace

import httpx
import pytest
from aion_core import Client
from aion_core.errors import WorkflowNotFoundError
from tests.deployment import Deployment

from .conftest import async_console, csrf_of, live_settings, unique, until


async def post_start(http: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await http.get("/workflows")
    data = {"csrf_token": csrf_of(page.text), "task_queue": "default", **fields}
    return await http.post("/workflows", data=data)


async def never_started(client: Client, workflow_id: str) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await client.describe(workflow_id)


async def test_a_workflow_started_from_the_form_runs_and_its_page_says_so(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = unique("approval")
    async with async_console(live_settings(deployment)) as http:
        list_page = await http.get("/workflows")
        started = await post_start(
            http, workflow_type="Approval", workflow_id=workflow_id, input="7"
        )
        assert started.status_code == 303
        assert started.headers["location"] == f"/workflows/{workflow_id}"
        shown = await http.get(started.headers["location"])
    assert 'action="/workflows" class="start"' in list_page.text  # the form is on the list
    assert f"started Approval as {workflow_id}" in shown.text
    record = await client.describe(workflow_id)
    assert (record.workflow_type, record.task_queue) == ("Approval", "default")

    async def waiting() -> bool:
        return bool(await client.query(workflow_id, "stage") == "waiting")

    await until(waiting, f"{workflow_id} waiting for approval")
    await client.signal(workflow_id, "approve", "ada")
    assert await client.result(workflow_id) == "ada:14"  # the input reached the run method


async def test_a_blank_id_is_generated_and_an_array_is_the_argument_list(
    deployment: Deployment, client: Client
) -> None:
    async with async_console(live_settings(deployment)) as http:
        started = await post_start(
            http, workflow_type=" Ticker ", workflow_id=" ", input="[2, 0.1]", task_queue="side"
        )
    assert started.status_code == 303
    workflow_id = started.headers["location"].removeprefix("/workflows/")
    assert workflow_id.strip()
    record = await client.describe(workflow_id)
    assert (record.workflow_type, record.task_queue) == ("Ticker", "side")
    assert await client.result(workflow_id) == 2  # ticks=2, every=0.1


REFUSALS = {
    "not JSON": (
        {"workflow_type": "Approval", "input": "{7"},
        "The input is not valid", "input is not valid JSON: ",
    ),
    "no type": (
        {"workflow_type": " ", "input": "7"},
        "The input is not valid", "name the workflow type to start; nothing was started",
    ),
    "a type the engines do not run": (
        {"workflow_type": "Nobody"},
        "The workflow cannot start", "workflow type 'Nobody' is not registered with this engine",
    ),
    "input that does not fit": (
        {"workflow_type": "Approval", "input": '"seven"'},
        "The input does not fit", "workflow 'Approval' argument 1 is not a valid int",
    ),
}  # fmt: skip


@pytest.mark.parametrize("refusal", sorted(REFUSALS))
async def test_a_start_that_cannot_be_done_is_a_message_on_the_list_and_nothing_starts(
    refusal: str, deployment: Deployment, client: Client
) -> None:
    fields, title, message = REFUSALS[refusal]
    workflow_id = unique("refused")
    async with async_console(live_settings(deployment)) as http:
        refused = await post_start(http, workflow_id=workflow_id, **fields)
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    assert f"<b>{title}:</b> {message}" in text
    assert "Traceback" not in text
    # The list again, the form open and as it was filled in.
    assert '<details class="start" id="start" open>' in text
    assert f'name="workflow_id" value="{workflow_id}"' in text
    assert f">{fields.get('input', '')}</textarea>" in text
    assert 'id="rows"' in text
    await never_started(client, workflow_id)


async def test_an_id_already_running_is_refused_and_the_running_one_is_untouched(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = unique("approval")
    await client.start_workflow("Approval", 1, id=workflow_id)
    before = await client.describe(workflow_id)
    async with async_console(live_settings(deployment)) as http:
        refused = await post_start(
            http, workflow_type="Approval", workflow_id=workflow_id, input="2"
        )
    assert refused.status_code == 409
    assert "Already started" in refused.text
    assert f"workflow &#39;{workflow_id}&#39; already started" in refused.text
    after = await client.describe(workflow_id)
    assert after.run_id == before.run_id
    kinds = [e.type for e in await client.history(workflow_id)]
    assert kinds.count("WorkflowStarted") == 1


async def test_a_start_without_the_csrf_token_is_refused_and_nothing_starts(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = unique("approval")
    async with async_console(live_settings(deployment)) as http:
        await http.get("/workflows")  # a session, but the form lacks its token
        for token in ({}, {"csrf_token": "forged"}):
            data = {"workflow_type": "Approval", "workflow_id": workflow_id, **token}
            refused = await http.post("/workflows", data=data)
            assert refused.status_code == 403
            assert "nothing was done" in refused.text
    await never_started(client, workflow_id)


async def test_without_engines_a_start_says_the_transport_is_out_of_reach(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = unique("approval")
    inproc = replace(live_settings(deployment), transport="inproc://")
    async with async_console(inproc) as http:
        refused = await post_start(http, workflow_type="Approval", workflow_id=workflow_id)
    assert refused.status_code == 503
    assert "only reaches an engine inside this process" in refused.text
    assert f'value="{workflow_id}"' in refused.text  # the form as it was filled in
    await never_started(client, workflow_id)
