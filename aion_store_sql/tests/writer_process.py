"""One writer of the two-process test: appends 3-event batches, tagged by writer, to shared streams.

Usage: ``python writer_process.py URL WRITER_NUMBER ROUNDS STREAMS START_AT``

Each round it reads every stream's head, then appends one batch per stream in
one call. A batch is ``[WorkflowStarted | SignalReceived, TimerStarted,
SignalReceived]``; every event carries the tag ``w<writer>/<round>``
(the timer in its fire time), so a reader can tell whole batches apart.
Prints a JSON summary: the tags that were written, per stream, and the conflict count.
Any error other than a `SequenceConflictError` ends the process with a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta

from aion_core.errors import SequenceConflictError
from aion_core.events import EventBody, SignalReceived, TimerStarted, WorkflowStarted
from aion_core.store.projection import batch_for
from aion_core.testing.store_contract import make_events
from aion_store_sql import SqlEventStore

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def timer_fire_at(writer: int, round_: int) -> datetime:
    """The fire time that carries a batch's tag: writer in days, round in seconds."""
    return EPOCH + timedelta(days=writer, seconds=round_)


def batch_bodies(writer: int, round_: int, last_seq: int) -> list[EventBody]:
    tag = f"w{writer}/{round_}"
    first: EventBody = (
        WorkflowStarted(workflow_type=tag, search_attributes={"creator": tag})
        if last_seq == 0
        else SignalReceived(signal_name=tag)
    )
    timer = TimerStarted(
        timer_id=last_seq + 2, fire_at=timer_fire_at(writer, round_), duration=timedelta(0)
    )
    return [first, timer, SignalReceived(signal_name=tag)]


async def main(url: str, writer: int, rounds: int, streams: int, start_at: float) -> None:
    written: dict[str, list[str]] = {f"stream-{n}": [] for n in range(streams)}
    conflicts = 0
    async with SqlEventStore(url) as store:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        for round_ in range(rounds):
            batches = []
            for workflow_id in written:
                last_seq = await store.last_seq(workflow_id)
                record = await store.get_workflow(workflow_id)
                events = make_events(
                    workflow_id, batch_bodies(writer, round_, last_seq), after_seq=last_seq
                )
                batches.append(batch_for(record, last_seq, events))
            for batch, outcome in zip(batches, await store.append(batches), strict=True):
                if outcome is None:
                    written[batch.workflow_id].append(f"w{writer}/{round_}")
                elif isinstance(outcome, SequenceConflictError):
                    conflicts += 1
                else:
                    raise AssertionError(f"unexpected outcome {outcome!r}")
    print(json.dumps({"written": written, "conflicts": conflicts}))


if __name__ == "__main__":
    url, writer, rounds, streams, start_at = sys.argv[1:]
    asyncio.run(main(url, int(writer), int(rounds), int(streams), float(start_at)))
