"""A new user's mistakes end as one clear line on stderr and the right exit code, never a
traceback; `aion --help` explains itself. Run as real subprocesses, as a user would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

RunAion = Callable[..., Awaitable[Any]]
ErrorLine = Callable[[str], str]


async def test_help_explains_the_command(run_aion: RunAion) -> None:
    ran = await run_aion("--help")
    assert ran.code == 0
    out = ran.out
    assert "aion: durable workflows as plain async Python." in out
    assert "Start with `aion demo`" in out
    assert "AION_STORE, AION_TRANSPORT" in out
    assert "Exit codes: 0 done, 1 the operation failed" in out
    for heading in (
        "Run workflows in this process:",
        "Talk to running workflows (through --transport):",
        "Look into the store (--store):",
        "Set up and check:",
    ):
        assert heading in out
    assert ran.err == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["start", "Checkout", "--input", "{oops", "--transport", "nats://127.0.0.1:1"],
            2,
            "aion: Invalid value: --input is not valid JSON: Expecting property name",
        ),
        (
            ["signal", "order-1", "approve", "--transport", "nats://127.0.0.1:1"],
            1,
            "aion: could not connect to any NATS server at 'nats://127.0.0.1:1'",
        ),
        (
            ["signal", "order-1", "approve"],
            1,
            "aion: inproc:// only reaches an engine inside this process, and this command runs "
            "none; pass --transport nats://HOST:4222",
        ),
        (
            ["list", "--store", "mysql://db/aion"],
            2,
            "aion: no store plugin handles 'mysql://db/aion'; installed: memory, postgresql, "
            "sqlite",
        ),
        (
            ["result", "order-1", "--transport", "amqp://broker"],
            2,
            "aion: no transport plugin handles 'amqp://broker'; installed: inproc, nats",
        ),
        (["show", "order-1", "--store", "not a url"], 2, "aion: 'not a url' is not a store URL"),
        (["list", "--status", "sleeping"], 2, "aion: Invalid value for '--status'"),
        (["frobnicate"], 2, "aion: No such command 'frobnicate'. (see 'aion --help')"),
        (["show"], 2, "aion: Missing argument 'WORKFLOW_ID'. (see 'aion show --help')"),
        (["run", "no_such_module:Flow"], 2, "aion: Invalid value: cannot import 'no_such_module'"),
    ],
)
async def test_a_mistake_is_one_line_and_its_exit_code(
    run_aion: RunAion,
    error_line: ErrorLine,
    tmp_path: Path,
    args: list[str],
    code: int,
    message: str,
) -> None:
    ran = await run_aion(*args, cwd=tmp_path)
    assert ran.code == code, ran.err
    assert error_line(ran.err).startswith(message)
    assert ran.out == ""


async def test_an_unknown_id_in_the_default_store_is_exit_1(
    run_aion: RunAion, error_line: ErrorLine, tmp_path: Path
) -> None:
    order = '{"order_id": "o", "items": ["book"], "amount": 1}'
    shipping = "aion_cli.examples.order_saga:Shipping"
    ran = await run_aion("run", shipping, "--input", order, cwd=tmp_path)
    assert ran.code == 0, ran.err
    missing = await run_aion("show", "no-such-order", cwd=tmp_path)
    assert missing.code == 1
    assert error_line(missing.err) == "aion: no workflow with id 'no-such-order'"
