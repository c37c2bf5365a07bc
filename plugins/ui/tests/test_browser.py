"""The console in a real browser: headless Chromium (Debian's) driven by Playwright.

A real deployment: ``aion serve`` and ``aion worker`` on a SQLite file and
NATS, and ``aion ui`` as a process of its own. The scenario starts a workflow
from the list's form, watches it progress live, signals, queries and cancels it
from its page, filters the list, and takes the screenshots the docs show.

Screenshots go to the folder ``AION_UI_SCREENSHOTS`` names, else to the test's
temporary folder; the checked-in ones (docs/ui-*.png) are refreshed with
``AION_UI_SCREENSHOTS=docs``. They must show no path of the machine that took
them: ``aion ui`` runs in the deployment's folder with a relative store URL.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aion_cli.schedules import create_schedule, signal_schedule
from aion_core import Client
from playwright.sync_api import Dialog, Page, expect, sync_playwright
from tests.deployment import AionProcess, Deployment

from .conftest import ROOT, WAIT, engines, importable_flows

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = "AION_UI_SCREENSHOTS"
"""Names the folder the screenshots go to (``docs`` refreshes the checked-in ones)."""
RELATIVE_STORE = "sqlite:///aion.db"
"""The engine's store, as `aion ui` names it from the deployment's folder: the header shows it."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WAIT_MS = WAIT * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_ui(deployment: Deployment) -> tuple[AionProcess, str]:
    """``aion ui`` on the deployment's store and transport, serving; its process and URL.

    It runs in the deployment's folder (an `AionProcess` runs where its log is) and
    names the engine's SQLite file relatively, so no page shows the temporary folder.
    """
    assert deployment.store_url == f"sqlite:///{deployment.folder / 'aion.db'}"
    port = free_port()
    arguments = [
        "ui", "--store", RELATIVE_STORE, "--transport", deployment.transport_url,
        "--port", str(port), "--module", "ui_flows_changed",
    ]  # fmt: skip
    process = AionProcess("ui", arguments, deployment.folder / "ui.log")
    with pytest.MonkeyPatch.context() as patch:  # --module imports from this folder
        importable_flows(patch)
        process.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT
    while True:
        assert process.alive, f"aion ui exited:\n{process.tail()}"
        try:
            with urllib.request.urlopen(f"{url}/workflows", timeout=10) as response:
                if response.status == 200:
                    return process, url
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, f"aion ui not serving:\n{process.tail()}"
        time.sleep(0.2)


async def prepare(deployment: Deployment) -> None:
    """The workflows and schedules the scenario looks at."""
    async with await Client.connect(deployment.transport_url) as client:
        for n in (1, 2, 3):
            await client.execute_workflow("Leaf", f"report {n}", id=f"report-{n}")
        await client.execute_workflow("Family", "family", id="family")
        await client.start_workflow("Doomed", "coffee", id="coffee-order")
        await client.start_workflow("Approval", 1001, id="order-1001")
        await client.start_workflow("Approval", 1002, id="order-1002")
        await client.start_workflow("Stubborn", "the printer", id="print-job")
        for order in ("order-1001", "order-1002"):
            deadline = time.monotonic() + WAIT
            while await client.query(order, "stage") != "waiting":
                assert time.monotonic() < deadline, f"{order} not waiting"
                await asyncio.sleep(0.2)
        await client.signal("order-1001", "approve", "ada")
        assert await client.result("order-1001") == "ada:2002"
        await create_schedule(
            client, "nightly-report", "Leaf", ["nightly"], cron="30 2 * * *", every=None,
            time_zone="Europe/Berlin", overlap="skip", catchup="latest", task_queue=None,
        )  # fmt: skip
        await create_schedule(
            client, "hourly-sync", "Leaf", ["sync"], cron=None, every=timedelta(hours=1),
            time_zone="UTC", overlap="buffer_one", catchup="latest", task_queue=None,
        )  # fmt: skip
        await signal_schedule(client, "hourly-sync", "pause", "maintenance window")


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; its absence fails the test (a browser is never downloaded)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
            "the browser tests drive it with Playwright and never download a browser"
        )
    return CHROMIUM


