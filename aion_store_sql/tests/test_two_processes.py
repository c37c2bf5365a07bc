"""Two OS processes append to the same streams: no seq is lost or doubled, losers write nothing."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aion_core.events import SignalReceived, TimerStarted, WorkflowStarted
from aion_core.store.records import WorkflowFilter
from aion_store_sql import SqlEventStore

WRITER = Path(__file__).with_name("writer_process.py")
WRITERS, ROUNDS, STREAMS = 2, 40, 4
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # as in writer_process.py


async def _run_writers(url: str) -> list[dict[str, Any]]:
    start_at = f"{time.time() + 2.0}"  # both open the store first, then race
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WRITER),
            url,
            str(writer),
            str(ROUNDS),
            str(STREAMS),
            start_at,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for writer in range(1, WRITERS + 1)
    ]
    summaries = []
    for process in processes:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=240)
        assert process.returncode == 0, stderr.decode()
        summaries.append(json.loads(stdout))
    return summaries


def _tag(body: object) -> str:
    if isinstance(body, WorkflowStarted):
        return body.workflow_type
    if isinstance(body, SignalReceived):
        return body.signal_name
    assert isinstance(body, TimerStarted)
    offset = body.fire_at - EPOCH  # the writer in days, the round in seconds
    return f"w{offset.days}/{offset.seconds}"


async def test_two_processes_appending_to_the_same_streams(sql_url: str) -> None:
    summaries = await _run_writers(sql_url)
    conflicts = sum(summary["conflicts"] for summary in summaries)
    assert conflicts > 0, "the writers never raced; the test proves nothing"
    async with SqlEventStore(sql_url) as store:
        for n in range(STREAMS):
            workflow_id = f"stream-{n}"
            events = await store.read_events(workflow_id)
            # No duplicate or missing seq, and the head agrees.
            assert [event.seq for event in events] == list(range(1, len(events) + 1))
            assert await store.last_seq(workflow_id) == len(events)
            # The stream is made of whole batches, each of one writer's round.
            assert len(events) % 3 == 0
            tags = []
            for start in range(0, len(events), 3):
                batch_tags = {_tag(event.body) for event in events[start : start + 3]}
                assert len(batch_tags) == 1, f"{workflow_id} seq {start + 1}: mixed {batch_tags}"
                tags.append(batch_tags.pop())
            # Exactly the batches the writers were told were written, in no other order.
            reported = Counter(
                tag for summary in summaries for tag in summary["written"][workflow_id]
            )
            assert Counter(tags) == reported
            # Visibility and timers hold nothing of a losing batch.
            record = await store.get_workflow(workflow_id)
            assert record is not None
            assert (record.workflow_type, record.last_seq) == (tags[0], len(events))
            assert record.search_attributes == {"creator": tags[0]}
            armed = {
                timer.timer_id: timer.fire_at
                for timer in await store.due_timers(EPOCH.replace(year=2100))
                if timer.workflow_id == workflow_id
            }
            started = {
                event.body.timer_id: event.body.fire_at
                for event in events
                if isinstance(event.body, TimerStarted)
            }
            assert armed == started
        assert await store.count_workflows(WorkflowFilter()) == STREAMS
