"""What a schedule is: its timing rule, its policies, its recorded state and its description.

The state travels as the input of the schedule workflow (and through
continue-as-new), so everything here is a pydantic model that round-trips
through JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from aion_core.errors import AionError, ConfigurationError
from aion_core.events import ScheduleAction, ScheduleSpec
from aion_core.schedules.cron import CronExpression
from aion_core.schedules.time_zones import DEFAULT_TIME_ZONE

__all__ = [
    "LATE_FIRE_GRACE",
    "CatchupPolicy",
    "Interval",
    "OverlapPolicy",
    "ScheduleAlreadyExistsError",
    "ScheduleDescription",
    "ScheduleNotFoundError",
    "ScheduleRun",
    "ScheduleState",
    "build_spec",
    "changed_spec",
    "check_policies",
    "fire_times",
    "latest_fire_time",
    "rule_of",
]

OverlapPolicy = Literal["skip", "buffer_one", "cancel_other", "allow_all"]
"""What a fire does while the schedule's previous run is still open."""

CatchupPolicy = Literal["all", "latest", "none"]
"""Which fire times missed while the engine was down are run when it is back."""

LATE_FIRE_GRACE = timedelta(minutes=1)
"""A fire time the schedule wakes up to within this long is on time, not missed."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ScheduleAlreadyExistsError(AionError):
    """A schedule with this id exists (and is not deleted)."""

    def __init__(self, schedule_id: str) -> None:
        self.schedule_id = schedule_id
        super().__init__(
            f"schedule {schedule_id!r} already exists; delete it first or use "
            f"get_schedule({schedule_id!r})"
        )


class ScheduleNotFoundError(AionError, LookupError):
    """No schedule with this id exists (never created, or deleted)."""

    def __init__(self, schedule_id: str) -> None:
        self.schedule_id = schedule_id
        super().__init__(f"no schedule with id {schedule_id!r}")


class Interval:
    """Fire every `every`, on multiples of it counted from the Unix epoch (UTC).

    Anchoring at the epoch makes ``every=timedelta(hours=1)`` fire on the hour,
    whenever the schedule was created.
    """

    def __init__(self, every: timedelta) -> None:
        self.every = every

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment`."""
        periods = (moment - _EPOCH) // self.every
        return _EPOCH + (periods + 1) * self.every


Rule = CronExpression | Interval


def build_spec(
    cron: str | None, every: timedelta | None, time_zone: str = DEFAULT_TIME_ZONE
) -> ScheduleSpec:
    """A checked timing rule: exactly one of `cron` and `every`, and the time zone of a cron.

    Raises:
        ConfigurationError: Neither or both given, a malformed cron expression,
            an unknown time zone, an interval under one second, or an interval
            with a time zone other than UTC (intervals are absolute).
    """
    if (cron is None) == (every is None):
        raise ConfigurationError("a schedule needs exactly one of cron=... and every=...")
    if cron is not None:
        CronExpression(cron, time_zone)
    elif every is not None:
        if every < timedelta(seconds=1):
            raise ConfigurationError(
                f"every={every!r} is too short; a schedule fires at most every 1s"
            )
        if time_zone != DEFAULT_TIME_ZONE:
            raise ConfigurationError(
                f"time_zone={time_zone!r} applies to cron schedules only: every= intervals "
                "are absolute (counted from the Unix epoch), so leave time_zone out"
            )
    return ScheduleSpec(cron=cron, every=every, timezone=time_zone)


def changed_spec(
    spec: ScheduleSpec, rule: ScheduleSpec | None, time_zone: str | None
) -> ScheduleSpec:
    """`spec` after an update: the new `rule` (if any), read in `time_zone` or the schedule's own.

    The time zone comes from `time_zone`, never from `rule`, so a new cron keeps
    the schedule's zone unless another is given. An interval is absolute: its
    time zone is always UTC (one sent for it anyway, in a race with a change to
    an interval, is dropped).
    """
    new = rule or spec
    zone = DEFAULT_TIME_ZONE if new.cron is None else (time_zone or spec.timezone)
    return new.model_copy(update={"timezone": zone})


def check_policies(overlap: str | None, catchup: str | None) -> None:
    """Raise `ConfigurationError` unless the given policies are known ones."""
    if overlap is not None and overlap not in get_args(OverlapPolicy):
        raise ConfigurationError(
            f"overlap={overlap!r} is not a policy; use one of {', '.join(get_args(OverlapPolicy))}"
        )
    if catchup is not None and catchup not in get_args(CatchupPolicy):
        raise ConfigurationError(
            f"catchup={catchup!r} is not a policy; use one of {', '.join(get_args(CatchupPolicy))}"
        )


