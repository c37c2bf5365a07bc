"""docs/plugin_hooks.md documents every hook of hookspecs.py, with its exact signature.

Each ``## aion_xxx`` section opens with a python block holding the hook's
decorator and ``def`` line as in hookspecs.py; the blocks after it are
examples. Adding, renaming or removing a hook, or changing its parameters,
annotations, return annotation or firstresult, fails here until the page follows.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aion_core import hookspecs
from aion_core.store import EventStore

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugin_hooks.md"

SPEC_OPTIONS = f"{hookspecs.PROJECT_NAME}_spec"
"""The attribute pluggy's `HookspecMarker` stores a hook's options in; it marks a hook spec."""

_HOOK_HEADING = re.compile(r"## (aion_\w+)[ \t]*")


@dataclass(frozen=True)
class HookSignature:
    """What must agree between the page and hookspecs.py, annotations as source text."""

    options: tuple[tuple[str, str], ...]
    parameters: tuple[tuple[str, str, str | None, str | None], ...]
    """(name, kind, annotation, default) of each parameter, in order."""
    returns: str | None

    def render(self, name: str) -> str:
        """The block to paste into the page for hook `name`."""
        options = ", ".join(f"{key}={value}" for key, value in self.options)
        decorator = f"@hookspec({options})" if options else "@hookspec"
        parameters = ", ".join(_render_parameter(*parameter) for parameter in self.parameters)
        returns = f" -> {self.returns}" if self.returns is not None else ""
        return f"{decorator}\ndef {name}({parameters}){returns}: ..."


def _render_parameter(name: str, kind: str, annotation: str | None, default: str | None) -> str:
    prefix = {"VAR_POSITIONAL": "*", "VAR_KEYWORD": "**"}.get(kind, "")
    text = prefix + name + (f": {annotation}" if annotation is not None else "")
    return text + (f" = {default}" if default is not None else "")


def _normalised(source: str) -> str:
    """`source` (an annotation or default) as `ast.unparse` spells it, spacing aside."""
    return ast.unparse(ast.parse(source, mode="eval"))


# --- the hook specifications ---------------------------------------------------------------------


def hookspec_functions() -> dict[str, Callable[..., Any]]:
    """Every hook specification, found the way pluggy's `add_hookspecs` finds them."""
    found = {name: getattr(hookspecs, name) for name in dir(hookspecs)}
    return {name: fn for name, fn in found.items() if hasattr(fn, SPEC_OPTIONS)}


