"""Racing waits: the first of several things to happen, with the losers cleaned up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

__all__ = ["first_of"]


async def first_of(*waits: Awaitable[Any]) -> list[bool]:
    """Wait until one of `waits` finishes; cancel the others and wait for them to stop.

    Returns, for each wait in order, whether it finished (rather than being
    cancelled). Reaping the losers keeps cancelled tasks from being destroyed
    while pending at shutdown.
    """
    futures = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
        await asyncio.gather(*futures, return_exceptions=True)
    return [future.done() and not future.cancelled() for future in futures]
