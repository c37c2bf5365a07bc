"""The schedules page lists the engines' schedules and pauses, resumes and triggers them."""

from __future__ import annotations

from datetime import timedelta

from aion_cli.schedules import create_schedule, describe_schedule
from aion_core import Client
from tests.deployment import Deployment

from .conftest import async_console, csrf_of, live_settings, unique, until


async def test_schedules_are_listed_paused_resumed_and_triggered(
    deployment: Deployment, client: Client
) -> None:
    schedule_id = unique("hourly")
    await create_schedule(
        client, schedule_id, "Leaf", ["tick"], cron=None, every=timedelta(hours=1),
        time_zone="UTC", overlap="skip", catchup="latest", task_queue=None,
    )  # fmt: skip
    async with async_console(live_settings(deployment)) as http:
        page = await http.get("/schedules")
        assert page.status_code == 200
        assert f'data-schedule-id="{schedule_id}"' in page.text
        assert "every 1h" in page.text

        async def post(action: str, note: str = "") -> int:
            csrf = csrf_of((await http.get("/schedules")).text)
            form = {"csrf_token": csrf, "schedule_id": schedule_id, "action": action, "note": note}
            return (await http.post("/schedules", data=form)).status_code

        assert await post("pause", "holidays") == 303
        described = await describe_schedule(client, schedule_id)
        assert described.paused
        assert described.note == "holidays"
        listed = (await http.get("/schedules")).text
        assert "schedule " + schedule_id + ": paused" in listed
        assert await post("resume") == 303
        assert not (await describe_schedule(client, schedule_id)).paused
        assert await post("trigger") == 303

        async def started() -> bool:
            return (await describe_schedule(client, schedule_id)).started_count == 1

        await until(started, f"{schedule_id} firing once")
        unknown = await http.post(
            "/schedules",
            data={
                "csrf_token": csrf_of((await http.get("/schedules")).text),
                "schedule_id": "no-such-schedule",
                "action": "pause",
            },
        )
    assert unknown.status_code == 404
    assert "no-such-schedule" in unknown.text


async def test_without_engines_the_schedules_page_says_why(deployment: Deployment) -> None:
    settings = live_settings(deployment)
    async with async_console(type(settings)(store=settings.store)) as http:
        page = await http.get("/schedules")
    assert page.status_code == 503
    assert "Schedules live on the engine nodes" in page.text
