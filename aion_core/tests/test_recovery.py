"""Workflows survive their engine (DESIGN 4.2, 4.7, 3 residency): a new engine recovers them from
history with the old events untouched, timers fire after restarts, evicted workflows come back
by replay, and a thousand workflows at once all complete.

A crash on SQLite and PostgreSQL is a real one: the engine runs in a subprocess that gets
SIGKILL. The memory store lives only inside one process, so there the crash is simulated in
the test process: every task the first engine ever created is cancelled (it never runs again,
closes nothing, records nothing) and a second engine is started over the same
`MemoryEventStore` object.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterator,
    Sequence,
)
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aion_core import (
    Engine,
    Event,
    MemoryEventStore,
    Recorder,
    RetryPolicy,
    WorkflowClosedError,
    WorkflowStatus,
    activity,
    hookimpl,
    load_plugins,
    workflow,
)
from aion_core.converter import from_payload
from aion_core.events import (
    CLOSING_EVENT_TYPES,
    ActivityCompleted,
    ActivityFailed,
    ActivityStarted,
    ChildWorkflowStarted,
    TimerFired,
    TimerStarted,
)
from aion_core.history import event_to_json
from aion_core.store.protocol import EventStore
from aion_core.testing import WorkflowEnvironment

FAST = RetryPolicy(
    initial_interval=timedelta(milliseconds=20),
    backoff_coefficient=1.0,
    maximum_interval=timedelta(milliseconds=20),
)
NAP = timedelta(hours=1)


# --- the workflows the crashing engine runs ------------------------------------------------------


def _effects(workdir: str) -> Path:
    return Path(workdir) / "effects.txt"


def _append_line(workdir: str, line: str) -> None:
    with _effects(workdir).open("a") as file:
        file.write(f"{line}\n")
        file.flush()
        os.fsync(file.fileno())


def effect_lines(workdir: Path) -> list[str]:
    path = _effects(str(workdir))
    return path.read_text().splitlines() if path.exists() else []


@activity.defn
def side_effect_a(workdir: str) -> str:
    _append_line(workdir, f"A attempt {activity.info().attempt} pid {os.getpid()}")
    return "a"


@activity.defn
async def blocking_b(workdir: str) -> str:
    _append_line(workdir, f"B attempt {activity.info().attempt} pid {os.getpid()}")
    while not (Path(workdir) / "release").exists():  # noqa: ASYNC110 - the test makes it
        await asyncio.sleep(0.02)
    return "b"


@workflow.defn
async def a_then_b(workdir: str) -> str:
    a = await workflow.execute_activity(side_effect_a, workdir, retry_policy=FAST)
    b = await workflow.execute_activity(blocking_b, workdir, retry_policy=FAST)
    return a + b


@workflow.defn
async def naps(label: str) -> str:
    await workflow.sleep(NAP)
    return f"{label} woke"


@activity.defn
async def waits_to_be_cancelled(workdir: str) -> None:
    _append_line(workdir, f"W attempt {activity.info().attempt}")
    await asyncio.sleep(3600)


@workflow.defn
async def cancels_its_activity(workdir: str) -> str:
    task = asyncio.ensure_future(
        workflow.execute_activity(waits_to_be_cancelled, workdir, retry_policy=FAST)
    )
    await workflow.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await workflow.sleep(0.5)  # open long enough for the cancellation to be recorded
    return "cancelled"


@activity.defn
async def remembers_progress(workdir: str) -> list[Any]:
    info = activity.info()
    _append_line(workdir, f"H attempt {info.attempt} saw {list(info.heartbeat_details)}")
    if info.attempt == 1:
        activity.heartbeat("page", 7)
        await asyncio.sleep(0.05)
        raise RuntimeError("flaky")
    return list(info.heartbeat_details)


@workflow.defn
async def resumes_progress(workdir: str) -> list[Any]:
    return await workflow.execute_activity(remembers_progress, workdir, retry_policy=FAST)


@workflow.defn
async def greets(workdir: str) -> str:
    return "child says hi"


@workflow.defn
async def has_a_child(workdir: str) -> str:
    return str(await workflow.execute_child_workflow(greets, workdir, id="crash-child-kid"))


CRASH_WORKFLOWS = [a_then_b, naps, cancels_its_activity, resumes_progress, has_a_child, greets]
CRASH_ACTIVITIES = [side_effect_a, blocking_b, waits_to_be_cancelled, remembers_progress]


def _is_cancel_request(event: Event) -> bool:
    return event.type == "ActivityCancelRequested"


def _is_child_start(event: Event) -> bool:
    return event.type == "ChildWorkflowStarted"


def _is_second_attempt(event: Event) -> bool:
    return isinstance(event.body, ActivityStarted) and event.body.attempt == 2


@dataclass(frozen=True)
class Scenario:
    """A workflow to run in an engine that dies.

    With `dies_right_after`, the engine kills itself the moment an event it matches is
    durable (nothing of what the engine would do next happens); otherwise the test kills
    it from outside.
    """

    workflow: Callable[[str], Coroutine[Any, Any, Any]]
    workflow_id: str
    dies_right_after: Callable[[Event], bool] | None = None


SCENARIOS = {
    "activities": Scenario(a_then_b, "crash-activities"),
    "timer": Scenario(naps, "crash-timer"),
    "cancel": Scenario(cancels_its_activity, "crash-cancel", _is_cancel_request),
    "heartbeat": Scenario(resumes_progress, "crash-heartbeat", _is_second_attempt),
    "child": Scenario(has_a_child, "crash-child", _is_child_start),
}


class DieRightAfter:
    """A plugin that crashes the engine as soon as a matching event is durable."""

    def __init__(self, matches: Callable[[Event], bool], die: Callable[[], None]) -> None:
        self.matches = matches
        self.die = die

    def aion_events_recorded(self, workflow_id: str, events: Sequence[Event]) -> None:
        if any(self.matches(event) for event in events):
            self.die()


def doomed_engine(scenario: Scenario, store: str | EventStore, die: Callable[[], None]) -> Engine:
    plugins = load_plugins()
    if scenario.dies_right_after is not None:
        plugins.manager.register(DieRightAfter(scenario.dies_right_after, die), name="die")
    return Engine(store, workflows=CRASH_WORKFLOWS, activities=CRASH_ACTIVITIES, plugins=plugins)


async def run_doomed_engine(engine: Engine, scenario: Scenario, workdir: str) -> None:
    await engine.start()
    await engine.start_workflow(scenario.workflow, workdir, id=scenario.workflow_id)
    await asyncio.sleep(3600)  # the crash comes long before


def _sigkill_myself() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def subprocess_main(name: str, store_url: str, workdir: str) -> None:
    """Entry point of the engine process that gets killed."""
    scenario = SCENARIOS[name]
    asyncio.run(
        run_doomed_engine(doomed_engine(scenario, store_url, _sigkill_myself), scenario, workdir)
    )


_SUBPROCESS_CODE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("aion_recovery_scenario", sys.argv[1])
module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.subprocess_main(*sys.argv[2:])
"""


