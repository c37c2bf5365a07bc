"""The Temporal peer's dev server is started again on other ports when one it was given is
taken before it binds it (ports are found free by binding and closing them)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.peers import temporal_w3


def test_a_port_taken_before_the_dev_server_binds_it_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = int(squatter.getsockname()[1])
        real_free_port = temporal_w3.free_port
        handed_out: list[int] = []

        def ports() -> Iterator[int]:
            yield taken  # the first frontend port: bound by someone else meanwhile
            while True:
                yield real_free_port()

        picks = ports()

        def free_port() -> int:
            handed_out.append(next(picks))
            return handed_out[-1]

        monkeypatch.setattr(temporal_w3, "free_port", free_port)
        binary = temporal_w3.temporal_binary()
        db_file = tmp_path / "temporal.db"

        async def start() -> str:
            process, address = await temporal_w3.start_server(
                binary,
                tmp_path,
                db_file,
                temporal_w3.options_from(temporal_w3.parse_args(["--smoke"])),
            )
            temporal_w3.stop(process)
            return address

        address = asyncio.run(start())
    assert address != f"127.0.0.1:{taken}"
    assert len(handed_out) == 6  # three ports for the failed start, three for the one that ran
    assert temporal_w3.PORT_TAKEN in (tmp_path / "server-1.log").read_text()
