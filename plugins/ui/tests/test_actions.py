"""Actions from the detail page reach a real engine (``aion serve`` over NATS) and are recorded.

Every action is a POST with the session's CSRF token; a refused one (bad JSON,
a closed workflow, no token) shows why and records nothing.
"""

from __future__ import annotations

import html

import httpx
from aion_core import Client
from tests.deployment import Deployment

from .conftest import async_console, csrf_of, live_settings, unique, until


async def started_approval(client: Client, n: int = 5) -> str:
    """An `Approval` waiting for its signal."""
    workflow_id = unique("approval")
    await client.start_workflow("Approval", n, id=workflow_id)

    async def waiting() -> bool:
        return bool(await client.query(workflow_id, "stage") == "waiting")

    await until(waiting, f"{workflow_id} waiting for approval")
    return workflow_id


async def post_action(
    http: httpx.AsyncClient, workflow_id: str, action: str, **fields: str
) -> httpx.Response:
    page = await http.get(f"/workflows/{workflow_id}")
    data = {"csrf_token": csrf_of(page.text), "action": action, **fields}
    return await http.post(f"/workflows/{workflow_id}", data=data)


async def last_seq(client: Client, workflow_id: str) -> int:
    return (await client.describe(workflow_id)).last_seq


async def test_a_signal_sent_from_the_page_is_recorded(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = await started_approval(client, 5)
    async with async_console(live_settings(deployment)) as http:
        sent = await post_action(http, workflow_id, "signal", name="approve", input='"ada"')
        assert sent.status_code == 303
        assert sent.headers["location"] == f"/workflows/{workflow_id}"
        shown = await http.get(sent.headers["location"])
        assert "signal approve recorded" in shown.text
        again = await http.get(f"/workflows/{workflow_id}")
        assert "signal approve recorded" not in again.text  # said once
    assert await client.result(workflow_id) == "ada:10"
    history = await client.history(workflow_id)
    received = [e for e in history if e.type == "SignalReceived"]
    assert len(received) == 1


async def test_a_query_answer_is_shown_on_the_page_and_nothing_is_recorded(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = await started_approval(client)
    before = await last_seq(client, workflow_id)
    async with async_console(live_settings(deployment)) as http:
        answered = await post_action(http, workflow_id, "query", name="stage")
    assert answered.status_code == 200
    answer = html.unescape(answered.text)
    assert "query stage answered" in answer
    assert '<pre class="payload">"waiting"</pre>' in answer
    assert await last_seq(client, workflow_id) == before


async def test_an_update_runs_and_its_value_is_shown(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = await started_approval(client)
    async with async_console(live_settings(deployment)) as http:
        first = await post_action(http, workflow_id, "update", name="add_note", input='"one"')
        second = await post_action(http, workflow_id, "update", name="add_note", input='["two"]')
    assert first.status_code == second.status_code == 200
    assert "update add_note done" in first.text
    assert '<pre class="payload">1</pre>' in first.text
    assert '<pre class="payload">2</pre>' in second.text
    kinds = [e.type for e in await client.history(workflow_id)]
    assert kinds.count("UpdateCompleted") == 2


async def test_cancel_terminate_pause_and_resume_from_the_page(
    deployment: Deployment, client: Client
) -> None:
    cancelled, terminated, paused = [await started_approval(client) for _ in range(3)]
    async with async_console(live_settings(deployment)) as http:
        for workflow_id, action, reason in [
            (cancelled, "cancel", "not needed"),
            (terminated, "terminate", "runaway"),
            (paused, "pause", ""),
        ]:
            done = await post_action(http, workflow_id, action, reason=reason)
            assert done.status_code == 303
        assert (await client.describe(paused)).status == "paused"
        assert (await post_action(http, paused, "resume")).status_code == 303
        assert (await client.describe(paused)).status == "running"

        async def cancelled_now() -> bool:
            return (await client.describe(cancelled)).status == "cancelled"

        await until(cancelled_now, f"{cancelled} cancelled")
        page = await http.get(f"/workflows/{cancelled}")
    assert '<span class="status s-cancelled">cancelled</span>' in page.text
    requested = [e for e in await client.history(cancelled) if e.type == "WorkflowCancelRequested"]
    assert [e.body.reason for e in requested] == ["not needed"]  # type: ignore[union-attr]
    assert (await client.describe(terminated)).status == "terminated"


async def test_reopen_revives_a_failed_workflow(deployment: Deployment, client: Client) -> None:
    workflow_id = unique("doomed")
    await client.start_workflow("Doomed", "tea", id=workflow_id)

    async def failed() -> bool:
        return (await client.describe(workflow_id)).status == "failed"

    await until(failed, f"{workflow_id} failing")
    async with async_console(live_settings(deployment)) as http:
        reopened = await post_action(http, workflow_id, "reopen", reason="fixed the kettle")
    assert reopened.status_code == 303
    kinds = [e.type for e in await client.history(workflow_id)]
    assert "WorkflowReopened" in kinds


async def test_malformed_json_is_a_message_and_nothing_is_recorded(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = await started_approval(client)
    before = await last_seq(client, workflow_id)
    async with async_console(live_settings(deployment)) as http:
        bad = await post_action(http, workflow_id, "signal", name="approve", input="{ada")
        wrong_type = await post_action(http, workflow_id, "signal", name="approve", input="[1, 2]")
        no_name = await post_action(http, workflow_id, "signal", name=" ", input='"ada"')
    assert bad.status_code == 400
    assert "input is not valid JSON" in bad.text
    assert "nothing was sent" in bad.text
    assert "{ada</textarea>" in bad.text  # the form keeps what was typed
    assert wrong_type.status_code == 400
    assert no_name.status_code == 400
    assert "name the signal to send" in no_name.text
    for response in (bad, wrong_type, no_name):
        assert "Traceback" not in response.text
    assert await last_seq(client, workflow_id) == before


async def test_actions_on_unknown_or_closed_workflows_are_refused(
    deployment: Deployment, client: Client
) -> None:
    closed = unique("leaf")
    await client.execute_workflow("Leaf", "x", id=closed)
    before = await last_seq(client, closed)
    async with async_console(live_settings(deployment)) as http:
        page = await http.get(f"/workflows/{closed}")
        csrf = csrf_of(page.text)
        unknown = await http.post(
            "/workflows/nobody-here",
            data={"csrf_token": csrf, "action": "signal", "name": "approve", "input": '"x"'},
        )
        to_closed = await post_action(http, closed, "signal", name="approve", input='"x"')
        not_an_action = await post_action(http, closed, "explode")
    assert unknown.status_code == 404
    assert "No such workflow" in unknown.text
    assert to_closed.status_code == 409
    assert not_an_action.status_code == 400
    assert await last_seq(client, closed) == before


async def test_a_post_without_the_csrf_token_is_refused_and_records_nothing(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = await started_approval(client)
    before = await last_seq(client, workflow_id)
    async with async_console(live_settings(deployment)) as http:
        await http.get(f"/workflows/{workflow_id}")  # a session, but the form lacks its token
        for data in (
            {"action": "terminate"},
            {"action": "terminate", "csrf_token": "forged"},
        ):
            refused = await http.post(f"/workflows/{workflow_id}", data=data)
            assert refused.status_code == 403
            assert "nothing was done" in refused.text
    assert await last_seq(client, workflow_id) == before
    assert (await client.describe(workflow_id)).status == "running"


async def test_without_engines_actions_say_the_transport_is_out_of_reach(
    deployment: Deployment, client: Client
) -> None:
    workflow_id = await started_approval(client)
    settings = live_settings(deployment)
    inproc = type(settings)(store=settings.store, transport="inproc://")
    async with async_console(inproc) as http:
        response = await post_action(http, workflow_id, "cancel")
    assert response.status_code == 503
    assert "only reaches an engine inside this process" in response.text
    assert (await client.describe(workflow_id)).status == "running"
