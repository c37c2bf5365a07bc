"""Every workload `python -m bench` runs: a name, the module that measures it, its arguments.

Names read ``<system>-<workload>[-<backend>]`` so that ``--only 'aion-*'`` or
``--only '*-sqlite'`` choose a subset.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PEER_UNAVAILABLE", "WORKLOADS", "Workload"]

PEER_UNAVAILABLE = 3
"""Exit code of a workload whose peer cannot run here (not installed, no server)."""

TEMPORAL_LATENCY_SETTING = "history.transferProcessorMaxPollRPS=1000"
"""Temporal's dev server hands out workflow tasks ~30 ms late by default (sequential W3:
~200 ms); with this setting ~60 ms. Peers run in their fastest configuration."""


@dataclass(frozen=True)
class Workload:
    """One process the runner starts: ``python -m <module> <args>``."""

    name: str
    module: str
    args: tuple[str, ...] = ()

    def command(self, smoke: bool) -> list[str]:
        """The module and arguments, with ``--smoke`` for the tiny run."""
        return ["-m", self.module, *self.args, *(["--smoke"] if smoke else [])]


def _w3(system: str, module: str, backends: tuple[str, ...]) -> list[Workload]:
    return [
        Workload(
            f"{system}-w3-{measure}-{backend}", module, ("--measure", measure, "--backend", backend)
        )
        for measure in ("sequential", "concurrent")
        for backend in backends
    ]


WORKLOADS: tuple[Workload, ...] = (
    Workload("machine-floor", "bench.floor"),
    *_w3("aion", "bench.aion.w3", ("sqlite", "postgresql")),
    *_w3("dbos", "bench.peers.dbos_w3", ("sqlite", "postgresql")),
    *(
        Workload(
            f"temporal-w3-{measure}",
            "bench.peers.temporal_w3",
            ("--measure", measure, "--dynamic-config", TEMPORAL_LATENCY_SETTING),
        )
        for measure in ("sequential", "concurrent")
    ),
    Workload("aion-w3-distributed", "bench.aion.distributed"),
    Workload("aion-timer-overshoot", "bench.aion.timers"),
    Workload("aion-throttled-queue", "bench.aion.throttled"),
    Workload("aion-sleeping-scale", "bench.aion.scale", ("--measure", "sleeping")),
    Workload("aion-recovery", "bench.aion.scale", ("--measure", "recovery")),
    Workload("aion-replay", "bench.aion.replay"),
    Workload("aion-query-inproc", "bench.aion.queries", ("--transport", "inproc")),
    Workload("aion-query-nats", "bench.aion.queries", ("--transport", "nats")),
)
