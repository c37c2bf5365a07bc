"""`python -m bench --smoke` runs every workload (aion and its peers) with a tiny N, so the
benchmark code cannot rot. It asserts that each ran and reported, never how fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_benchmark_workload_runs_and_reports(
    tmp_path: Path, postgres_url: str, nats_url: str
) -> None:
    env = {
        **os.environ,
        "AION_BENCH_POSTGRES_URL": postgres_url,
        "AION_BENCH_NATS_URL": nats_url,
    }
    listed = subprocess.run(
        [sys.executable, "-m", "bench", "--list"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path), "--timeout", "300"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["smoke"] is True
    outcomes = {o["workload"]: o for o in results["outcomes"]}
    assert sorted(outcomes) == sorted(listed)
    not_ok = {name: o["note"] for name, o in outcomes.items() if o["status"] != "ok"}
    assert not not_ok, not_ok
    assert all(o["measurements"] for o in outcomes.values())
    table = (tmp_path / "results.md").read_text()
    assert "| sequential W3, SQLite, median |" in table
    assert "Smoke run" in table
    assert "Physical floor, same run" in table
    assert "CPU speed, same run" in table
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG")