def _annotation_text(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty:
        return None
    # hookspecs.py postpones annotations, so they are source strings already.
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    return _normalised(text)


def spec_signature(function: Callable[..., Any]) -> HookSignature:
    """The signature of a hook specification function."""
    options: dict[str, Any] = getattr(function, SPEC_OPTIONS)
    signature = inspect.signature(function)
    return HookSignature(
        options=tuple(sorted((key, repr(value)) for key, value in options.items() if value)),
        parameters=tuple(
            (
                parameter.name,
                parameter.kind.name,
                _annotation_text(parameter.annotation),
                None if parameter.default is inspect.Parameter.empty else repr(parameter.default),
            )
            for parameter in signature.parameters.values()
        ),
        returns=_annotation_text(signature.return_annotation),
    )


# --- the page ------------------------------------------------------------------------------------


def hook_sections(page: str) -> dict[str, list[str]]:
    """The python blocks of each ``## aion_xxx`` section, by hook name.

    Headings inside fenced blocks (a ``# comment`` in an example) are not headings.

    Raises:
        AssertionError: A hook has two sections.
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None  # the blocks of the hook section being read
    block: list[str] | None = None  # the lines of the python block being read
    fence = False
    for line in page.splitlines():
        if line.startswith("```"):
            if fence and block is not None and current is not None:
                current.append("\n".join(block) + "\n")
            fence = not fence
            block = [] if fence and line.strip() == "```python" else None
        elif fence:
            if block is not None:
                block.append(line)
        elif line.startswith(("# ", "## ")):
            heading = _HOOK_HEADING.fullmatch(line)
            current = None
            if heading is not None:
                name = heading.group(1)
                assert name not in sections, f"docs/plugin_hooks.md has two sections for {name}"
                current = sections[name] = []
    return sections


def _documented_function(name: str, block: str) -> ast.FunctionDef:
    functions = [node for node in ast.parse(block).body if isinstance(node, ast.FunctionDef)]
    names = [function.name for function in functions]
    assert names == [name], (
        f"the first python block of ## {name} must be its signature: "
        f"@hookspec... and one `def {name}(...) -> ...: ...`, not {names}"
    )
    return functions[0]


def documented_signature(name: str, block: str) -> HookSignature:
    """The signature a section's first python block gives for hook `name`."""
    function = _documented_function(name, block)
    options: list[tuple[str, str]] = []
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "hookspec":
            options += [(str(k.arg), ast.unparse(k.value)) for k in decorator.keywords]
        else:
            assert ast.unparse(decorator) == "hookspec", f"## {name}: unexpected decorator"
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    parameters = [
        (arg, "POSITIONAL_ONLY" if arg in args.posonlyargs else "POSITIONAL_OR_KEYWORD", default)
        for arg, default in zip(positional, [*defaults, *args.defaults], strict=True)
    ]
    if args.vararg is not None:
        parameters.append((args.vararg, "VAR_POSITIONAL", None))
    parameters += [
        (arg, "KEYWORD_ONLY", default)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    if args.kwarg is not None:
        parameters.append((args.kwarg, "VAR_KEYWORD", None))
    return HookSignature(
        options=tuple(sorted(options)),
        parameters=tuple(
            (
                arg.arg,
                kind,
                ast.unparse(arg.annotation) if arg.annotation is not None else None,
                ast.unparse(default) if default is not None else None,
            )
            for arg, kind, default in parameters
        ),
        returns=ast.unparse(function.returns) if function.returns is not None else None,
    )


def signature_differences(page: str) -> list[str]:
    """Every way `page` disagrees with hookspecs.py; empty when it is up to date."""
    specs = {name: spec_signature(fn) for name, fn in hookspec_functions().items()}
    sections = hook_sections(page)
    problems = [
        f"{name} is not documented; add a section:\n## {name}\n\n{specs[name].render(name)}"
        for name in sorted(specs.keys() - sections.keys())
    ]
    problems += [
        f"## {name} documents a hook hookspecs.py does not have"
        for name in sorted(sections.keys() - specs.keys())
    ]
    for name in sorted(specs.keys() & sections.keys()):
        blocks = sections[name]
        if not blocks:
            problems.append(f"## {name} has no python block with its signature")
            continue
        documented = documented_signature(name, blocks[0])
        if documented != specs[name]:
            problems.append(
                f"## {name} shows\n{documented.render(name)}\nbut hookspecs.py has\n"
                f"{specs[name].render(name)}"
            )
    return problems


def _implementations(block: str) -> list[ast.FunctionDef]:
    """Every function or method named ``aion_*`` an example defines."""
    tree = ast.parse(block)
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name.startswith("aion_")
    ]


# --- the tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def test_the_page_documents_exactly_the_hooks_of_hookspecs(page: str) -> None:
    assert hook_sections(page).keys() == hookspec_functions().keys()


def test_every_documented_signature_is_the_hookspec_signature(page: str) -> None:
    problems = signature_differences(page)
    assert not problems, "docs/plugin_hooks.md is out of date:\n\n" + "\n\n".join(problems)


@pytest.mark.parametrize("hook", sorted(hookspec_functions()))
def test_the_examples_implement_the_hook_with_its_arguments(page: str, hook: str) -> None:
    sections = hook_sections(page)
    assert hook in sections, f"{hook} is not documented"
    examples = sections[hook][1:]
    assert examples, f"## {hook} has no example"
    specs = {name: spec_signature(fn) for name, fn in hookspec_functions().items()}
    implemented = [fn for block in examples for fn in _implementations(block)]
    assert hook in {fn.name for fn in implemented}, f"the examples of ## {hook} do not implement it"
    for fn in implemented:
        assert fn.name in specs, f"## {hook}: the example defines {fn.name}, which is no hook"
        # Pluggy passes an implementation only the arguments it names: a subset of the spec's.
        names = {arg.arg for arg in fn.args.args} - {"self"}
        allowed = {parameter[0] for parameter in specs[fn.name].parameters}
        assert names <= allowed, f"## {hook}: {fn.name} takes {names - allowed}, not in the spec"


# --- the check itself notices drift --------------------------------------------------------------


def _replace_once(page: str, old: str, new: str) -> str:
    assert page.count(old) >= 1, old
    return page.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "hook"),
    [
        ("aion_event_store(url: str)", "aion_event_store(address: str)", "aion_event_store"),
        ("(url: str) -> EventStore | None", "(url: bytes) -> EventStore | None",
         "aion_event_store"),
        ("-> EventStore | None: ...", "-> EventStore: ...", "aion_event_store"),
        ("def aion_cli_commands(cli: CommandGroup)", "def aion_cli_commands(cli, extra: int)",
         "aion_cli_commands"),
        ("@hookspec(firstresult=True)\ndef aion_transport_client",
         "@hookspec\ndef aion_transport_client", "aion_transport_client"),
        ("## aion_payload_codecs\n", "## aion_payload_codec\n", "aion_payload_codecs"),
    ],
)  # fmt: skip
def test_a_changed_signature_or_name_is_reported(page: str, old: str, new: str, hook: str) -> None:
    problems = signature_differences(_replace_once(page, old, new))
    assert any(hook in problem for problem in problems), problems


def test_a_missing_section_is_reported(page: str) -> None:
    start = page.index("## aion_workflow_interceptors\n")
    end = page.index("\n## ", start) + 1
    problems = signature_differences(page[:start] + page[end:])
    assert any(p.startswith("aion_workflow_interceptors is not documented") for p in problems)


def test_a_new_hookspec_is_reported_with_the_section_to_add(
    page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    @hookspecs.hookspec
    def aion_workflow_closed(workflow_id: str) -> None:
        """A hook the page does not know."""

    monkeypatch.setattr(hookspecs, "aion_workflow_closed", aion_workflow_closed, raising=False)
    assert signature_differences(page) == [
        "aion_workflow_closed is not documented; add a section:\n## aion_workflow_closed\n\n"
        "@hookspec\ndef aion_workflow_closed(workflow_id: str) -> None: ..."
    ]


def test_a_changed_hookspec_is_reported(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    @hookspecs.hookspec  # no longer firstresult, and a new argument
    def aion_event_store(url: str, namespace: str) -> EventStore | None:
        """The spec, changed."""

    monkeypatch.setattr(hookspecs, "aion_event_store", aion_event_store)
    [problem] = signature_differences(page)
    assert problem.endswith(
        "but hookspecs.py has\n@hookspec\n"
        "def aion_event_store(url: str, namespace: str) -> EventStore | None: ..."
    )
