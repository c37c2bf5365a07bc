"""Group commit: appends from many workflows share store transactions.

An append on an idle store is committed at once (no fixed delay, so a lone
workflow pays one commit, not a timer). Appends that arrive while a commit is
in flight wait, and all of them go into the next commit together. Under load
the number of commits stays near the number of round trips the store can do,
whatever the number of workflows; that is how throughput is won.
"""

from __future__ import annotations

import asyncio

from aion_core.store.protocol import EventStore
from aion_core.store.records import AppendBatch

__all__ = ["GroupCommitter"]


class GroupCommitter:
    """Funnels `AppendBatch`es from every recorder of an engine into shared store commits.

    Args:
        store: Where the batches go.
        max_batches_per_commit: Upper bound on one commit's size, to bound its latency.
    """

    def __init__(self, store: EventStore, *, max_batches_per_commit: int = 1024) -> None:
        if max_batches_per_commit < 1:
            raise ValueError("max_batches_per_commit must be at least 1")
        self.store = store
        self._max = max_batches_per_commit
        self._pending: list[tuple[AppendBatch, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0
        """Store commits made so far (for metrics and benchmarks)."""

    async def append(self, batch: AppendBatch) -> None:
        """Write one batch in the next commit; return once it is durable.

        Raises:
            SequenceConflictError: The stream moved on; nothing of this batch was written.
            StoreError: The commit failed; the batch is not known to be written.
        """
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, outcome))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="aion-group-commit")
        # A caller that stops waiting cancels only its own outcome; the commit
        # it shares with others goes on (its batch may still be written).
        await outcome

    async def _flush(self) -> None:
        group: list[tuple[AppendBatch, asyncio.Future[None]]] = []
        try:
            while self._pending:
                group, self._pending = self._pending[: self._max], self._pending[self._max :]
                try:
                    conflicts = await self.store.append([batch for batch, _ in group])
                except Exception as error:
                    for _, outcome in group:
                        _settle(outcome, error)
                    continue
                self.commits += 1
                for (_, outcome), conflict in zip(group, conflicts, strict=True):
                    _settle(outcome, conflict)
        finally:
            self._flusher = None
            # Cancelled mid-commit (engine shutdown): the commit in flight has an
            # unknown outcome and nobody will flush the rest; cancel them all.
            for _, outcome in [*group, *self._pending]:
                outcome.cancel()
            self._pending = []

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
