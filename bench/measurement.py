"""What one benchmark workload reports, and how it reports it to the runner.

Every workload runs in a process of its own (peak memory is per process, and
peers keep global state) and prints each result as one line::

    AION-BENCH {"measure": "w3_sequential", "system": "aion", "backend": "sqlite", ...}

`python -m bench` starts the workloads, reads those lines, and writes the
JSON file, the Markdown table and the chart.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LINE_PREFIX", "Measurement", "emit", "percentile", "summary_ms"]

LINE_PREFIX = "AION-BENCH "


@dataclass(frozen=True)
class Measurement:
    """One number of one system on one workload, with what explains it.

    Attributes:
        measure: The workload: ``w3_sequential``, ``w3_concurrent``, ``timer_overshoot``,
            ``sleeping_scale``, ``recovery``, ``replay``, ``query_latency``,
            ``w3_distributed``, ``throttled_rate``, ``floor_fsync``, ``floor_sqlite_commit``,
            ``cpu_python_loop``.
        system: ``aion``, ``dbos``, ``temporal`` or ``machine`` (the physical floor, the
            CPU's speed).
        backend: Where it keeps state: ``sqlite``, ``postgresql``, ``nats+postgresql``,
            ``inproc``, ``nats``, ``disk``, ``cpu``, ``temporal-dev-server``.
        value: The headline number, in `unit`.
        unit: ``ms``, ``wf/s``, ``MB``, ``s``.
        better: ``lower`` or ``higher``: which way is better.
        details: Everything else measured (n, p50, p99, counts, settings).
    """

    measure: str
    system: str
    backend: str
    value: float
    unit: str
    better: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The measurement as one JSON object."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        """Parse what `to_json` wrote."""
        return cls(**json.loads(text))


def emit(measurement: Measurement) -> None:
    """Report `measurement` to the runner (one line on stdout)."""
    print(LINE_PREFIX + measurement.to_json(), flush=True)


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * (len(ordered) - 1))))
    return ordered[rank]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """n, median, p99, mean, min and max of durations given in seconds, in ms."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 0.99),
        "mean_ms": statistics.fmean(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }
