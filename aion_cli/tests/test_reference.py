"""docs/cli.md is generated from the commands' help and kept in step; every §8 verb exists."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from aion_cli.main import build_cli
from aion_cli.reference import REGENERATE, reference
from aion_core.plugins import load_plugins

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

VERBS = [
    "demo", "run", "serve", "worker", "start", "result", "signal", "query", "update", "cancel",
    "terminate", "pause", "resume", "reopen", "list", "show", "history", "watch", "replay",
    "schedule create", "schedule list", "schedule describe", "schedule pause",
    "schedule resume", "schedule trigger", "schedule delete", "queue list", "queue describe",
    "plugins", "store init", "store migrate", "store status", "check",
]  # fmt: skip
"""Every verb of DESIGN §8."""


def test_the_cli_reference_page_is_up_to_date() -> None:
    assert PAGE.read_text(encoding="utf-8") == reference(), (
        f"docs/cli.md is out of date with the commands' help; regenerate it: {REGENERATE}"
    )


def _command(verb: str) -> click.Command | None:
    """``aion VERB`` (``"schedule create"`` is a subcommand), or None when it does not exist."""
    command: click.Command = build_cli(load_plugins({"AION_PLUGINS": ""}))
    for name in verb.split():
        if not isinstance(command, click.Group) or name not in command.commands:
            return None
        command = command.commands[name]
    return command


@pytest.mark.parametrize("verb", VERBS)
def test_every_design_verb_exists_with_help(verb: str) -> None:
    command = _command(verb)
    assert command is not None, f"aion {verb} is missing"
    assert command.help, f"aion {verb} has no help"
    assert f"### `aion {verb}`" in PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "verb", ["list", "show", "history", "plugins", "check", "schedule list", "schedule describe",
             "queue list", "queue describe", "store status", "start"],
)  # fmt: skip
def test_listing_and_show_commands_have_json(verb: str) -> None:
    command = _command(verb)
    assert command is not None
    assert "--json" in [opt for param in command.params for opt in param.opts]
