"""`aion demo` and `aion run` work on the embedded default and report failures with exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aion_cli.main import build_cli
from aion_core.plugins import load_plugins

SAGA = "aion_cli.examples.order_saga:OrderSaga"


@pytest.fixture
def cli() -> object:
    return build_cli(load_plugins())


def test_demo_runs_both_orders_on_a_sqlite_file(tmp_path: Path) -> None:
    aion = shutil.which("aion", path=os.path.dirname(sys.executable))
    assert aion is not None
    result = subprocess.run(
        [aion, "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "aion demo on sqlite:///aion.db" in out
    assert "-book: completed (status query: shipped)" in out
    assert "-unicorn: failed (status query: failed)" in out
    assert "-gift: failed (status query: failed)" in out
    assert "status awaiting approval → reject by bob" in out
    assert "ChildWorkflowStarted" in out
    assert "GatewayTimeout" in out
    assert "retry in" in out
    assert "refund" in out
    assert "release_stock" in out
    assert "every order ended as designed" in out
    assert (tmp_path / "aion.db").exists()


def test_run_prints_the_result_as_json(cli: object, tmp_path: Path) -> None:
    order = {"order_id": "o-1", "items": ["book"], "amount": 12.5, "needs_approval": False}
    result = CliRunner().invoke(
        cli,  # type: ignore[arg-type]
        [
            "run",
            SAGA,
            "--input",
            json.dumps(order),
            "--id",
            "o-1",
            "--store",
            f"sqlite:///{tmp_path}/a.db",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "order_id": "o-1",
        "reservation": "res-o-1",
        "receipt": "rcpt-o-1-12.50",
        "tracking": "track-o-1",
        "approved_by": None,
    }


def test_run_of_a_failing_workflow_exits_1(cli: object) -> None:
    order = {"order_id": "u", "items": ["unicorn"], "amount": 1, "needs_approval": False}
    result = CliRunner().invoke(
        cli, ["run", SAGA, "--input", json.dumps(order), "--store", "memory://"]
    )  # type: ignore[arg-type]
    assert result.exit_code == 1
    assert "carriers refuse to ship unicorns" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no_such_module:Flow"], "cannot import 'no_such_module'"),
        (["run", "aion_cli.examples.order_saga:ship"], "is not a @workflow.defn workflow"),
        (["run", "missing-colon"], "expected MODULE:WORKFLOW"),
        (["run", SAGA, "--input", "{oops"], "--input is not valid JSON"),
    ],
)
def test_run_usage_errors_exit_2_with_a_message(cli: object, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, [*args, "--store", "memory://"])  # type: ignore[arg-type]
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_run_with_input_of_the_wrong_type_is_a_clear_error(tmp_path: Path) -> None:
    aion = shutil.which("aion", path=os.path.dirname(sys.executable))
    assert aion is not None
    result = subprocess.run(
        [aion, "run", SAGA, "--input", '{"order_id": 5}', "--store", "memory://"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "workflow 'OrderSaga' argument 1 is not a valid Order" in result.stderr
    assert "Traceback" not in result.stderr
