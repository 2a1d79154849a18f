"""Backups and restores that would destroy what they protect are refused (T-52, #11.7, #14.5).

``chaski backup <the live database> --force`` used to overwrite the database with its own
encrypted backup, and ``chaski restore --force`` under a running bot moved the file aside
while the bot kept writing to it. The running bot is told by its heartbeat (migration 0006),
the one ``chaski status`` reads.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.health import BEAT_EVERY_S, Heartbeat
from bot.services.container import Services
from bot.version import installed_version
from tests.cli.harness import Result, with_services
from tests.cli.test_cli import one_error_line


@pytest.fixture
def database(chaski: Callable[..., Result], installed: None, env: Path) -> Path:
    """A database with a region, and the path CHASKI_DB names."""
    del installed
    assert chaski("region", "add", "Ayacucho").code == 0
    return env / "data" / "chaski.sqlite3"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _companions(database: Path) -> list[Path]:
    return [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]


@pytest.mark.parametrize("which", ["database", "-wal", "-shm"])
def test_t52_backup_never_overwrites_the_live_database_even_with_force(
    which: str, chaski: Callable[..., Result], database: Path, env: Path
) -> None:
    target = database if which == "database" else database.with_name(database.name + which)
    target.touch()  # the -wal/-shm exist while the bot runs
    before = {p: _digest(p) for p in _companions(database) if p.exists()}
    # Spelt three ways: as is, through "..", and through a symlink.
    link = env / "innocent.chaski"
    link.symlink_to(target)
    for spelling in (target, env / "data" / ".." / "data" / target.name, link):
        line = one_error_line(chaski("backup", str(spelling), "--force"))
        assert "is the live database" in line
        assert "nothing was changed" in line
    assert {p: _digest(p) for p in _companions(database) if p.exists()} == before
    assert link.is_symlink()
    assert chaski("region", "list").out.splitlines()[-1].endswith("Ayacucho")


def test_t52_backup_never_writes_into_the_key_folder(
    chaski: Callable[..., Result], database: Path, env: Path
) -> None:
    del database
    key = env / "keys" / "data.keys"
    before = key.read_bytes()
    line = one_error_line(chaski("backup", str(key), "--force"))
    assert "is in the key folder" in line
    assert key.read_bytes() == before


def _heartbeat(pid: int, beat_at: datetime) -> Callable[[Services], Awaitable[None]]:
    """Record a heartbeat as the bot writes it, with the given process and time."""

    async def record(services: Services) -> None:
        await services.heartbeat.store.record(
            Heartbeat(
                started_at=beat_at - timedelta(minutes=5),
                beat_at=beat_at,
                polled_at=beat_at,
                pid=pid,
                host=socket.gethostname(),
                version=installed_version(),
                beat_every_s=BEAT_EVERY_S,
                poll_timeout_s=30,
            )
        )

    return record


def _gone_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def backup(chaski: Callable[..., Result], database: Path, env: Path) -> Path:
    del database
    path = env / "backup.chaski"
    assert chaski("backup", str(path)).code == 0
    return path


def test_t52_restore_is_refused_while_the_bot_runs_and_no_flag_overrides_it(
    chaski: Callable[..., Result], database: Path, backup: Path
) -> None:
    with_services(_heartbeat(os.getpid(), datetime.now(UTC) - timedelta(seconds=5)))
    before = _digest(database)
    for extra in ([], ["--bot-stopped"]):
        line = one_error_line(chaski("restore", str(backup), "--force", *extra))
        assert line.startswith(f"chaski: the bot is running (pid {os.getpid()} on ")
        assert "systemctl stop chaski" in line
    assert _digest(database) == before
    assert not list(database.parent.glob("*.before-restore-*"))


def test_t52_restore_goes_ahead_once_the_bots_process_is_gone(
    chaski: Callable[..., Result], database: Path, backup: Path
) -> None:
    """A heartbeat written seconds ago by a process that no longer exists: a clean stop."""
    with_services(_heartbeat(_gone_pid(), datetime.now(UTC) - timedelta(seconds=5)))
    result = chaski("restore", str(backup), "--force")
    assert result.code == 0, result.err
    assert len(list(database.parent.glob("*.before-restore-*"))) == 1


def test_t52_a_stale_heartbeat_of_a_live_process_needs_the_explicit_override(
    chaski: Callable[..., Result], database: Path, backup: Path
) -> None:
    """A stuck bot, or a reused pid: only the operator can tell, and must say so."""
    with_services(_heartbeat(os.getpid(), datetime.now(UTC) - timedelta(minutes=30)))
    line = one_error_line(chaski("restore", str(backup), "--force"))
    assert "last heartbeat is 30 min old" in line
    assert "--bot-stopped" in line
    assert not list(database.parent.glob("*.before-restore-*"))
    result = chaski("restore", str(backup), "--force", "--bot-stopped")
    assert result.code == 0, result.err


def test_t52_a_drill_into_a_scratch_folder_needs_no_stopped_bot(
    chaski: Callable[..., Result],
    database: Path,
    backup: Path,
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    del database
    with_services(_heartbeat(os.getpid(), datetime.now(UTC) - timedelta(seconds=5)))
    monkeypatch.setenv("CHASKI_DB", str(env / "drill" / "chaski.sqlite3"))
    result = chaski("restore", str(backup))
    assert result.code == 0, result.err
