"""Payload conversion: typed Python values to JSON payloads and back, through pydantic.

Type hints drive (de)serialisation; a value that does not fit its declared
type is a `PayloadValidationError`, raised before anything is recorded.
Payloads are JSON (``json/plain``); pickle never. Codecs (encryption,
compression) work on the bytes afterwards, see `aion_core.codec`.

A payload is also size-checked when its encoder has a limit (``max_bytes``):
the `Engine`, `Client` and `Worker` pass their ``max_payload_bytes``, so an
oversized workflow input, signal, query or update argument, activity input or
result, or workflow result is a `PayloadTooLargeError` before it is recorded
or sent, not a store or transport failure later.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pydantic import PydanticSchemaGenerationError, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from aion_core.codec import payloads_in
from aion_core.errors import ConfigurationError, PayloadTooLargeError, PayloadValidationError
from aion_core.events import Payload

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "JSON_ENCODING",
    "check_max_payload_bytes",
    "check_payload_size",
    "check_payloads_in",
    "from_payload",
    "from_payloads",
    "to_payload",
    "to_payloads",
    "validate_args",
]

JSON_ENCODING = "json/plain"
_METADATA = {"encoding": JSON_ENCODING}

DEFAULT_MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""Largest serialised JSON of one payload an `Engine`, `Client` or `Worker` accepts (2 MiB).

Every payload is stored in an event row and may cross the transport inside a call
(`aion_core.calls.MAX_WIRE_BYTES` is 8 MiB): large data belongs elsewhere, with a
reference to it in the payload. Raise it with ``max_payload_bytes=``.
"""


def check_max_payload_bytes(limit: int | None) -> int | None:
    """`limit` when it is a usable ``max_payload_bytes`` (None: no limit).

    Raises:
        ConfigurationError: It is not a positive integer.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigurationError(f"max_payload_bytes must be a positive integer, not {limit!r}")
    return limit


def check_payload_size(payload: Payload, max_bytes: int | None, what: str) -> Payload:
    """`payload`, unless its data is larger than `max_bytes` (None: no limit).

    Raises:
        PayloadTooLargeError: It is larger; the message names `what`, its size and the limit.
    """
    if max_bytes is not None and len(payload.data) > max_bytes:
        raise PayloadTooLargeError(what, len(payload.data), max_bytes)
    return payload


def check_payloads_in(value: Any, max_bytes: int | None, what: str) -> None:
    """Check every payload inside `value` (a call, an event body) against `max_bytes`.

    Raises:
        PayloadTooLargeError: One is larger; the message names `what`, its size and the limit.
    """
    if max_bytes is None:
        return
    for payload in payloads_in(value):
        check_payload_size(payload, max_bytes, f"a payload of {what}")


@lru_cache(maxsize=1024)
def _adapter(type_hint: Any) -> TypeAdapter[Any]:
    try:
        return TypeAdapter(type_hint)
    except PydanticSchemaGenerationError as error:
        raise PayloadValidationError(
            f"values of type {type_hint!r} cannot be serialised as JSON ({error})"
        ) from None


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where + ': ' if where else ''}{first['msg']}"


def _type_name(type_hint: Any) -> str:
    return getattr(type_hint, "__name__", None) or repr(type_hint)


def to_payload(
    value: Any, type_hint: Any = Any, *, what: str = "value", max_bytes: int | None = None
) -> Payload:
    """Serialise `value` as a JSON payload, checking it against `type_hint` and `max_bytes`.

    Raises:
        PayloadValidationError: It does not fit `type_hint` or is not JSON-serialisable.
        PayloadTooLargeError: Its JSON is larger than `max_bytes` (None: no limit).
    """
    adapter = _adapter(type_hint)
    try:
        if type_hint is not Any:
            value = adapter.validate_python(value)
        payload = Payload(metadata=_METADATA, data=adapter.dump_json(value))
    except ValidationError as error:
        raise PayloadValidationError(
            f"{what} is not a valid {_type_name(type_hint)}: {_problem(error)}"
        ) from None
    except PydanticSerializationError as error:
        raise PayloadValidationError(f"{what} cannot be serialised as JSON: {error}") from None
    return check_payload_size(payload, max_bytes, what)


def from_payload(payload: Payload, type_hint: Any = Any, *, what: str = "value") -> Any:
    """The value of a JSON payload, validated as `type_hint`."""
    encoding = payload.metadata.get("encoding")
    if encoding != JSON_ENCODING:
        raise PayloadValidationError(
            f"{what} has encoding {encoding!r}, not {JSON_ENCODING!r}; "
            "is the payload codec that wrote it (for example an encryption plugin) installed?"
        )
    try:
        return _adapter(type_hint).validate_json(payload.data)
    except ValidationError as error:
        raise PayloadValidationError(
            f"{what} is not a valid {_type_name(type_hint)}: {_problem(error)}"
        ) from None


def _check_count(args: Sequence[Any], types: Sequence[Any], what: str) -> None:
    most = len(types)
    least: int = getattr(types, "required", most)  # trailing parameters with defaults
    if least <= len(args) <= most:
        return
    takes = f"{most}" if least == most else f"{least} to {most}"
    raise PayloadValidationError(
        f"{what} takes {takes} argument{'s' if most != 1 else ''}, got {len(args)}"
    )


def validate_args(args: Sequence[Any], types: Sequence[Any] | None, what: str) -> None:
    """Raise `PayloadValidationError` unless `args` fit `types` (None: anything)."""
    if types is not None:
        _check_count(args, types, what)


def to_payloads(
    args: Sequence[Any], types: Sequence[Any] | None, what: str, *, max_bytes: int | None = None
) -> tuple[Payload, ...]:
    """Serialise positional arguments; `types` None accepts any number of JSON values.

    Each argument is one payload, checked against `max_bytes` on its own.
    """
    validate_args(args, types, what)
    hints = types[: len(args)] if types is not None else [Any] * len(args)
    return tuple(
        to_payload(arg, hint, what=f"{what} argument {index + 1}", max_bytes=max_bytes)
        for index, (arg, hint) in enumerate(zip(args, hints, strict=True))
    )


def from_payloads(payloads: Sequence[Payload], types: Sequence[Any] | None, what: str) -> list[Any]:
    """Deserialise positional arguments; `types` None decodes plain JSON values."""
    validate_args(payloads, types, what)
    hints = types[: len(payloads)] if types is not None else [Any] * len(payloads)
    return [
        from_payload(payload, hint, what=f"{what} argument {index + 1}")
        for index, (payload, hint) in enumerate(zip(payloads, hints, strict=True))
    ]
