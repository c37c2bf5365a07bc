"""The distribution registers the ``otel`` plugin through the ``aion`` entry point."""

from __future__ import annotations

from aion_core import load_plugins

from aion_plugin_otel import otel_plugin


def test_the_entry_point_loads_the_plugin_with_its_hooks() -> None:
    plugins = load_plugins({"AION_PLUGINS": "otel"})
    [info] = [info for info in plugins.describe() if info.name == "otel"]
    assert info.distribution == "aion-plugin-otel"
    assert set(info.hooks) == {
        "aion_activity_interceptors",
        "aion_client_interceptors",
        "aion_workflow_interceptors",
    }
    assert plugins.client_interceptors() == [otel_plugin.client]
    assert plugins.workflow_interceptors() == [otel_plugin.workflows]
    assert plugins.activity_interceptors() == [otel_plugin.activities]
