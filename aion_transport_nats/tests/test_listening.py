"""Giving up a subscription never leaves a request unanswered.

Requests stream to a subscriber while it stops listening. Each must end in an
answer or in "no responders" (nobody was listening when it arrived): a request
that hears nothing at all was routed to the subscription and dropped by the
client, and its sender cannot tell whether it was carried out.
"""

from __future__ import annotations

import asyncio
import uuid

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from aion_transport_nats.connection import connect
from aion_transport_nats.listening import stop_listening

_SENDERS = 8


async def _ask_until_nobody_listens(client: Client, subject: str, outcomes: list[str]) -> None:
    while True:
        try:
            await client.request(subject, b"?", timeout=3)
        except nats.errors.NoRespondersError:
            outcomes.append("no responders")
            return
        except nats.errors.TimeoutError:
            outcomes.append("lost")
            return
        outcomes.append("answered")


async def _until_answered(client: Client, subject: str) -> None:
    """Wait until the server routes `subject` to the new subscription (bounded)."""
    async with asyncio.timeout(10):
        while True:
            try:
                await client.request(subject, b"?", timeout=3)
                return
            except nats.errors.NoRespondersError:
                await asyncio.sleep(0.05)


async def test_requests_in_flight_are_answered_while_listening_stops(nats_url: str) -> None:
    server = await connect(nats_url, name="listening-test-server")
    client = await connect(nats_url, name="listening-test-client")
    subject = f"listening.{uuid.uuid4().hex}"
    try:

        async def answer(msg: Msg) -> None:
            await msg.respond(b"!")

        for _ in range(5):  # the window is narrow: stop listening mid-stream a few times
            subscription = await server.subscribe(subject, cb=answer)
            await server.flush()
            await _until_answered(client, subject)
            outcomes: list[str] = []
            senders = [
                asyncio.create_task(_ask_until_nobody_listens(client, subject, outcomes))
                for _ in range(_SENDERS)
            ]
            await asyncio.sleep(0.3)  # requests answered by now, more on their way
            await stop_listening(server, subscription, timeout=2.0)
            await asyncio.gather(*senders)
            assert outcomes.count("no responders") == _SENDERS
            assert "lost" not in outcomes
    finally:
        await client.close()
        await server.close()


async def test_a_subscription_is_forgotten_while_nats_is_unreachable(nats_url: str) -> None:
    server = await connect(nats_url, name="listening-test-closed")
    subscription = await server.subscribe(f"listening.{uuid.uuid4().hex}", cb=None)
    await server.close()  # no connection: nothing can be on its way
    # Must not wait for a round trip that cannot happen, nor raise.
    await asyncio.wait_for(stop_listening(server, subscription, timeout=30.0), 1.0)
