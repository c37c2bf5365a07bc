"""Runs workloads one after another, each in a process of its own, and collects what they report.

One at a time: the machine's cores belong to the workload being measured.
A workload that fails is recorded with the tail of its output and the run
goes on; a peer that cannot run here (exit code `PEER_UNAVAILABLE`) is
recorded as unavailable, with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.measurement import LINE_PREFIX, Measurement
from bench.workloads import PEER_UNAVAILABLE, Workload

__all__ = ["Outcome", "outcomes_from_json", "run_workload"]

ROOT = Path(__file__).resolve().parents[1]
TAIL_LINES = 15


@dataclass
class Outcome:
    """What one workload process produced."""

    workload: str
    status: str  # "ok", "failed", "unavailable"
    seconds: float
    measurements: list[Measurement] = field(default_factory=list)
    note: str = ""


def run_workload(workload: Workload, *, smoke: bool, timeout: float) -> Outcome:
    """Run `workload` to its end (or `timeout` seconds); parse its measurements."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, *workload.command(smoke)],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as expired:
        output = _text(expired.stderr)
        return Outcome(
            workload.name, "failed", time.perf_counter() - started,
            note=f"timed out after {timeout:.0f} s\n{_tail(output)}",
        )  # fmt: skip
    seconds = time.perf_counter() - started
    measurements = [
        Measurement.from_json(line.removeprefix(LINE_PREFIX))
        for line in done.stdout.splitlines()
        if line.startswith(LINE_PREFIX)
    ]
    if done.returncode == PEER_UNAVAILABLE:
        return Outcome(workload.name, "unavailable", seconds, note=_tail(done.stderr, 3))
    if done.returncode != 0 or not measurements:
        why = f"exit code {done.returncode}" if done.returncode else "no measurement reported"
        return Outcome(
            workload.name, "failed", seconds, measurements, f"{why}\n{_tail(done.stderr)}"
        )
    return Outcome(workload.name, "ok", seconds, measurements)


def outcomes_from_json(document: str) -> list[Outcome]:
    """The outcomes of a ``results.json`` (to draw its table and chart again)."""
    return [
        Outcome(
            o["workload"],
            o["status"],
            o["seconds"],
            [Measurement(**m) for m in o["measurements"]],
            o["note"],
        )
        for o in json.loads(document)["outcomes"]
    ]


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
