"""Time zones of cron schedules: IANA names, and the instant a wall-clock time fires at.

A cron schedule reads its fields as wall-clock time in its time zone. Around
daylight saving time changes a wall time can occur twice or not at all; the
rule is **one wall time, one fire**:

* A wall time that occurs once fires at that instant.
* A wall time that occurs twice (clocks fall back) fires once, at its first
  occurrence: ``30 2 * * *`` in Europe/Berlin fires at 02:30 CEST on the last
  Sunday of October, not again at 02:30 CET an hour later.
* A wall time that does not exist (clocks spring forward) fires once, at the
  first instant after the gap: ``30 2 * * *`` in Europe/Berlin fires at 03:00
  CEST on the last Sunday of March. Wall times inside one gap, and the wall
  time at its end, share that instant and so fire once together.

A skipped wall time fires late rather than not at all because a daily or
weekly job (a backup, a report) silently missing a day is the worse surprise,
and because cron itself (Vixie cron, cronie) runs a job whose fixed time was
skipped right after the change. Intervals (``every=``) are absolute and never
depend on a time zone; use one for work that must keep a fixed pace through
DST changes.

The rules of each zone come from the machine's time zone database (the
operating system's, or the ``tzdata`` package), as read by `zoneinfo`.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo

from aion_core.errors import ConfigurationError

__all__ = ["DEFAULT_TIME_ZONE", "fire_instant", "load_time_zone"]

DEFAULT_TIME_ZONE = "UTC"
"""The time zone of a schedule that names none; it needs no time zone database."""

_SECOND = timedelta(seconds=1)


def load_time_zone(name: str) -> tzinfo:
    """The time zone named `name` (an IANA name such as ``"Europe/Berlin"``, or ``"UTC"``).

    Raises:
        ConfigurationError: The name is unknown, or the machine has no time
            zone database (the message says to install ``tzdata``).
    """
    if name == DEFAULT_TIME_ZONE:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # ValueError: a malformed key
        raise _unknown_time_zone(name) from None


def _unknown_time_zone(name: str) -> ConfigurationError:
    known = zoneinfo.available_timezones()
    if not known:
        return ConfigurationError(
            f"time zone {name!r} cannot be loaded: this machine has no time zone database; "
            "install one (pip install tzdata, or the operating system's tzdata package)"
        )
    same_but_case = {zone.lower(): zone for zone in known}.get(name.strip().lower())
    hint = f"; did you mean {same_but_case!r}?" if same_but_case else ""
    return ConfigurationError(
        f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin', "
        f"'America/New_York' or 'UTC'{hint}"
    )


def _wall_time(instant: datetime, zone: tzinfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def fire_instant(wall: datetime, zone: tzinfo) -> datetime:
    """The instant (UTC) the naive wall-clock time `wall` in `zone` fires at, by the rule above."""
    # fold=0 reads a repeated wall time as its first occurrence.
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if zone is UTC or _wall_time(instant, zone) == wall:
        return instant
    # `wall` is in a gap. Read with the offset after the gap (fold=1) it is an
    # instant before the gap; read with the offset before (fold=0), one after.
    # The first instant after the gap is the earliest whose wall time is past `wall`.
    before, after = wall.replace(tzinfo=zone, fold=1).astimezone(UTC), instant
    while after - before > _SECOND:
        middle = before + (after - before) // _SECOND // 2 * _SECOND
        if _wall_time(middle, zone) > wall:
            after = middle
        else:
            before = middle
    return after
