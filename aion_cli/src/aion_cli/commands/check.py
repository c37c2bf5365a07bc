"""`aion check MODULE...`: scan workflow code for what replay cannot reproduce."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict
from pathlib import Path

import click

from aion_cli.exit_codes import DOMAIN_FAILURE
from aion_cli.options import json_option
from aion_cli.output import echo_json
from aion_cli.workflow_check import Finding, scan_file

__all__ = ["check_command"]


@click.command("check")
@click.argument("modules", nargs=-1, required=True, metavar="MODULE...")
@json_option
def check_command(modules: tuple[str, ...], as_json: bool) -> None:
    """Scan workflow code for wall clock, randomness, threads, I/O.

    MODULE is a module or package name (myapp.flows; nothing is imported from it
    but its parent packages) or a .py file or folder. Inside every
    @workflow.defn class and function, the scan reports calls replay cannot
    reproduce, as FILE:LINE: MESSAGE with what to use instead, and exits with
    code 1 when it finds any; notes alone do not fail the check. It reads only
    the bodies of the workflow definitions, not helpers they call.
    """
    files = [path for module in modules for path in _files_of(module)]
    findings: list[Finding] = []
    workflows: list[str] = []
    for path in files:
        result = scan_file(path)
        findings += result.findings
        workflows += result.workflows
    if not workflows and not findings:
        raise click.BadParameter(
            f"no @workflow.defn found in {', '.join(modules)}", param_hint="MODULE"
        )
    errors = [finding for finding in findings if finding.severity == "error"]
    if as_json:
        echo_json({"findings": [asdict(f) for f in findings], "workflows": workflows})
    else:
        for finding in findings:
            click.echo(str(finding))
        verdict = (
            f"{len(errors)} problem{'' if len(errors) == 1 else 's'}" if errors else "no problems"
        )
        click.echo(f"{verdict} in {len(workflows)} workflow definition(s) in {len(files)} file(s)")
    if errors:
        click.get_current_context().exit(DOMAIN_FAILURE)


def _files_of(module: str) -> list[Path]:
    """The Python files `module` (a path, or a module or package name) consists of."""
    path = Path(module)
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    if path.suffix == ".py":
        if not path.is_file():
            raise click.BadParameter(f"no file {module}", param_hint="MODULE")
        return [path]
    if "" not in sys.path:
        sys.path.insert(0, "")  # the working directory, as for python -m
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as error:
        raise click.BadParameter(f"cannot find {module!r}: {error}", param_hint="MODULE") from None
    if spec is None:
        raise click.BadParameter(
            f"cannot find module {module!r} (nor a file or folder of that name)",
            param_hint="MODULE",
        )
    if spec.submodule_search_locations:
        folders = [Path(folder) for folder in spec.submodule_search_locations]
        return sorted(_near(file) for folder in folders for file in folder.rglob("*.py"))
    if spec.origin is None or not spec.origin.endswith(".py"):
        raise click.BadParameter(f"{module!r} has no Python source to scan", param_hint="MODULE")
    return [_near(Path(spec.origin))]


def _near(path: Path) -> Path:
    """`path` relative to the working directory when it lies below it (shorter findings)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
