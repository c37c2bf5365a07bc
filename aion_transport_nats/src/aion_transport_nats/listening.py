"""Stopping a core NATS subscription without dropping what is already on its way.

A plain ``unsubscribe`` forgets the subscription in the client at once. A
message the server routed to it before the UNSUB arrived still comes, finds
no subscription, and nats-py drops it: nobody answers, and the sender, whose
request found a subscriber, hears no "no responders" either. It waits out
its whole timeout, and for a signal it cannot know whether it was recorded.
A node giving up a partition while calls arrive hits exactly this window.

`stop_listening` drains instead: the server is told, a PING/PONG round trip
proves it has sent everything routed before, and the callback sees each of
those messages (a node that no longer owns the partition answers "ask the
new owner").
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

__all__ = ["stop_listening"]

log = logging.getLogger("aion.nats")


async def stop_listening(nc: NATS, subscription: Subscription, timeout: float) -> None:
    """Stop `subscription`, handing messages already sent to it to its callback first.

    While NATS is unreachable nothing can be on its way, and after `timeout`
    seconds the server is taken not to answer: the subscription is then
    forgotten here at once, so that no reconnect subscribes it again.
    """
    if nc.is_connected:
        try:
            await asyncio.wait_for(subscription.drain(), timeout)  # type: ignore[no-untyped-call]
            return
        except (NatsError, TimeoutError) as error:
            log.debug("draining %s failed (%r); dropping it", subscription.subject, error)
    _forget(nc, subscription)


def _forget(nc: NATS, subscription: Subscription) -> None:
    # nats-py has no public way to drop a subscription whose drain failed half-way
    # (it is marked closed, so unsubscribe() refuses it, yet it is still replayed on
    # every reconnect): these are the two steps unsubscribe() itself takes.
    subscription._stop_processing()
    nc._remove_sub(subscription._id)