def rule_of(spec: ScheduleSpec) -> Rule:
    """The fire-time iterator of a (checked) spec."""
    if spec.cron is not None:
        return CronExpression(spec.cron, spec.timezone)
    assert spec.every is not None
    return Interval(spec.every)


def fire_times(rule: Rule, after: datetime, upto: datetime) -> Iterator[datetime]:
    """Fire times in ``(after, upto]``, oldest first."""
    moment = rule.next_after(after)
    while moment <= upto:
        yield moment
        moment = rule.next_after(moment)


def latest_fire_time(rule: Rule, after: datetime, upto: datetime) -> datetime | None:
    """The last fire time in ``(after, upto]``, without walking a long downtime from its start."""
    if isinstance(rule, Interval):
        last = _EPOCH + ((upto - _EPOCH) // rule.every) * rule.every
        return last if last > after else None
    # Look back over growing windows: the first window holding a fire time has the latest one.
    for window in (timedelta(hours=1), timedelta(days=1), timedelta(days=32), timedelta(days=367)):
        start = max(after, upto - window)
        latest = None
        for latest in fire_times(rule, start, upto):  # noqa: B007
            pass
        if latest is not None or start == after:
            return latest
    latest = None
    for latest in fire_times(rule, after, upto):  # noqa: B007
        pass
    return latest


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleRun(_Model):
    """One decision of a schedule at a fire time.

    Attributes:
        fire_at: The fire time (for a trigger, when it was triggered).
        decided_at: Workflow time when the schedule acted on it.
        outcome: ``started``, ``skipped`` (overlap or full buffer), ``buffered``
            (waits for the previous run to close) or ``failed`` (could not start).
        workflow_id: The started workflow (``<schedule_id>-<fire time>``), when started.
        run_id: Its run, when started.
        manual: Whether `trigger()` asked for it.
        error: Why it failed, when it did.
    """

    fire_at: datetime
    decided_at: datetime
    outcome: Literal["started", "skipped", "buffered", "failed"]
    workflow_id: str | None = None
    run_id: str | None = None
    manual: bool = False
    error: str = ""


class ScheduleState(_Model):
    """Everything a schedule knows: its spec, policies, pause flag and the runs it started.

    It is the input of the ``aion.schedule`` workflow and is carried through
    continue-as-new, so the schedule's history stays bounded. The time zone of
    a cron is ``spec.timezone``, recorded with the rest; a history recorded
    before schedules had time zones lacks it and replays as UTC, as it ran.
    """

    schedule_id: str
    spec: ScheduleSpec
    action: ScheduleAction
    overlap: OverlapPolicy = "skip"
    catchup: CatchupPolicy = "latest"
    paused: bool = False
    note: str = ""
    created_at: datetime | None = None
    considered_upto: datetime | None = None
    """Every fire time up to here was acted on (fired, skipped or caught up per policy)."""
    buffered_fire_at: datetime | None = None
    last_workflow_id: str | None = None
    """The run the overlap policy looks at: the last one this schedule started."""
    started_count: int = 0
    skipped_count: int = 0
    recent_runs: list[ScheduleRun] = Field(default_factory=list)


class ScheduleDescription(_Model):
    """What `describe()` and `list_schedules()` report about a schedule.

    Attributes:
        schedule_id: Its id (the schedule workflow's id is ``schedule:<schedule_id>``).
        cron: Its cron expression, or None.
        every: Its interval, or None.
        time_zone: The IANA time zone its cron is read in (always UTC for an interval).
        workflow_type: The workflow it starts.
        task_queue: The task queue of the workflows it starts.
        overlap: Its overlap policy.
        catchup: Its catch-up policy.
        paused: Whether it is paused.
        note: The note of the last pause or resume.
        created_at: When it was created.
        next_fire_at: Its next fire time (None while paused).
        buffered_fire_at: A fire waiting for the previous run to close (``buffer_one``).
        started_count: Runs started so far.
        skipped_count: Fire times skipped by the overlap policy.
        recent_runs: The latest decisions, oldest first.
        deleted: Whether it was deleted (only seen from its final state).
    """

    schedule_id: str
    cron: str | None
    every: timedelta | None
    time_zone: str = DEFAULT_TIME_ZONE
    workflow_type: str
    task_queue: str
    overlap: OverlapPolicy
    catchup: CatchupPolicy
    paused: bool
    note: str
    created_at: datetime | None
    next_fire_at: datetime | None
    buffered_fire_at: datetime | None
    started_count: int
    skipped_count: int
    recent_runs: list[ScheduleRun]
    deleted: bool = False
