"""Development entry point: one command per task, on a clean clone with only Python and pip.

    python3 dev.py demo      run `aion demo`: the bundled order saga on a SQLite file
    python3 dev.py test      lint, format check, type check, the whole test suite and the
                             reliability suite (crashes, faults, bad input: reliability/);
                             as root on Debian it installs chromium for the browser tests
    python3 dev.py install   only (re)create the development virtualenv in .venv

The first run creates `.venv` and installs every workspace member (editable)
with the development tools; later runs reinstall only when a pyproject.toml
changed. Arguments after `test` go to pytest and narrow the run to the test
suite (`python3 dev.py test -k store`); `python3 dev.py reliability [ARGS]` runs
only the reliability suite.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".aion-dev-stamp"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
PYTEST_NO_TESTS_COLLECTED = 5


def workspace() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def install_requirements() -> list[str]:
    config = workspace()
    members: list[str] = config["tool"]["aion"]["workspace"]["members"]  # type: ignore[index]
    extras: dict[str, list[str]] = config["tool"]["aion"]["workspace"].get("extras", {})  # type: ignore[index]
    args: list[str] = []
    for member in members:
        suffix = f"[{','.join(extras[member])}]" if member in extras else ""
        args += ["-e", f"./{member}{suffix}"]
    args += config["dependency-groups"]["dev"]  # type: ignore[index]
    return args


def fingerprint() -> str:
    digest = hashlib.sha256(sys.version.encode())
    manifests = [*ROOT.glob("*/pyproject.toml"), *ROOT.glob("plugins/*/pyproject.toml")]
    for path in sorted([ROOT / "dev.py", *manifests, ROOT / "pyproject.toml"]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run(*cmd: str | Path) -> int:
    print("$", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=environment())


def environment() -> dict[str, str]:
    """This process's environment, with the workspace's optional plugins off unless set."""
    optional: list[str] = workspace()["tool"]["aion"]["workspace"]["optional_plugins"]  # type: ignore[index]
    return {"AION_DISABLE_PLUGINS": ",".join(optional), **os.environ}


def ensure_venv() -> None:
    wanted = fingerprint()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating virtualenv {VENV.relative_to(ROOT)}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    pip = [PYTHON, "-m", "pip", "--disable-pip-version-check", "-q"]
    if run(*pip, "install", "--upgrade", "pip") or run(*pip, "install", *install_requirements()):
        sys.exit("dev.py: installing the development environment failed (see pip's output above)")
    STAMP.write_text(wanted)


CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which the web console's browser tests drive (plugins/ui)."""


def ensure_chromium() -> None:
    """Install Debian's chromium for the browser tests when it is missing and apt can.

    Without it (no root, no apt) the browser tests fail saying how to install it.
    """
    if CHROMIUM.exists() or os.name == "nt" or os.geteuid() != 0:
        return
    apt = Path("/usr/bin/apt-get")
    if not apt.exists():
        return
    print("installing Debian's chromium for the browser tests", flush=True)
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [str(apt), "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.call(install, env=quiet) != 0:
        subprocess.call([str(apt), "update", "-q"], env=quiet)
        subprocess.call(install, env=quiet)


def report_no_tests(code: int) -> int:
    if code == PYTEST_NO_TESTS_COLLECTED:
        print("dev.py: pytest collected no tests; that is a failure, not a pass", flush=True)
    return code


def test(pytest_args: list[str]) -> int:
    ensure_venv()
    ensure_chromium()
    steps: list[tuple[str, list[str | Path]]] = [
        ("ruff lint", [BIN / "ruff", "check", "."]),
        ("ruff format", [BIN / "ruff", "format", "--check", "."]),
        ("mypy", [BIN / "mypy"]),
        ("pytest", [PYTHON, "-m", "pytest", *pytest_args]),
    ]
    if not pytest_args:
        steps.append(("reliability", [PYTHON, "-m", "pytest", "reliability"]))
    failed: list[str] = []
    for name, cmd in steps:
        code = run(*cmd)
        if name in ("pytest", "reliability"):
            report_no_tests(code)
        if code != 0:
            failed.append(f"{name} (exit {code})")
    if failed:
        print("FAILED:", ", ".join(failed), flush=True)
        return 1
    print("all checks passed", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):
        sys.exit("aion needs Python 3.11 or newer")
    command, rest = (argv[0], argv[1:]) if argv else ("test", [])
    if command == "test":
        return test(rest)
    if command == "reliability":
        ensure_venv()
        return report_no_tests(run(PYTHON, "-m", "pytest", "reliability", *rest))
    if command == "install":
        ensure_venv()
        return 0
    if command == "demo":
        ensure_venv()
        return run(BIN / "aion", "demo", *rest)
    sys.exit(f"dev.py: unknown command {command!r}; use 'demo', 'test', 'reliability' or 'install'")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
