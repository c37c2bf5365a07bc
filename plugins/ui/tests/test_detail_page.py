"""A workflow's detail page: summary, outcome, timeline with payloads, pending work, children."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

from aion_core import Engine

from aion_plugin_ui import UiSettings
from aion_plugin_ui.pages import workflow_url

from . import ui_flows
from .conftest import Populated, console, sqlite_plugins


def section(page: str, element_id: str) -> str:
    """The element with `element_id`, up to the end of its block (a table or a div)."""
    start = page.index(f'id="{element_id}"')
    ends = [page.find(end, start) for end in ("</table>", "</div>")]
    return page[start : min(end for end in ends if end != -1)]


def test_the_summary_and_the_timeline_of_a_completed_workflow(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        page = http.get("/workflows/family").text
    assert '<span class="status s-completed">completed</span>' in page
    assert "<th>Type</th><td>Family</td>" in page
    outcome = section(page, "outcome")
    assert "Completed" in outcome
    assert '[\n  "family-1-leaf",\n  "family-2-leaf"\n]' in html.unescape(outcome)  # indented
    seqs = [int(seq) for seq in re.findall(r'<tr class="event [^"]+" data-seq="(\d+)"', page)]
    assert seqs == list(range(1, seqs[-1] + 1))
    assert "ChildWorkflowStarted" in page
    # Payloads expand: the input of the start, and each child's result.
    assert '<div class="payload-label">input[0]</div>' in page
    assert '<pre class="payload">"family"</pre>' in html.unescape(page)


def test_children_are_shown_as_a_tree_with_their_status_now(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        page = http.get("/workflows/family").text
    tree = page[page.index('id="children"') :]
    tree = tree[: tree.index("</div>")]
    links = re.findall(r'<a href="/workflows/([^"]+)">', tree)
    assert links == ["family-1", "family-1-leaf", "family-2", "family-2-leaf"]
    # Each branch's list holds its leaf: nested one level deeper.
    assert tree.count('<ul class="tree">') == 3
    assert tree.count("s-completed") == 4


def test_pending_activities_show_attempts_and_the_last_failure(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        page = http.get("/workflows/stubborn").text
    pending = section(page, "pending-activities")
    assert "unreliable" in pending
    attempt = re.search(r'<td class="num">(\d+)</td>\s*<td>', pending.split("st-")[1])
    assert attempt is not None
    assert int(attempt.group(1)) >= 1
    assert "Unavailable: the printer is down" in pending
    assert "Last error" in page  # open, so no outcome: the last failure instead


def test_pending_timers_are_listed(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        page = http.get("/workflows/sleeper").text
    timers = section(page, "pending-timers")
    assert '<td class="num">1</td>' in timers
    assert "TimerStarted" in page


def test_a_failed_workflow_shows_its_failure_and_stack_trace(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        page = http.get("/workflows/doomed").text
    assert '<span class="status s-failed">failed</span>' in page
    outcome = section(page, "outcome")
    assert "Failed" in outcome
    assert "no coffee" in outcome
    assert "ActivityFailed" in page


def test_search_attributes_and_the_parent_link_are_shown(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        approval = http.get("/workflows/approval").text
        leaf = http.get("/workflows/family-1-leaf").text
    region = '<th>Search <code>region</code></th><td><code>"eu"</code></td>'
    assert region in html.unescape(approval)
    assert "<th>Search <code>tier</code></th><td><code>3</code></td>" in approval
    assert '<tr><th>Parent</th><td><a href="/workflows/family-1">family-1</a>' in leaf


def test_an_unknown_workflow_is_a_404_page(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        page = http.get("/workflows/no-such-workflow")
        nowhere = http.get("/no/such/page")
    assert page.status_code == 404
    assert "No such workflow" in page.text
    assert "no-such-workflow" in page.text
    assert "Traceback" not in page.text
    assert nowhere.status_code == 404
    assert "Not found" in nowhere.text


async def record_odd_ids(url: str) -> None:
    async with Engine(url, workflows=[ui_flows.Leaf], plugins=sqlite_plugins()) as engine:
        for workflow_id in ODD_IDS:
            await engine.execute_workflow(ui_flows.Leaf.run, workflow_id, id=workflow_id)


ODD_IDS = ["orders/2026 #7?x=1&y=%41", "<b>bold</b>"]


def test_ids_with_any_character_have_a_page(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'aion.db'}"
    asyncio.run(record_odd_ids(url))
    with console(UiSettings(store=url)) as http:
        listing = http.get("/workflows").text
        pages = {workflow_id: http.get(workflow_url(workflow_id)) for workflow_id in ODD_IDS}
    for workflow_id, page in pages.items():
        assert page.status_code == 200, workflow_id
        assert f'href="{html.escape(workflow_url(workflow_id))}"' in listing
        title = f'<span class="id">{html.escape(workflow_id)}</span>'
        assert title in page.text
    assert "<b>bold</b>" not in listing  # data, never markup