@pytest.fixture
def deployed(
    tmp_path: Path, nats_url: str, drop_nats_namespace: Any
) -> Iterator[tuple[Deployment, AionProcess, str]]:
    with engines(tmp_path, nats_url, drop_nats_namespace) as deployment:
        asyncio.run(prepare(deployment))
        ui, url = start_ui(deployment)
        try:
            yield deployment, ui, url
        finally:
            ui.kill()
            print(f"----- aion ui -----\n{ui.tail()}")


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """The folder ``AION_UI_SCREENSHOTS`` names (relative: to the current one), else a temp one."""
    chosen = os.environ.get(SCREENSHOTS)
    folder = Path(chosen).resolve() if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Pages:
    """Checks every page the scenario visits for paths of this machine; takes screenshots.

    Args:
        screenshots: Where screenshots go.
        temporary: The tests' temporary root: no page may show it.
    """

    def __init__(self, screenshots: Path, temporary: Path) -> None:
        self.screenshots = screenshots
        self.temporary = str(temporary)
        self.taken: list[Path] = []

    def check(self, page: Page) -> None:
        """The page shows the relative store URL and no temporary path (not even in its HTML)."""
        expect(page.locator("header .where span[title='store']")).to_have_text(RELATIVE_STORE)
        assert self.temporary not in page.content(), page.url

    def shoot(self, page: Page, name: str, *, full_page: bool = True) -> None:
        """A screenshot of `page`, whose visible text names no folder of this machine."""
        self.check(page)
        visible = page.locator("body").inner_text()
        for folder in (self.temporary, str(ROOT)):
            assert folder not in visible, f"{name} would show {folder}"
        path = self.screenshots / name
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE), f"{name} is not a PNG"
        assert len(data) > 1000, f"{name} is nearly empty"
        self.taken.append(path)


