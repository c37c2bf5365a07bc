"""Claiming due timers: engines sharing a store split the firing, and leases run out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio

from aion_core.events import TimerFired, TimerStarted, WorkflowStarted
from aion_core.store.projection import batch_for
from aion_core.testing.store_contract import T0, make_events
from aion_store_sql import SqlEventStore

MINUTE = timedelta(minutes=1)


@pytest_asyncio.fixture
async def store(sql_url: str) -> AsyncIterator[SqlEventStore]:
    async with SqlEventStore(sql_url) as store:
        for n in range(10):
            events = make_events(
                f"w{n}",
                [
                    WorkflowStarted(workflow_type="Sleeper"),
                    TimerStarted(timer_id=1, fire_at=T0 + n * MINUTE, duration=n * MINUTE),
                ],
            )
            await store.append([batch_for(None, 0, events)])
        yield store


async def test_a_claim_takes_due_timers_earliest_first(store: SqlEventStore) -> None:
    claimed = await store.claim_due_timers(
        T0 + 4 * MINUTE, owner="a", lease=MINUTE, now=T0, limit=3
    )
    assert [t.workflow_id for t in claimed] == ["w0", "w1", "w2"]


async def test_a_claimed_timer_is_skipped_by_others_until_the_lease_runs_out(
    store: SqlEventStore,
) -> None:
    until = T0 + 2 * MINUTE
    first = await store.claim_due_timers(until, owner="a", lease=MINUTE, now=T0)
    assert [t.workflow_id for t in first] == ["w0", "w1", "w2"]
    assert await store.claim_due_timers(until, owner="b", lease=MINUTE, now=T0) == []
    assert await store.claim_due_timers(until, owner="a", lease=MINUTE, now=T0) == []
    # due_timers (the protocol's view) still lists claimed timers.
    assert len(await store.due_timers(until)) == 3
    later = T0 + MINUTE
    assert await store.claim_due_timers(until, owner="b", lease=MINUTE, now=later) == first


async def test_a_fired_timer_is_gone_and_a_rearmed_one_is_unclaimed(store: SqlEventStore) -> None:
    await store.claim_due_timers(T0, owner="a", lease=MINUTE, now=T0)
    record = await store.get_workflow("w0")
    fired = make_events(
        "w0",
        [TimerFired(timer_id=1), TimerStarted(timer_id=2, fire_at=T0, duration=MINUTE)],
        after_seq=2,
    )
    await store.append([batch_for(record, 2, fired)])
    claimed = await store.claim_due_timers(T0, owner="b", lease=MINUTE, now=T0)
    assert [(t.workflow_id, t.timer_id) for t in claimed] == [("w0", 2)]


async def test_concurrent_claims_never_share_a_timer(store: SqlEventStore) -> None:
    until = T0 + 10 * MINUTE

    async def claim(owner: str) -> list[str]:
        claimed: list[str] = []
        while batch := await store.claim_due_timers(
            until, owner=owner, lease=timedelta(hours=1), now=T0, limit=2
        ):
            claimed += [timer.workflow_id for timer in batch]
        return claimed

    results = await asyncio.gather(*(claim(f"engine-{n}") for n in range(4)))
    everything = [workflow_id for claimed in results for workflow_id in claimed]
    assert sorted(everything) == sorted(f"w{n}" for n in range(10))
