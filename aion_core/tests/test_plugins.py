"""The plugin manager: entry-point loading, env switches, tracing, errors, and the facade."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aion_core import Engine, hookimpl, workflow
from aion_core.errors import ConfigurationError, PluginError, UnknownURLSchemeError
from aion_core.events import Event, Payload, TimerFired
from aion_core.group_commit import GroupCommitter
from aion_core.plugins import load_plugins
from aion_core.recorder import Recorder, StoreRecorder
from aion_core.store.memory import MemoryEventStore

InstallPlugin = Callable[..., None]


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InstallPlugin:
    """Install a real distribution (dist-info + module) that exposes an `aion` entry point."""

    def install(name: str, source: str, *, distribution: str = "", version: str = "1.2.3") -> None:
        distribution = distribution or f"aion-plugin-{name}"
        module = f"aion_test_plugin_{name}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        dist_info = tmp_path / f"{distribution.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        (dist_info / "entry_points.txt").write_text(f"[aion]\n{name} = {module}\n")
        monkeypatch.syspath_prepend(str(tmp_path))

    return install


ECHO_STORE = """
    from aion_core.store.memory import MemoryEventStore

    def aion_event_store(url):
        return MemoryEventStore(url) if url.startswith("echo://") else None
"""


def test_builtin_memory_store_is_registered_like_a_plugin() -> None:
    plugins = load_plugins({})
    store = plugins.event_store("memory://")
    assert isinstance(store, MemoryEventStore)
    names = {info.name: info for info in plugins.describe()}
    assert names["memory"].hooks == ("aion_event_store",)
    assert names["memory"].distribution == "aion-core"
    assert names["memory"].builtin


def test_entry_point_plugins_are_loaded_with_their_distribution(
    install_plugin: InstallPlugin,
) -> None:
    install_plugin("echo", ECHO_STORE, version="4.5.6")
    plugins = load_plugins({})
    assert isinstance(plugins.event_store("echo://x"), MemoryEventStore)
    [info] = [info for info in plugins.describe() if info.name == "echo"]
    assert (info.distribution, info.version, info.hooks, info.builtin) == (
        "aion-plugin-echo",
        "4.5.6",
        ("aion_event_store",),
        False,
    )


def test_unknown_scheme_names_the_installed_store_plugins(install_plugin: InstallPlugin) -> None:
    install_plugin("echo", ECHO_STORE)
    with pytest.raises(UnknownURLSchemeError) as caught:
        load_plugins({"AION_PLUGINS": "echo"}).event_store("cassandra://ada:secret@db/aion")
    message = str(caught.value)
    assert "no store plugin handles 'cassandra://ada:***@db/aion'" in message
    assert "installed: echo, memory" in message
    assert "secret" not in message


@pytest.mark.parametrize("url", ["aion.db", "", "://nothing", "sqlite:/x.db"])
def test_a_store_url_without_scheme_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not a store URL"):
        load_plugins({}).event_store(url)


def test_disable_plugins_blocks_entry_points_and_builtins(install_plugin: InstallPlugin) -> None:
    install_plugin("echo", ECHO_STORE)
    plugins = load_plugins({"AION_PLUGINS": "echo", "AION_DISABLE_PLUGINS": "echo, memory"})
    assert {info.name for info in plugins.describe()} == {"core", "inproc"}
    with pytest.raises(UnknownURLSchemeError, match="installed: none"):
        plugins.event_store("memory://")


def test_aion_plugins_loads_only_the_named_entry_points(install_plugin: InstallPlugin) -> None:
    install_plugin("echo", ECHO_STORE)
    install_plugin("other", ECHO_STORE.replace("echo://", "other://"))
    plugins = load_plugins({"AION_PLUGINS": "other"})
    names = {info.name for info in plugins.describe()}
    assert "other" in names
    assert "echo" not in names
    assert {"memory", "core", "inproc"} <= names  # built-ins load unless disabled
    assert {info.name for info in load_plugins({"AION_PLUGINS": ""}).describe()} == {
        "memory",
        "core",
        "inproc",
    }


def test_aion_plugins_naming_a_missing_plugin_is_an_error(install_plugin: InstallPlugin) -> None:
    install_plugin("echo", ECHO_STORE)
    with pytest.raises(PluginError, match="AION_PLUGINS names nope, which no installed plugin"):
        load_plugins({"AION_PLUGINS": "echo,nope"})


def test_a_plugin_that_fails_to_import_is_named_with_a_fix(install_plugin: InstallPlugin) -> None:
    install_plugin("broken", "raise RuntimeError('missing key')\n")
    with pytest.raises(PluginError) as caught:
        load_plugins({})
    message = str(caught.value)
    assert "plugin 'broken' (from aion-plugin-broken 1.2.3) failed to load" in message
    assert "RuntimeError: missing key" in message
    assert "AION_DISABLE_PLUGINS=broken" in message
    load_plugins({"AION_DISABLE_PLUGINS": "broken"})  # the way out works


def test_a_misspelt_hook_is_reported(install_plugin: InstallPlugin) -> None:
    install_plugin("typo", "def aion_event_stor(url):\n    return None\n")
    with pytest.raises(
        PluginError, match=r"'typo' implements a hook aion does not have.*aion_event_store"
    ):
        load_plugins({})


def test_a_hook_with_unknown_arguments_is_reported(install_plugin: InstallPlugin) -> None:
    install_plugin("badargs", "def aion_event_store(url, colour):\n    return None\n")
    with pytest.raises(PluginError, match=r"'badargs'.*is invalid"):
        load_plugins({})


def test_tracing_prints_hook_calls(
    install_plugin: InstallPlugin, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugin("echo", ECHO_STORE)
    load_plugins({"AION_TRACE_PLUGINS": "1"}).event_store("echo://x")
    assert "aion_event_store" in capsys.readouterr().err
    load_plugins({"AION_TRACE_PLUGINS": "0"}).event_store("echo://x")
    assert capsys.readouterr().err == ""


def test_plugins_are_not_loaded_at_import_time(
    install_plugin: InstallPlugin, tmp_path: Path
) -> None:
    import subprocess
    import sys

    marker = tmp_path / "imported"
    install_plugin("spy", f"open({str(marker)!r}, 'w').close()\n")
    code = "import aion_core, aion_core.plugins, aion_core.testing; print('ok')"
    env = {"PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
    assert not marker.exists()
    load_plugins({})
    assert marker.exists()


class _CountingRecorder:
    def __init__(self, inner: Recorder, log: list[str]) -> None:
        self.inner = inner
        self.log = log

    @property
    def workflow_id(self) -> str:
        return self.inner.workflow_id

    @property
    def last_seq(self) -> int:
        return self.inner.last_seq

    @property
    def workflow(self) -> object:
        return self.inner.workflow

    async def append(self, entries: Sequence[object], *, at: object = None) -> list[Event]:
        self.log.append(f"append {len(entries)}")
        return await self.inner.append(entries, at=at)  # type: ignore[arg-type]


async def test_recorder_wrappers_wrap_the_core_recorder() -> None:
    log: list[str] = []

    class Audit:
        @hookimpl(wrapper=True)
        def aion_recorder_wrapper(self, recorder: Recorder):  # type: ignore[no-untyped-def]
            inner = yield
            return _CountingRecorder(inner, log)

    plugins = load_plugins({})
    plugins.manager.register(Audit(), name="audit")
    store = MemoryEventStore()
    base = StoreRecorder(GroupCommitter(store), "w")
    wrapped = plugins.wrap_recorder(base)
    assert isinstance(wrapped, _CountingRecorder)
    assert wrapped.inner is base
    await wrapped.append([("r", TimerFired(timer_id=1))])
    assert log == ["append 1"]
    assert await store.last_seq("w") == 1
    assert load_plugins({}).wrap_recorder(base) is base


async def test_a_failing_recorder_wrapper_refuses_the_start_with_a_plugin_error() -> None:
    class Broken:
        @hookimpl(wrapper=True)
        def aion_recorder_wrapper(self, recorder: Recorder):  # type: ignore[no-untyped-def]
            yield
            raise RuntimeError("audit log unreachable")

    plugins = load_plugins({"AION_PLUGINS": ""})
    plugins.manager.register(Broken(), name="broken")
    async with Engine("memory://", workflows=[_greet], plugins=plugins) as engine:
        with pytest.raises(PluginError, match=r"aion_recorder_wrapper.*audit log unreachable"):
            await asyncio.wait_for(engine.start_workflow(_greet, "x", id="w"), timeout=30)


def test_without_the_core_plugin_no_recorder_is_made_and_that_is_said() -> None:
    plugins = load_plugins({"AION_PLUGINS": "", "AION_DISABLE_PLUGINS": "core"})
    base = StoreRecorder(GroupCommitter(MemoryEventStore()), "w")
    with pytest.raises(PluginError, match="'core' plugin must not be disabled"):
        plugins.wrap_recorder(base)


@workflow.defn(name="plugins.Greet")
async def _greet(name: str) -> str:
    return f"hello {name}"


def test_a_failing_events_recorded_plugin_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    class Broken:
        def aion_events_recorded(self, workflow_id: str, events: Sequence[Event]) -> None:
            raise RuntimeError("exporter down")

    class Feed:
        def aion_events_recorded(self, workflow_id: str, events: Sequence[Event]) -> None:
            seen.append(workflow_id)

    plugins = load_plugins({})
    plugins.manager.register(Broken(), name="broken")
    plugins.manager.register(Feed(), name="feed")
    event = Event(
        seq=1,
        recorded_at=datetime.now(UTC),
        workflow_id="w",
        run_id="r",
        body=TimerFired(timer_id=1),
    )
    with caplog.at_level(logging.ERROR, logger="aion.plugins"):
        plugins.events_recorded("w", [event])
    assert seen == ["w"]
    assert "plugin 'broken' failed in aion_events_recorded" in caplog.text


async def test_payload_codecs_and_interceptors_are_collected_from_every_plugin() -> None:
    class Reverse:
        async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
            return [p.model_copy(update={"data": p.data[::-1]}) for p in payloads]

        async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
            return await self.encode(payloads)

    class Codecs:
        def aion_payload_codecs(self) -> list[Reverse]:
            return [Reverse(), Reverse()]

    class NoCodecs:
        def aion_payload_codecs(self) -> list[Reverse]:
            return []

    plugins = load_plugins({"AION_PLUGINS": ""})  # none from installed distributions
    plugins.manager.register(Codecs(), name="codecs")
    plugins.manager.register(NoCodecs(), name="none")
    assert len(plugins.payload_codecs()) == 2
    assert plugins.activity_interceptors() == []
    assert plugins.workflow_interceptors() == []

    from aion_core.codec import PayloadCodecChain

    chain = PayloadCodecChain(plugins.payload_codecs())
    [encoded] = await chain.encode([Payload(data=b"abc")])
    assert encoded.data == b"abc"  # reversed twice
    assert await chain.decode([encoded]) == [Payload(data=b"abc")]


def test_cli_commands_hook_receives_the_group() -> None:
    added: list[str] = []

    class Group:
        def add_command(self, cmd: object, name: str | None = None) -> None:
            added.append(str(name))

    class Commands:
        def aion_cli_commands(self, cli: Group) -> None:
            cli.add_command(object(), name="hello")

    plugins = load_plugins({"AION_PLUGINS": ""})  # installed plugins add commands of their own
    plugins.manager.register(Commands(), name="commands")
    plugins.add_cli_commands(Group())
    assert added == ["hello"]


def test_a_plugin_failing_to_add_cli_commands_is_named() -> None:
    class Broken:
        def aion_cli_commands(self, cli: object) -> None:
            raise RuntimeError("click too old")

    plugins = load_plugins({"AION_PLUGINS": ""})
    plugins.manager.register(Broken(), name="broken")
    with pytest.raises(PluginError, match=r"'broken' failed to add its commands.*click too old"):
        plugins.add_cli_commands(_Group())


class _Group:
    def add_command(self, cmd: object, name: str | None = None) -> None:
        pass


def test_a_plugin_registered_in_code_is_checked_like_an_entry_point() -> None:
    class Misspelt:
        def aion_events_recoded(self, workflow_id: str, events: object) -> None: ...

    class WrongArguments:
        def aion_events_recorded(self, workflow_id: str, events: object, extra: int) -> None: ...

    plugins = load_plugins({"AION_PLUGINS": ""})
    with pytest.raises(PluginError, match="'misspelt' implements a hook aion does not have"):
        plugins.register(Misspelt(), "misspelt")
    with pytest.raises(PluginError, match=r"'wrong' .* is invalid"):
        plugins.register(WrongArguments(), "wrong")
    registered = {name for name, _ in plugins.manager.list_name_plugin()}
    assert registered.isdisjoint({"misspelt", "wrong"})

    class Fine:
        def aion_events_recorded(self, workflow_id: str, events: object) -> None: ...

    plugins.register(Fine(), "fine")
    assert plugins.manager.has_plugin("fine")