# --- crashing an engine --------------------------------------------------------------------------


_TRAP: contextvars.ContextVar[TaskTrap | None] = contextvars.ContextVar("trap", default=None)


class TaskTrap:
    """Collects every task created, directly or transitively, by code run through `spawn`."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []
        self.dead = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        previous = loop.get_task_factory()

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
            task = asyncio.Task(coro, loop=loop, **kwargs)
            if _TRAP.get() is self:
                self.tasks.append(task)
                if self.dead:  # cleanup code of a dead engine starts nothing new
                    task.cancel()
            return task

        loop.set_task_factory(factory)
        try:
            yield
        finally:
            loop.set_task_factory(previous)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        token = _TRAP.set(self)
        try:
            return asyncio.create_task(work)
        finally:
            _TRAP.reset(token)

    def die(self) -> None:
        """Cancel everything at once, as if the process had died: no task runs on."""
        self.dead = True
        for task in self.tasks:
            task.cancel()

    async def crash(self) -> None:
        """`die`, then let the cancelled tasks finish."""
        self.die()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def opened(store: str | EventStore) -> AsyncIterator[EventStore]:
    """The test's own view of the store (a separate connection for SQL stores)."""
    if not isinstance(store, str):
        yield store
        return
    view = load_plugins().event_store(store)
    await view.open()
    try:
        yield view
    finally:
        await view.close()


