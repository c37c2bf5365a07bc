"""Payload codecs: transformations of payload bytes (encryption, compression).

Codecs come from the `aion_payload_codecs` hook. Encoding applies them in the
order the hook returns them; decoding applies them in reverse, so each codec
sees on the way back exactly what it produced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from aion_core.events import Payload

__all__ = ["PayloadCodec", "PayloadCodecChain", "payloads_in"]

_M = TypeVar("_M", bound=BaseModel)


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

    async def encode_payloads_in(self, model: _M) -> _M:
        """`model` (an event body) with every payload in it encoded."""
        return await self._transform(model, self.encode)

    async def decode_payloads_in(self, model: _M) -> _M:
        """`model` (an event body) with every payload in it decoded."""
        return await self._transform(model, self.decode)

    async def _transform(self, model: _M, codec: Callable[[Sequence[Payload]], Any]) -> _M:
        if not self.codecs:
            return model
        found = payloads_in(model)
        if not found:
            return model
        transformed = iter(await codec(found))
        result: _M = _replace_payloads(model, lambda _: next(transformed))
        return result


def payloads_in(value: Any) -> list[Payload]:
    """Every payload inside `value` (an event, a body, a call, a task...), in order."""
    found: list[Payload] = []

    def collect(payload: Payload) -> Payload:
        found.append(payload)
        return payload

    _replace_payloads(value, collect)
    return found


def _replace_payloads(value: Any, replace: Callable[[Payload], Payload]) -> Any:
    """`value` rebuilt with each payload inside it (models, tuples, dicts) replaced."""
    if isinstance(value, Payload):
        return replace(value)
    if isinstance(value, BaseModel):
        updates = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = _replace_payloads(old, replace)
            if new is not old:
                updates[name] = new
        return value.model_copy(update=updates) if updates else value
    if isinstance(value, tuple):
        items = tuple(_replace_payloads(item, replace) for item in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        mapped = {key: _replace_payloads(item, replace) for key, item in value.items()}
        return mapped if any(mapped[k] is not value[k] for k in value) else value
    return value
