"""Importing user modules named on the command line, and finding their workflows and activities."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

import click

from aion_core.definitions import DEFINITION_ATTRIBUTE, ActivityDefinition, WorkflowDefinition

__all__ = ["definitions_in", "import_module", "import_workflow", "workflow_or_name"]


def import_module(name: str) -> ModuleType:
    """Import `name` (the working directory is on the path, as for ``python -m``).

    Raises:
        click.BadParameter: It cannot be imported (exit code 2, with the reason).
    """
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise click.BadParameter(f"cannot import {name!r}: {error}") from None
    except (ValueError, TypeError):  # "" or ".relative": not a module name at all
        raise click.BadParameter(
            f"cannot import {name!r}: not a module name, such as myapp.flows"
        ) from None


def definitions_in(modules: list[ModuleType]) -> tuple[list[Any], list[Any]]:
    """Every ``@workflow.defn`` and every ``@activity.defn`` found at the top of `modules`."""
    workflows: list[Any] = []
    activities: list[Any] = []
    for module in modules:
        for attribute in dir(module):
            member = getattr(module, attribute)
            definition = getattr(member, DEFINITION_ATTRIBUTE, None)
            if isinstance(definition, WorkflowDefinition) and member not in workflows:
                workflows.append(member)
            elif isinstance(definition, ActivityDefinition) and member not in activities:
                activities.append(member)
    return workflows, activities


def import_workflow(target: str) -> tuple[Any, ModuleType]:
    """The ``@workflow.defn`` named by ``MODULE:NAME``, and its module.

    Raises:
        click.BadParameter: `target` is not ``MODULE:NAME``, cannot be imported, or is
            not a workflow (exit code 2).
    """
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise click.BadParameter("expected MODULE:WORKFLOW, for example myapp.flows:Checkout")
    module = import_module(module_name)
    workflow = getattr(module, name, None)
    if not isinstance(getattr(workflow, DEFINITION_ATTRIBUTE, None), WorkflowDefinition):
        raise click.BadParameter(f"{target} is not a @workflow.defn workflow")
    return workflow, module


def workflow_or_name(text: str) -> object:
    """A workflow type name as it is, or the workflow ``MODULE:NAME`` names (to check input here).

    Raises:
        click.BadParameter: ``MODULE:NAME`` that does not name a workflow (exit code 2).
    """
    return import_workflow(text)[0] if ":" in text else text
