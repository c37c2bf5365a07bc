"""Store faults: a full disk, a read-only database, PostgreSQL restarted mid-run.

In each, the engine reports the failure (a typed error to callers, a warning
in its log while it retries with backoff), loses nothing and alters nothing
already recorded, and carries on by itself once the store is back.

The SQLite cases put the database on a small file system of its own (a tmpfs
mounted for the test, which needs root, as CI has): filled up for the full
disk, mounted read-only for the read-only database. The PostgreSQL case runs
its own server, which it stops and starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from crash_flows import EFFECTS_ENV, Waiter, chain, effect, sleeper

from aion_core import Engine, WorkflowStatus
from aion_core.errors import StoreError, WorkflowNotFoundError
from tests.history_invariants import check_histories

if TYPE_CHECKING:
    from conftest import EmbeddedPostgres

RUN_TIMEOUT = 120.0


@pytest.fixture(autouse=True)
def _effects_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EFFECTS_ENV, str(tmp_path / "effects.log"))


@contextlib.contextmanager
def small_file_system(where: Path, size: str = "16m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` for the block (root only)."""
    assert os.geteuid() == 0, "mounting a small file system for the disk-full test needs root"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def remount(where: Path, mode: str) -> None:
    """Mount the file system at `where` again, ``ro`` or ``rw``."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)


def fill(folder: Path) -> Path:
    """Write a file until its file system is full; the file."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as output:
        for chunk in (1 << 20, 1 << 12, 1 << 9):
            with contextlib.suppress(OSError):
                while True:
                    output.write(b"\0" * chunk)
    with pytest.raises(OSError, match="No space left") as full:
        (folder / "probe").write_bytes(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


def engine(url: str) -> Engine:
    return Engine(url, workflows=[chain, sleeper, Waiter], activities=[effect])


async def _sound_histories(engine: Engine, ids: list[str]) -> None:
    check_histories({workflow_id: await engine.history(workflow_id) for workflow_id in ids})


async def test_a_full_disk_holds_appends_back_and_they_go_through_once_space_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with small_file_system(tmp_path / "disk") as disk:
        url = f"sqlite:///{disk / 'aion.db'}"
        async with engine(url) as running:
            # Sleeping 0.5-4.7 s: their timers fire, and their activities run, on a full disk.
            ids = [f"full-{i}" for i in range(14)]
            handles = [
                await running.start_workflow(sleeper, i, id=wid) for i, wid in enumerate(ids)
            ]
            filler = fill(disk)
            with pytest.raises(StoreError, match="full"):
                await running.start_workflow(chain, 0, id="refused")
            with pytest.raises(WorkflowNotFoundError):
                await running.history("refused")
            await asyncio.sleep(6)  # every timer is due by now
            open_ones = [
                h for h in handles if (await h.describe()).status is WorkflowStatus.RUNNING
            ]
            assert open_ones, "nothing was held back by the full disk"
            assert "full" in caplog.text, "the engine did not report the full disk"
            filler.unlink()
            results = await asyncio.wait_for(
                asyncio.gather(*(h.result() for h in handles)), RUN_TIMEOUT
            )
            assert results == [i + 1 for i in range(len(ids))]
            await _sound_histories(running, ids)


async def test_a_read_only_database_is_refused_clearly_and_left_as_it_was(
    tmp_path: Path,
) -> None:
    """SQLite in WAL mode cannot open a database it may not write next to (its -wal and
    -shm files): the engine refuses to start, saying so, and alters nothing; once the file
    system is writable again, it starts and the waiting workflow carries on."""
    with small_file_system(tmp_path / "disk") as disk:
        url = f"sqlite:///{disk / 'aion.db'}"
        async with engine(url) as running:
            await running.start_workflow(Waiter, 7, id="waiting")
            await running.execute_workflow(chain, 1, id="done")
            before = await running.history("waiting")
        files = {path.name: _digest(path) for path in disk.iterdir()}
        remount(disk, "ro")
        with pytest.raises(StoreError, match="read-only") as refused:
            async with engine(url):
                pass
        assert str(disk) in str(refused.value)
        assert {path.name: _digest(path) for path in disk.iterdir()} == files
        remount(disk, "rw")
        async with engine(url) as running:
            assert await running.history("waiting") == before
            await running.signal("waiting", "go", 70)
            assert await asyncio.wait_for(running.result("waiting"), RUN_TIMEOUT) == 71
            await _sound_histories(running, ["waiting", "done"])


async def test_postgresql_restarted_mid_run_loses_nothing(
    own_postgres: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with engine(own_postgres.url) as running:
        ids = [f"restart-{i}" for i in range(40)]
        handles = [
            await running.start_workflow(sleeper if i % 2 else chain, i, id=wid)
            for i, wid in enumerate(ids)
        ]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_postgres.stop)
        with pytest.raises(StoreError):
            await running.start_workflow(chain, 0, id="while-down")
        await asyncio.sleep(3)
        assert "retrying" in caplog.text, "the engine did not report the store down"
        await asyncio.to_thread(own_postgres.start_again)
        results = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles)), RUN_TIMEOUT
        )
        assert results == [i + 1 if i % 2 else i + 3 for i in range(len(ids))]
        await _sound_histories(running, ids)
        with pytest.raises(WorkflowNotFoundError):
            await running.history("while-down")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
