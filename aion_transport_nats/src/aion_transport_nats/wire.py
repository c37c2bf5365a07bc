"""What aion puts on NATS subjects besides calls and tasks: live events and cancellations.

Calls, replies, tasks and reports are aion_core's own wire messages
(`aion_core.calls`, `aion_core.tasks`); this module adds the live event feed
and the request helper every sender shares. Garbage from the wire raises
`WireFormatError`; listeners log it and go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from nats.aio.client import Client as NATS
from nats.errors import MaxPayloadError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import TypeAdapter

from aion_core.calls import Call, QueryCall, WaitCall, decode_reply, decode_wire, encode_call
from aion_core.errors import NoReplyError, PayloadTooLargeError, TransportError
from aion_core.events import Event

__all__ = [
    "decode_events",
    "encode_events",
    "is_repeatable",
    "over_max_payload",
    "request_call",
]

log = logging.getLogger("aion.nats")

_EVENT: TypeAdapter[Event] = TypeAdapter(Event)
_EVENTS: TypeAdapter[list[Event]] = TypeAdapter(list[Event])
_RETRY_PAUSE = 0.2
"""Between attempts to reach an owner that is not there (yet): a partition moving."""
_ATTEMPT_TIMEOUT = 5.0
"""Wait for the first reply attempt before asking again (the owner may have died); each
further attempt waits twice as long, so a slow owner is not sent the same call again
and again."""


_NO_REPLY = "no reply"


def encode_events(events: Sequence[Event], max_bytes: int) -> list[bytes]:
    """Live events as few messages as fit `max_bytes` each: JSON arrays, in order.

    One message per append rather than per event: an engine publishes every
    append, mostly to no one, and each message costs it and the server alike. An
    event alone over `max_bytes` goes alone (the server refuses it; live events
    are best effort, the history has them all).
    """
    messages: list[bytes] = []
    batch: list[bytes] = []
    size = 2
    for event in events:
        encoded = _EVENT.dump_json(event)
        if batch and size + len(encoded) + 1 > max_bytes:
            messages.append(b"[" + b",".join(batch) + b"]")
            batch, size = [], 2
        batch.append(encoded)
        size += len(encoded) + 1
    if batch:
        messages.append(b"[" + b",".join(batch) + b"]")
    return messages


def decode_events(data: bytes) -> list[Event]:
    """Live events from a message of `encode_events`; `WireFormatError` for anything else."""
    return decode_wire(_EVENTS, data, "list of events")


def _first_attempt_timeout(call: Call, timeout: float) -> float:
    """How long the first attempt waits for a reply before asking again.

    Core NATS delivers at most once: a call can be lost (its owner died, or it
    arrived as a subscription was going). A query or a wait is bounded on the
    owner's side (its answer, or a timeout, comes within ``call.timeout`` or
    ``call.wait``), so silence beyond that means it is lost and is asked again.
    Calls that may have been recorded are never sent twice.
    """
    if not is_repeatable(call):
        return timeout
    if isinstance(call, QueryCall):
        return call.timeout + _ATTEMPT_TIMEOUT
    if isinstance(call, WaitCall):
        return call.wait + _ATTEMPT_TIMEOUT
    return _ATTEMPT_TIMEOUT


def over_max_payload(nc: NATS, what: str, size: int) -> PayloadTooLargeError:
    """The error for a message of `size` bytes the NATS server would refuse (its max_payload)."""
    return PayloadTooLargeError(
        what,
        size,
        nc.max_payload,
        fix="raise max_payload in the nats-server configuration (it caps every message)",
    )


def is_repeatable(call: Call) -> bool:
    """Whether asking `call` twice does what asking once does (all but signals and updates).

    A start carries its run id; reads, waits and queries change nothing.
    """
    return call.call not in ("submit", "update")


async def request_call(nc: NATS, subject: str, call: Call, timeout: float) -> object:
    """Send `call` to `subject` and return its reply value, asking again while nobody answers.

    A partition between owners has no responder for a moment: that is retried
    until `timeout` runs out. An owner that dies takes its reply with it: calls
    that are safe to repeat (a start carries its run id; reads, waits and
    queries change nothing) are asked again, while a signal, cancel or update
    whose reply was lost raises `TransportError`, since it may have been recorded.

    Raises:
        AionError: The owner's typed refusal.
        PayloadTooLargeError: The call is larger than the server's max_payload (not sent).
        TransportError: No engine answered within `timeout` seconds.
    """
    data = encode_call(call)
    deadline = time.monotonic() + timeout
    repeatable = is_repeatable(call)
    attempt_timeout = _first_attempt_timeout(call, timeout)
    last = "no engine answered"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            message = (
                f"{call.call} call for {call.workflow_id or 'the namespace'!r} on {subject!r}: "
                f"{last} within {timeout:g}s"
            )
            if last == _NO_REPLY:
                raise NoReplyError(f"{message}; the engine may be overloaded")
            raise TransportError(f"{message}; is an engine node (aion serve) running?")
        try:
            reply = await nc.request(subject, data, timeout=min(left, attempt_timeout))
        except MaxPayloadError:
            raise over_max_payload(nc, f"the {call.call} call", len(data)) from None
        except NoRespondersError:
            last = "no engine owns it at the moment"
        except NatsTimeoutError:
            if not repeatable:
                raise NoReplyError(
                    f"{call.call} call for {call.workflow_id!r}: no reply within {timeout:g}s; "
                    "it may or may not have been recorded (look at the history)"
                ) from None
            last = _NO_REPLY
            attempt_timeout *= 2
        else:
            if reply.headers and reply.headers.get("Aion-Retry"):
                last = reply.headers["Aion-Retry"]  # the node asked no longer owns it
            else:
                return decode_reply(call, reply.data)
        await asyncio.sleep(_RETRY_PAUSE)