def test_the_console_in_a_browser(
    chromium: Path,
    deployed: tuple[Deployment, AionProcess, str],
    screenshots: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _, ui, url = deployed
    pages = Pages(screenshots, tmp_path_factory.getbasetemp())
    answers = {"accept": True}
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if answers["accept"]:
            dialog.accept()
        else:
            dialog.dismiss()

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(WAIT_MS)
            page.on("dialog", answer)

            # The list, with a status count per status.
            page.goto(f"{url}/workflows")
            expect(page.locator("#rows tr[data-workflow-id='order-1002']")).to_be_visible()
            # An order waiting and a print job; the two schedules are workflows too.
            expect(page.locator("a.count[data-status='running'] b")).to_have_text("4")
            expect(page.locator("a.count[data-status='failed'] b")).to_have_text("1")
            pages.shoot(page, "ui-list.png")

            # Start a workflow from the list's form: its page opens and says so.
            page.get_by_text("Start a workflow", exact=True).click()
            page.get_by_label("Workflow type").fill("Ticker")
            page.get_by_label("Workflow id").fill("ticker")
            page.get_by_label("Input (JSON").fill("[600, 1.0]")
            expect(page.get_by_label("Task queue")).to_have_value("default")
            page.get_by_label("Input (JSON").blur()
            pages.shoot(page, "ui-start.png", full_page=False)
            page.get_by_role("button", name="Start", exact=True).click()
            assert asked[-1].startswith("Start this workflow")
            expect(page.get_by_role("status")).to_have_text("started Ticker as ticker")
            assert page.url == f"{url}/workflows/ticker"
            pages.check(page)

            # Its new events appear without a reload.
            page.evaluate("window.notReloaded = true")
            shown = page.locator("#timeline-rows tr").count()
            fired = page.locator("#timeline-rows tr.k-timer", has_text="TimerFired")
            expect(fired).not_to_have_count(0)
            expect(page.locator("#timeline-rows tr")).not_to_have_count(shown)
            assert page.evaluate("window.notReloaded") is True

            # A confirmation dismissed sends nothing.
            answers["accept"] = False
            page.get_by_role("button", name="Terminate").click()
            assert asked[-1].startswith("Terminate ticker now")
            assert page.evaluate("window.notReloaded") is True
            expect(page.locator("#summary .status")).to_have_text("running")
            answers["accept"] = True

            # A signal from the page: recorded in the timeline.
            page.get_by_label("Handler name").fill("note")
            page.get_by_label("Input (JSON").fill('"checked by ada"')
            page.get_by_role("button", name="Signal").click()
            assert asked[-1].startswith("Send this signal to ticker?")
            expect(page.get_by_role("status")).to_have_text("signal note recorded")
            received = page.locator("#timeline-rows tr", has_text="SignalReceived")
            expect(received).to_contain_text('signal note("checked by ada")')

            # A query: its answer (the note the signal left) on the page, nothing recorded.
            page.get_by_label("Handler name").fill("notes")
            page.get_by_role("button", name="Query").click()
            expect(page.locator("#answer h2")).to_have_text("query notes answered")
            expect(page.locator("#answer pre")).to_contain_text('"checked by ada"')
            expect(page.locator("#timeline-rows td.type", has_text="Query")).to_have_count(0)
            pages.shoot(page, "ui-query.png", full_page=False)

            # Cancel it from the page; the page sees it close.
            page.get_by_label("Reason (recorded)").fill("not needed any more")
            page.get_by_role("button", name="Cancel").click()
            expect(page.get_by_role("status")).to_have_text("cancellation requested")
            expect(page.locator("#summary .status")).to_have_text("cancelled")

            # Filter the list by status.
            page.goto(f"{url}/workflows")
            page.get_by_label("Status").select_option("cancelled")
            page.get_by_role("button", name="Filter").click()
            expect(page.locator("#rows tr")).to_have_count(1)
            expect(page.locator("#rows tr[data-workflow-id='ticker']")).to_be_visible()
            assert "status=cancelled" in page.url
            pages.check(page)

            # A workflow, its timeline and a payload.
            page.goto(f"{url}/workflows/order-1001")
            expect(page.locator("#summary .status")).to_have_text("completed")
            expect(page.locator("#outcome pre")).to_have_text('"ada:2002"')
            page.locator("#timeline-rows tr[data-seq='1'] details summary").click()
            pages.shoot(page, "ui-detail.png")

            # An activity that keeps failing: its attempts and last failure.
            page.goto(f"{url}/workflows/print-job")
            pending = page.locator("#pending-activities")
            expect(pending).to_contain_text("Unavailable: the printer is down")
            pages.shoot(page, "ui-pending.png", full_page=False)

            # Schedules, and a history the changed code no longer reproduces.
            page.goto(f"{url}/schedules")
            expect(page.locator("tr[data-schedule-id='nightly-report']")).to_contain_text(
                "cron '30 2 * * *' in Europe/Berlin"
            )
            expect(page.locator("tr[data-schedule-id='hourly-sync']")).to_contain_text("paused")
            pages.shoot(page, "ui-schedules.png", full_page=False)
            page.goto(f"{url}/replay?workflow_id=order-1001")
            expect(page.locator("table.diff tr.mismatch")).to_contain_text("double_check")
            expect(page.locator("#verdict code")).to_have_text(
                re.compile(r"^ui_flows_changed\.py:\d+$")
            )
            pages.shoot(page, "ui-replay.png", full_page=False)
        finally:
            browser.close()

    # Stopped like the other commands: SIGTERM, a clean exit.
    assert ui.popen is not None
    ui.popen.send_signal(signal.SIGTERM)
    assert ui.popen.wait(WAIT) == 0, ui.tail()
    assert "aion ui: stopped" in ui.text()
    assert sorted(path.name for path in pages.taken) == [
        "ui-detail.png", "ui-list.png", "ui-pending.png", "ui-query.png", "ui-replay.png",
        "ui-schedules.png", "ui-start.png",
    ]  # fmt: skip
