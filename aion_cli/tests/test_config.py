"""Settings come from the command's flags, then AION_* variables, then aion.toml, in that order."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from aion_cli.connections import with_namespace

Invoke = Callable[..., Result]

CLEAN = {"AION_STORE": "", "AION_TRANSPORT": "", "AION_NAMESPACE": "", "AION_CONFIG": ""}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (where aion.toml is looked for)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def store_used(
    invoke: Invoke,
    *flags: str,
    before: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> str:
    """The store URL ``aion BEFORE store status FLAGS`` resolves (it names it, creating nothing)."""
    result = invoke(*before, "store", "status", "--json", *flags, env={**CLEAN, **(env or {})})
    assert result.exit_code == 0, result.output
    url: str = json.loads(result.stdout)["url"]
    return url


def test_flags_beat_environment_beat_aion_toml(invoke: Invoke, here: Path) -> None:
    assert store_used(invoke) == "sqlite:///aion.db"  # the built-in default
    (here / "aion.toml").write_text('store = "sqlite:///from-file.db"\n')
    assert store_used(invoke) == "sqlite:///from-file.db"
    from_env = {"AION_STORE": "sqlite:///from-env.db"}
    assert store_used(invoke, env=from_env) == "sqlite:///from-env.db"
    assert store_used(invoke, "--store", "sqlite:///flag.db", env=from_env) == "sqlite:///flag.db"


def test_a_flag_before_the_command_counts_as_a_flag(invoke: Invoke, here: Path) -> None:
    (here / "aion.toml").write_text('store = "sqlite:///from-file.db"\n')
    from_env = {"AION_STORE": "sqlite:///from-env.db"}
    given_first = ("--store", "sqlite:///g.db")
    assert store_used(invoke, before=given_first, env=from_env) == "sqlite:///g.db"
    # The command's own flag is the most specific of all.
    assert store_used(invoke, "--store", "sqlite:///c.db", before=given_first) == "sqlite:///c.db"


def test_config_flag_and_aion_config_name_another_file(invoke: Invoke, here: Path) -> None:
    (here / "aion.toml").write_text('store = "sqlite:///here.db"\n')
    other = here / "elsewhere.toml"
    other.write_text('store = "sqlite:///elsewhere.db"\n')
    assert store_used(invoke, before=("--config", str(other))) == "sqlite:///elsewhere.db"
    assert store_used(invoke, env={"AION_CONFIG": str(other)}) == "sqlite:///elsewhere.db"


def test_transport_and_namespace_come_from_the_same_sources(invoke: Invoke, here: Path) -> None:
    (here / "aion.toml").write_text('transport = "carrier://file"\nnamespace = "shop"\n')
    from_file = invoke("signal", "x", "go", env=CLEAN)
    assert from_file.exit_code == 2
    assert "no transport plugin handles 'carrier://file?namespace=shop'" in from_file.stderr
    from_env = invoke("signal", "x", "go", env={**CLEAN, "AION_TRANSPORT": "pigeon://env"})
    assert "'pigeon://env?namespace=shop'" in from_env.stderr
    in_url = invoke("signal", "x", "go", "--transport", "pigeon://x?namespace=eu", env=CLEAN)
    assert "'pigeon://x?namespace=eu'" in in_url.stderr


def test_a_namespace_in_the_transport_url_wins() -> None:
    assert with_namespace("nats://h:4222", "shop") == "nats://h:4222?namespace=shop"
    assert with_namespace("nats://h:4222?name=a", "shop") == "nats://h:4222?name=a&namespace=shop"
    assert with_namespace("nats://h?namespace=eu", "shop") == "nats://h?namespace=eu"
    assert with_namespace("nats://h", None) == "nats://h"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("store = ", "is not valid TOML"),
        ('stor = "sqlite:///x.db"\n', "unknown key 'stor'; aion reads store, transport"),
        ("store = 5\n", 'store must be a string, such as store = "..."'),
        ('[queues.emails]\nrate_limit = "fast"\n', 'must be "COUNT/DURATION"'),
        ("[queues.emails]\nglobal_concurrency = 0\n", "global_concurrency must be at least 1"),
        ('[queues.emails]\nglobal_concurrency = "9"\n', "must be an integer"),
        ("[queues.emails]\nthroughput = 9\n", "queues.emails.throughput is not a queue"),
        ("queues = 3\n", "queues must be tables"),
        ('[queues.emails]\napplies_to = "both"\n', "applies_to is 'workflows' or 'activities'"),
    ],
)
def test_a_broken_aion_toml_is_a_usage_error(
    invoke: Invoke, here: Path, content: str, message: str
) -> None:
    (here / "aion.toml").write_text(content)
    result = invoke("list", env=CLEAN)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_setting_of_the_wrong_kind_says_where_it_came_from(invoke: Invoke, here: Path) -> None:
    result = invoke("worker", "json", env={**CLEAN, "AION_LOG_LEVEL": "loud"})
    assert result.exit_code == 2
    assert "'loud' is not one of" in result.stderr
    assert "(from AION_LOG_LEVEL)" in result.stderr


def test_a_missing_config_file_is_a_usage_error(invoke: Invoke, here: Path) -> None:
    result = invoke("--config", "nope.toml", "list", env=CLEAN)
    assert result.exit_code == 2
    assert "'nope.toml' does not exist" in result.stderr
