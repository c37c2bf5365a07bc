"""Writing workflows: the decorators and the deterministic helpers workflow code calls.

Workflow code is ordinary asyncio on a deterministic loop whose clock is
workflow time (`asyncio.sleep`, `gather`, `wait`, `timeout` and `Event` all
work and replay identically). Use the helpers here instead of the wall clock,
`random` or `uuid`, and do I/O in activities.
"""

from __future__ import annotations

import asyncio
import inspect
import random as _random
import uuid as _uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar, overload

from aion_core.converter import to_payloads
from aion_core.definitions import (
    DEFINITION_ATTRIBUTE,
    HandlerDefinition,
    HandlerKind,
    WorkflowDefinition,
    activity_definition,
    code_version,
    signature_types,
    workflow_definition,
)
from aion_core.errors import AionError, ConfigurationError
from aion_core.events import ActivityScheduled, ParentClosePolicy, SearchAttributeValue
from aion_core.retry import RetryPolicy
from aion_core.runtime.commands import ContinueAsNew
from aion_core.runtime.instance import WorkflowInfo, WorkflowInstance
from aion_core.runtime.loop import NotAllowedInWorkflowError, WorkflowEventLoop

__all__ = [
    "NotAllowedInWorkflowError",
    "NotInWorkflowError",
    "WorkflowInfo",
    "continue_as_new",
    "defn",
    "execute_activity",
    "execute_child_workflow",
    "info",
    "now",
    "patched",
    "query",
    "query_workflow",
    "random",
    "register_query",
    "register_signal",
    "register_update",
    "run",
    "signal",
    "signal_external",
    "sleep",
    "start_child_workflow",
    "update",
    "upsert_search_attributes",
    "uuid4",
    "wait_condition",
]

_T = TypeVar("_T")
_R = TypeVar("_R")
_RUN_MARK = "__aion_workflow_run__"
HANDLER_MARK = "__aion_workflow_handler__"
_VALIDATOR_MARK = "__aion_update_validator__"


class NotInWorkflowError(AionError, RuntimeError):
    """A workflow helper was called outside workflow code."""


def _instance() -> WorkflowInstance:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if not isinstance(loop, WorkflowEventLoop):
        raise NotInWorkflowError(
            "this aion.workflow function can only be called from workflow code"
        )
    return loop.instance


# --- decorators --------------------------------------------------------------------------------


def run(fn: Callable[..., Awaitable[_R]]) -> Callable[..., Awaitable[_R]]:
    """Mark the ``async`` method of a workflow class that runs the workflow."""
    if not inspect.iscoroutinefunction(fn):
        raise ConfigurationError(f"@workflow.run method {fn.__qualname__} must be async def")
    setattr(fn, _RUN_MARK, True)
    return fn


def _handler_decorator(kind: HandlerKind, target: Any, name: str | None) -> Any:
    def decorate(fn: Any) -> Any:
        if not callable(fn):
            raise ConfigurationError(f"@workflow.{kind} needs a method, not {fn!r}")
        if kind == "query" and inspect.iscoroutinefunction(fn):
            raise ConfigurationError(
                f"query {fn.__qualname__} must not be async: queries only read state"
            )
        setattr(fn, HANDLER_MARK, (kind, name or fn.__name__))
        if kind == "update":

            def validator(check: Callable[..., None]) -> Callable[..., None]:
                if inspect.iscoroutinefunction(check):
                    raise ConfigurationError(f"update validator {check.__qualname__} must be sync")
                setattr(fn, _VALIDATOR_MARK, check)
                return check

            fn.validator = validator
        return fn

    return decorate(target) if target is not None else decorate


