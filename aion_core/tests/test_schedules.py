"""Schedules (DESIGN 4.8): cron in time zones and intervals, firing by themselves, policies,
updates, restarts and histories from older versions.

Engine tests run under time skipping: the clock jumps to the next fire time
whenever the engine is idle, so hours of schedule pass in milliseconds. Each
wait is bounded by `BOUND` seconds of wall time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import zoneinfo
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from aion_core import (
    ConfigurationError,
    Event,
    EventStore,
    PayloadValidationError,
    WorkflowStatus,
    load_plugins,
)
from aion_core import workflow as wf
from aion_core.converter import from_payload
from aion_core.engine.clock import SkippingClock
from aion_core.events import WorkflowStarted
from aion_core.history import history_from_json, history_to_json
from aion_core.schedules import (
    CronExpression,
    ScheduleAlreadyExistsError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleNotFoundError,
    ScheduleWorkflow,
)
from aion_core.schedules import workflow as schedule_workflow
from aion_core.schedules.spec import Interval, latest_fire_time
from aion_core.schedules.time_zones import load_time_zone
from aion_core.store.projection import batch_for
from aion_core.testing import Replayer, WorkflowEnvironment

BOUND = 10  # seconds of wall time for any wait below
HOUR = timedelta(hours=1)


@wf.defn
async def report(name: str) -> str:
    return f"report for {name}"


@wf.defn
async def audit(name: str, depth: int) -> str:
    return f"audit of {name} to depth {depth}"


@wf.defn
class Blocker:
    def __init__(self) -> None:
        self.done = False

    @wf.run
    async def run(self) -> str:
        await wf.wait_condition(lambda: self.done)
        return "finished"

    @wf.signal
    def finish(self) -> None:
        self.done = True


WORKFLOWS = [report, audit, Blocker]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fire_time_of(workflow_id: str, schedule_id: str) -> datetime:
    return datetime.fromisoformat(
        workflow_id.removeprefix(f"{schedule_id}-").replace("Z", "+00:00")
    )


async def started_fire_times(env: WorkflowEnvironment, schedule_id: str) -> list[datetime]:
    """Fire times of every run the schedule started, oldest first (from the store)."""
    records = await env.engine.list_workflows(limit=10_000)
    return sorted(
        fire_time_of(r.workflow_id, schedule_id)
        for r in records
        if r.workflow_id.startswith(f"{schedule_id}-")
    )


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(BOUND):
        while not await check():  # noqa: ASYNC110 - polls the store, nothing to wait on
            await asyncio.sleep(0.005)


async def until_started(env: WorkflowEnvironment, schedule_id: str, count: int) -> list[datetime]:
    async def enough() -> bool:
        return len(await started_fire_times(env, schedule_id)) >= count

    await eventually(enough)
    return await started_fire_times(env, schedule_id)


async def until_described(
    handle: ScheduleHandle, holds: Callable[[ScheduleDescription], bool]
) -> ScheduleDescription:
    found: list[ScheduleDescription] = []

    async def check() -> bool:
        found[:] = [await handle.describe()]
        return holds(found[0])

    await eventually(check)
    return found[0]


def environment(store: str | EventStore) -> WorkflowEnvironment:
    return WorkflowEnvironment(store=store, workflows=WORKFLOWS)


def environment_at(store: str | EventStore, moment: datetime) -> WorkflowEnvironment:
    """An environment whose clock starts at `moment` (earlier or later than now)."""
    env = environment(store)
    env.skip(moment - env.clock.now())
    return env


async def results_by_fire_time(env: WorkflowEnvironment, schedule_id: str) -> list[object]:
    """The result of every run the schedule started, oldest fire time first."""
    times = await started_fire_times(env, schedule_id)
    return [
        await env.engine.get_handle(f"{schedule_id}-{t.isoformat()[:19]}Z").result() for t in times
    ]


# --- cron ---------------------------------------------------------------------------------------


def fires(expression: str, after: str, count: int) -> list[str]:
    cron, moment, found = CronExpression(expression), at(after), []
    for _ in range(count):
        moment = cron.next_after(moment)
        found.append(moment.strftime("%Y-%m-%d %H:%M %a"))
    return found


def test_cron_steps_and_ranges_fire_at_the_chosen_minutes_and_hours() -> None:
    assert fires("*/20 9-10 * * *", "2024-01-01T08:59:30", 7) == [
        "2024-01-01 09:00 Mon",
        "2024-01-01 09:20 Mon",
        "2024-01-01 09:40 Mon",
        "2024-01-01 10:00 Mon",
        "2024-01-01 10:20 Mon",
        "2024-01-01 10:40 Mon",
        "2024-01-02 09:00 Tue",
    ]
    assert fires("5/20 0 * * *", "2024-01-01T00:00", 3) == [
        "2024-01-01 00:05 Mon",
        "2024-01-01 00:25 Mon",
        "2024-01-01 00:45 Mon",
    ]
    assert fires("0 6,18 * * *", "2024-01-01T06:00", 2) == [
        "2024-01-01 18:00 Mon",
        "2024-01-02 06:00 Tue",
    ]


def test_cron_month_and_day_names_and_sunday_as_0_or_7() -> None:
    assert fires("0 12 * JAN,jul mon-fri", "2024-01-30T13:00", 3) == [
        "2024-01-31 12:00 Wed",
        "2024-07-01 12:00 Mon",
        "2024-07-02 12:00 Tue",
    ]
    assert fires("0 0 * * 0", "2024-01-01T00:00", 1) == fires("0 0 * * 7", "2024-01-01T00:00", 1)
    assert fires("0 0 * * sun", "2024-01-01T00:00", 1) == ["2024-01-07 00:00 Sun"]
    assert fires("@weekly", "2024-01-01T00:00", 1) == ["2024-01-07 00:00 Sun"]
    assert fires("@hourly", "2024-01-01T00:30", 1) == ["2024-01-01 01:00 Mon"]


def test_cron_with_both_day_fields_restricted_matches_either() -> None:
    # The 13th of the month or any Friday (Vixie cron).
    assert fires("0 0 13 * fri", "2024-09-01T00:00", 4) == [
        "2024-09-06 00:00 Fri",
        "2024-09-13 00:00 Fri",
        "2024-09-20 00:00 Fri",
        "2024-09-27 00:00 Fri",
    ]
    assert fires("0 0 13 * fri", "2024-10-01T00:00", 2) == [
        "2024-10-04 00:00 Fri",
        "2024-10-11 00:00 Fri",
    ]
    assert fires("0 0 13 * fri", "2024-10-11T00:00", 1) == ["2024-10-13 00:00 Sun"]


def test_cron_iterates_across_month_year_and_leap_day_boundaries_in_utc() -> None:
    assert fires("59 23 31 12 *", "2024-12-31T23:59", 1) == ["2025-12-31 23:59 Wed"]
    assert fires("0 0 29 2 *", "2024-03-01T00:00", 1) == ["2028-02-29 00:00 Tue"]
    assert fires("0 0 31 * *", "2024-04-01T00:00", 1) == ["2024-05-31 00:00 Fri"]
    # Another offset is converted to UTC; results are always UTC, whole minutes.
    moment = datetime(2024, 3, 31, 3, 30, 15, tzinfo=timezone(timedelta(hours=2)))
    assert CronExpression("0 * * * *").next_after(moment) == at("2024-03-31T02:00")
    # Every minute of a day exists once: 1440 fires in 24 hours, no DST gaps or repeats.
    cron, moment, count = CronExpression("* * * * *"), at("2024-03-31T00:00"), 0
    while (moment := cron.next_after(moment)) <= at("2024-04-01T00:00"):
        count += 1
    assert count == 1440


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("* * * *", "needs 5 fields (minute hour day-of-month month day-of-week), got 4"),
        ("60 * * * *", "minute value 60 is out of range 0-59"),
        ("* 24 * * *", "hour value 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month value 0 is out of range 1-31"),
        ("* * * 13 *", "month value 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week value 8 is out of range 0-7"),
        (
            "* * * foo *",
            "month 'foo' is not a number or a name "
            "(jan, feb, mar, apr, may, jun, jul, aug, sep, oct, nov, dec)",
        ),
        ("*/0 * * * *", "minute step '0' must be a whole number >= 1"),
        ("5-2 * * * *", "minute range '5-2' starts after it ends"),
        ("1,,2 * * * *", "empty item in minute list '1,,2'"),
        ("0 0 30 2 *", "never fires: no chosen month has day 30"),
    ],
)
def test_invalid_cron_expressions_say_what_is_wrong(expression: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        CronExpression(expression)
    assert str(raised.value) == f"invalid cron expression {expression!r}: {problem}"


def test_intervals_count_from_the_epoch_and_the_latest_fire_time_is_found_directly() -> None:
    hourly = Interval(HOUR)
    assert hourly.next_after(at("2024-01-01T10:20")) == at("2024-01-01T11:00")
    assert hourly.next_after(at("2024-01-01T11:00")) == at("2024-01-01T12:00")
    assert latest_fire_time(hourly, at("2024-01-01T10:20"), at("2024-01-05T03:59")) == at(
        "2024-01-05T03:00"
    )
    assert latest_fire_time(hourly, at("2024-01-01T10:20"), at("2024-01-01T10:59")) is None
    yearly = CronExpression("@yearly")
    assert latest_fire_time(yearly, at("2020-06-01T00:00"), at("2024-06-01T00:00")) == at(
        "2024-01-01T00:00"
    )


# --- cron in a time zone ------------------------------------------------------------------------


def fires_in(zone: str, expression: str, after: str, count: int) -> list[str]:
    """Fire times (UTC) of `expression` read in `zone`."""
    cron, moment, found = CronExpression(expression, zone), at(after), []
    for _ in range(count):
        moment = cron.next_after(moment)
        found.append(moment.strftime("%m-%d %H:%M"))
    return found


def test_cron_in_a_time_zone_reads_its_fields_as_wall_clock_time() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter (CET) and 07:00 UTC in summer (CEST).
    assert fires_in("Europe/Berlin", "0 9 * * mon", "2024-01-01T00:00", 1) == ["01-01 08:00"]
    assert fires_in("Europe/Berlin", "0 9 * * mon", "2024-07-01T00:00", 1) == ["07-01 07:00"]
    # The day is the zone's: 23:30 Monday in New York is already Tuesday in UTC.
    assert fires_in("America/New_York", "30 23 * * mon", "2024-01-01T00:00", 1) == ["01-02 04:30"]
    assert fires_in("Asia/Kolkata", "0 0 * * *", "2024-01-01T00:00", 1) == ["01-01 18:30"]
    assert repr(CronExpression("0 9 * * *", "Europe/Berlin")) == (
        "CronExpression('0 9 * * *', 'Europe/Berlin')"
    )


def test_a_skipped_wall_time_fires_once_at_the_first_instant_after_the_gap() -> None:
    # Berlin, 2024-03-31: 02:00 CET (01:00 UTC) becomes 03:00 CEST; 02:30 does not exist.
    assert fires_in("Europe/Berlin", "30 2 * * *", "2024-03-29T12:00", 3) == [
        "03-30 01:30",  # 02:30 CET
        "03-31 01:00",  # 03:00 CEST, the first instant after the gap
        "04-01 00:30",  # 02:30 CEST
    ]
    # Wall times in one gap, and the one at its end, share that instant: one fire.
    assert fires_in("Europe/Berlin", "0,30 2,3 * * *", "2024-03-30T23:00", 3) == [
        "03-31 01:00",
        "03-31 01:30",
        "04-01 00:00",
    ]
    # New York, 2024-03-10: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    assert fires_in("America/New_York", "30 2 * * *", "2024-03-09T12:00", 2) == [
        "03-10 07:00",
        "03-11 06:30",
    ]
    # Samoa skipped 2011-12-30 altogether (UTC-10 to UTC+14); a daily job still fires daily.
    assert fires_in("Pacific/Apia", "0 12 * * *", "2011-12-28T12:00", 4) == [
        "12-28 22:00",
        "12-29 22:00",
        "12-30 10:00",  # for the 30th: 12-31 00:00 local, the end of the missing day
        "12-30 22:00",  # 12-31 12:00 local
    ]


def test_a_repeated_wall_time_fires_once_at_its_first_occurrence() -> None:
    # Berlin, 2024-10-27: 03:00 CEST (01:00 UTC) becomes 02:00 CET; 02:00-02:59 happen twice.
    assert fires_in("Europe/Berlin", "30 2 * * *", "2024-10-25T12:00", 3) == [
        "10-26 00:30",  # 02:30 CEST
        "10-27 00:30",  # 02:30 CEST, the first occurrence; not again at 01:30 UTC
        "10-28 01:30",  # 02:30 CET
    ]
    # Every 20 minutes: the repeated hour is passed over the second time.
    assert fires_in("Europe/Berlin", "*/20 * * * *", "2024-10-26T23:50", 5) == [
        "10-27 00:00",
        "10-27 00:20",
        "10-27 00:40",
        "10-27 02:00",  # 03:00 CET
        "10-27 02:20",
    ]
    # From inside the second occurrence, the next fire is after the repeated hour.
    assert fires_in("Europe/Berlin", "* * * * *", "2024-10-27T01:10", 1) == ["10-27 02:00"]


def every_minute_of_a_local_day(zone: str, day: str) -> int:
    cron, tz = CronExpression("* * * * *", zone), zoneinfo.ZoneInfo(zone)
    start = datetime.fromisoformat(day).replace(tzinfo=tz)
    end = (datetime.fromisoformat(day) + timedelta(days=1)).replace(tzinfo=tz)
    moment, count = start - timedelta(minutes=1), 0
    while (moment := cron.next_after(moment)) < end:
        count += 1
    return count


def test_every_wall_minute_of_a_dst_day_fires_exactly_once() -> None:
    # The 23-hour day: the missing hour's minutes all land on 03:00 CEST, which exists anyway.
    assert every_minute_of_a_local_day("Europe/Berlin", "2024-03-31") == 23 * 60
    # The 25-hour day: 24 hours of wall minutes, the repeated hour fired once.
    assert every_minute_of_a_local_day("Europe/Berlin", "2024-10-27") == 24 * 60


def test_an_unknown_time_zone_says_how_to_name_one() -> None:
    with pytest.raises(ConfigurationError) as raised:
        CronExpression("0 3 * * *", "Mars/Olympus_Mons")
    assert str(raised.value) == (
        "unknown time zone 'Mars/Olympus_Mons': use an IANA name such as 'Europe/Berlin', "
        "'America/New_York' or 'UTC'"
    )
    with pytest.raises(ConfigurationError, match="did you mean 'Europe/Berlin'"):
        load_time_zone("europe/berlin")
    with pytest.raises(ConfigurationError, match=r"unknown time zone '\.\./etc'"):
        load_time_zone("../etc")


def test_without_a_time_zone_database_only_utc_works_and_the_error_says_to_install_tzdata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No tzdata package either: blocked with every part of it an earlier test imported.
    for name in ["tzdata", *(n for n in sys.modules if n.startswith("tzdata."))]:
        monkeypatch.setitem(sys.modules, name, None)
    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    try:
        assert load_time_zone("UTC") is UTC
        assert CronExpression("0 3 * * *").next_after(at("2024-01-01T00:00")) == at(
            "2024-01-01T03:00"
        )
        with pytest.raises(ConfigurationError) as raised:
            load_time_zone("Europe/Berlin")
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()
    assert str(raised.value) == (
        "time zone 'Europe/Berlin' cannot be loaded: this machine has no time zone database; "
        "install one (pip install tzdata, or the operating system's tzdata package)"
    )


# --- creating and validating --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"cron": "61 * * * *"}, ConfigurationError, "minute value 61 is out of range 0-59"),
        ({}, ConfigurationError, "exactly one of cron=... and every=..."),
        ({"cron": "* * * * *", "every": HOUR}, ConfigurationError, "exactly one of"),
        ({"every": timedelta(milliseconds=10)}, ConfigurationError, "at most every 1s"),
        ({"every": HOUR, "overlap": "sometimes"}, ConfigurationError, "not a policy"),
        ({"every": HOUR, "catchup": "some"}, ConfigurationError, "not a policy"),
        ({"every": HOUR, "args": ()}, PayloadValidationError, "takes 1 argument, got 0"),
        ({"every": HOUR, "args": (42,)}, PayloadValidationError, "is not a valid str"),
        ({"every": HOUR, "target": "nope"}, ConfigurationError, "'nope' is not registered"),
        (
            {"every": HOUR, "time_zone": "Europe/Berlin"},
            ConfigurationError,
            "applies to cron schedules only: every= intervals are absolute",
        ),
    ],
)
async def test_an_invalid_schedule_is_refused_before_anything_is_recorded(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    target = options.pop("target", report)
    args = options.pop("args", ("ops",))
    async with environment("memory://") as env:
        with pytest.raises(error, match=message):
            await env.engine.create_schedule("bad", target, *args, **options)  # type: ignore[arg-type]
        assert await env.engine.count_workflows() == 0


async def test_a_schedule_in_an_unknown_time_zone_is_refused_and_records_nothing(
    store_url: str,
) -> None:
    async with environment(store_url) as env:
        with pytest.raises(ConfigurationError, match="unknown time zone 'Europe/Atlantis'"):
            await env.engine.create_schedule(
                "nightly", report, "ops", cron="0 3 * * *", time_zone="Europe/Atlantis"
            )
        assert await env.engine.count_workflows() == 0
        assert await env.engine.list_schedules() == []


async def test_creating_an_existing_schedule_id_fails_and_records_nothing() -> None:
    async with environment("memory://") as env:
        handle = await env.engine.create_schedule("nightly", report, "ops", cron="0 3 * * *")
        await handle.pause()
        history = await env.engine.get_handle(handle.workflow_id).history()
        with pytest.raises(ScheduleAlreadyExistsError, match="'nightly' already exists"):
            await env.engine.create_schedule("nightly", report, "ops", every=HOUR)
        assert await env.engine.get_handle(handle.workflow_id).history() == history


# --- firing by themselves -----------------------------------------------------------------------


async def test_an_every_schedule_fires_by_itself_on_each_interval(store_url: str) -> None:
    async with environment(store_url) as env:
        handle = await env.engine.create_schedule("hourly", report, "ops", every=HOUR)
        times = await until_started(env, "hourly", 3)
        created = (await handle.describe()).created_at
        result = await env.engine.get_handle(f"hourly-{times[0].isoformat()[:19]}Z").result()
        records = {r.workflow_id: r for r in await env.engine.list_workflows(type="report")}
    assert created is not None
    assert times[0] == Interval(HOUR).next_after(created)
    assert times[:3] == [times[0], times[0] + HOUR, times[0] + 2 * HOUR]
    assert result == "report for ops"
    for workflow_id, record in records.items():
        fire_at = fire_time_of(workflow_id, "hourly")
        assert fire_at <= record.start_time < fire_at + timedelta(minutes=1)


async def test_a_cron_schedule_fires_by_itself_at_its_cron_times(store_url: str) -> None:
    async with environment(store_url) as env:
        handle = await env.engine.create_schedule("quarterly", report, "ops", cron="30 */6 * * *")
        times = await until_started(env, "quarterly", 3)
        created = (await handle.describe()).created_at
    assert created is not None
    assert times[0] == CronExpression("30 */6 * * *").next_after(created)
    assert [(t.hour % 6, t.minute) for t in times] == [(0, 30)] * len(times)
    assert times[1] - times[0] == times[2] - times[1] == timedelta(hours=6)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # Spring forward on 03-31: 02:30 does not exist and fires at 03:00 CEST.
        ("2024-03-29T12:00", ["2024-03-30T01:30", "2024-03-31T01:00", "2024-04-01T00:30"]),
        # Fall back on 10-27: 02:30 happens twice and fires at the first (CEST) only.
        ("2024-10-25T12:00", ["2024-10-26T00:30", "2024-10-27T00:30", "2024-10-28T01:30"]),
    ],
    ids=["spring-forward", "fall-back"],
)
async def test_a_cron_schedule_in_a_time_zone_fires_at_its_wall_clock_times_across_dst(
    store_url: str, start: str, expected: list[str]
) -> None:
    async with environment_at(store_url, at(start)) as env:
        handle = await env.engine.create_schedule(
            "berlin", report, "ops", cron="30 2 * * *", time_zone="Europe/Berlin"
        )
        described = await handle.describe()
        times = await until_started(env, "berlin", 3)
    assert (described.cron, described.time_zone) == ("30 2 * * *", "Europe/Berlin")
    assert described.next_fire_at in [at(t) for t in expected]  # time skips on meanwhile
    assert times[:3] == [at(t) for t in expected]


async def test_pause_stops_firing_and_resume_fires_again_from_then_on(store_url: str) -> None:
    async with environment(store_url) as env:
        handle = await env.engine.create_schedule("hourly", report, "ops", every=HOUR)
        await until_started(env, "hourly", 1)
        await handle.pause("maintenance")
        paused = await until_described(handle, lambda d: d.paused)
        before = await started_fire_times(env, "hourly")
        env.skip(timedelta(hours=5))
        await asyncio.sleep(0.1)
        assert await started_fire_times(env, "hourly") == before
        resumed_at = env.clock.now()
        await handle.resume("done")
        after = await until_started(env, "hourly", len(before) + 2)
        described = await handle.describe()
    assert (paused.note, paused.next_fire_at) == ("maintenance", None)
    assert (described.paused, described.note) == (False, "done")
    new = after[len(before) :]
    assert new[0] == Interval(HOUR).next_after(resumed_at)  # nothing missed while paused is run
    assert new[1] == new[0] + HOUR


async def test_trigger_fires_now_even_while_paused(store_url: str) -> None:
    async with environment(store_url) as env:
        handle = await env.engine.create_schedule("daily", report, "ops", every=timedelta(days=1))
        await handle.pause()
        await until_described(handle, lambda d: d.paused)
        count = len(await started_fire_times(env, "daily"))  # it may have fired before pausing
        before = env.clock.now()
        await handle.trigger()
        fire_at = (await until_started(env, "daily", count + 1))[-1]
        described = await until_described(handle, lambda d: d.started_count == count + 1)
    assert before <= fire_at <= before + timedelta(minutes=1)
    run = described.recent_runs[-1]
    assert (run.outcome, run.manual, run.fire_at) == ("started", True, fire_at)
    assert described.paused


async def test_delete_ends_the_schedule_workflow_and_the_id_can_be_reused(store_url: str) -> None:
    async with environment(store_url) as env:
        handle = await env.engine.create_schedule("hourly", report, "ops", every=HOUR)
        await until_started(env, "hourly", 1)
        await handle.delete()
        record = await env.engine.get_handle(handle.workflow_id).describe()
        for command in (handle.describe(), handle.pause(), handle.trigger(), handle.delete()):
            with pytest.raises(ScheduleNotFoundError, match="no schedule with id 'hourly'"):
                await command
        listed = await env.engine.list_schedules()
        again = await env.engine.create_schedule("hourly", report, "ops", cron="0 0 * * *")
        assert (await again.describe()).cron == "0 0 * * *"
    assert record.status is WorkflowStatus.COMPLETED
    assert listed == []


async def test_describe_and_list_show_spec_pause_state_next_fire_and_recent_runs() -> None:
    async with environment("memory://") as env:
        hourly = await env.engine.create_schedule(
            "b-hourly", report, "ops", every=HOUR, overlap="allow_all", catchup="all"
        )
        await env.engine.create_schedule("a-nightly", report, "ops", cron="0 3 * * *")
        await until_started(env, "b-hourly", 2)
        await hourly.pause("quiet")
        described = await until_described(hourly, lambda d: d.paused)
        listed = await env.engine.list_schedules()
        await env.engine.get_schedule("a-nightly").pause()
        paused_nightly = await until_described(
            env.engine.get_schedule("a-nightly"), lambda d: d.paused
        )
    assert [d.schedule_id for d in listed] == ["a-nightly", "b-hourly"]
    nightly = listed[0]
    assert (nightly.cron, nightly.every, nightly.overlap, nightly.catchup) == (
        "0 3 * * *", None, "skip", "latest"
    )  # fmt: skip
    assert nightly.next_fire_at is not None
    assert (
        nightly.next_fire_at.hour,
        nightly.next_fire_at.minute,
    ) == (3, 0)
    assert paused_nightly.next_fire_at is None
    assert (described.every, described.workflow_type, described.overlap) == (
        HOUR,
        "report",
        "allow_all",
    )
    assert (described.paused, described.note, described.next_fire_at) == (True, "quiet", None)
    assert described.started_count == len(described.recent_runs) >= 2
    assert all(run.outcome == "started" and not run.manual for run in described.recent_runs)
    assert [run.workflow_id for run in described.recent_runs] == [
        f"b-hourly-{run.fire_at.isoformat()[:19]}Z" for run in described.recent_runs
    ]


async def test_update_changes_the_timing_rule_from_then_on() -> None:
    async with environment("memory://") as env:
        handle = await env.engine.create_schedule("changing", report, "ops", every=HOUR)
        await until_started(env, "changing", 1)
        with pytest.raises(ConfigurationError, match="invalid cron"):
            await handle.update(cron="0 0 * *")
        await handle.update(cron="15 */2 * * *", overlap="allow_all")
        await until_described(handle, lambda d: d.cron is not None)
        count = len(await started_fire_times(env, "changing"))
        times = (await until_started(env, "changing", count + 2))[count : count + 2]
        described = await handle.describe()
    assert [t.minute for t in times] == [15, 15]
    assert times[1] - times[0] == timedelta(hours=2)
    assert (described.every, described.overlap) == (None, "allow_all")


async def test_update_changes_the_time_zone_and_a_new_cron_keeps_it() -> None:
    new_york = zoneinfo.ZoneInfo("America/New_York")
    async with environment_at("memory://", at("2024-01-10T00:00")) as env:
        handle = await env.engine.create_schedule("daily", report, "ops", cron="0 9 * * *")
        await handle.update(time_zone="America/New_York")
        in_new_york = await until_described(handle, lambda d: d.time_zone != "UTC")
        await handle.update(cron="0 17 * * *")
        new_cron = await until_described(handle, lambda d: d.cron == "0 17 * * *")
        await handle.update(every=HOUR)
        interval = await until_described(handle, lambda d: d.every is not None)
        await handle.pause()
        await until_described(handle, lambda d: d.paused)
        history = await env.engine.get_handle(handle.workflow_id).history()
        with pytest.raises(ConfigurationError, match="fires every 1:00:00; time_zone= applies"):
            await handle.update(time_zone="Europe/Berlin")
        with pytest.raises(ConfigurationError, match="applies to cron schedules only"):
            await handle.update(every=HOUR, time_zone="Europe/Berlin")
        assert await env.engine.get_handle(handle.workflow_id).history() == history
    assert (in_new_york.cron, in_new_york.time_zone) == ("0 9 * * *", "America/New_York")
    assert (new_cron.cron, new_cron.time_zone) == ("0 17 * * *", "America/New_York")
    # The clock skips on meanwhile, so only the wall time of the next fire is known.
    for described, hour in ((in_new_york, 9), (new_cron, 17)):
        assert described.next_fire_at is not None
        local = described.next_fire_at.astimezone(new_york)
        assert (local.hour, local.minute) == (hour, 0)
    assert (interval.every, interval.time_zone) == (HOUR, "UTC")


async def test_update_args_changes_the_input_of_later_runs_only(store_url: str) -> None:
    async with environment(store_url) as env:
        handle = await env.engine.create_schedule(
            "hourly", report, "ops", every=HOUR, overlap="allow_all"
        )
        before = await until_started(env, "hourly", 2)
        await handle.update(args=("finance",))
        started_by_then = len(await started_fire_times(env, "hourly"))

        async def two_runs_with_the_new_args() -> bool:
            results = await results_by_fire_time(env, "hourly")
            return results.count("report for finance") >= 2

        await eventually(two_runs_with_the_new_args)
        results = await results_by_fire_time(env, "hourly")
    assert results[: len(before)] == ["report for ops"] * len(before)
    # The input switches once: every earlier run kept its own, every later one has the new.
    switch = results.index("report for finance")
    assert results == ["report for ops"] * switch + ["report for finance"] * (len(results) - switch)
    # Only the fire being started while the update was recorded can still have the old input.
    assert switch <= started_by_then + 1


async def test_update_workflow_and_task_queue_change_what_later_fires_start() -> None:
    async with environment("memory://") as env:
        handle = await env.engine.create_schedule("hourly", report, "ops", every=HOUR)
        await until_started(env, "hourly", 1)
        await handle.update(workflow=audit, args=("ops", 3), task_queue="audits")
        await until_described(handle, lambda d: d.workflow_type == "audit")
        count = len(await started_fire_times(env, "hourly"))
        await until_started(env, "hourly", count + 1)
        audits = await env.engine.list_workflows(type="audit")
        result = await env.engine.get_handle(audits[0].workflow_id).result()
        described = await handle.describe()
    assert result == "audit of ops to depth 3"
    assert {record.task_queue for record in audits} == {"audits"}
    assert (described.workflow_type, described.task_queue) == ("audit", "audits")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"args": (42,)}, PayloadValidationError, "is not a valid str"),
        ({"args": ()}, PayloadValidationError, "takes 1 argument, got 0"),
        ({"args": ("ops", "extra")}, PayloadValidationError, "takes 1 argument, got 2"),
        ({"args": "finance"}, ConfigurationError, r"a sequence of arguments: args=\('finance',\)"),
        ({"workflow": audit, "args": ("ops", "deep")}, PayloadValidationError, "valid int"),
        ({"workflow": audit}, ConfigurationError, "needs args=... too"),
        ({"workflow": "nope", "args": ()}, ConfigurationError, "'nope' is not registered"),
        ({"time_zone": "Mars/Base"}, ConfigurationError, "unknown time zone 'Mars/Base'"),
        ({"cron": "0 3 * * *", "every": HOUR}, ConfigurationError, "exactly one of"),
        ({"overlap": "sometimes"}, ConfigurationError, "not a policy"),
        ({}, ConfigurationError, "nothing to update"),
    ],
)
async def test_an_invalid_update_is_refused_before_anything_is_recorded(
    store_url: str, change: dict[str, Any], error: type[Exception], message: str
) -> None:
    async with environment(store_url) as env:
        handle = await env.engine.create_schedule("nightly", report, "ops", cron="0 3 * * *")
        await handle.pause()
        await until_described(handle, lambda d: d.paused)  # no fire in flight: history is still
        history = await env.engine.get_handle(handle.workflow_id).history()
        with pytest.raises(error, match=message):
            await handle.update(**change)
        assert await env.engine.get_handle(handle.workflow_id).history() == history
        described = await handle.describe()
    assert (described.cron, described.time_zone, described.workflow_type) == (
        "0 3 * * *", "UTC", "report"
    )  # fmt: skip


# --- overlap policies ---------------------------------------------------------------------------


async def blocker_runs(env: WorkflowEnvironment) -> dict[str, WorkflowStatus]:
    records = await env.engine.list_workflows(type="Blocker", limit=1000)
    return {r.workflow_id: r.status for r in sorted(records, key=lambda r: r.workflow_id)}


async def test_overlap_skip_starts_nothing_while_the_previous_run_is_open(store_url: str) -> None:
    async with environment(store_url) as env:
        handle = await env.engine.create_schedule("s", Blocker, every=HOUR, overlap="skip")
        described = await until_described(handle, lambda d: d.skipped_count >= 2)
        runs = await blocker_runs(env)
    assert list(runs.values()) == [WorkflowStatus.RUNNING]
    assert described.started_count == 1
    assert [r.outcome for r in described.recent_runs][:3] == ["started", "skipped", "skipped"]


async def test_overlap_allow_all_starts_every_fire(store_url: str) -> None:
    async with environment(store_url) as env:
        await env.engine.create_schedule("s", Blocker, every=HOUR, overlap="allow_all")
        await until_started(env, "s", 3)
        runs = await blocker_runs(env)
    assert list(runs.values())[:3] == [WorkflowStatus.RUNNING] * 3


async def test_overlap_cancel_other_cancels_the_previous_run_then_starts(store_url: str) -> None:
    async with environment(store_url) as env:
        await env.engine.create_schedule("s", Blocker, every=HOUR, overlap="cancel_other")
        await until_started(env, "s", 3)

        snapshot: list[WorkflowStatus] = []

        async def all_but_the_newest_cancelled() -> bool:
            snapshot[:] = (await blocker_runs(env)).values()
            return (
                len(snapshot) >= 3
                and snapshot[-1] is WorkflowStatus.RUNNING
                and set(snapshot[:-1]) == {WorkflowStatus.CANCELLED}
            )

        await eventually(all_but_the_newest_cancelled)


# --- restarts and catch-up ----------------------------------------------------------------------


async def run_then_stop(env: WorkflowEnvironment, schedule_id: str, fires: int) -> datetime:
    """Let an hourly schedule fire `fires` times, then stop time; its last fire time, settled."""
    await until_started(env, schedule_id, fires)
    assert isinstance(env.clock, SkippingClock)
    env.clock.is_idle = lambda: False  # no more skipping: the next fire time never comes
    handle = env.engine.get_schedule(schedule_id)

    async def settled() -> bool:
        # Waiting for the fire after the last one it started, and that one not due
        # yet (the clock may have skipped to it before skipping stopped): none is in
        # flight, so none lands as the engine stops.
        started = await started_fire_times(env, schedule_id)
        described = await handle.describe()
        next_fire = max(started) + timedelta(hours=1)
        return (
            described.started_count == len(started)
            and described.next_fire_at == next_fire
            and env.clock.now() < next_fire
        )

    await eventually(settled)
    return max(await started_fire_times(env, schedule_id))


def restarted(store: str | EventStore, at: datetime) -> WorkflowEnvironment:
    """A new engine on `store` whose clock starts at `at` (the old engine's time, or later)."""
    return environment_at(store, at)


async def test_a_schedule_survives_an_engine_restart(reusable_store: str | EventStore) -> None:
    async with environment(reusable_store) as env:
        await env.engine.create_schedule("hourly", report, "ops", every=HOUR)
        last = await run_then_stop(env, "hourly", 2)
        first = await started_fire_times(env, "hourly")
        stopped_at = env.clock.now()
    async with restarted(reusable_store, stopped_at) as env:
        times = await until_started(env, "hourly", len(first) + 2)
        described = await until_described(
            env.engine.get_schedule("hourly"), lambda d: d.started_count >= len(first) + 2
        )
    assert times[: len(first) + 2] == [*first, last + HOUR, last + 2 * HOUR]
    assert described.started_count >= len(first) + 2


@pytest.mark.parametrize(
    ("catchup", "caught_up"),
    [("all", [1, 2, 3, 4, 5]), ("latest", [5]), ("none", [])],
)
async def test_fire_times_missed_while_the_engine_was_down_are_caught_up_per_policy(
    reusable_store: str | EventStore, catchup: str, caught_up: list[int]
) -> None:
    async with environment(reusable_store) as env:
        await env.engine.create_schedule(
            "hourly", report, "ops", every=HOUR, catchup=catchup, overlap="allow_all"
        )
        last = await run_then_stop(env, "hourly", 2)
    missed = [last + n * HOUR for n in range(1, 6)]
    # Down for five and a half hours after the last fire.
    async with restarted(reusable_store, last + timedelta(hours=5, minutes=30)) as env:

        async def next_regular_fire_started() -> bool:
            return last + 6 * HOUR in await started_fire_times(env, "hourly")

        await eventually(next_regular_fire_started)
        times = set(await started_fire_times(env, "hourly"))
    assert [t for t in missed if t in times] == [last + n * HOUR for n in caught_up]


async def test_a_schedule_continues_as_new_and_keeps_its_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schedule_workflow, "CONTINUE_AS_NEW_AFTER", 3)
    async with environment("memory://") as env:
        handle = await env.engine.create_schedule("hourly", report, "ops", every=HOUR)
        times = await until_started(env, "hourly", 8)
        described = await until_described(handle, lambda d: d.started_count >= 8)
        history = await env.engine.get_handle(handle.workflow_id).history()
    assert "WorkflowContinuedAsNew" in {event.type for event in history}
    assert len({event.run_id for event in history}) >= 2
    assert times == [times[0] + n * HOUR for n in range(len(times))]
    assert described.started_count >= 8


