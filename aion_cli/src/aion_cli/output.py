"""How commands print: rich tables for people, stable JSON for scripts, times and failures.

User data (ids, payloads, messages) never goes through rich markup, so a
workflow id such as ``[bold]`` prints as it is.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import click
from pydantic import BaseModel
from pydantic_core import to_json, to_jsonable_python
from rich.console import Console
from rich.table import Table

from aion_core.errors import WorkflowFailureError

__all__ = [
    "console",
    "echo_json",
    "echo_value",
    "failure_message",
    "format_seconds",
    "format_time",
    "table",
]

_PIPE_WIDTH = 160
"""Columns of tables printed to a pipe or file (a terminal's own width applies there)."""


def console(*, stderr: bool = False) -> Console:
    """A console without markup; wide enough not to fold ids when printing to a pipe."""
    out = Console(markup=False, highlight=False, stderr=stderr)
    if not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = _PIPE_WIDTH
    return out


def table(*columns: str, title: str | None = None) -> Table:
    """A borderless table with `columns`, as every listing prints."""
    made = Table(*columns, title=title, title_justify="left", box=None, pad_edge=False)
    made.title_style = "bold"
    return made


def echo_json(value: Any) -> None:
    """Print `value` as indented JSON (pydantic models as ``model_dump(mode="json")``)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    click.echo(json.dumps(to_jsonable_python(value), indent=2, ensure_ascii=False))


def echo_value(value: Any) -> None:
    """Print a workflow's result, a query's answer or an update's value as one line of JSON."""
    click.echo(to_json(value).decode())


def format_time(moment: datetime | None) -> str:
    """`moment` in UTC to the millisecond (``2026-01-01 12:00:00.123Z``); "" for None."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def format_seconds(seconds: float) -> str:
    """A duration for people: ``0.25s``, ``42s``, ``3m 20s``, ``2h 5m``, ``3d 4h``."""
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 10:
        return f"{sign}{seconds:.2f}s"
    whole = int(seconds)
    for unit, size, smaller, smaller_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if whole >= size:
            rest = (whole % size) // smaller_size
            return f"{sign}{whole // size}{unit}" + (f" {rest}{smaller}" if rest else "")
    return f"{sign}{whole}s"


def failure_message(failure: WorkflowFailureError) -> str:
    """What a failed, cancelled, terminated or timed-out workflow says, with its cause."""
    cause = failure.__cause__
    return f"{failure}" + (f" ({cause})" if cause else "")
