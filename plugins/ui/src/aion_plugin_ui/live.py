"""Server-sent events: a page subscribes, the server polls the store and pushes what changed.

Polling the store (about once a second, per open page) keeps the console
independent of the transport: it shows what is durable, as every other page
does, and works with the store alone. A message is sent only when the
rendered content changed; a comment line every few seconds keeps proxies
from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import StreamingResponse

__all__ = ["HEARTBEAT_SECONDS", "Change", "event_stream", "sse_message"]

HEARTBEAT_SECONDS = 15.0
RETRY_MILLISECONDS = 2000
"""How soon a browser reconnects a dropped stream."""

Change = tuple[str, Mapping[str, Any]] | None
"""An event name and its data, or None when nothing changed."""


def sse_message(event: str, data: Mapping[str, Any]) -> str:
    """One server-sent event; the data is JSON (one line: JSON escapes newlines)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _poll(look: Callable[[], Awaitable[Change]], interval: float) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    quiet = 0.0
    while True:
        change = await look()
        if change is not None:
            yield sse_message(*change)
            quiet = 0.0
        elif quiet >= HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(interval)
        quiet += interval


def event_stream(look: Callable[[], Awaitable[Change]], interval: float) -> StreamingResponse:
    """A ``text/event-stream`` response calling `look` every `interval` seconds.

    It runs until the browser goes away: Starlette cancels the stream when the client
    disconnects.
    """
    return StreamingResponse(
        _poll(look, interval),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
