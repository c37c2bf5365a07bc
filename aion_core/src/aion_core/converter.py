"""Payload conversion: typed Python values to JSON payloads and back, through pydantic.

Type hints drive (de)serialisation; a value that does not fit its declared
type is a `PayloadValidationError`, raised before anything is recorded.
Payloads are JSON (``json/plain``); pickle never. Codecs (encryption,
compression) work on the bytes afterwards, see `aion_core.codec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pydantic import PydanticSchemaGenerationError, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from aion_core.errors import PayloadValidationError
from aion_core.events import Payload

__all__ = [
    "JSON_ENCODING",
    "from_payload",
    "from_payloads",
    "to_payload",
    "to_payloads",
    "validate_args",
]

JSON_ENCODING = "json/plain"
_METADATA = {"encoding": JSON_ENCODING}


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


def to_payload(value: Any, type_hint: Any = Any, *, what: str = "value") -> Payload:
    """Serialise `value` as a JSON payload, checking it against `type_hint`."""
    adapter = _adapter(type_hint)
    try:
        if type_hint is not Any:
            value = adapter.validate_python(value)
        return Payload(metadata=_METADATA, data=adapter.dump_json(value))
    except ValidationError as error:
        raise PayloadValidationError(
            f"{what} is not a valid {_type_name(type_hint)}: {_problem(error)}"
        ) from None
    except PydanticSerializationError as error:
        raise PayloadValidationError(f"{what} cannot be serialised as JSON: {error}") from None


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
    if len(args) != len(types):
        raise PayloadValidationError(
            f"{what} takes {len(types)} argument{'s' if len(types) != 1 else ''}, got {len(args)}"
        )


def validate_args(args: Sequence[Any], types: Sequence[Any] | None, what: str) -> None:
    """Raise `PayloadValidationError` unless `args` fit `types` (None: anything)."""
    if types is not None:
        _check_count(args, types, what)


def to_payloads(args: Sequence[Any], types: Sequence[Any] | None, what: str) -> tuple[Payload, ...]:
    """Serialise positional arguments; `types` None accepts any number of JSON values."""
    validate_args(args, types, what)
    hints = types if types is not None else [Any] * len(args)
    return tuple(
        to_payload(arg, hint, what=f"{what} argument {index + 1}")
        for index, (arg, hint) in enumerate(zip(args, hints, strict=True))
    )


def from_payloads(payloads: Sequence[Payload], types: Sequence[Any] | None, what: str) -> list[Any]:
    """Deserialise positional arguments; `types` None decodes plain JSON values."""
    validate_args(payloads, types, what)
    hints = types if types is not None else [Any] * len(payloads)
    return [
        from_payload(payload, hint, what=f"{what} argument {index + 1}")
        for index, (payload, hint) in enumerate(zip(payloads, hints, strict=True))
    ]
