"""Giving up a subscription never leaves a request unanswered.

Requests stream to a subscriber while it stops listening. Each must end in an
answer or in "no responders" (nobody was listening when it arrived): a request
that hears nothing at all was routed to the subscription and dropped by the
client, and its sender cannot tell whether it was carried out.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import nats.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from aion_transport_nats.connection import connect
from aion_transport_nats.listening import stop_listening

if TYPE_CHECKING:
    from conftest import NatsServer

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


async def test_a_subscription_stopped_while_nats_is_away_is_not_back_after_reconnecting(
    nats_server: NatsServer,
) -> None:
    """Nothing can be on its way while NATS is away; what matters is that the reconnect
    does not subscribe it again (a drain failing half-way would leave it to be replayed)."""
    server = await connect(nats_server.url, name="listening-test-away")
    client = await connect(nats_server.url, name="listening-test-asker")
    subject = f"listening.{uuid.uuid4().hex}"
    try:

        async def answer(msg: Msg) -> None:
            await msg.respond(b"!")

        subscription = await server.subscribe(subject, cb=answer)
        await server.flush()
        await _until_answered(client, subject)
        nats_server.kill()
        try:
            # Gone so recently the client may not know yet: the drain's round trip cannot
            # happen, so the wait ends at its timeout and the subscription is dropped.
            await asyncio.wait_for(stop_listening(server, subscription, timeout=1.0), 10.0)
        finally:
            nats_server.start()
        async with asyncio.timeout(30):
            while not (server.is_connected and client.is_connected):  # noqa: ASYNC110 - polls nats-py's state, nothing to wait on
                await asyncio.sleep(0.05)
        await server.flush()
        with pytest.raises(nats.errors.NoRespondersError):
            await client.request(subject, b"?", timeout=3)
    finally:
        await client.close()
        await server.close()