def as_recorded_before_time_zones(document: str) -> str:
    """A schedule's history document as older versions recorded it.

    Their payloads had no time zone in the spec, and no time zone or target in
    an update; here every ``timezone`` and every null field is left out.
    """

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "timezone" and v is not None}
        return [strip(v) for v in value] if isinstance(value, list) else value

    def strip_payloads(value: Any) -> Any:
        if isinstance(value, dict) and value.get("metadata", {}).get("encoding") == "json/plain":
            data = strip(json.loads(base64.b64decode(value["data"])))
            return {**value, "data": base64.b64encode(json.dumps(data).encode()).decode()}
        if isinstance(value, dict):
            return {k: strip_payloads(v) for k, v in value.items()}
        return [strip_payloads(v) for v in value] if isinstance(value, list) else value

    return json.dumps(strip_payloads(json.loads(document)))


def spec_recorded(history: list[Event]) -> Any:
    """The spec in the recorded input of a schedule's workflow, as plain JSON."""
    started = history[0].body
    assert isinstance(started, WorkflowStarted)
    return from_payload(started.input[0])["spec"]


async def test_a_schedule_history_recorded_without_a_time_zone_replays_and_runs_on_as_utc(
    reusable_store: str | EventStore,
) -> None:
    async with environment("memory://") as env:
        handle = await env.engine.create_schedule("legacy", report, "ops", cron="0 * * * *")
        await until_started(env, "legacy", 1)
        await handle.update(cron="30 * * * *", overlap="allow_all")
        count = len(await started_fire_times(env, "legacy"))
        last = await run_then_stop(env, "legacy", count + 2)  # the last on the new cron
        stopped_at = env.clock.now()
        recorded = await env.engine.store.read_events(handle.workflow_id)
    old = as_recorded_before_time_zones(history_to_json(recorded))
    assert "SignalReceived" in {event.type for event in recorded}
    assert [spec_recorded(events) for events in (recorded, history_from_json(old))] == [
        {"cron": "0 * * * *", "every": None, "timezone": "UTC"},
        {"cron": "0 * * * *"},
    ]

    Replayer(workflows=[ScheduleWorkflow]).replay(old)

    # The old history into the store, as if recorded there (memory: the very store).
    store = (
        load_plugins().event_store(reusable_store)
        if isinstance(reusable_store, str)
        else reusable_store
    )
    await store.open()
    try:
        assert await store.append([batch_for(None, 0, history_from_json(old))]) == [None]
    finally:
        await store.close()
    async with restarted(reusable_store, stopped_at) as env:
        times = await until_started(env, "legacy", 2)
        described = await env.engine.get_schedule("legacy").describe()
    assert last.minute == 30
    assert times[:2] == [last + HOUR, last + 2 * HOUR]
    assert (described.cron, described.time_zone, described.overlap) == (
        "30 * * * *", "UTC", "allow_all"
    )  # fmt: skip


async def test_a_run_that_cannot_start_is_recorded_as_failed_and_the_schedule_goes_on(
    reusable_store: str | EventStore,
) -> None:
    async with environment(reusable_store) as env:
        handle = await env.engine.create_schedule("hourly", report, "ops", every=HOUR)
        await handle.pause()
        started = (await until_described(handle, lambda d: d.paused)).started_count
    # An engine on which the target workflow is not registered.
    async with WorkflowEnvironment(store=reusable_store, workflows=[Blocker]) as env:
        handle = env.engine.get_schedule("hourly")
        await handle.resume()
        described = await until_described(
            handle, lambda d: [r.outcome for r in d.recent_runs[-2:]] == ["failed", "failed"]
        )
    assert "'report' is not registered" in described.recent_runs[-1].error
    assert described.started_count == started
