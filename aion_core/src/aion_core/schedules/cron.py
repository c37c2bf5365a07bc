"""Five-field cron expressions (minute hour day-of-month month day-of-week), in a time zone.

Supported: ``*``, single values, lists (``1,15``), ranges (``1-5``), steps
(``*/15``, ``10-40/10``, ``5/20`` meaning ``5-59/20``), month names
(``jan``-``dec``), day names (``sun``-``sat``; Sunday is 0 or 7), and the
macros ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``,
``@midnight`` and ``@hourly``. As in Vixie cron, when both day fields are
restricted a day matches if either does; otherwise both must.

The fields are wall-clock time in the expression's time zone (UTC unless
given); fire times are instants in UTC. Around daylight saving time changes
each matching wall time fires once: a repeated one at its first occurrence, a
skipped one at the first instant after the gap (see
`aion_core.schedules.time_zones`). UTC has no daylight saving, so there no
time is skipped or repeated.
"""

from __future__ import annotations

import bisect
import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

from aion_core.errors import ConfigurationError
from aion_core.schedules.time_zones import DEFAULT_TIME_ZONE, fire_instant, load_time_zone

__all__ = ["CronExpression"]

_MONTH_NAMES = {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name}
_DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# A day-of-month that exists only in leap years recurs at most 8 years apart (2096 -> 2104).
_SEARCH_YEARS = 9


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, _MONTH_NAMES),
    _Field("day-of-week", 0, 7, _DAY_NAMES),
)


def _invalid(expression: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"invalid cron expression {expression!r}: {problem}")


def _value(text: str, field: _Field, expression: str) -> int:
    lowered = text.lower()
    if lowered in field.names:
        return field.names[lowered]
    if not text.isdigit():
        known = f" or a name ({', '.join(field.names)})" if field.names else ""
        raise _invalid(expression, f"{field.name} {text!r} is not a number{known}")
    value = int(text)
    if not field.low <= value <= field.high:
        raise _invalid(
            expression,
            f"{field.name} value {value} is out of range {field.low}-{field.high}",
        )
    return value


def _parse_field(text: str, field: _Field, expression: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise _invalid(expression, f"empty item in {field.name} list {text!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise _invalid(
                    expression, f"{field.name} step {step_text!r} must be a whole number >= 1"
                )
            step = int(step_text)
        if base == "*":
            start, end = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, field, expression), _value(last, field, expression)
            if start > end:
                raise _invalid(expression, f"{field.name} range {base!r} starts after it ends")
        else:
            start = _value(base, field, expression)
            # "5/20" is "5-max/20"; a lone value is just itself.
            end = field.high if slash else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


class CronExpression:
    """A parsed cron expression that yields its fire times.

    Args:
        expression: Five fields or a macro such as ``@daily``.
        time_zone: The IANA time zone its fields are read in (``"Europe/Berlin"``).

    Raises:
        ConfigurationError: The expression is malformed or can never fire (the
            message names the field and value at fault), or the time zone is unknown.
    """

    def __init__(self, expression: str, time_zone: str = DEFAULT_TIME_ZONE) -> None:
        self.expression = expression
        self.time_zone = time_zone
        text = _MACROS.get(expression.strip().lower(), expression)
        parts = text.split()
        if len(parts) != 5:
            raise _invalid(
                expression,
                f"needs 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}",
            )
        minutes, hours, days, months, weekdays = (
            _parse_field(part, field, expression)
            for part, field in zip(parts, _FIELDS, strict=True)
        )
        self.minutes = tuple(sorted(minutes))
        self.hours = tuple(sorted(hours))
        self.days = days
        self.months = months
        # Sunday is both 0 and 7; Python counts Monday as 0.
        self.weekdays = frozenset((day - 1) % 7 for day in weekdays)
        self._days_restricted = not parts[2].startswith("*")
        self._weekdays_restricted = not parts[4].startswith("*")
        if self._days_restricted and not self._weekdays_restricted:
            longest = max(calendar.monthrange(2024, month)[1] for month in self.months)
            if min(self.days) > longest:
                raise _invalid(
                    expression,
                    f"never fires: no chosen month has day {min(self.days)}",
                )
        self._zone = load_time_zone(time_zone)

    def __repr__(self) -> str:
        if self.time_zone == DEFAULT_TIME_ZONE:
            return f"CronExpression({self.expression!r})"
        return f"CronExpression({self.expression!r}, {self.time_zone!r})"

    def _day_matches(self, moment: datetime) -> bool:
        day = moment.day in self.days
        weekday = moment.weekday() in self.weekdays
        if self._days_restricted and self._weekdays_restricted:
            return day or weekday
        return day and weekday

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment` (UTC, whole minutes).

        Raises:
            ConfigurationError: It never fires again (for example ``0 0 30 2 *``).
        """
        wall = moment.astimezone(self._zone).replace(tzinfo=None)
        # Wall times map to instants in order, but a repeated wall time maps to
        # its first occurrence: after `moment` in the second occurrence of a
        # repeated hour, the rest of that hour already fired and is passed over.
        while True:
            wall = self._next_wall_time(wall, moment)
            fire_at = fire_instant(wall, self._zone)
            if fire_at > moment:
                return fire_at

    def _next_wall_time(self, wall: datetime, moment: datetime) -> datetime:
        """The first matching (naive) wall time strictly after `wall`."""
        current = wall.replace(second=0, microsecond=0) + timedelta(minutes=1)
        last_year = current.year + _SEARCH_YEARS
        while current.year <= last_year:
            if current.month not in self.months:
                year, month = divmod(current.year * 12 + current.month, 12)
                current = datetime(year, month + 1, 1)
                continue
            if not self._day_matches(current):
                current = current.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            hour_index = bisect.bisect_left(self.hours, current.hour)
            if hour_index == len(self.hours):
                current = current.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if self.hours[hour_index] != current.hour:
                return current.replace(hour=self.hours[hour_index], minute=self.minutes[0])
            minute_index = bisect.bisect_left(self.minutes, current.minute)
            if minute_index == len(self.minutes):
                current = current.replace(minute=0) + timedelta(hours=1)
                continue
            return current.replace(minute=self.minutes[minute_index])
        raise _invalid(self.expression, f"never fires after {moment.isoformat()}")
