"""Payload codecs: transformations of payload bytes (encryption, compression).

Codecs come from the `aion_payload_codecs` hook. Encoding applies them in the
order the hook returns them; decoding applies them in reverse, so each codec
sees on the way back exactly what it produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aion_core.events import Payload

__all__ = ["PayloadCodec", "PayloadCodecChain"]


@runtime_checkable
class PayloadCodec(Protocol):
    """Transforms payloads on their way into and out of the history."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Transform payloads before they are recorded or sent."""
        ...

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Undo `encode`."""
        ...


class PayloadCodecChain:
    """Several codecs applied as one: in order to encode, in reverse to decode."""

    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self.codecs = tuple(codecs)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Apply every codec's `encode`, first to last."""
        result = list(payloads)
        for codec in self.codecs:
            result = await codec.encode(result)
        return result

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Apply every codec's `decode`, last to first."""
        result = list(payloads)
        for codec in reversed(self.codecs):
            result = await codec.decode(result)
        return result
