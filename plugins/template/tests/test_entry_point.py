"""Installed, the distribution's ``aion`` entry point is found and listed like any plugin."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest
from aion_core import load_plugins

from aion_plugin_template import template_plugin

DISTRIBUTION = "aion-plugin-template"


@pytest.fixture
def installed_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        pytest.fail(f"{DISTRIBUTION} is not installed; run: pip install -e <this directory>")


def test_the_entry_point_is_discovered_and_listed(installed_version: str) -> None:
    plugins = load_plugins({"AION_PLUGINS": "template"})

    assert plugins.manager.get_plugin("template") is template_plugin
    [info] = [info for info in plugins.describe() if info.name == "template"]
    assert (info.distribution, info.version, info.hooks, info.builtin) == (
        DISTRIBUTION,
        installed_version,
        ("aion_activity_interceptors", "aion_events_recorded"),
        False,
    )


def test_the_plugin_can_be_switched_off(installed_version: str) -> None:
    plugins = load_plugins({"AION_DISABLE_PLUGINS": "template"})
    assert "template" not in {info.name for info in plugins.describe()}
