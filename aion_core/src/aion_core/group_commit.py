"""Group commit: appends from many workflows share store transactions.

An append on an idle store is committed at once (no fixed delay, so a lone
workflow pays one commit, not a timer). Appends that arrive while a commit is
in flight wait, and all of them go into the next commit together. Under load
the number of commits stays near the number of round trips the store can do,
whatever the number of workflows; that is how throughput is won.
"""

from __future__ import annotations

import asyncio
import time

from aion_core.observers import EngineObserver
from aion_core.store.protocol import EventStore
from aion_core.store.records import AppendBatch

__all__ = ["GroupCommitter"]


class GroupCommitter:
    """Funnels `AppendBatch`es from every recorder of an engine into shared store commits.

    Args:
        store: Where the batches go.
        max_batches_per_commit: Upper bound on one commit's size, to bound its latency.
        observers: Told of every commit (`EngineObserver.store_committed`).
    """

    def __init__(
        self,
        store: EventStore,
        *,
        max_batches_per_commit: int = 1024,
        observers: EngineObserver | None = None,
    ) -> None:
        if max_batches_per_commit < 1:
            raise ValueError("max_batches_per_commit must be at least 1")
        self.store = store
        self._observers = observers
        self._max = max_batches_per_commit
        # Waiting batches and their outcomes, side by side (a pair each would
        # be one more object per append for the garbage collector to track).
        self._batches: list[AppendBatch] = []
        self._outcomes: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0
        """Store commits made so far (for metrics and benchmarks)."""

    def append(self, batch: AppendBatch) -> asyncio.Future[None]:
        """Put one batch in the next commit; await the result to know it durable.

        A plain function handing back a future, not a coroutine: with a thousand
        appends per commit, a coroutine each is a measurable share of the cost.
        A caller that stops waiting cancels only its own future; the commit it
        shares with others goes on (its batch may still be written).

        Raises:
            SequenceConflictError: (From the future.) The stream moved on; nothing of this
                batch was written.
            StoreError: (From the future.) The commit failed; the batch is not known to be
                written.
        """
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batches.append(batch)
        self._outcomes.append(outcome)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="aion-group-commit")
        return outcome

    async def _flush(self) -> None:
        outcomes: list[asyncio.Future[None]] = []
        try:
            while self._batches:
                batches, self._batches = self._batches[: self._max], self._batches[self._max :]
                outcomes, self._outcomes = self._outcomes[: self._max], self._outcomes[self._max :]
                began = time.perf_counter()
                try:
                    conflicts = await self.store.append(batches)
                except Exception as error:
                    for outcome in outcomes:
                        _settle(outcome, error)
                    continue
                self.commits += 1
                if self._observers:
                    seconds = time.perf_counter() - began
                    events = sum(len(batch.events) for batch in batches)
                    self._observers.store_committed(len(batches), events, seconds)
                for outcome, conflict in zip(outcomes, conflicts, strict=True):
                    _settle(outcome, conflict)
        finally:
            self._flusher = None
            # Cancelled mid-commit (engine shutdown): the commit in flight has an
            # unknown outcome and nobody will flush the rest; cancel them all.
            for outcome in [*outcomes, *self._outcomes]:
                outcome.cancel()
            self._batches, self._outcomes = [], []

    async def close(self) -> None:
        """Stop committing; appends still waiting are cancelled."""
        flusher = self._flusher
        if flusher is not None:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)


def _settle(outcome: asyncio.Future[None], error: BaseException | None) -> None:
    if outcome.done():
        return
    if error is None:
        outcome.set_result(None)
    else:
        outcome.set_exception(error)
