"""The workflow list: rows, counts by status, filters, paging, and bad filters as messages."""

from __future__ import annotations

import re

from aion_plugin_ui import UiSettings

from .conftest import LEAVES_AFTER, LEAVES_BEFORE, Populated, console


def ids_on(page: str) -> list[str]:
    return re.findall(r'<tr data-workflow-id="([^"]+)"', page)


def count_of(page: str, status: str) -> int:
    found = re.search(rf'data-status="{status}"[^>]*>[^<]*<b>(\d+)</b>', page)
    assert found is not None, status
    return int(found.group(1))


def test_the_list_shows_the_newest_first_with_counts_by_status(populated: Populated) -> None:
    with console(UiSettings(store=populated.url, page_size=100)) as http:
        page = http.get("/workflows")
    assert page.status_code == 200
    shown = ids_on(page.text)
    assert shown[0] == "stubborn"  # started last
    assert shown.index("leaf-29") < shown.index("leaf-00")
    assert {"family", "family-1", "family-1-leaf", "doomed", "approval", "sleeper"} <= set(shown)
    leaves = LEAVES_BEFORE + LEAVES_AFTER
    # 30 leaves and the family (itself, 2 branches, 2 leaves) completed; the rest as left.
    assert count_of(page.text, "completed") == leaves + 5
    assert count_of(page.text, "failed") == 1
    assert count_of(page.text, "running") == 3  # approval, sleeper, stubborn
    assert count_of(page.text, "cancelled") == 1
    assert count_of(page.text, "terminated") == 1
    assert count_of(page.text, "paused") == 0


def test_the_list_filters_by_status(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        running = ids_on(http.get("/workflows", params={"status": "running"}).text)
        closed = ids_on(http.get("/workflows", params={"status": "closed", "size": 200}).text)
        several = http.get("/workflows", params=[("status", "failed"), ("status", "cancelled")])
    assert sorted(running) == ["approval", "sleeper", "stubborn"]
    assert not {"approval", "sleeper", "stubborn"} & set(closed)
    assert sorted(ids_on(several.text)) == ["approval-cancelled", "doomed"]


def test_the_list_filters_by_type_start_time_and_search_attributes(populated: Populated) -> None:
    middle = populated.middle.strftime("%Y-%m-%dT%H:%M:%S")
    with console(UiSettings(store=populated.url, page_size=100)) as http:
        branches = ids_on(http.get("/workflows", params={"workflow_type": "Branch"}).text)
        before = ids_on(
            http.get("/workflows", params={"workflow_type": "Leaf", "started_before": middle}).text
        )
        after = http.get("/workflows", params={"workflow_type": "Leaf", "started_after": middle})
        eu = ids_on(http.get("/workflows", params={"search": "region=eu"}).text)
        tiered = ids_on(http.get("/workflows", params={"search": "region=eu, tier=3"}).text)
        untyped = ids_on(http.get("/workflows", params={"search": 'tier="3"'}).text)
    assert sorted(branches) == ["family-1", "family-2"]
    assert sorted(before) == populated.leaves[:LEAVES_BEFORE]
    family_leaves = ["family-1-leaf", "family-2-leaf"]  # Leaf too, started by the family
    assert sorted(ids_on(after.text)) == sorted([*populated.leaves[LEAVES_BEFORE:], *family_leaves])
    # The filters stay in the form, and the counts honour them.
    assert f'value="{middle}"' in after.text
    counted = 'data-status="completed" href="/workflows?status=completed&amp;workflow_type=Leaf'
    assert counted in after.text
    assert sorted(eu) == sorted(["approval", *populated.leaves[::2]])
    assert tiered == ["approval"]  # 3 matches the number 3 only, as on the command line
    assert untyped == []


def test_the_list_pages_through_the_matches(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        pages = [
            http.get("/workflows", params={"workflow_type": "Leaf", "size": 8, "page": n})
            for n in (1, 2, 3, 4)
        ]
    rows = [ids_on(page.text) for page in pages]
    # 30 leaves, then the family's two (started last, so shown first).
    assert [len(r) for r in rows] == [8, 8, 8, 8]
    newest_first = ["family-2-leaf", "family-1-leaf", *reversed(populated.leaves)]
    assert [leaf for r in rows for leaf in r] == newest_first
    assert "1\N{EN DASH}8 of 32" in pages[0].text
    assert 'rel="next" href="/workflows?workflow_type=Leaf&amp;page=2&amp;size=8"' in pages[0].text
    assert 'rel="prev"' not in pages[0].text
    assert "25\N{EN DASH}32 of 32" in pages[3].text
    assert 'rel="next"' not in pages[3].text


def test_a_filter_that_does_not_parse_is_a_message_on_the_page(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        bad_time = http.get("/workflows", params={"started_after": "yesterday"})
        bad_search = http.get("/workflows", params={"search": "region"})
        bad_status = http.get("/workflows", params={"status": "sleepy"})
        bad_page = http.get("/workflows", params={"page": "-1"})
    for response, words in [
        (bad_time, "&#39;yesterday&#39; is not a time"),
        (bad_search, "is not KEY=VALUE"),
        (bad_status, "unknown status &#39;sleepy&#39;"),
        (bad_page, "page must be between 1"),
    ]:
        assert response.status_code == 400
        assert words in response.text
        assert "Traceback" not in response.text


def test_a_store_out_of_reach_is_a_message_not_a_traceback(tmp_path: object) -> None:
    with console(UiSettings(store=f"sqlite:///{tmp_path}/nowhere.db")) as http:
        listing = http.get("/workflows")
        detail = http.get("/workflows/anything")
    for response in (listing, detail):
        assert response.status_code == 503
        assert "nowhere.db does not exist" in response.text
        assert "Traceback" not in response.text
