"""``chaski status``: read-only, a verdict per check, exit codes a monitoring probe can use."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain.outbox import OutboxKind, OutboxMessage, OutboxStatus, RowUpdate
from bot.root.wiring import open_wiring
from bot.services.clock import SystemClock
from bot.services.container import Services
from bot.version import installed_version
from storage.keys import DATA_KEYS, PEPPER
from storage.outbox import SqliteOutbox
from tests.cli.harness import Result, with_services
from tests.conftest import LIMA, TestClock, uow_of
from tests.services.fakes import raw_notice

VERSION = installed_version()


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its content hash and mode (what "unchanged" means)."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[str(path.relative_to(root))] = f"{digest}:{stat.st_mode:o}:{stat.st_mtime_ns}"
    return found


def _status(chaski: Callable[..., Result]) -> tuple[int, dict[str, object]]:
    result = chaski("status", "--json")
    assert result.err == ""
    [line] = result.out.splitlines()
    document = json.loads(line)
    assert document["exit_code"] == result.code
    return result.code, document


def _levels(document: dict[str, object]) -> dict[str, str]:
    checks = document["checks"]
    assert isinstance(checks, list)
    return {check["name"]: check["level"] for check in checks}


def _summary(document: dict[str, object], name: str) -> str:
    checks = document["checks"]
    assert isinstance(checks, list)
    [summary] = [check["summary"] for check in checks if check["name"] == name]
    return str(summary)


async def _beat(services: Services) -> None:
    await services.heartbeat.beat(services.clock.now() - timedelta(seconds=5))


def _running(chaski: Callable[..., Result]) -> None:
    """A database with a fresh heartbeat of this very process, as a running bot leaves it."""
    assert chaski("migrate").code == 0
    assert chaski("region", "add", "Pichari").code == 0
    with_services(_beat, SystemClock(LIMA))


def test_a_missing_database_is_one_line_exit_2_and_nothing_is_created(
    chaski: Callable[..., Result], env: Path
) -> None:
    before = _snapshot(env)
    result = chaski("status")
    assert result.code == 2
    database = env / "data" / "chaski.sqlite3"
    assert result.out == (
        f"CRITICAL: database {database} does not exist (check CHASKI_DB or the"
        " configuration file); nothing was created\n"
    )
    assert result.err == ""
    code, document = _status(chaski)
    assert (code, document["status"], _levels(document)) == (
        2,
        "critical",
        {"database": "critical"},
    )
    assert _snapshot(env) == before
    assert not (env / "keys").exists()


def test_status_changes_nothing_and_leaves_no_wal_behind(
    chaski: Callable[..., Result], env: Path
) -> None:
    _running(chaski)
    before = _snapshot(env)
    assert not list((env / "data").glob("*-wal"))
    for argv in (["status"], ["status", "--json"]):
        chaski(*argv)
    assert _snapshot(env) == before


def test_a_running_polling_bot_is_ok_with_the_drill_counts(
    chaski: Callable[..., Result],
) -> None:
    _running(chaski)
    result = chaski("status")
    assert result.code == 0, result.out
    lines = result.out.splitlines()
    assert lines[0] == f"OK: Chaski {VERSION}"
    assert lines[1].startswith(f"OK        bot           running (pid {os.getpid()} on ")
    # The one sealed value is the key check (#11.4).
    assert lines[-1] == "Counts for the restore drill: 0 member(s), 0 claim(s), 1 sealed value(s)."
    code, document = _status(chaski)
    assert code == 0
    assert set(_levels(document).values()) == {"ok"}
    bot = document["bot"]
    assert isinstance(bot, dict)
    assert (bot["pid"], bot["host"], bot["process_alive"]) == (
        os.getpid(),
        socket.gethostname(),
        True,
    )


def test_without_a_heartbeat_the_bot_is_critical(chaski: Callable[..., Result]) -> None:
    assert chaski("migrate").code == 0
    code, document = _status(chaski)
    assert code == 2
    assert _levels(document)["bot"] == "critical"
    assert document["bot"] is None


def _member_id(chaski: Callable[..., Result], *, link: bool = False) -> int:
    """Create the informant Puma (linked to a Telegram account if ``link``); their id."""
    created = chaski("invite", "create", "--role", "informant", "--region", "Pichari",
                     "--codename", "Puma", "--json")  # fmt: skip
    assert created.code == 0, created.err
    code = json.loads(created.out)["code"]

    async def redeem(services: Services) -> int:
        return (await services.registration.redeem(7_301, code)).id

    if link:
        return with_services(redeem)
    listed = json.loads(chaski("members", "list", "--json").out)
    return int(listed[0]["id"])


def _message(key: str, member_id: int, **extra: object) -> OutboxMessage:
    return OutboxMessage(
        idempotency_key=key,
        kind=OutboxKind.NOTIFICATION,
        member_id=member_id,
        notice=raw_notice("claim_changed"),
        **extra,  # type: ignore[arg-type]
    )


async def _kill_one(services: Services) -> None:
    """Lease the due rows and declare one dead, as the sender does after a 400."""
    outbox = uow_of(services).outbox
    assert isinstance(outbox, SqliteOutbox)
    now = services.clock.now()
    leased = await outbox.lease(now, 1, now + timedelta(minutes=1))
    await outbox.finish(
        [RowUpdate(row.id, row.lease_until, OutboxStatus.DEAD, 1) for row in leased], now
    )
    await outbox.recover_leases(now, all_leases=True)


def test_the_outbox_tells_due_from_scheduled_and_counts_dead_letters(
    chaski: Callable[..., Result],
) -> None:
    _running(chaski)
    member = _member_id(chaski)
    now = datetime.now(UTC)
    ten_minutes_ago = TestClock(now - timedelta(minutes=10))

    async def enqueue(services: Services) -> None:
        await uow_of(services).outbox.enqueue_many(
            [
                _message("late", member),
                _message("dead", member),
                # Written ten minutes ago but held until an hour from now (quiet hours).
                _message("held", member, not_before=now + timedelta(hours=1)),
            ]
        )

    with_services(enqueue, ten_minutes_ago)
    with_services(_kill_one, ten_minutes_ago)
    with_services(_beat, SystemClock(LIMA))
    code, document = _status(chaski)
    outbox = document["outbox"]
    assert isinstance(outbox, dict)
    assert (outbox["due"], outbox["scheduled"], outbox["dead"]) == (1, 1, 1)
    assert 600 <= outbox["oldest_due_s"] < 660
    assert _levels(document)["outbox"] == "warning"
    assert _levels(document)["dead letters"] == "warning"
    assert code == 1
    assert "1 due, the oldest due for 10 min" in _summary(document, "outbox")
    text = chaski("status")
    assert text.code == 1
    assert text.out.splitlines()[0] == f"WARNING: Chaski {VERSION} (outbox, dead letters)"


def test_rows_scheduled_ahead_alone_keep_the_outbox_ok(chaski: Callable[..., Result]) -> None:
    _running(chaski)
    member = _member_id(chaski)
    long_ago = TestClock(datetime.now(UTC) - timedelta(hours=2))

    async def enqueue(services: Services) -> None:
        ahead = datetime.now(UTC) + timedelta(minutes=10)
        await uow_of(services).outbox.enqueue_many(
            [_message(f"del-{n}", member, not_before=ahead) for n in range(3)]
        )

    with_services(enqueue, long_ago)
    code, document = _status(chaski)
    assert (code, _levels(document)["outbox"]) == (0, "ok")
    assert _summary(document, "outbox").startswith("nothing due; 3 scheduled ahead on purpose")


def _fresh_keys(settings: Settings) -> None:
    """Create another installation's keys (and a throw-away database) for ``settings``."""

    async def go() -> None:
        wiring = await open_wiring(settings, create=True)
        await wiring.close()

    asyncio.run(go())


