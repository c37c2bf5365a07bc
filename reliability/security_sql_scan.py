"""A static scan for SQL text built by string formatting, the way SQL injection gets in.

It reads Python sources with `ast` (nothing is imported or run) and reports two
kinds of places:

* a call of a SQL sink (``text``, ``literal_column``, ``exec_driver_sql``,
  ``execute``, ``executemany``, ``executescript``) whose statement is an
  f-string with fields, a ``%`` format, a ``.format`` call, a ``+`` of text
  and something else, or a ``.join``;
* a compilation with ``literal_binds``, which writes bound values into the text;
* any such formatted string, wherever it is, whose literal text holds an
  upper-case SQL keyword: a statement built in one place and run in another
  (a tuple of PRAGMAs executed later) is caught where it is built.

Error messages and log lines are formatted too, but they do not hold upper-case
SQL keywords, so they are not reported.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SQL_SINKS", "FormattedSql", "find_formatted_sql"]

SQL_SINKS = frozenset(
    {"text", "literal_column", "exec_driver_sql", "execute", "executemany", "executescript"}
)
"""Functions and methods whose first argument is run as (or inside) SQL text."""

_SQL_KEYWORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|PRAGMA|CREATE|DROP|ALTER|BEGIN|WHERE|FROM|VALUES|"
    r"VACUUM|TRUNCATE|GRANT|ATTACH|LISTEN|NOTIFY|COPY|LOCK|SAVEPOINT|RELEASE)\b"
)


@dataclass(frozen=True)
class FormattedSql:
    """SQL text built by formatting, where it is built.

    Attributes:
        path: The source file, relative to the scanned root.
        function: The enclosing function (``Class.method``), or ``<module>``.
        line: Its line.
        how: ``f-string``, ``%``, ``.format``, ``+``, ``.join`` or ``literal_binds``.
        literal: The literal text of the expression (what tells what it builds).
    """

    path: str
    function: str
    line: int
    how: str
    literal: str


def _how_formatted(node: ast.AST) -> str | None:
    """How `node` builds text from values, or None when it is not built by formatting."""
    if isinstance(node, ast.JoinedStr):
        has_fields = any(isinstance(part, ast.FormattedValue) for part in node.values)
        return "f-string" if has_fields else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return "%" if _is_text(node.left) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return "+" if _is_text(node.left) or _is_text(node.right) else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "format" and _is_text(node.func.value):
            return ".format"
        if node.func.attr == "join" and _is_text(node.func.value):
            return ".join"
    return None


def _is_text(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(
        node, ast.JoinedStr | ast.BinOp
    )


def _literal(node: ast.AST) -> str:
    """Every string constant inside `node`, joined: the fixed text of a formatted expression."""
    return "".join(
        child.value
        for child in ast.walk(node)
        if isinstance(child, ast.Constant) and isinstance(child.value, str)
    )


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _statement_argument(call: ast.Call) -> ast.AST | None:
    if call.args:
        return call.args[0]
    for keyword in call.keywords:
        if keyword.arg in ("statement", "sql", "text", "operation"):
            return keyword.value
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.scope: list[str] = []
        self.found: dict[tuple[int, int], FormattedSql] = {}

    @property
    def function(self) -> str:
        return ".".join(self.scope) or "<module>"

    def _report(self, node: ast.AST, how: str) -> None:
        key = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
        self.found.setdefault(
            key, FormattedSql(self.path, self.function, key[0], how, _literal(node))
        )

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = _scoped
    visit_AsyncFunctionDef = _scoped
    visit_ClassDef = _scoped

    def visit_Call(self, node: ast.Call) -> None:
        if _callee(node) in SQL_SINKS:
            argument = _statement_argument(node)
            how = _how_formatted(argument) if argument is not None else None
            if argument is not None and how is not None:
                self._report(argument, how)
        if any("literal_binds" in ast.dump(keyword) for keyword in node.keywords):
            self._report(node, "literal_binds")
        self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> None:
        how = _how_formatted(node)
        if how is not None and _SQL_KEYWORDS.search(_literal(node)):
            self._report(node, how)
        super().generic_visit(node)


def find_formatted_sql(root: Path) -> list[FormattedSql]:
    """Every place under `root` (``*.py``, recursively) that builds SQL text by formatting."""
    found: list[FormattedSql] = []
    for path in sorted(root.rglob("*.py")):
        scanner = _Scanner(path.relative_to(root).as_posix())
        scanner.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found += sorted(scanner.found.values(), key=lambda item: item.line)
    return found
