"""Slots: at most N holders, waiters served in order, a cancelled waiter never takes a slot."""

from __future__ import annotations

import asyncio

import pytest

from aion_core.slots import Slots


async def test_at_most_count_hold_a_slot_and_waiters_go_in_arrival_order() -> None:
    slots = Slots(2)
    order: list[int] = []
    holding = 0
    most = 0

    async def hold(n: int) -> None:
        nonlocal holding, most
        async with slots:
            holding += 1
            most = max(most, holding)
            order.append(n)
            await asyncio.sleep(0.001)
            holding -= 1

    await asyncio.gather(*(hold(n) for n in range(50)))
    assert most == 2
    assert order == list(range(50))


async def test_a_cancelled_waiter_does_not_keep_the_slot_it_was_handed() -> None:
    slots = Slots(1)
    await slots.acquire()
    first = asyncio.create_task(slots.acquire())
    second = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # hands the slot to `first` ...
    first.cancel()  # ... which is cancelled before it runs: the slot goes on to `second`
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    slots.release()
    await asyncio.wait_for(slots.acquire(), 1)  # and back to free afterwards


def test_a_slot_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        Slots(0)
