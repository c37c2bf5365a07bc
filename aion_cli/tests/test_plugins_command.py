"""`aion plugins` lists plugins; a broken plugin setup is a message and exit 2, not a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from aion_cli.main import build_cli, main
from aion_core.plugins import load_plugins

CORE_ONLY = {"AION_PLUGINS": ""}


def test_plugins_json_lists_builtins_with_their_hooks() -> None:
    result = CliRunner().invoke(build_cli(load_plugins(CORE_ONLY)), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = {entry["name"]: entry for entry in json.loads(result.output)}
    assert listed["memory"]["hooks"] == ["aion_event_store"]
    assert listed["memory"]["distribution"] == "aion-core"
    assert listed["core"]["hooks"] == ["aion_recorder_wrapper"]


def test_plugins_table_is_readable() -> None:
    result = CliRunner().invoke(build_cli(load_plugins(CORE_ONLY)), ["plugins"])
    assert result.exit_code == 0, result.output
    assert "memory" in result.output
    assert "aion-core (built-in)" in result.output


def test_plugins_can_add_commands() -> None:
    import click

    class Hello:
        def aion_cli_commands(self, cli: click.Group) -> None:
            cli.add_command(click.Command("hello", callback=lambda: click.echo("hi")))

    plugins = load_plugins(CORE_ONLY)
    plugins.manager.register(Hello(), name="hello")
    result = CliRunner().invoke(build_cli(plugins), ["hello"])
    assert (result.exit_code, result.output) == (0, "hi\n")


def test_a_plugin_setup_error_is_exit_2_with_a_message(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AION_PLUGINS", "no-such-plugin")
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert "AION_PLUGINS names no-such-plugin" in err
    assert "Traceback" not in err


def test_an_unknown_command_is_a_usage_error(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AION_PLUGINS", "")
    assert main(["frobnicate"]) == 2
    assert "No such command 'frobnicate'" in capsys.readouterr().err


def test_the_installed_aion_command_runs() -> None:
    aion = shutil.which("aion", path=os.path.dirname(sys.executable))
    assert aion is not None
    result = subprocess.run(
        [aion, "plugins", "--json"], capture_output=True, text=True, env={**os.environ, **CORE_ONLY}
    )
    assert result.returncode == 0, result.stderr
    assert {entry["name"] for entry in json.loads(result.stdout)} == {"core", "inproc", "memory"}


def test_a_plugin_failing_to_add_commands_ends_the_cli_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Broken:
        def aion_cli_commands(self, cli: object) -> None:
            raise RuntimeError("click too old")

    plugins = load_plugins({"AION_PLUGINS": ""})
    plugins.manager.register(Broken(), name="broken")
    monkeypatch.setattr("aion_cli.main.load_plugins", lambda: plugins)
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aion: plugin 'broken' failed to add its commands")
    assert "Traceback" not in err