def signal(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Mark a workflow method (sync or async) as the handler of a signal (default: its name)."""
    return _handler_decorator("signal", fn, name)


def query(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Mark a sync workflow method as a query handler: it reads state and returns a value."""
    return _handler_decorator("query", fn, name)


def update(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Mark a workflow method as an update handler: a signal that returns a value.

    Add a read-only check with ``@<method>.validator``; an update it rejects
    records nothing.
    """
    return _handler_decorator("update", fn, name)


@overload
def defn(target: type[_T], /) -> type[_T]: ...  # type: ignore[overload-overlap]
@overload
def defn(target: Callable[..., Awaitable[_R]], /) -> Callable[..., Awaitable[_R]]: ...
@overload
def defn(*, name: str | None = None) -> Callable[[_T], _T]: ...


def defn(target: Any = None, /, *, name: str | None = None) -> Any:
    """Declare a workflow: a class with one ``@workflow.run`` method, or an ``async def``.

    Args:
        target: The class or function (when used without parentheses).
        name: The workflow type name; defaults to the class or function name.
    """

    def decorate(obj: Any) -> Any:
        if inspect.isclass(obj):
            definition = _class_definition(obj, name or obj.__name__)
            setattr(definition.run, DEFINITION_ATTRIBUTE, definition)
        elif inspect.iscoroutinefunction(obj):
            param_types, return_type = signature_types(obj, skip_self=False)
            definition = WorkflowDefinition(
                name or obj.__name__, None, obj, param_types, return_type, code_version(obj)
            )
        else:
            raise ConfigurationError(
                f"@workflow.defn needs a class with an async @workflow.run method or an async "
                f"function, not {obj!r}"
            )
        setattr(obj, DEFINITION_ATTRIBUTE, definition)
        return obj

    return decorate(target) if target is not None else decorate


def _class_definition(cls: type, name: str) -> WorkflowDefinition:
    runs = [
        member
        for _, member in inspect.getmembers(cls, inspect.isfunction)
        if getattr(member, _RUN_MARK, False)
    ]
    if len(runs) != 1:
        raise ConfigurationError(
            f"workflow class {cls.__qualname__} needs exactly one @workflow.run method, "
            f"found {len(runs)}"
        )
    required = [
        p
        for p in inspect.signature(cls).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if required:
        raise ConfigurationError(
            f"workflow class {cls.__qualname__} must be constructible without arguments; "
            "take inputs in the @workflow.run method"
        )
    param_types, return_type = signature_types(runs[0], skip_self=True)
    handlers: dict[tuple[HandlerKind, str], HandlerDefinition] = {}
    for _, member in inspect.getmembers(cls, inspect.isfunction):
        mark = getattr(member, HANDLER_MARK, None)
        if mark is None:
            continue
        kind, handler_name = mark
        if (kind, handler_name) in handlers:
            raise ConfigurationError(f"workflow {name!r} has two {kind} handlers {handler_name!r}")
        handlers[(kind, handler_name)] = handler_definition(
            kind,
            handler_name,
            member,
            skip_self=True,
            validator=getattr(member, _VALIDATOR_MARK, None),
        )
    return WorkflowDefinition(
        name, cls, runs[0], param_types, return_type, code_version(cls), handlers
    )


def handler_definition(
    kind: HandlerKind,
    name: str,
    fn: Callable[..., Any],
    *,
    skip_self: bool,
    validator: Callable[..., Any] | None = None,
) -> HandlerDefinition:
    """The definition of a signal, query or update handler."""
    if kind == "query" and inspect.iscoroutinefunction(fn):
        raise ConfigurationError(f"query {name!r} must not be async: queries only read state")
    param_types, return_type = signature_types(fn, skip_self=skip_self)
    return HandlerDefinition(
        kind, name, fn, param_types, return_type, inspect.iscoroutinefunction(fn), validator
    )


# --- deterministic helpers ---------------------------------------------------------------------


def now() -> datetime:
    """Workflow time (UTC): when the event being handled was recorded. Replays identically."""
    return _instance().now()


def random() -> _random.Random:
    """A random generator seeded by the run; draws replay identically."""
    return _instance().random


def uuid4() -> _uuid.UUID:
    """A random UUID that replays identically."""
    return _uuid.UUID(int=_instance().random.getrandbits(128), version=4)


def info() -> WorkflowInfo:
    """The running workflow's id, run id, type, task queue, start time, ..."""
    current = _instance().info
    assert current is not None
    return current


def patched(patch_id: str) -> bool:
    """Whether to take the new branch of a code change named `patch_id`.

    New runs take it (True) and record that they did; runs replaying a history
    recorded before the change take the old branch (False).
    """
    return _instance().patched(patch_id)


def _seconds(duration: timedelta | float) -> float:
    return duration.total_seconds() if isinstance(duration, timedelta) else float(duration)


async def sleep(duration: timedelta | float) -> None:
    """A durable timer: the workflow continues `duration` later, across restarts."""
    _instance()
    await asyncio.sleep(_seconds(duration))


async def wait_condition(
    predicate: Callable[[], bool],
    *,
    timeout: timedelta | float | None = None,
) -> bool:
    """Wait until `predicate()` holds; False when `timeout` (a durable timer) passes first."""
    instance = _instance()
    if predicate():
        return True
    future = instance.add_condition(predicate)
    if timeout is None:
        return await future
    try:
        async with asyncio.timeout(_seconds(timeout)):
            return await future
    except TimeoutError:
        return False


def continue_as_new(*args: Any) -> NoReturn:
    """End this run and start a fresh one of the same workflow (same id, new run id)."""
    instance = _instance()
    raise ContinueAsNew(
        to_payloads(
            args,
            instance.definition.param_types,
            f"workflow {instance.definition.name}",
            max_bytes=instance.payload_limit,
        )
    )


@overload
async def execute_activity(
    activity: Callable[..., Awaitable[_R]],
    *args: Any,
    task_queue: str | None = None,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
) -> _R: ...
@overload
async def execute_activity(
    activity: Callable[..., _R],
    *args: Any,
    task_queue: str | None = None,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
) -> _R: ...
@overload
async def execute_activity(
    activity: str,
    *args: Any,
    task_queue: str | None = None,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Any: ...


async def execute_activity(
    activity: Any,
    *args: Any,
    task_queue: str | None = None,
    start_to_close_timeout: timedelta | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Any:
    """Run an activity (at least once) and return its result.

    Args:
        activity: An ``@activity.defn`` function, or an activity name.
        *args: Its arguments, checked against its type hints.
        task_queue: Where it runs; defaults to the workflow's task queue.
        start_to_close_timeout: Longest time one attempt may take.
        schedule_to_close_timeout: Longest time all attempts together may take.
        heartbeat_timeout: Longest time between heartbeats of a running attempt.
        retry_policy: How failed attempts are retried (default: `RetryPolicy()`).

    Raises:
        ActivityError: The activity failed for good; its cause is the last failure.
        PayloadValidationError: The arguments do not fit the activity's signature.
        PayloadTooLargeError: An argument is over the engine's ``max_payload_bytes``
            (uncaught, it fails the workflow, as any `PayloadValidationError` does).
    """
    instance = _instance()
    if isinstance(activity, str):
        activity_type, param_types, return_type = activity, None, Any
    else:
        definition = activity_definition(activity)
        activity_type = definition.name
        param_types, return_type = definition.param_types, definition.return_type
    scheduled = ActivityScheduled(
        activity_id=instance.next_ordinal("activity"),
        activity_type=activity_type,
        input=to_payloads(
            args, param_types, f"activity {activity_type!r}", max_bytes=instance.payload_limit
        ),
        task_queue=task_queue or (instance.info.task_queue if instance.info else "default"),
        retry_policy=retry_policy or RetryPolicy(),
        start_to_close_timeout=start_to_close_timeout,
        schedule_to_close_timeout=schedule_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
    )
    return await instance.schedule_activity(scheduled, return_type)


# --- dynamic handlers and visibility -----------------------------------------------------------


def register_signal(name: str, handler: Callable[..., Any]) -> None:
    """Handle signal `name` with `handler` (sync or async); buffered signals are delivered now.

    Re-registering a name replaces its handler (replay registers again).
    """
    _instance().register_handler(
        handler_definition("signal", name, handler, skip_self=False), handler
    )


def register_query(name: str, handler: Callable[..., Any]) -> None:
    """Answer query `name` with `handler` (sync, read-only). Re-registering replaces it."""
    _instance().register_handler(
        handler_definition("query", name, handler, skip_self=False), handler
    )


def register_update(
    name: str, handler: Callable[..., Any], *, validator: Callable[..., Any] | None = None
) -> None:
    """Handle update `name` with `handler`, after the optional read-only `validator`."""
    definition = handler_definition("update", name, handler, skip_self=False, validator=validator)
    _instance().register_handler(definition, handler)


def upsert_search_attributes(attributes: dict[str, SearchAttributeValue]) -> None:
    """Add or change search attributes: listings can filter by them (recorded, replays)."""
    _instance().upsert_search_attributes(attributes)


# --- child workflows ---------------------------------------------------------------------------


class ChildWorkflowHandle:
    """A child workflow started by this workflow.

    Attributes:
        workflow_id: The child's id.
        run_id: The child's first run.
    """

    def __init__(self, workflow_id: str, run_id: str, future: asyncio.Future[Any]) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        self._future = future

    async def result(self) -> Any:
        """Wait for the child to close; its result.

        Raises:
            ChildWorkflowError: It failed, could not start, was cancelled, terminated or
                timed out; the cause carries the recorded failure.
        """
        return await self._future


async def start_child_workflow(
    child: object,
    *args: Any,
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: ParentClosePolicy = "terminate",
) -> ChildWorkflowHandle:
    """Start a child workflow; its start is recorded here before the child exists.

    Args:
        child: A ``@workflow.defn`` workflow (class, run method, function) or a type name.
        *args: Its input, checked against its type hints.
        id: The child's workflow id (default: derived from this workflow's id).
        task_queue: The child's task queue (default: this workflow's).
        parent_close_policy: What happens to the child when this run closes:
            ``"terminate"`` (default), ``"request_cancel"`` or ``"abandon"``.
    """
    instance = _instance()
    if isinstance(child, str):
        child_type, param_types, return_type = child, None, Any
    else:
        definition = workflow_definition(child)
        child_type = definition.name
        param_types, return_type = definition.param_types, definition.return_type
    pending = instance.children.start(
        child_type,
        to_payloads(
            args, param_types, f"child workflow {child_type!r}", max_bytes=instance.payload_limit
        ),
        workflow_id=id,
        task_queue=task_queue or (instance.info.task_queue if instance.info else "default"),
        parent_close_policy=parent_close_policy,
        return_type=return_type,
    )
    return ChildWorkflowHandle(pending.started.workflow_id, pending.started.run_id, pending.future)


async def execute_child_workflow(
    child: object,
    *args: Any,
    id: str | None = None,
    task_queue: str | None = None,
    parent_close_policy: ParentClosePolicy = "terminate",
) -> Any:
    """Start a child workflow and wait for its result (arguments as `start_child_workflow`)."""
    handle = await start_child_workflow(
        child, *args, id=id, task_queue=task_queue, parent_close_policy=parent_close_policy
    )
    return await handle.result()


async def signal_external(workflow_id: str, signal: object, *args: Any) -> None:
    """Send a signal to another workflow; return once the target has recorded it.

    Args:
        workflow_id: The target workflow.
        signal: A ``@workflow.signal`` method of the target, or the signal's name.
        *args: The signal's arguments.

    Raises:
        ApplicationError: The target does not exist or is closed (type
            ``WorkflowNotFoundError`` or ``WorkflowClosedError``).
    """
    instance = _instance()
    if isinstance(signal, str):
        name, param_types = signal, None
    else:
        mark = getattr(signal, HANDLER_MARK, None)
        if mark is None or mark[0] != "signal":
            raise ConfigurationError(f"{signal!r} is not a @workflow.signal handler")
        name = mark[1]
        param_types = handler_definition("signal", name, signal, skip_self=True).param_types  # type: ignore[arg-type]
    payloads = to_payloads(args, param_types, f"signal {name!r}", max_bytes=instance.payload_limit)
    await instance.send_signal(workflow_id, name, payloads)


def query_workflow(workflow_id: str, query: object, *args: Any) -> Awaitable[Any]:
    """Ask another workflow a query; its answer is recorded here, so replay gets the same one.

    Nothing is recorded in the queried workflow. Use it as ``await workflow.query_workflow(...)``;
    the call itself is refused inside a query handler.

    Args:
        workflow_id: The workflow to ask.
        query: A ``@workflow.query`` method of that workflow, or the query's name
            (the answer is then plain JSON).
        *args: The query's arguments.

    Raises:
        QueryRefused: Called while answering a query.
        ApplicationError: The query failed; its type names why (``WorkflowNotFoundError``,
            ``UnknownQuery``, ``QueryHandlerFailed``, ``QueryTimeout``, ...).
    """
    instance = _instance()
    if isinstance(query, str):
        name, param_types, return_type = query, None, Any
    else:
        mark = getattr(query, HANDLER_MARK, None)
        if mark is None or mark[0] != "query":
            raise ConfigurationError(f"{query!r} is not a @workflow.query handler")
        name = mark[1]
        found = handler_definition("query", name, query, skip_self=True)  # type: ignore[arg-type]
        param_types, return_type = found.param_types, found.return_type
    payloads = to_payloads(args, param_types, f"query {name!r}", max_bytes=instance.payload_limit)
    return instance.queries_out.ask(workflow_id, name, payloads, return_type)
