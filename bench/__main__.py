"""``python -m bench``: run the benchmarks, write results.json, results.md and results.png.

    python -m bench                       # everything (about half an hour on 2 cores)
    python -m bench --only 'aion-w3-*'    # a subset, by name pattern (repeatable)
    python -m bench --smoke               # tiny N: checks that every workload runs
    python -m bench --list                # the workload names
    python -m bench --redraw              # table and chart again from results.json

Workloads run one at a time, each in a process of its own; progress goes to
stderr. Results land in ``bench/results/`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.chart import draw_chart
from bench.report import markdown_table, write_results
from bench.runner import Outcome, outcomes_from_json, run_workload
from bench.workloads import WORKLOADS, Workload

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def chosen(only: list[str], skip: list[str]) -> list[Workload]:
    """The workloads matching any `only` pattern (all without one) and no `skip` pattern."""
    return [
        w
        for w in WORKLOADS
        if (not only or any(fnmatch.fnmatch(w.name, p) for p in only))
        and not any(fnmatch.fnmatch(w.name, p) for p in skip)
    ]


def progress(index: int, total: int, outcome: Outcome) -> None:
    """One line per finished workload, on stderr."""
    numbers = ", ".join(f"{m.value:,.2f} {m.unit}" for m in outcome.measurements)
    print(
        f"[{index}/{total}] {outcome.workload}: {outcome.status} in {outcome.seconds:.1f} s"
        + (f" ({numbers})" if numbers else ""),
        file=sys.stderr,
        flush=True,
    )
    if outcome.status == "failed":
        print("    " + outcome.note.replace("\n", "\n    "), file=sys.stderr)


def main() -> int:
    """Run what the command line chose; 1 if a workload failed (unavailable peers do not)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN")
    parser.add_argument("--skip", action="append", default=[], metavar="PATTERN")
    parser.add_argument("--smoke", action="store_true", help="tiny N, to check the code runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--timeout", type=float, default=1800, help="per workload, seconds")
    parser.add_argument("--list", action="store_true", help="print the workload names")
    parser.add_argument("--redraw", action="store_true", help="from --out's results.json")
    args = parser.parse_args()
    if args.redraw:
        document = (args.out / "results.json").read_text()
        report(args.out, outcomes_from_json(document), json.loads(document))
        return 0
    workloads = chosen(args.only, args.skip)
    if args.list:
        print("\n".join(w.name for w in workloads))
        return 0
    if not workloads:
        parser.error("no workload matches")
    began = datetime.now(UTC).isoformat(timespec="seconds")
    outcomes = []
    for index, workload in enumerate(workloads, start=1):
        outcome = run_workload(workload, smoke=args.smoke, timeout=args.timeout)
        outcomes.append(outcome)
        progress(index, len(workloads), outcome)
    write_results(args.out, outcomes, smoke=args.smoke, began=began)
    report(args.out, outcomes, json.loads((args.out / "results.json").read_text()))
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def report(folder: Path, outcomes: list[Outcome], results: dict[str, Any]) -> None:
    """Write the table and draw the chart of `outcomes` into `folder`; print the table."""
    (folder / "results.md").write_text(markdown_table(outcomes, smoke=results["smoke"]))
    cores, day = results["machine"]["cores"], results["began"][:10]
    title = f"aion vs peers, same machine, same run ({cores} cores, {day})"
    draw_chart(outcomes, folder / "results.png", title)
    print((folder / "results.md").read_text())


if __name__ == "__main__":
    sys.exit(main())
