"""aion's flow control: a queue with a concurrency limit and a rate limit, under a burst.

N W3 runs are started at once on a queue declared with ``global_concurrency``
and ``rate_limit``. Each run's time past the queue is read from its history
(`aion_core.testing.flow`): the achieved rate is how many runs were let out per
second from the first admission to the last, reported with its ratio to the
configured rate; the most runs past the queue at once must not exceed the
limit (the workload fails otherwise)::

    python -m bench.aion.throttled [--n 2000] [--concurrency 10] [--rate 500] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta

from aion_core.testing.flow import most_at_once, passage_of
from bench.aion.w3 import bench_engine, w3
from bench.measurement import Measurement, emit
from bench.servers import sqlite_file

QUEUE = "throttled"


async def throttled(n: int, concurrency: int, rate: int) -> Measurement:
    """Start `n` W3 on the throttled queue at once; measure the rate they were let out at."""
    with sqlite_file() as url:
        async with bench_engine(url) as engine:
            engine.configure_queue(
                QUEUE, global_concurrency=concurrency, rate_limit=(rate, timedelta(seconds=1))
            )
            started = time.perf_counter()
            handles = await asyncio.gather(
                *(engine.start_workflow(w3, 0, id=f"t-{i}", task_queue=QUEUE) for i in range(n))
            )
            results = [await handle.result() for handle in handles]
            seconds = time.perf_counter() - started
            passages = [passage_of(await handle.history()) for handle in handles]
    assert results == [3] * n
    most = most_at_once(passages)
    assert most <= concurrency, f"{most} runs past the queue at once; the limit is {concurrency}"
    admitted = sorted(p.admitted for p in passages)
    span = (admitted[-1] - admitted[0]).total_seconds()
    achieved = (n - 1) / span if span > 0 else float(n)
    busiest = max(
        sum(1 for t in admitted[i:] if t < start + timedelta(seconds=1))
        for i, start in enumerate(admitted)
    )
    return Measurement(
        "throttled_rate", "aion", "sqlite", achieved, "wf/s", "higher",
        {"n": n, "configured_rate_per_s": rate, "achieved_to_configured": achieved / rate,
         "busiest_1s_window": busiest, "global_concurrency": concurrency,
         "most_past_the_queue_at_once": most, "seconds_start_to_last_result": seconds},
    )  # fmt: skip


def main() -> None:
    """Parse the command line, measure, report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, help="runs (default 2000)")
    parser.add_argument("--concurrency", type=int, default=10, help="global concurrency")
    parser.add_argument("--rate", type=int, help="runs let out per second (default 500)")
    parser.add_argument("--smoke", action="store_true", help="40 runs at 100/s")
    args = parser.parse_args()
    n = args.n or (40 if args.smoke else 2000)
    rate = args.rate or (100 if args.smoke else 500)
    emit(asyncio.run(throttled(n, args.concurrency, rate)))


if __name__ == "__main__":
    main()