async def poll(check: Callable[[], Any], what: str) -> Any:
    """Wait (30 s at most) until `check()` returns something truthy (awaited if awaitable)."""
    try:
        async with asyncio.timeout(30):
            while True:
                outcome = check()
                if asyncio.iscoroutine(outcome):
                    outcome = await outcome
                if outcome:
                    return outcome
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


def history_once(
    store: EventStore, workflow_id: str, done: Callable[[list[Event]], bool]
) -> Callable[[], Coroutine[Any, Any, list[Event] | None]]:
    async def check() -> list[Event] | None:
        history = await store.read_events(workflow_id)
        return history if done(history) else None

    return check


async def run_then_crash(
    name: str,
    store_url: str,
    workdir: Path,
    kill_when: Callable[[list[Event]], bool] = lambda history: False,
    kill_once: Callable[[], bool] = lambda: True,
) -> tuple[str | EventStore, list[Event]]:
    """Run scenario `name` in an engine that dies; return the store and the history left.

    The engine dies by itself (`Scenario.dies_right_after`), or is killed once
    `kill_when(history)` and then `kill_once()` hold. The store returned is the one for the
    next engine: the same object for memory://.
    """
    scenario = SCENARIOS[name]
    if store_url == "memory://":
        store = MemoryEventStore()
        trap = TaskTrap()
        with trap.installed():
            engine = doomed_engine(scenario, store, trap.die)
            trap.spawn(run_doomed_engine(engine, scenario, str(workdir)))
            if scenario.dies_right_after is None:
                await poll(history_once(store, scenario.workflow_id, kill_when), "kill_when")
                await poll(kill_once, "kill_once")
            else:
                await poll(lambda: trap.dead, "the engine dying")
            await trap.crash()
        return store, await store.read_events(scenario.workflow_id)
    log = workdir / "engine.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", _SUBPROCESS_CODE, __file__, name, store_url, str(workdir)),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
        )
    try:
        async with opened(store_url) as view:
            if scenario.dies_right_after is None:
                ready = history_once(view, scenario.workflow_id, kill_when)

                async def ready_or_dead() -> bool:
                    assert process.returncode is None, log.read_text()
                    return await ready() is not None and kill_once()

                await poll(ready_or_dead, "the moment to kill")
                process.send_signal(signal.SIGKILL)
            assert await process.wait() == -signal.SIGKILL, log.read_text()
            return store_url, await view.read_events(scenario.workflow_id)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def b_running(workdir: Path) -> Callable[[], bool]:
    return lambda: any(line.startswith("B attempt 1") for line in effect_lines(workdir))


def b_started(history: list[Event]) -> bool:
    return any(isinstance(e.body, ActivityStarted) and e.body.activity_id == 2 for e in history)


def assert_no_duplicates(history: list[Event]) -> None:
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    once = Counter(
        (e.type, getattr(e.body, "activity_id", None), getattr(e.body, "timer_id", None),
         getattr(e.body, "attempt", None))
        for e in history
    )  # fmt: skip
    assert [key for key, count in once.items() if count > 1] == []
    closing = [e for e in history if e.type in CLOSING_EVENT_TYPES]
    assert len(closing) == 1
    assert closing[0] is history[-1]


