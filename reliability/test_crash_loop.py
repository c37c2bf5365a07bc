"""Crash loop: an engine process SIGKILLed ten times mid-run loses nothing and repeats nothing.

One engine process (`crash_flows.py`: embedded engine, in-process transport)
runs 300 workflows mixing activities (some flaky), durable timers, signals,
child workflows and continue-as-new, on a SQLite file and on PostgreSQL. The
test kills it with SIGKILL at ten random moments (seeded; the seed is in every
failure message) and starts it again each time; the last run goes to the end.
Then, read from the store:

* every workflow completed with the result its kind computes;
* every history is sound (`tests.history_invariants`): contiguous seq, one
  close per run, each attempt started and ended once, no activity completed twice;
* each activity's side effect (a line in a file, written by the attempt) ran at
  most once per attempt, and only for attempts the history recorded as started.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from crash_flows import KINDS, expected_result

from aion_core import Engine
from aion_core.events import ActivityStarted, Event
from tests.history_invariants import check_histories

HERE = Path(__file__).parent
WORKFLOWS = 300
KILLS = 10
FINAL_RUN_TIMEOUT = 300.0


class EngineProcess:
    """``crash_flows.py`` as a process of its own, its output in a log file."""

    def __init__(self, store_url: str, effects: Path, log: Path) -> None:
        self.log = log
        with log.open("ab") as output:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "crash_flows.py"),
                    store_url,
                    str(effects),
                    str(WORKFLOWS),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])},
            )

    def kill(self) -> int | None:
        """SIGKILL unless it has exited already; its exit code if it had."""
        code = self.popen.poll()
        if code is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()
        return code

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def test_an_engine_killed_ten_times_completes_every_workflow_exactly_once(
    sql_url: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("AION_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    effects, log = tmp_path / "effects.log", tmp_path / "engine.log"
    early_exits = []
    for kill in range(KILLS):
        process = EngineProcess(sql_url, effects, log)
        # The first moments are imports and recovery; kill anywhere from there to mid-run.
        await asyncio.sleep(rng.uniform(0.8, 4.0))
        code = process.kill()
        if code is not None:
            early_exits.append((kill, code))
    assert all(code == 0 for _, code in early_exits), (
        f"seed {seed}: the engine exited on its own (kill, code): {early_exits}\n{process.tail()}"
    )
    # Most kills landed mid-run (an engine that finished early exits 0 before its kill).
    assert len(early_exits) <= KILLS // 2, f"seed {seed}: the work ended too early: {early_exits}"
    last = EngineProcess(sql_url, effects, log)
    try:
        code = await asyncio.to_thread(last.popen.wait, FINAL_RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        last.kill()
        pytest.fail(f"seed {seed}: the last run did not finish:\n{last.tail()}")
    assert code == 0, f"seed {seed}: the last run exited {code}:\n{last.tail()}"

    histories = await _histories(sql_url)
    check_histories(histories)

    async with Engine(sql_url) as engine:
        results = [await engine.result(f"crash-{i}") for i in range(WORKFLOWS)]
    wrong = [(i, r) for i, r in enumerate(results) if r != expected_result(i)]
    assert not wrong, f"seed {seed}: wrong results (index, result): {wrong[:20]}"

    effect_lines = Counter(effects.read_text().splitlines())
    repeated = [line for line, n in effect_lines.items() if n > 1]
    assert not repeated, f"seed {seed}: side effects ran twice for one attempt: {repeated[:20]}"
    recorded = {
        (wid, *attempt) for wid, events in histories.items() for attempt in attempts_started(events)
    }
    unrecorded = []
    for line in effect_lines:
        workflow_id, run_id, activity_id, attempt = line.split()
        if (workflow_id, run_id, int(activity_id), int(attempt)) not in recorded:
            unrecorded.append(line)
    assert not unrecorded, f"seed {seed}: side effects of unrecorded attempts: {unrecorded[:20]}"
    # The loop did crash mid-run: attempts were lost to kills and run again.
    assert len(effect_lines) > WORKFLOWS * 2, f"seed {seed}: too few attempts: {len(effect_lines)}"


def attempts_started(events: list[Event]) -> set[tuple[str, int, int]]:
    """(run_id, activity_id, attempt) of every recorded ``ActivityStarted``."""
    return {
        (event.run_id, event.body.activity_id, event.body.attempt)
        for event in events
        if isinstance(event.body, ActivityStarted)
    }


async def _histories(store_url: str) -> dict[str, list[Event]]:
    """Every stream the crash loop writes: the workflows, and the children of kind 3."""
    ids = [f"crash-{i}" for i in range(WORKFLOWS)]
    ids += [f"crash-{i}-child" for i in range(WORKFLOWS) if i % KINDS == 3]
    async with Engine(store_url) as engine:
        return {workflow_id: await engine.history(workflow_id) for workflow_id in ids}
