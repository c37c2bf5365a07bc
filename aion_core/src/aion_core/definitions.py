"""Workflow and activity definitions: what `@workflow.defn` and `@activity.defn` record.

A definition carries the registered name, the callable, and the parameter and
return types taken from its hints (they drive payload conversion). A workflow
definition also carries its code version: a hash of its source, recorded in
`WorkflowStarted` so `aion replay` can tell which code wrote a history.
"""

from __future__ import annotations

import hashlib
import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aion_core.errors import ConfigurationError

__all__ = [
    "ActivityDefinition",
    "HandlerDefinition",
    "HandlerKind",
    "ParamTypes",
    "WorkflowDefinition",
    "activity_definition",
    "code_version",
    "signature_types",
    "workflow_definition",
]

DEFINITION_ATTRIBUTE = "__aion_definition__"


@dataclass(frozen=True, eq=False)
class ActivityDefinition:
    """A registered activity.

    Attributes:
        name: The name workflows schedule it by.
        fn: The function; async functions run on the engine's loop, sync ones in a thread pool.
        is_async: Whether `fn` is a coroutine function.
        param_types: Parameter types, or None when it takes ``*args``.
        return_type: The declared return type (`Any` without a hint).
    """

    name: str
    fn: Callable[..., Any]
    is_async: bool
    param_types: tuple[Any, ...] | None
    return_type: Any


HandlerKind = Literal["signal", "query", "update"]


@dataclass(frozen=True, eq=False)
class HandlerDefinition:
    """A signal, query or update handler of a workflow.

    Attributes:
        kind: What calls it.
        name: The name callers use.
        fn: The method (unbound, for class handlers) or function.
        param_types: Parameter types (without ``self``), or None for ``*args``.
        return_type: The declared return type.
        is_async: Whether `fn` is a coroutine function.
        validator: For updates, a read-only check run before the update is accepted.
    """

    kind: HandlerKind
    name: str
    fn: Callable[..., Any]
    param_types: tuple[Any, ...] | None
    return_type: Any
    is_async: bool
    validator: Callable[..., Any] | None = None


@dataclass(frozen=True, eq=False)
class WorkflowDefinition:
    """A registered workflow.

    Attributes:
        name: The workflow type name.
        cls: The workflow class, or None for a plain ``async def`` workflow.
        run: The ``@workflow.run`` method (unbound) or the function itself.
        param_types: Parameter types of `run` (without ``self``), or None for ``*args``.
        return_type: The declared return type of `run`.
        code_version: A hash of the definition's source code.
    """

    name: str
    cls: type | None
    run: Callable[..., Awaitable[Any]]
    param_types: tuple[Any, ...] | None
    return_type: Any
    code_version: str
    handlers: dict[tuple[HandlerKind, str], HandlerDefinition] = field(default_factory=dict)

    def handler(self, kind: HandlerKind, name: str) -> HandlerDefinition | None:
        """The class-level handler of `kind` named `name`, if declared."""
        return self.handlers.get((kind, name))


class ParamTypes(tuple[Any, ...]):
    """A function's positional parameter types, knowing how many have no default.

    Callers may leave out trailing parameters that have defaults, as in Python:
    the function then runs with its defaults, on replay too (the payloads
    recorded are the ones sent).
    """

    required: int

    def __new__(cls, types: Sequence[Any], required: int) -> ParamTypes:
        """`types` in order; the first `required` of them have no default."""
        params = super().__new__(cls, types)
        params.required = required
        return params


def signature_types(
    fn: Callable[..., Any], *, skip_self: bool
) -> tuple[tuple[Any, ...] | None, Any]:
    """Parameter types (None for ``*args``) and return type of `fn`, from its hints."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as error:  # unresolvable forward references
        raise ConfigurationError(
            f"cannot resolve the type hints of {fn.__qualname__}: {error}"
        ) from None
    parameters = list(inspect.signature(fn).parameters.values())
    if skip_self and parameters:
        parameters = parameters[1:]
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        param_types = None
    else:
        positional = [
            p
            for p in parameters
            if p.kind
            in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        required = sum(p.default is inspect.Parameter.empty for p in positional)
        param_types = ParamTypes([hints.get(p.name, Any) for p in positional], required)
    return param_types, hints.get("return", Any)


def code_version(obj: object) -> str:
    """A short hash of `obj`'s source code (of its qualified name when there is no source)."""
    try:
        source = inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        source = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', repr(obj))}"
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def workflow_definition(obj: object) -> WorkflowDefinition:
    """The definition behind a ``@workflow.defn`` class, function, or its run method.

    Raises:
        ConfigurationError: `obj` is not a workflow.
    """
    definition = getattr(obj, DEFINITION_ATTRIBUTE, None)
    if not isinstance(definition, WorkflowDefinition):
        raise ConfigurationError(
            f"{obj!r} is not a workflow; decorate the class or async function with @workflow.defn"
        )
    return definition


def activity_definition(obj: object) -> ActivityDefinition:
    """The definition behind an ``@activity.defn`` function.

    Raises:
        ConfigurationError: `obj` is not an activity.
    """
    definition = getattr(obj, DEFINITION_ATTRIBUTE, None)
    if not isinstance(definition, ActivityDefinition):
        raise ConfigurationError(f"{obj!r} is not an activity; decorate it with @activity.defn")
    return definition
