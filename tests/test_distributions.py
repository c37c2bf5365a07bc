"""Each distribution installs alone and imports with only its declared dependencies.

A missing entry in a pyproject's `dependencies` passes unnoticed in the shared
development environment; a fresh virtualenv per distribution catches it.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each distribution's folder with the package it ships, the siblings it depends on
# (installed from this checkout, since they are not on a package index) and packages
# it must NOT pull in. Plugins install next to aion-core alone; the web console, a
# command of the CLI, next to the CLI.
DISTRIBUTIONS = {
    "aion_core": ("aion_core", [], ["sqlalchemy", "nats", "click"]),
    "aion_store_sql": ("aion_store_sql", ["aion_core"], ["nats", "click"]),
    "aion_transport_nats": ("aion_transport_nats", ["aion_core"], ["sqlalchemy", "click"]),
    "aion_cli": ("aion_cli", ["aion_core", "aion_store_sql"], ["nats"]),
    "plugins/crypto": ("aion_plugin_crypto", ["aion_core"], ["sqlalchemy", "nats", "click"]),
    "plugins/metrics": ("aion_plugin_metrics", ["aion_core"], ["sqlalchemy", "nats", "click"]),
    "plugins/otel": ("aion_plugin_otel", ["aion_core"], ["sqlalchemy", "nats", "click"]),
    "plugins/template": ("aion_plugin_template", ["aion_core"], ["sqlalchemy", "nats", "click"]),
    # Not the transport, not its test extras (the browser tests' Playwright).
    "plugins/ui": (
        "aion_plugin_ui",
        ["aion_core", "aion_store_sql", "aion_cli"],
        ["nats", "playwright"],
    ),
}

# Modules that need what only their caller brings: the contract suites run under
# pytest (an extra), and the metrics plugin's CLI options are added by a hook only
# the `aion` command calls (with click).
NEEDS_EXTRA = {
    "aion_core.testing.programs",
    "aion_core.testing.store_contract",
    "aion_core.testing.transport_contract",
    "aion_plugin_metrics.cli",
}

IMPORT_EVERY_MODULE = """
import importlib, importlib.util, pkgutil, sys
package, forbidden, skip = sys.argv[1], sys.argv[2].split(","), set(sys.argv[3].split(","))
root = importlib.import_module(package)
names = [package] + [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
for name in names:
    if name not in skip:
        importlib.import_module(name)
present = [f for f in forbidden if f and importlib.util.find_spec(f) is not None]
assert not present, f"{package} pulled in {present}"
print(len(names))
"""


def _python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_distribution_imports_with_only_its_declared_dependencies(
    distribution: str, tmp_path: Path
) -> None:
    package, siblings, forbidden = DISTRIBUTIONS[distribution]
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = _python(env_dir)
    sources = [str(ROOT / name) for name in [*siblings, distribution]]
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
         "--disable-pip-version-check", *sources],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    check = [IMPORT_EVERY_MODULE, package, ",".join(forbidden), ",".join(NEEDS_EXTRA)]
    imported = subprocess.run(
        [str(python), "-c", *check], capture_output=True, text=True, cwd=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    assert int(imported.stdout) >= 1