def assert_untouched(before: list[Event], after: list[Event]) -> None:
    """The events recorded before the crash are still there: same JSON, same seqs."""
    assert [event_to_json(e) for e in after[: len(before)]] == [event_to_json(e) for e in before]


# --- recovery after a crash ----------------------------------------------------------------------


def recovering_engine(store: str | EventStore, **options: Any) -> Engine:
    return Engine(store, workflows=CRASH_WORKFLOWS, activities=CRASH_ACTIVITIES, **options)


async def test_a_workflow_killed_mid_flight_is_recovered_by_a_new_engine(
    store_url: str, tmp_path: Path
) -> None:
    store, before = await run_then_crash(
        "activities", store_url, tmp_path, kill_when=b_started, kill_once=b_running(tmp_path)
    )
    (tmp_path / "release").touch()
    async with recovering_engine(store) as engine:
        handle = engine.get_handle("crash-activities")
        async with asyncio.timeout(20):
            assert await handle.result() == "ab"
        after = await handle.history()

    assert_untouched(before, after)
    assert_no_duplicates(after)
    # A completed before the crash and did not run again; B's attempt died with the engine.
    lines = effect_lines(tmp_path)
    assert [line.split(" pid ")[0] for line in lines] == [
        "A attempt 1",
        "B attempt 1",
        "B attempt 2",
    ]
    if store_url != "memory://":  # a real crash: the first attempts ran in the killed process
        pids = [int(line.split(" pid ")[1]) for line in lines]
        assert pids[0] == pids[1] != os.getpid()
        assert pids[2] == os.getpid()
    completed = [e.body for e in after if isinstance(e.body, ActivityCompleted)]
    assert [(c.activity_id, c.attempt) for c in completed] == [(1, 1), (2, 2)]
    [lost] = [e.body for e in after if isinstance(e.body, ActivityFailed)]
    assert (lost.activity_id, lost.attempt, lost.failure.type) == (2, 1, "ActivityAttemptLost")
    assert lost.retry_at is not None
    assert [e.type for e in after[len(before) :]] == [
        "ActivityFailed",
        "ActivityStarted",
        "ActivityCompleted",
        "WorkflowCompleted",
    ]


async def test_an_activity_cancelled_just_before_a_crash_is_not_attempted_again(
    store_url: str, tmp_path: Path
) -> None:
    store, before = await run_then_crash("cancel", store_url, tmp_path)
    # The crash came right after the cancel request (and the workflow's next timer) was durable.
    assert [e.type for e in before[-2:]] == ["ActivityCancelRequested", "TimerStarted"]
    async with recovering_engine(store) as engine:
        handle = engine.get_handle("crash-cancel")
        async with asyncio.timeout(20):
            assert await handle.result() == "cancelled"
        after = await handle.history()
    assert_untouched(before, after)
    assert_no_duplicates(after)
    assert effect_lines(tmp_path) == ["W attempt 1"]
    assert [e.type for e in after if e.type.startswith("Activity")] == [
        "ActivityScheduled",
        "ActivityStarted",
        "ActivityCancelRequested",
        "ActivityCancelled",
    ]


async def test_heartbeat_details_outlive_an_attempt_lost_in_a_crash(
    store_url: str, tmp_path: Path
) -> None:
    store, before = await run_then_crash("heartbeat", store_url, tmp_path)
    assert isinstance(before[-1].body, ActivityStarted)
    async with recovering_engine(store) as engine:
        handle = engine.get_handle("crash-heartbeat")
        async with asyncio.timeout(20):
            assert await handle.result() == ["page", 7]
        after = await handle.history()
    assert_untouched(before, after)
    assert_no_duplicates(after)
    # Attempt 2 was recorded as started, then the engine died before running it.
    assert effect_lines(tmp_path) == ["H attempt 1 saw []", "H attempt 3 saw ['page', 7]"]
    failures = [e.body for e in after if isinstance(e.body, ActivityFailed)]
    assert [(f.attempt, f.failure.type) for f in failures] == [
        (1, "RuntimeError"),
        (2, "ActivityAttemptLost"),
    ]
    assert [from_payload(p) for p in failures[1].last_heartbeat_details] == ["page", 7]


