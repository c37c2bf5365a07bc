"""Exit codes, and the one place that maps errors to them and prints them.

0: success. 1: a domain failure (the workflow failed, no such workflow, the
store or the transport refused or cannot be reached). 2: a usage error (bad
option, bad URL, input of the wrong type, a plugin that cannot be loaded).
Every error a user can cause ends as one line on stderr, ``aion: ...``,
never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from aion_core.errors import (
    AionError,
    ConfigurationError,
    HistoryFormatError,
    PayloadValidationError,
    PluginError,
)

__all__ = [
    "DOMAIN_FAILURE",
    "INTERRUPTED",
    "OK",
    "USAGE_ERROR",
    "exit_code_for",
    "report",
    "run_reporting_errors",
]

OK = 0
DOMAIN_FAILURE = 1
USAGE_ERROR = 2
INTERRUPTED = 130
"""Stopped with Ctrl-C, as shells report a process ended by SIGINT."""

_USAGE_ERRORS: tuple[type[AionError], ...] = (
    ConfigurationError,
    PluginError,
    HistoryFormatError,
    PayloadValidationError,
)


def exit_code_for(error: AionError) -> int:
    """The exit code the CLI ends with when `error` reaches it."""
    return USAGE_ERROR if isinstance(error, _USAGE_ERRORS) else DOMAIN_FAILURE


def report(message: str) -> None:
    """Print one error line on stderr."""
    click.echo(f"aion: {message}", err=True)


def run_reporting_errors(invoke: Callable[[], object]) -> int:
    """Run `invoke` (a Click ``main`` in non-standalone mode); its exit code.

    Usage errors, Click's and aion's errors become one line on stderr and their
    exit code. Anything else is a bug and keeps its traceback.
    """
    try:
        value = invoke()
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx is not None else "aion"
        report(f"{error.format_message()} (see '{command} --help')")
        return error.exit_code
    except click.ClickException as error:
        report(error.format_message())
        return error.exit_code
    except click.Abort:
        report("interrupted")
        return INTERRUPTED
    except AionError as error:
        report(str(error))
        return exit_code_for(error)
    return value if isinstance(value, int) else OK
