"""Timer queries: what is due, when the next one is, and claiming due timers to fire them."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from aion_core.errors import CorruptHistoryError
from aion_core.store.records import TimerRecord
from aion_store_sql.rows import timer_from_row
from aion_store_sql.schema import TimerRow

__all__ = ["claim_due_timers", "due_timers", "next_timer_at"]

log = logging.getLogger("aion.store.sql")

_ORDER = (TimerRow.fire_at, TimerRow.workflow_id, TimerRow.run_id, TimerRow.timer_id)


def due_timers(connection: Connection, until: datetime, limit: int) -> list[TimerRecord]:
    """Armed timers with ``fire_at <= until``, earliest first, claimed or not."""
    statement = (
        select(TimerRow.workflow_id, TimerRow.run_id, TimerRow.timer_id, TimerRow.fire_at)
        .where(TimerRow.fire_at <= until)
        .order_by(*_ORDER)
        .limit(limit)
    )
    return _decode([row._mapping for row in connection.execute(statement).all()])


def next_timer_at(connection: Connection) -> datetime | None:
    """When the earliest armed timer is due."""
    earliest: datetime | None = (
        connection.execute(select(func.min(TimerRow.fire_at)))
    ).scalar_one()
    return earliest


def claim_due_timers(
    connection: Connection,
    until: datetime,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[TimerRecord]:
    """Lease due timers that nobody holds to `owner`, inside the caller's write transaction.

    ``FOR UPDATE SKIP LOCKED`` lets engines on one PostgreSQL claim at the same
    time: each skips the rows another is claiming instead of waiting for them.
    SQLite has no row locks and needs none: its single writer serialises claims.
    """
    statement = (
        select(TimerRow.workflow_id, TimerRow.run_id, TimerRow.timer_id, TimerRow.fire_at)
        .where(
            TimerRow.fire_at <= until,
            or_(TimerRow.claimed_until.is_(None), TimerRow.claimed_until <= now),
        )
        .order_by(*_ORDER)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = [row._mapping for row in connection.execute(statement).all()]
    if rows:
        connection.execute(
            update(TimerRow)
            .where(
                TimerRow.workflow_id == bindparam("w"),
                TimerRow.run_id == bindparam("r"),
                TimerRow.timer_id == bindparam("t"),
            )
            .values(claimed_by=owner, claimed_until=now + lease),
            [{"w": row["workflow_id"], "r": row["run_id"], "t": row["timer_id"]} for row in rows],
        )
    return _decode(rows)


def _decode(rows: Sequence[Mapping[Any, Any]]) -> list[TimerRecord]:
    timers = []
    for row in rows:
        try:
            timers.append(timer_from_row(row))
        except CorruptHistoryError as error:
            # One bad row must not stop every other workflow's timers from firing.
            log.error("skipping a timer: %s", error)
    return timers