class AheadClock:
    """A fake wall clock that runs `ahead` in the future (a machine restarted much later)."""

    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    async def sleep_until(self, moment: datetime) -> None:
        while (delay := (moment - self.now()).total_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)


def timer_armed(history: list[Event]) -> bool:
    return any(isinstance(e.body, TimerStarted) for e in history)


async def test_an_overdue_timer_fires_once_at_once_after_a_restart(
    store_url: str, tmp_path: Path
) -> None:
    store, before = await run_then_crash("timer", store_url, tmp_path, kill_when=timer_armed)
    [armed] = [e.body for e in before if isinstance(e.body, TimerStarted)]
    # The engine comes back two hours later: the one-hour timer is overdue and must fire
    # now (were it re-armed for a full hour, or not at all, the result would never come).
    clock = AheadClock(timedelta(hours=2))
    async with recovering_engine(store, clock=clock) as engine:
        handle = engine.get_handle("crash-timer")
        async with asyncio.timeout(20):
            assert await handle.result() == f"{tmp_path} woke"
        after = await handle.history()
        assert await engine.store.due_timers(clock.now() + timedelta(days=365)) == []
    assert_untouched(before, after)
    assert_no_duplicates(after)
    assert [e.type for e in after] == [
        "WorkflowStarted",
        "TimerStarted",
        "TimerFired",
        "WorkflowCompleted",
    ]
    fired = next(e for e in after if isinstance(e.body, TimerFired))
    assert fired.recorded_at >= armed.fire_at


@workflow.defn
async def sleeps_then_returns(label: str) -> str:
    await workflow.sleep(NAP)
    return label


async def test_a_timer_fire_after_the_workflow_closed_is_refused_and_appends_nothing(
    store_url: str,
) -> None:
    async with Engine(store_url, workflows=[sleeps_then_returns]) as engine:
        handle = await engine.start_workflow(sleeps_then_returns, "x", id="closed-nap")
        await poll(history_once(engine.store, "closed-nap", timer_armed), "the timer armed")
        await handle.terminate("no more naps")
        history = await handle.history()
        assert history[-1].type == "WorkflowTerminated"
        # Closing disarmed the timer: the timer service will never see it.
        far = datetime.now(UTC) + timedelta(days=365)
        assert [
            t for t in await engine.store.due_timers(far) if t.workflow_id == "closed-nap"
        ] == []
        # A fire that raced the close (fetched as due just before it) is refused.
        with pytest.raises(WorkflowClosedError):
            await engine.runner("closed-nap").submit(
                "input", TimerFired(timer_id=1), run_id=history[0].run_id
            )
        assert await handle.history() == history
        assert (await handle.describe()).status is WorkflowStatus.TERMINATED


# --- residency: eviction and rehydration ---------------------------------------------------------


class CountsRecorderLoads:
    """A plugin counting how often each workflow's history is loaded (start, rehydration)."""

    def __init__(self) -> None:
        self.loads: Counter[str] = Counter()

    @hookimpl(wrapper=True)
    def aion_recorder_wrapper(self, recorder: Recorder) -> Generator[None, Recorder, Recorder]:
        inner = yield
        self.loads[inner.workflow_id] += 1
        return inner


@workflow.defn
async def sleeper(n: int) -> int:
    await workflow.sleep(timedelta(days=1))
    return n * 2


