"""Importing user modules named on the command line, and finding their workflows and activities."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

import click

from aion_core.definitions import DEFINITION_ATTRIBUTE, ActivityDefinition, WorkflowDefinition

__all__ = ["definitions_in", "import_module"]


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
