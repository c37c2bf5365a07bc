"""One PNG: aion and its peers on W3, side by side (latency and throughput)."""

from __future__ import annotations

from pathlib import Path

from bench.runner import Outcome

__all__ = ["draw_chart"]

SYSTEMS = (
    ("aion", "aion", "#2a6f97"),
    ("dbos", "DBOS", "#c9733b"),
    ("temporal", "Temporal", "#6a4c93"),
)
PANELS = (
    ("w3_sequential", "Sequential W3: median latency (ms, lower is better)"),
    ("w3_concurrent", "Concurrent W3: throughput (workflows/s, higher is better)"),
)
BACKENDS = (("sqlite", "SQLite"), ("postgresql", "PostgreSQL"))


def draw_chart(outcomes: list[Outcome], path: Path, title: str) -> bool:
    """Draw the chart into `path`; False when no W3 measurement is there to draw."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    found = {(m.measure, m.system, m.backend): m.value for o in outcomes for m in o.measurements}
    if not any(key[0].startswith("w3_") for key in found):
        return False
    figure, axes = plt.subplots(1, len(PANELS), figsize=(12, 4.5))
    for axis, (measure, panel_title) in zip(axes, PANELS, strict=True):
        width = 0.8 / len(SYSTEMS)
        for offset, (system, label, colour) in enumerate(SYSTEMS):
            values = [
                found.get((measure, system, _backend_of(system, backend)), 0.0)
                for backend, _ in BACKENDS
            ]
            positions = [i + (offset - 1) * width for i in range(len(BACKENDS))]
            bars = axis.bar(positions, values, width, label=label, color=colour)
            axis.bar_label(bars, labels=[_label(v) for v in values], fontsize=8)
        axis.set_xticks(range(len(BACKENDS)), [name for _, name in BACKENDS])
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(ScalarFormatter())
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_title(panel_title, fontsize=10)
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _backend_of(system: str, backend: str) -> str:
    # Temporal's dev server keeps its state in a SQLite file: it is drawn with SQLite.
    return "temporal-dev-server" if system == "temporal" and backend == "sqlite" else backend


def _label(value: float) -> str:
    if value == 0:
        return "n/a"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
