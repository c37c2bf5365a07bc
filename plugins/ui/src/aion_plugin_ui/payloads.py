"""Payloads as people read them: decoded by the loaded plugins' codecs when they can be.

An encryption plugin without its key (or a payload under a key this process
does not have) is no error for the console: the payload is shown as what it
is, encoded bytes, with a note saying why, and the rest of the page renders.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from aion_core.codec import PayloadCodecChain
from aion_core.converter import JSON_ENCODING
from aion_core.errors import AionError
from aion_core.events import Payload
from aion_core.plugins import Plugins
from pydantic import BaseModel

__all__ = ["PayloadDecoder", "PayloadView", "payload_fields", "view_payload"]

log = logging.getLogger("aion.ui")

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class PayloadView:
    """One payload, ready to show.

    Attributes:
        label: Where it sits (``input[0]``, ``result``, ...).
        text: Indented JSON, or a description of the encoded bytes.
        readable: Whether `text` is the value (else the payload is still encoded).
        encoding: The payload's ``encoding`` metadata.
        size: Its data's length in bytes.
    """

    label: str
    text: str
    readable: bool
    encoding: str
    size: int


def view_payload(label: str, payload: Payload) -> PayloadView:
    """`payload` as indented JSON when it is JSON, else described by its metadata."""
    encoding = payload.metadata.get("encoding", "binary")
    if encoding == JSON_ENCODING:
        try:
            text = json.dumps(json.loads(payload.data), indent=2, ensure_ascii=False)
        except ValueError:
            text = repr(payload.data)
        return PayloadView(label, text, True, encoding, len(payload.data))
    described = ", ".join(f"{key}={value}" for key, value in sorted(payload.metadata.items()))
    text = f"<{len(payload.data)} bytes, {described or 'no metadata'}>"
    return PayloadView(label, text, False, encoding, len(payload.data))


def payload_fields(body: BaseModel) -> list[tuple[str, Payload]]:
    """The payloads directly in an event body's fields, labelled by field (and index)."""
    found: list[tuple[str, Payload]] = []
    for name in type(body).model_fields:
        value = getattr(body, name)
        if isinstance(value, Payload):
            found.append((name, value))
        elif isinstance(value, tuple) and value and isinstance(value[0], Payload):
            found.extend((f"{name}[{index}]", item) for index, item in enumerate(value))
    return found


class PayloadDecoder:
    """The loaded plugins' payload codecs, applied where they can be.

    A codec plugin that cannot work here (the crypto plugin without keys
    refuses with `ConfigurationError`) leaves payloads encoded; `problem` says why.

    Args:
        plugins: The loaded plugins.
    """

    def __init__(self, plugins: Plugins) -> None:
        self.problem: str | None = None
        try:
            codecs = plugins.payload_codecs()
        except AionError as error:
            self.problem = f"payloads are shown as stored: {error}"
            codecs = []
        self._chain = PayloadCodecChain(codecs)

    @property
    def decodes(self) -> bool:
        """Whether any codec applies."""
        return bool(self._chain.codecs)

    async def decode_in(self, model: _M) -> tuple[_M, str | None]:
        """`model` (an event) with its payloads decoded, or as it is and why not."""
        if not self._chain.codecs:
            return model, None
        try:
            return await self._chain.decode_payloads_in(model), None
        except Exception as error:  # a codec's error type is the plugin's own
            log.debug("payloads left encoded: %s", error)
            return model, f"{type(error).__name__}: {error}"

    async def decode_all(self, models: Sequence[_M]) -> tuple[list[_M], int]:
        """Every model decoded where possible, and how many could not be."""
        decoded: list[_M] = []
        failures = 0
        for model in models:
            result, problem = await self.decode_in(model)
            decoded.append(result)
            failures += problem is not None
        return decoded, failures