def test_missing_or_foreign_keys_are_critical(chaski: Callable[..., Result], env: Path) -> None:
    _running(chaski)
    _member_id(chaski, link=True)
    keys = env / "keys"
    saved = env / "saved-keys"
    shutil.copytree(keys, saved)

    (keys / DATA_KEYS).unlink()
    code, document = _status(chaski)
    assert (code, _levels(document)["keys"]) == (2, "critical")
    assert _summary(document, "keys") == f"key file {keys / DATA_KEYS} is missing"
    assert not (keys / DATA_KEYS).exists()  # status never creates keys

    # Another installation's keys: the database names a key id this file lacks.
    shutil.rmtree(keys)
    other = env / "other"
    _fresh_keys(Settings(database_path=other / "db.sqlite3", key_dir=keys))
    code, document = _status(chaski)
    assert code == 2
    assert "that " + str(keys / DATA_KEYS) + " lacks" in _summary(document, "keys")

    # The right data keys with another pepper: values open, lookups would all miss.
    shutil.copy2(saved / DATA_KEYS, keys / DATA_KEYS)
    code, document = _status(chaski)
    assert "is not the pepper this database was made with" in _summary(document, "keys")
    shutil.copy2(saved / PEPPER, keys / PEPPER)
    code, document = _status(chaski)
    assert (code, _levels(document)["keys"]) == (0, "ok")


def test_a_file_that_is_no_database_is_critical_in_one_line(
    chaski: Callable[..., Result], env: Path
) -> None:
    database = env / "data" / "chaski.sqlite3"
    database.parent.mkdir()
    database.write_bytes(b"not a database at all" * 100)
    result = chaski("status")
    assert result.code == 2
    [line] = result.out.splitlines()
    assert line.startswith(f"CRITICAL: database {database} cannot be read as a Chaski database")


def test_the_drill_counts_match_what_restore_prints(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _running(chaski)
    _member_id(chaski)
    status = chaski("status").out.splitlines()[-1]
    backup = env / "backup.chaski"
    assert chaski("backup", str(backup)).code == 0
    monkeypatch.setenv("CHASKI_DB", str(env / "drill" / "chaski.sqlite3"))
    restored = chaski("restore", str(backup))
    assert restored.code == 0, restored.err
    counts = status.removeprefix("Counts for the restore drill: ").removesuffix(".")
    assert counts == "1 member(s), 0 claim(s), 2 sealed value(s)"  # codename, key check
    assert f": {counts} checked; integrity ok." in restored.out


def test_a_user_who_may_not_read_the_files_is_sent_to_the_service_user(
    chaski: Callable[..., Result], env: Path
) -> None:
    _running(chaski)
    (env / "keys").chmod(0o000)
    (env / "data").chmod(0o000)
    try:
        if os.access(env / "keys", os.R_OK):
            pytest.skip("running as root: every file is readable")
        result = chaski("status")
        (env / "data").chmod(0o700)
        keys = chaski("status", "--json")
    finally:
        (env / "keys").chmod(0o700)
        (env / "data").chmod(0o700)
    assert result.code == 2
    assert result.out.startswith("CRITICAL: database ")
    assert "run status as the service user (sudo chaski-admin status)" in result.out
    document = json.loads(keys.out)
    assert "cannot be read" in _summary(document, "keys")
