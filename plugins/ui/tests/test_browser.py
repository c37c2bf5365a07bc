"""The console in a real browser: headless Chromium (Debian's) driven by Playwright.

A real deployment: ``aion serve`` and ``aion worker`` on a SQLite file and
NATS, and ``aion ui`` as a process of its own. The scenario watches a workflow
progress live, signals, queries and cancels from the page, filters the list,
and takes the screenshots the docs show (docs/ui-*.png).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
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
DOCS = ROOT / "docs"
WAIT_MS = WAIT * 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_ui(deployment: Deployment) -> tuple[AionProcess, str]:
    """``aion ui`` on the deployment's store and transport, serving; its process and URL."""
    port = free_port()
    arguments = [
        "ui", "--store", deployment.store_url, "--transport", deployment.transport_url,
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
        await create_schedule(
            client, "nightly-report", "Leaf", ["nightly"], cron="30 2 * * *", every=None,
            time_zone="Europe/Berlin", overlap="skip", catchup="latest", task_queue=None,
        )  # fmt: skip
        await create_schedule(
            client, "hourly-sync", "Leaf", ["sync"], cron=None, every=timedelta(hours=1),
            time_zone="UTC", overlap="buffer_one", catchup="latest", task_queue=None,
        )  # fmt: skip
        await signal_schedule(client, "hourly-sync", "pause", "maintenance window")


def start_ticker(deployment: Deployment) -> None:
    """Start a workflow that records a timer every second, from a thread of its own.

    Playwright's sync API keeps an event loop running in the test's thread.
    """

    async def start() -> None:
        async with await Client.connect(deployment.transport_url) as client:
            await client.start_workflow("Ticker", 30, 1.0, id="ticker")

    thread = threading.Thread(target=asyncio.run, args=(start(),))
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), "starting the ticker hung"


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


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / name), full_page=full_page, animations="disabled")


def test_the_console_in_a_browser(
    chromium: Path, deployed: tuple[Deployment, AionProcess, str]
) -> None:
    deployment, ui, url = deployed
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
            expect(page.locator("#rows tr[data-workflow-id='order-1001']")).to_be_visible()
            # Two orders and a print job; the two schedules are workflows too.
            expect(page.locator("a.count[data-status='running'] b")).to_have_text("5")
            expect(page.locator("a.count[data-status='failed'] b")).to_have_text("1")
            shoot(page, "ui-list.png")

            # A running workflow's page: its new events appear without a reload.
            start_ticker(deployment)
            page.goto(f"{url}/workflows/ticker")
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
            expect(page.locator("#summary .status")).not_to_have_text("terminated")
            answers["accept"] = True

            # A signal from the page: recorded, and the workflow completes (live).
            page.goto(f"{url}/workflows/order-1001")
            page.get_by_label("Handler name").fill("approve")
            page.get_by_label("Input (JSON").fill('"ada"')
            page.get_by_role("button", name="Signal").click()
            expect(page.get_by_role("status")).to_have_text("signal approve recorded")
            assert asked[-1].startswith("Send this signal to order-1001?")
            expect(page.locator("#summary .status")).to_have_text("completed")
            expect(page.locator("#outcome pre")).to_have_text('"ada:2002"')
            page.locator("#timeline-rows tr[data-seq='1'] details summary").click()
            shoot(page, "ui-detail.png")

            # A query: its answer on the page, nothing recorded.
            page.goto(f"{url}/workflows/order-1002")
            events_before = page.locator("#timeline-rows tr").count()
            page.get_by_label("Handler name").fill("stage")
            page.get_by_role("button", name="Query").click()
            expect(page.locator("#answer pre")).to_have_text('"waiting"')
            expect(page.locator("#answer h2")).to_have_text("query stage answered")
            assert page.locator("#timeline-rows tr").count() == events_before
            shoot(page, "ui-query.png", full_page=False)

            # Cancel it from the page; the page sees it close.
            page.get_by_label("Reason (recorded)").fill("customer changed their mind")
            page.get_by_role("button", name="Cancel").click()
            expect(page.get_by_role("status")).to_have_text("cancellation requested")
            expect(page.locator("#summary .status")).to_have_text("cancelled")

            # Filter the list by status.
            page.goto(f"{url}/workflows")
            page.get_by_label("Status").select_option("cancelled")
            page.get_by_role("button", name="Filter").click()
            expect(page.locator("#rows tr")).to_have_count(1)
            expect(page.locator("#rows tr[data-workflow-id='order-1002']")).to_be_visible()
            assert "status=cancelled" in page.url

            # An activity that keeps failing: its attempts and last failure.
            page.goto(f"{url}/workflows/print-job")
            pending = page.locator("#pending-activities")
            expect(pending).to_contain_text("Unavailable: the printer is down")
            shoot(page, "ui-pending.png", full_page=False)

            # Schedules, and a history the changed code no longer reproduces.
            page.goto(f"{url}/schedules")
            expect(page.locator("tr[data-schedule-id='nightly-report']")).to_contain_text(
                "cron '30 2 * * *' in Europe/Berlin"
            )
            expect(page.locator("tr[data-schedule-id='hourly-sync']")).to_contain_text("paused")
            shoot(page, "ui-schedules.png", full_page=False)
            page.goto(f"{url}/replay?workflow_id=order-1001")
            expect(page.locator("table.diff tr.mismatch")).to_contain_text("double_check")
            shoot(page, "ui-replay.png", full_page=False)
        finally:
            browser.close()

    # Stopped like the other commands: SIGTERM, a clean exit.
    assert ui.popen is not None
    ui.popen.send_signal(signal.SIGTERM)
    assert ui.popen.wait(WAIT) == 0, ui.tail()
    assert "aion ui: stopped" in ui.text()
