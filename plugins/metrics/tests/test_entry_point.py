"""Installed, the ``metrics`` entry point is found, listed, and can be switched off."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest
from aion_core import load_plugins

from aion_plugin_metrics import ActivityAttemptTimer, metrics_plugin

DISTRIBUTION = "aion-plugin-metrics"


@pytest.fixture
def installed_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        pytest.fail(f"{DISTRIBUTION} is not installed; run: pip install -e plugins/metrics")


def test_the_entry_point_is_discovered_and_listed(installed_version: str) -> None:
    plugins = load_plugins({"AION_PLUGINS": "metrics"})

    assert plugins.manager.get_plugin("metrics") is metrics_plugin
    [info] = [info for info in plugins.describe() if info.name == "metrics"]
    assert (info.distribution, info.version, info.hooks, info.builtin) == (
        DISTRIBUTION,
        installed_version,
        (
            "aion_activity_interceptors",
            "aion_cli_commands",
            "aion_engine_observers",
            "aion_events_recorded",
        ),
        False,
    )


def test_the_plugin_can_be_switched_off(installed_version: str) -> None:
    plugins = load_plugins({"AION_DISABLE_PLUGINS": "metrics"})
    assert "metrics" not in {info.name for info in plugins.describe()}
    timers = [i for i in plugins.activity_interceptors() if isinstance(i, ActivityAttemptTimer)]
    assert timers == []
