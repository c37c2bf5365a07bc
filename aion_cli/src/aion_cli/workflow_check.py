"""A static scan of workflow code for what replay cannot reproduce: what `aion check` runs.

Workflow code must decide the same way every time it is replayed, so inside
``@workflow.defn`` classes and functions it must not read the wall clock, draw
random numbers, start threads, or do I/O (files, network, processes, the
environment); activities are where such work belongs. The scan reads the
source with `ast` (nothing is imported or run), resolves import aliases
(``from datetime import datetime as dt``), and reports each call it finds as
``file:line: message``. It sees only the bodies of the decorated classes and
functions, not helpers they call elsewhere.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Finding", "ScanResult", "scan_file", "scan_source"]

Severity = Literal["error", "note"]

_WALL_CLOCK = "reads the wall clock, which differs on replay (use workflow.now() instead)"
_RANDOM = "is random on every replay (use workflow.random() instead)"
_UUID = "is random on every replay (use workflow.uuid4() instead)"
_THREAD = "runs code on another thread, outside replay (move it into an activity)"
_IO = "does I/O, which replay repeats and cannot undo (move it into an activity)"
_ENVIRONMENT = (
    "reads the environment, which can differ on replay (pass it as workflow input, "
    "or read it in an activity)"
)

_CALLS: dict[str, tuple[Severity, str]] = {
    **dict.fromkeys(
        (
            "datetime.datetime.now",
            "datetime.datetime.utcnow",
            "datetime.datetime.today",
            "datetime.date.today",
            "time.time",
            "time.time_ns",
            "time.monotonic",
            "time.monotonic_ns",
            "time.perf_counter",
            "time.perf_counter_ns",
            "time.localtime",
            "time.gmtime",
            "time.ctime",
        ),
        ("error", _WALL_CLOCK),
    ),
    "time.sleep": (
        "error",
        "blocks the workflow and is no durable timer (use await workflow.sleep(...) instead)",
    ),
    "uuid.uuid1": ("error", _UUID),
    "uuid.uuid4": ("error", _UUID),
    "os.urandom": ("error", _RANDOM),
    "os.getenv": ("error", _ENVIRONMENT),
    "open": ("error", _IO),
    "io.open": ("error", _IO),
    "input": ("error", _IO),
    "asyncio.to_thread": ("error", _THREAD),
    "asyncio.sleep": (
        "note",
        "is a durable timer on the workflow loop; workflow.sleep(...) says so explicitly",
    ),
}

_MODULES: dict[str, tuple[Severity, str]] = {
    "random": ("error", _RANDOM),
    "secrets": ("error", _RANDOM),
    "threading": ("error", _THREAD),
    "concurrent.futures": ("error", _THREAD),
    "multiprocessing": ("error", _THREAD),
    "subprocess": ("error", _IO),
    "socket": ("error", _IO),
    "requests": ("error", _IO),
    "httpx": ("error", _IO),
    "aiohttp": ("error", _IO),
    "urllib.request": ("error", _IO),
    "http.client": ("error", _IO),
    "shutil": ("error", _IO),
}
"""Modules any call into is reported."""

_READS: dict[str, tuple[Severity, str]] = {"os.environ": ("error", _ENVIRONMENT)}
"""Names whose mere reading is reported (``os.environ[...]``, ``os.environ.get(...)``)."""

_BUILTINS = frozenset({"open", "input"})
"""Builtins the scan reports, unless a module-level import shadows them."""

_DEFN = "aion_core.workflow.defn"


@dataclass(frozen=True, order=True)
class Finding:
    """One thing found in workflow code.

    Attributes:
        path: The file, as given.
        line: Its line (1-based).
        column: Its column (1-based).
        severity: ``error`` (replay breaks or repeats it) or ``note`` (worth knowing).
        message: What was found and what to do instead.
    """

    path: str
    line: int
    column: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        prefix = "note: " if self.severity == "note" else ""
        return f"{self.path}:{self.line}: {prefix}{self.message}"


@dataclass(frozen=True)
class ScanResult:
    """What scanning some files found.

    Attributes:
        findings: Everything found, by file and line.
        workflows: Names of the workflow definitions scanned, as ``file:line name``.
    """

    findings: list[Finding]
    workflows: list[str]


def scan_file(path: Path) -> ScanResult:
    """Scan one Python file (a file that does not parse is reported as a finding)."""
    try:
        source = path.read_text(encoding="utf-8")
        return scan_source(source, str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as error:
        line = getattr(error, "lineno", None) or 1
        finding = Finding(str(path), line, 1, "error", f"cannot be read as Python: {error}")
        return ScanResult([finding], [])


def scan_source(source: str, path: str = "<source>") -> ScanResult:
    """Scan Python source for the workflow definitions in it and what they must not do.

    Raises:
        SyntaxError: The source is not Python.
    """
    tree = ast.parse(source, filename=path)
    aliases = _aliases(tree)
    findings: set[Finding] = set()
    workflows: list[str] = []
    for definition in _workflow_definitions(tree, aliases):
        workflows.append(f"{path}:{definition.lineno} {definition.name}")
        scanner = _Scanner(path, aliases)
        scanner.visit(definition)
        findings.update(scanner.findings)
    return ScanResult(sorted(findings), workflows)


class _Scanner(ast.NodeVisitor):
    """Checks every expression, knowing which imported names a function shadows locally."""

    def __init__(self, path: str, aliases: dict[str, str]) -> None:
        self.path = path
        self.scopes = [aliases]
        self.findings: set[Finding] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Decorators and defaults belong to the enclosing scope, the body to its own.
        for outer in (*node.decorator_list, *node.args.defaults, *node.args.kw_defaults):
            if outer is not None:
                self.visit(outer)
        shadowed = _local_names(node)
        self.scopes.append({k: v for k, v in self.scopes[-1].items() if k not in shadowed})
        for statement in node.body:
            self.visit(statement)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.expr) and (found := _check(node, self.scopes[-1])) is not None:
            severity, message = found
            self.findings.add(
                Finding(self.path, node.lineno, node.col_offset + 1, severity, message)
            )
        super().generic_visit(node)


def _local_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names a function binds itself (parameters, assignments), except by importing."""
    arguments = function.args
    names = {
        argument.arg
        for argument in (
            *arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
            *filter(None, (arguments.vararg, arguments.kwarg)),
        )
    }  # fmt: skip
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            names.difference_update(node.names)
    return names


