"""Exit codes, and the one place that maps aion's errors to them.

0: success. 1: a domain failure (the workflow failed, the store refused).
2: a usage error (bad option, bad URL, input of the wrong type, a plugin that
cannot be loaded).
"""

from __future__ import annotations

from aion_core.errors import (
    AionError,
    ConfigurationError,
    HistoryFormatError,
    PayloadValidationError,
    PluginError,
)

__all__ = ["DOMAIN_FAILURE", "OK", "USAGE_ERROR", "exit_code_for"]

OK = 0
DOMAIN_FAILURE = 1
USAGE_ERROR = 2

_USAGE_ERRORS: tuple[type[AionError], ...] = (
    ConfigurationError,
    PluginError,
    HistoryFormatError,
    PayloadValidationError,
)


def exit_code_for(error: AionError) -> int:
    """The exit code the CLI ends with when `error` reaches it."""
    return USAGE_ERROR if isinstance(error, _USAGE_ERRORS) else DOMAIN_FAILURE
