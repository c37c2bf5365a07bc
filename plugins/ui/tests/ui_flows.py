"""Workflows and activities the console's tests run, in `aion serve` processes and in-process.

Processes import this module by name (``aion serve ui_flows``), so it depends on
nothing but aion_core and the standard library.
"""

from __future__ import annotations

from datetime import timedelta

from aion_core import ApplicationError, RetryPolicy, activity, workflow

QUICK = timedelta(seconds=30)
NO_RETRY = RetryPolicy(maximum_attempts=1)


@activity.defn
async def prepare(n: int) -> int:
    """The first step of an approval."""
    return n * 2


@activity.defn
async def finish(value: int, by: str) -> str:
    """The last step of an approval: what `Approval.run` returns."""
    return f"{by}:{value}"


@activity.defn
async def unreliable(what: str) -> str:
    """Always fails, retryably: its workflow keeps it pending, retrying."""
    raise ApplicationError(f"{what} is down", type="Unavailable")


@activity.defn
async def refuse(what: str) -> str:
    """Fails for good."""
    raise ApplicationError(f"no {what}", type="Refused", non_retryable=True)


@workflow.defn
class Approval:
    """An activity, then waits for `approve`; `stage` answers, `add_note` counts notes."""

    def __init__(self) -> None:
        self.stage_name = "started"
        self.approved_by: str | None = None
        self.notes: list[str] = []

    @workflow.signal
    def approve(self, by: str) -> None:
        """Let it finish."""
        self.approved_by = by

    @workflow.query
    def stage(self) -> str:
        """Where it is."""
        return self.stage_name

    @workflow.update
    async def add_note(self, note: str) -> int:
        """Keep a note; how many there are now."""
        self.notes.append(note)
        return len(self.notes)

    @workflow.run
    async def run(self, n: int) -> str:
        """Prepare, wait for approval, finish."""
        value = await workflow.execute_activity(prepare, n, start_to_close_timeout=QUICK)
        self.stage_name = "waiting"
        await workflow.wait_condition(lambda: self.approved_by is not None)
        self.stage_name = "finishing"
        assert self.approved_by is not None
        return await workflow.execute_activity(
            finish, value, self.approved_by, start_to_close_timeout=QUICK
        )


@workflow.defn
class Ticker:
    """Records a timer every `every` seconds, `ticks` times: a history that keeps growing.

    It keeps the notes signalled to it (`note`) and answers them (`notes`).
    """

    def __init__(self) -> None:
        self.ticked = 0
        self.noted: list[str] = []

    @workflow.signal
    def note(self, text: str) -> None:
        """Keep a note."""
        self.noted.append(text)

    @workflow.query
    def ticks(self) -> int:
        """How many timers fired."""
        return self.ticked

    @workflow.query
    def notes(self) -> list[str]:
        """The notes kept so far."""
        return self.noted

    @workflow.run
    async def run(self, ticks: int, every: float) -> int:
        """Tick, then return how often."""
        for _ in range(ticks):
            await workflow.sleep(timedelta(seconds=every))
            self.ticked += 1
        return self.ticked


@workflow.defn
class Stubborn:
    """Calls an activity that keeps failing: a pending activity with attempts and a failure."""

    @workflow.run
    async def run(self, what: str) -> str:
        """Wait for `unreliable` (it never succeeds)."""
        return await workflow.execute_activity(
            unreliable,
            what,
            start_to_close_timeout=QUICK,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                backoff_coefficient=1.0,
                maximum_interval=timedelta(seconds=30),
            ),
        )


@workflow.defn
class Doomed:
    """Fails: its activity refuses for good (reopen runs it again)."""

    @workflow.run
    async def run(self, what: str) -> str:
        """Ask for `what`, and be refused."""
        return await workflow.execute_activity(
            refuse, what, start_to_close_timeout=QUICK, retry_policy=NO_RETRY
        )


@workflow.defn
class Leaf:
    """The end of a family: returns its name."""

    @workflow.run
    async def run(self, name: str) -> str:
        """Its name."""
        return name


@workflow.defn
class Branch:
    """Starts a `Leaf` and returns what it returned."""

    @workflow.run
    async def run(self, name: str) -> str:
        """Its leaf's name."""
        leaf: str = await workflow.execute_child_workflow(
            Leaf.run, f"{name}-leaf", id=f"{name}-leaf"
        )
        return leaf


@workflow.defn
class Family:
    """Two branches, each with a leaf: a tree of children."""

    @workflow.run
    async def run(self, name: str) -> list[str]:
        """The leaves' names."""
        return [
            await workflow.execute_child_workflow(Branch.run, f"{name}-{n}", id=f"{name}-{n}")
            for n in (1, 2)
        ]
