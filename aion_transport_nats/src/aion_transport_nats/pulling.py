"""Pulling from JetStream consumers, and stopping the tasks that pull, without losing a cancel.

On Python 3.11, `asyncio.wait_for` returns the result instead of raising
`CancelledError` when what it waits for completes in the same moment as the
cancellation of its task; nats-py waits for every pulled message that way.
A pulling loop whose cancellation is swallowed goes on pulling for ever, and
whoever awaits its end (a node giving up a partition, a worker stopping)
waits for ever too: the partition keeps its lease and nobody answers its calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext
from nats.js.errors import Error as JetStreamError

__all__ = ["fetch", "stop"]

_CANCEL_AGAIN_AFTER = 0.5
"""Seconds `stop` waits for a cancelled task before cancelling it again."""


async def fetch(
    subscription: JetStreamContext.PullSubscription, batch: int, timeout: float
) -> list[Msg]:
    """Up to `batch` messages of a pull consumer; none when `timeout` passed without one.

    Raises:
        asyncio.CancelledError: The calling task was cancelled during the fetch, even when
            nats-py returned messages instead; they are given back at once (``nak``), so
            another consumer gets them without waiting out the ack wait.
        nats.errors.Error, nats.js.errors.Error: The fetch failed otherwise.
    """
    try:
        messages = await subscription.fetch(batch, timeout=timeout)
    except (NatsTimeoutError, TimeoutError):
        messages = []
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        for msg in messages:
            with contextlib.suppress(NatsError, JetStreamError):
                await msg.nak()
        raise asyncio.CancelledError
    return messages


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait for its end, cancelling it again while it goes on.

    The task's own outcome (its exception, or its cancellation) is not raised here.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_CANCEL_AGAIN_AFTER)
    if not task.cancelled():
        task.exception()  # retrieved: the caller chose to stop it, not to hear of it
