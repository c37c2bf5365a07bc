"""The results of a run: the JSON file, and the Markdown table aion and its peers share.

Each row is one measure on one backend: aion's number, each peer's on the
same workload and backend from the same run, how many times better aion is
than the best peer, and the issue's target with whether it was met.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.measurement import Measurement
from bench.runner import Outcome

__all__ = [
    "ROWS",
    "Row",
    "machine_description",
    "markdown_table",
    "results_document",
    "write_results",
]


@dataclass(frozen=True)
class Row:
    """One line of the table: a measure on a backend, with the peers measured on the same."""

    label: str
    measure: str
    backend: str
    peers: tuple[tuple[str, str, str], ...] = ()  # (column, system, backend)
    target: str = ""  # "<= 3 ms", ">= 1000 wf/s": the target, if it sets one

    def met(self, value: float) -> bool | None:
        """Whether `value` meets the target (None: no target)."""
        if not self.target:
            return None
        sign, number, _ = self.target.split(" ", 2)
        return value <= float(number) if sign == "<=" else value >= float(number)


def _w3_peers(backend: str) -> tuple[tuple[str, str, str], ...]:
    dbos = ("DBOS", "dbos", backend)
    # Temporal's dev server keeps its state in a SQLite file: its row is SQLite's.
    temporal = ("Temporal", "temporal", "temporal-dev-server")
    return (dbos, temporal) if backend == "sqlite" else (dbos,)


ROWS: tuple[Row, ...] = (
    Row("sequential W3, SQLite, median", "w3_sequential", "sqlite", _w3_peers("sqlite"),
        "<= 3 ms"),
    Row("sequential W3, PostgreSQL, median", "w3_sequential", "postgresql",
        _w3_peers("postgresql")),
    Row("concurrent W3, SQLite", "w3_concurrent", "sqlite", _w3_peers("sqlite"),
        ">= 1000 wf/s"),
    Row("concurrent W3, PostgreSQL", "w3_concurrent", "postgresql", _w3_peers("postgresql"),
        ">= 600 wf/s"),
    Row("distributed W3 (1 engine, 2 workers, NATS, PostgreSQL)", "w3_distributed",
        "nats+postgresql", (), ">= 300 wf/s"),
    Row("timer overshoot, 1 s sleep, median", "timer_overshoot", "sqlite", (), "<= 10 ms"),
    Row("throttled queue: 2,000 W3, concurrency 10, rate 500/s, achieved", "throttled_rate",
        "sqlite"),
    Row("100,000 sleeping workflows, peak RSS", "sleeping_scale", "sqlite", (), "<= 400 MB"),
    Row("recovery of 10,000 open workflows", "recovery", "sqlite", (), "<= 10 s"),
    Row("replay of 10,000 events", "replay", "sqlite", (), "<= 300 ms"),
    Row("query p50, in-process", "query_latency", "inproc", (), "<= 1 ms"),
    Row("query p50, over NATS", "query_latency", "nats", (), "<= 3 ms"),
)  # fmt: skip
PEER_COLUMNS = ("DBOS", "Temporal")


def machine_description() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(pages * page_size / 2**30, 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def results_document(outcomes: Iterable[Outcome], *, smoke: bool, began: str) -> str:
    """The whole run as JSON: machine, every outcome and measurement."""
    document = {
        "began": began,
        "smoke": smoke,
        "machine": machine_description(),
        "outcomes": [asdict(outcome) for outcome in outcomes],
    }
    return json.dumps(document, indent=2, sort_keys=True)


def markdown_table(outcomes: Iterable[Outcome], *, smoke: bool = False) -> str:
    """The table of every row, then the physical floor and what did not run."""
    outcomes = list(outcomes)
    found = {(m.measure, m.system, m.backend): m for o in outcomes for m in o.measurements}
    lines = [
        "| measure | target | aion | " + " | ".join(PEER_COLUMNS) + " | aion vs best peer | met |",
        "|---|---:|---:|" + "---:|" * len(PEER_COLUMNS) + "---:|:---:|",
    ]
    for row in ROWS:
        ours = found.get((row.measure, "aion", row.backend))
        peers = {column: found.get((row.measure, s, b)) for column, s, b in row.peers}
        cells = [
            row.label,
            row.target.replace("<=", "≤").replace(">=", "≥").replace("1000", "1,000"),
            _value(ours),
            *(_value(peers.get(column)) if column in peers else "n/a" for column in PEER_COLUMNS),
            _ratio(ours, [p for p in peers.values() if p is not None]),
            _met(row, ours),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *_floor_lines(found), *_problem_lines(outcomes)]
    if smoke:
        lines += [
            "",
            "Smoke run: tiny N to check that every workload runs; the numbers mean nothing.",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _value(measurement: Measurement | None) -> str:
    if measurement is None:
        return "—"
    return _number(measurement.value, measurement.unit)


def _number(value: float, unit: str) -> str:
    if unit == "wf/s" or value >= 100:
        return f"{value:,.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def _ratio(ours: Measurement | None, peers: list[Measurement]) -> str:
    if ours is None or not peers or ours.value <= 0:
        return ""
    if ours.better == "higher":
        best = max(p.value for p in peers)
        return f"{ours.value / best:,.1f}x" if best > 0 else ""
    return f"{min(p.value for p in peers) / ours.value:,.1f}x"


def _met(row: Row, ours: Measurement | None) -> str:
    met = None if ours is None else row.met(ours.value)
    return "" if met is None else "yes" if met else "no"


def _floor_lines(found: dict[tuple[str, str, str], Measurement]) -> list[str]:
    fsync = found.get(("floor_fsync", "machine", "disk"))
    commit = found.get(("floor_sqlite_commit", "machine", "sqlite"))
    if fsync is None or commit is None:
        return []
    w3 = commit.details["w3_floor_ms"]
    lines = [
        f"Physical floor, same run: one `fsync` {_number(fsync.value, 'ms')}, one SQLite "
        f"WAL commit (`synchronous=FULL`, stdlib sqlite3) {_number(commit.value, 'ms')}; "
        f"W3 needs {commit.details['commits_per_w3']} commits, so sequential W3 on SQLite "
        f"cannot beat {_number(w3, 'ms')} here.",
        "",
    ]
    loop = found.get(("cpu_python_loop", "machine", "cpu"))
    if loop is not None:
        lines += [
            f"CPU speed, same run: a fixed pure-Python loop ({loop.details['calls']:,} calls of "
            f"a small function) took {_number(loop.value, 'ms')}, best of five: how fast this "
            "machine ran Python, which every engine here depends on. Compare runs on other "
            "machines, or on other days, by it.",
            "",
        ]
    return lines


def _problem_lines(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for outcome in outcomes:
        if outcome.status != "ok":
            first = outcome.note.strip().splitlines()[-1] if outcome.note.strip() else ""
            lines.append(f"- `{outcome.workload}` {outcome.status}: {first}")
    return lines


def write_results(folder: Path, outcomes: list[Outcome], *, smoke: bool, began: str) -> None:
    """Write ``results.json`` and ``results.md`` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(results_document(outcomes, smoke=smoke, began=began))
    (folder / "results.md").write_text(markdown_table(outcomes, smoke=smoke))
