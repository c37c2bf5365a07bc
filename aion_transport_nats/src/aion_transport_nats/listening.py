"""Starting and stopping core NATS subscriptions without losing a message on the way.

A plain ``subscribe`` only queues the SUB in the client: the client's flusher
writes it out later, and the server routes nothing to it before it reads it.
A node that reports owning a partition right away is sent calls the server
may route elsewhere meanwhile: to nobody ("no responders", asked again) or,
worse, only to a former owner that is frozen (SIGSTOP, a stalled VM) and
still subscribed, so the call waits out its sender's whole timeout, and a
signal's sender cannot tell whether it was recorded. Under CPU load the
flusher runs late enough for exactly that. `start_listening` returns only once
a PING/PONG round trip proves the server has the subscription.

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
import math
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

__all__ = ["start_listening", "stop_listening"]

log = logging.getLogger("aion.nats")


async def start_listening(
    nc: NATS,
    subject: str,
    callback: Callable[[Msg], Awaitable[None]],
    timeout: float,
    *,
    queue: str = "",
) -> Subscription:
    """Subscribe `callback` to `subject`; return once the server routes messages to it.

    While NATS is unreachable, or when the server does not answer within `timeout`
    seconds, it returns without that proof: the subscription still reaches the
    server as soon as the connection carries it (nats-py subscribes again on
    reconnecting).
    """
    subscription = await nc.subscribe(subject, queue=queue, cb=callback)
    if nc.is_connected:
        try:
            await nc.flush(max(1, math.ceil(timeout)))
        except NatsError as error:
            log.debug("subscribing to %s unconfirmed (%r); going on", subject, error)
    return subscription


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
