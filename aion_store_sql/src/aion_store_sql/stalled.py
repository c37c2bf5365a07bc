"""PostgreSQL: ending sessions stalled half-way through a statement while holding stream locks.

A process frozen (SIGSTOP, a stalled VM) in the middle of an append holds its
stream heads' row locks until its transaction ends. The server ends a
transaction left idle between statements (``idle_in_transaction_session_timeout``),
but not one whose process stopped half-way through the messages of a statement:
after a statement's Parse and before its Sync (asyncpg prepares a statement new
to a connection that way, then binds it), or between the writes of a long one.
The server then waits for the rest, the session shows as ``active`` waiting on
``ClientRead``, and no timeout applies. Every other append to those streams
would wait for as long as the process stays frozen.

So an append that timed out waiting for a lock ends such sessions itself, once
they have waited on their client longer than ``idle_in_transaction_session_timeout``:
what the server does for an idle transaction. Their transactions roll back;
nothing they wrote was committed.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

__all__ = ["end_stalled_sessions"]

log = logging.getLogger("aion.store.sql")

_STALLED = text(
    """
    SELECT activity.pid, pg_terminate_backend(activity.pid)
    FROM pg_stat_activity AS activity
    WHERE activity.datname = current_database()
      AND activity.pid <> pg_backend_pid()
      AND activity.state = 'active'
      AND activity.wait_event = 'ClientRead'
      AND activity.state_change < clock_timestamp() - make_interval(secs => :seconds)
      AND EXISTS (
        SELECT 1 FROM pg_locks AS held
        WHERE held.pid = activity.pid AND held.granted
          AND held.relation = 'aion_stream_heads'::regclass
      )
    """
).bindparams(bindparam("seconds"))


def end_stalled_sessions(connection: Connection, stalled_for_ms: int) -> list[int]:
    """End the sessions that hold stream locks and have waited on their client too long.

    Returns the process ids of the sessions ended. A role not allowed to end them
    (they belong to another role) ends none; the append then fails as before.
    """
    try:
        rows = connection.execute(_STALLED, {"seconds": stalled_for_ms / 1000}).all()
    except DBAPIError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        log.warning("cannot end PostgreSQL sessions stalled while holding stream locks: %s", reason)
        return []
    ended = [pid for pid, done in rows if done]
    for pid in ended:
        log.warning(
            "ended PostgreSQL session %d: it held stream locks while waiting on its client "
            "half-way through a statement for over %d ms (a frozen process); its "
            "transaction rolls back",
            pid, stalled_for_ms,
        )  # fmt: skip
    return ended
