"""Schedules (DESIGN 4.8): cron and intervals, firing by themselves, policies, restarts.

Engine tests run under time skipping: the clock jumps to the next fire time
whenever the engine is idle, so hours of schedule pass in milliseconds. Each
wait is bounded by `BOUND` seconds of wall time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from aion_core import ConfigurationError, EventStore, PayloadValidationError, WorkflowStatus
from aion_core import workflow as wf
from aion_core.engine.clock import SkippingClock
from aion_core.schedules import (
    CronExpression,
    ScheduleAlreadyExistsError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleNotFoundError,
)
from aion_core.schedules import workflow as schedule_workflow
from aion_core.schedules.spec import Interval, latest_fire_time
from aion_core.testing import WorkflowEnvironment

BOUND = 10  # seconds of wall time for any wait below
HOUR = timedelta(hours=1)


@wf.defn
async def report(name: str) -> str:
    return f"report for {name}"


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


WORKFLOWS = [report, Blocker]


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
        # Waiting for the fire after the last one it started: none is in flight.
        started = await started_fire_times(env, schedule_id)
        described = await handle.describe()
        return described.started_count == len(started) and described.next_fire_at == max(
            started
        ) + timedelta(hours=1)

    await eventually(settled)
    return max(await started_fire_times(env, schedule_id))


def restarted(store: str | EventStore, at: datetime) -> WorkflowEnvironment:
    """A new engine on `store` whose clock starts at `at` (the old engine's time, or later)."""
    env = environment(store)
    env.skip(at - env.clock.now())
    return env


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