async def test_a_thousand_sleeping_workflows_complete_through_a_cache_of_ten(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aion.timers")
    count, cache = 1000, 10
    samples: list[tuple[int, int]] = []
    plugins = load_plugins()
    counter = CountsRecorderLoads()
    plugins.manager.register(counter, name="counts-loads")
    async with WorkflowEnvironment(
        workflows=[sleeper],
        store=store_url,
        time_skipping=True,
        max_cached_workflows=cache,
        plugins=plugins,
    ) as env:
        engine = env.engine

        async def sample() -> None:
            while True:
                samples.append((engine.cached_workflows, engine.busy_workflows))
                await asyncio.sleep(0.002)

        sampler = asyncio.create_task(sample())
        try:
            handles = await asyncio.gather(
                *(engine.start_workflow(sleeper, n, id=f"sleeper-{n}") for n in range(count))
            )
            results = await asyncio.gather(*(h.result() for h in handles))
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        assert results == [n * 2 for n in range(count)]
        # Whenever a step ends, idle workflows beyond the cache size are evicted, so at most
        # `cache` idle ones are ever held: only busy ones (a step running, arrivals waiting,
        # never evicted) come on top.
        assert [(c, b) for c, b in samples if c - b > cache] == []
        assert max(c for c, _ in samples) > cache  # the bound was put to the test
        assert engine.cached_workflows <= cache
        # All of them slept at once, and at most `cache` idle ones stay resident: every other
        # one was evicted and rebuilt from its history when its timer fired.
        rehydrated = [n for n in range(count) if counter.loads[f"sleeper-{n}"] >= 2]
        assert len(rehydrated) >= count - cache
        for n in range(0, count, 25):
            history = await engine.get_handle(f"sleeper-{n}").history()
            assert [e.type for e in history] == [
                "WorkflowStarted",
                "TimerStarted",
                "TimerFired",
                "WorkflowCompleted",
            ]
        assert await engine.count_workflows(status=WorkflowStatus.COMPLETED) == count
    # Each timer was fired once: none was fetched again as due (a read racing its fire) and
    # then refused.
    assert [r.getMessage() for r in caplog.records if r.name == "aion.timers"] == []


# --- many at once --------------------------------------------------------------------------------


@activity.defn
async def plus_one(x: int) -> int:
    return x + 1


@workflow.defn
async def w3(x: int) -> int:
    for _ in range(3):
        x = await workflow.execute_activity(plus_one, x)
    return x


async def test_a_thousand_concurrent_w3_workflows_complete(store_url: str) -> None:
    count = 1000
    async with Engine(store_url, workflows=[w3], activities=[plus_one]) as engine:
        handles = await asyncio.gather(
            *(engine.start_workflow(w3, n, id=f"w3-{n}") for n in range(count))
        )
        results = await asyncio.gather(*(h.result() for h in handles))
        assert results == [n + 3 for n in range(count)]
        assert await engine.count_workflows(status=WorkflowStatus.COMPLETED, type="w3") == count
        for n in (0, 999):
            history = await engine.get_handle(f"w3-{n}").history()
            assert [e.type for e in history] == [
                "WorkflowStarted",
                *["ActivityScheduled", "ActivityStarted", "ActivityCompleted"] * 3,
                "WorkflowCompleted",
            ]


async def test_a_child_recorded_but_not_started_before_a_crash_starts_exactly_once(
    store_url: str, tmp_path: Path
) -> None:
    store, before = await run_then_crash("child", store_url, tmp_path)
    recorded = before[-1].body
    assert isinstance(recorded, ChildWorkflowStarted)
    async with opened(store) as view:
        assert await view.read_events("crash-child-kid") == []  # recorded, never started
    async with recovering_engine(store) as engine:
        async with asyncio.timeout(20):
            assert await engine.get_handle("crash-child").result() == "child says hi"
        child_history = await engine.store.read_events("crash-child-kid")
        after = await engine.store.read_events("crash-child")
    assert_untouched(before, after)
    assert_no_duplicates(after)
    assert [e.type for e in child_history] == ["WorkflowStarted", "WorkflowCompleted"]
    assert child_history[0].run_id == recorded.run_id
    assert [e.type for e in after[len(before) :]] == ["ChildWorkflowCompleted", "WorkflowCompleted"]
