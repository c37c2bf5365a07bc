"""The replay page: a stored history against the code of --module, first mismatch side by side."""

from __future__ import annotations

import html

import click
import pytest

from aion_plugin_ui import UiSettings, create_app

from .conftest import TESTS, Populated, console


@pytest.mark.usefixtures("replay_modules")
def test_code_that_reproduces_the_history_says_so(populated: Populated) -> None:
    with console(UiSettings(store=populated.url, replay_modules=("ui_flows",))) as http:
        page = http.get("/replay", params={"workflow_id": "family"})
    assert page.status_code == 200
    assert "The current code reproduces" in page.text
    assert "(Approval, Branch, Doomed, Family, Leaf, Stubborn, Ticker)" in page.text


@pytest.mark.usefixtures("replay_modules")
def test_changed_code_shows_the_first_mismatch_side_by_side(populated: Populated) -> None:
    with console(UiSettings(store=populated.url, replay_modules=("ui_flows_changed",))) as http:
        page = http.get("/replay", params={"workflow_id": "approval"})
    text = html.unescape(page.text)
    assert page.status_code == 200
    assert "does not reproduce" in text
    mismatch = text[text.index('<tr class="mismatch">') :]
    mismatch = mismatch[: mismatch.index("</tr>")]
    # Recorded: the first activity was `prepare`; the code now schedules `double_check`.
    assert "ActivityScheduled: activity #1 prepare(21)" in mismatch
    assert "double_check" in mismatch
    assert '<td class="code"><code>✓ the same</code></td>' in text  # WorkflowStarted matched
    # The source line names the file under its import root, not this machine's folders.
    assert "event 2, at <code>ui_flows_changed.py:" in text
    assert str(TESTS) not in text


def test_without_modules_the_page_says_how_to_load_code(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        page = http.get("/replay", params={"workflow_id": "approval"})
    assert page.status_code == 200
    assert "aion ui --module MODULE" in page.text


@pytest.mark.usefixtures("replay_modules")
def test_replaying_an_unknown_workflow_is_a_404(populated: Populated) -> None:
    with console(UiSettings(store=populated.url, replay_modules=("ui_flows",))) as http:
        page = http.get("/replay", params={"workflow_id": "nobody"})
    assert page.status_code == 404
    assert "No such workflow" in page.text


def test_a_module_that_cannot_be_imported_is_refused_at_start() -> None:
    with pytest.raises(click.BadParameter, match="cannot import 'no_such_module_here'"):
        create_app(UiSettings(replay_modules=("no_such_module_here",)))
