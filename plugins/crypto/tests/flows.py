"""The workflow and activity the end-to-end tests run, with the marker they carry."""

from __future__ import annotations

import uuid

from aion_core import activity, workflow

MARKER = f"MARKER-{uuid.uuid4().hex}"
"""Unique to this test run, so no other data can contain it by chance."""


@activity.defn(name="crypto.e2e.deliver")
async def deliver(parcel: str) -> str:
    return f"{parcel} delivered; receipt {MARKER}-receipt"


@workflow.defn(name="crypto.e2e.Courier")
class Courier:
    """Delivers a parcel (an activity), then waits for a note (a signal)."""

    def __init__(self) -> None:
        self.receipt = ""
        self.notes: list[str] = []

    @workflow.run
    async def run(self, parcel: str) -> list[str]:
        self.receipt = await workflow.execute_activity(deliver, parcel)
        await workflow.wait_condition(lambda: bool(self.notes))
        return [self.receipt, *self.notes]

    @workflow.signal
    async def note(self, text: str) -> None:
        self.notes.append(text)

    @workflow.query
    def last_receipt(self) -> str:
        return self.receipt