def _aliases(tree: ast.Module) -> dict[str, str]:
    """What each imported name stands for: ``dt`` → ``datetime.datetime``, ``np`` → ``numpy``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.asname is not None:
                    aliases[name.asname] = name.name
                else:
                    top = name.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for name in node.names:
                aliases[name.asname or name.name] = f"{node.module}.{name.name}"
    return aliases


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The full dotted name an expression refers to (``dt.now`` → ``datetime.datetime.now``).

    Only names that are imported (or builtins the scan knows) resolve: a local
    variable called ``random`` is not the module.
    """
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    if node.id in aliases:
        base = aliases[node.id]
    elif node.id in _BUILTINS and not parts:
        base = node.id
    else:
        return None
    return ".".join([base, *reversed(parts)])


def _workflow_definitions(
    tree: ast.Module, aliases: dict[str, str]
) -> Iterator[ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and any(
            _is_defn(decorator, aliases) for decorator in node.decorator_list
        ):
            yield node


def _is_defn(decorator: ast.expr, aliases: dict[str, str]) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = _dotted(target, aliases)
    # `workflow.defn` resolves through `from aion_core import workflow`; accept the bare
    # spelling too, for code importing it some other way.
    return name is not None and (name == _DEFN or name.endswith("workflow.defn"))


def _check(node: ast.expr, aliases: dict[str, str]) -> tuple[Severity, str] | None:
    if isinstance(node, ast.Call):
        name = _dotted(node.func, aliases)
        if name is None:
            return None
        rule = _CALLS.get(name) or _module_rule(name)
        if rule is not None:
            severity, message = rule
            return severity, f"{name}() {message}"
    elif isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Load):
        name = _dotted(node, aliases)
        if name in _READS:
            severity, message = _READS[name]
            return severity, f"{name} {message}"
    return None


def _module_rule(name: str) -> tuple[Severity, str] | None:
    for module in _prefixes(name):
        if module in _MODULES:
            return _MODULES[module]
    return None


def _prefixes(name: str) -> Iterable[str]:
    """``a.b.c`` → ``a.b``, ``a`` (the modules a call into ``a.b.c`` may belong to)."""
    parts = name.split(".")
    return (".".join(parts[:end]) for end in range(len(parts) - 1, 0, -1))
