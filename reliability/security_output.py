"""What aion shows people, and checks that it holds no secret and no traceback.

The `aion` command runs as a user runs it, as a real subprocess: the honest
test of "one line, no traceback, no secret", since it shows what a terminal
would, logging set up by the command itself included. Errors are read as anyone
would meet them (message, repr, printed traceback with its causes), and logs
record by record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

__all__ = [
    "FLOWS_DIR",
    "Ran",
    "assert_logs_secret_free",
    "assert_secret_free",
    "error_line",
    "run_aion",
    "serve_briefly",
    "shown",
]

FLOWS_DIR = Path(__file__).parent
"""Holds `security_flows`, which `aion serve`/`run`/`replay` subprocesses import by name."""

_TIMEOUT = 45.0


@dataclass(frozen=True)
class Ran:
    """How an `aion` subprocess ended and what it printed."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        command = " ".join(self.args)
        return f"aion {command} -> {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


def _environment(changes: Mapping[str, str | None], pythonpath: tuple[Path, ...]) -> dict[str, str]:
    # Output to a pipe is laid out for a wide page unless COLUMNS says otherwise.
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    paths = [str(FLOWS_DIR), *map(str, pythonpath), *filter(None, [env.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


async def run_aion(
    *args: str,
    cwd: Path,
    env: Mapping[str, str | None] | None = None,
    pythonpath: tuple[Path, ...] = (),
    timeout: float = _TIMEOUT,
) -> Ran:
    """Run ``python -m aion_cli.main ARGS`` to its end (killed after `timeout` seconds).

    Args:
        *args: The command line after ``aion``.
        cwd: The working directory (a test's tmp dir: no stray aion.toml or aion.db).
        env: Variables to set, or to remove (None), on top of this process's environment.
        pythonpath: Folders to import from besides this one.
        timeout: Seconds the command may take.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aion_cli.main", *args,
        cwd=cwd, env=_environment(env or {}, pythonpath),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        raise AssertionError(
            f"aion {' '.join(args)} did not end within {timeout} s:\n{out.decode()}{err.decode()}"
        ) from None
    assert process.returncode is not None
    return Ran(args, process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def serve_briefly(*args: str, cwd: Path, env: Mapping[str, str | None]) -> Ran:
    """Run `aion serve ...` until it says it serves, then stop it with SIGTERM; or until it fails.

    A node that cannot start ends by itself; one that starts is stopped as an
    operator would, so its whole output (start-up logs included) can be read.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aion_cli.main", *args,
        cwd=cwd, env=_environment(env, ()),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    assert process.stdout is not None
    err_lines: list[bytes] = []
    try:
        async with asyncio.timeout(_TIMEOUT):
            while line := await process.stderr.readline():
                err_lines.append(line)
                if b"stop with Ctrl-C or SIGTERM" in line:
                    process.send_signal(signal.SIGTERM)
            out = await process.stdout.read()
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise AssertionError(
            f"aion {' '.join(args)} hung:\n{b''.join(err_lines).decode(errors='replace')}"
        ) from None
    assert process.returncode is not None
    err = b"".join(err_lines).decode(errors="replace")
    return Ran(args, process.returncode, out.decode(errors="replace"), err)


def error_line(ran: Ran, *, after_logs: bool = False) -> str:
    """The one ``aion: ...`` line a failed command ends with; fails on a traceback.

    Args:
        ran: The finished command; it must have failed.
        after_logs: Log lines (``--log-level``) may come before the error line.
    """
    assert ran.code != 0, str(ran)
    assert "Traceback" not in ran.out + ran.err, str(ran)
    lines = [line for line in ran.err.splitlines() if line.strip()]
    assert lines, str(ran)
    if not after_logs:
        assert len(lines) == 1, str(ran)
    assert lines[-1].startswith("aion: "), str(ran)
    return lines[-1]


def assert_secret_free(text: str, *secrets: str, where: str = "output") -> None:
    """Fail when `text` holds any of `secrets`, as given or percent-encoded."""
    for secret in secrets:
        for form in {secret, quote(secret, safe="")}:
            assert form not in text, f"the secret {secret!r} shows in the {where}:\n{text}"


def shown(error: BaseException) -> str:
    """Everything an error shows anyone: message, repr, and the traceback with its causes."""
    return f"{error}\n{error!r}\n{''.join(traceback.format_exception(error))}"


def assert_logs_secret_free(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """No log record, formatted or raw (message, arguments, exception), holds a secret."""
    raw = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )
    assert_secret_free(caplog.text + raw, *secrets, where="logs")
