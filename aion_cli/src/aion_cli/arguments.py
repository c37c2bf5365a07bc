"""Values typed on the command line: JSON arguments, search attributes, durations, sizes."""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from typing import Any

import click

from aion_core.events import SearchAttributeValue

__all__ = ["ByteSize", "json_arguments", "parse_byte_size", "parse_duration", "search_attributes"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BYTE_SIZE = re.compile(r"(\d+)\s*(B|KiB|MiB|GiB)?", re.IGNORECASE)
_UNIT_BYTES = {"b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def json_arguments(raw: str | None, option: str = "--input") -> list[Any]:
    """The argument list `raw` gives: a JSON array is the list, any other value the only one.

    Raises:
        click.BadParameter: `raw` is not JSON (exit code 2).
    """
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise click.BadParameter(f"{option} is not valid JSON: {error}") from None
    return value if isinstance(value, list) else [value]


def search_attributes(pairs: tuple[str, ...]) -> dict[str, SearchAttributeValue]:
    """``KEY=VALUE`` pairs; a VALUE that is a JSON number or boolean is one, else it is text.

    Raises:
        click.BadParameter: A pair without ``=`` or with an empty key.
    """
    found: dict[str, SearchAttributeValue] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE, for example --search region=eu")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if isinstance(value, float) and not math.isfinite(value):
            value = text
        found[key] = value if isinstance(value, bool | int | float | str) else text
    return found


def parse_duration(text: str) -> timedelta:
    """A duration such as ``90``, ``30s``, ``15m``, ``1h30m`` or ``2d`` (a bare number: seconds).

    Raises:
        click.BadParameter: Not a positive duration in that form.
    """
    seconds: float
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            raise click.BadParameter(
                f"{text!r} is not a duration; use for example 90, 30s, 15m, 1h30m or 2d"
            ) from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise click.BadParameter(f"{text!r} is not a positive duration")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:  # past timedelta's 999999999 days
        raise click.BadParameter(f"{text!r} is too long a duration") from None


def parse_byte_size(text: str) -> int:
    """A size such as ``2097152``, ``512KiB``, ``4MiB`` or ``1GiB`` in bytes (a bare number: bytes).

    Raises:
        click.BadParameter: Not a positive size in that form.
    """
    found = _BYTE_SIZE.fullmatch(text.strip())
    if found is None:
        raise click.BadParameter(
            f"{text!r} is not a size; use for example 2097152, 512KiB, 4MiB or 1GiB"
        )
    size = int(found[1]) * _UNIT_BYTES[(found[2] or "b").lower()]
    if size < 1:
        raise click.BadParameter(f"{text!r} is not a positive size")
    return size


class ByteSize(click.ParamType[int]):
    """A Click type for sizes in bytes (`parse_byte_size`)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """The size in bytes; an int passes through (a default, or a number from aion.toml)."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                self.fail(f"{value} is not a positive size", param, ctx)
            return value
        try:
            return parse_byte_size(str(value))
        except click.BadParameter as error:
            self.fail(error.message, param, ctx)
