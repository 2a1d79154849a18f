"""Encrypted online backups under load and verified restores (R-11, T-39, T-48)."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from bot.domain.models import Lang, NewInvite, Role
from storage.backup import (
    _HEADER,
    _RECORD,
    BackupError,
    create_backup,
    restore_backup,
)
from storage.database import Database
from storage.keys import KeyFileError, ensure_keys, load_keys, read_data_keys
from storage.members import SqliteInviteRepository, SqliteMemberRepository
from storage.rotation import check_sealed
from tests.storage.seed import Seeded, seed

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Env:
    """A production-like layout: database, keys and backups in three separate folders."""

    def __init__(self, root: Path) -> None:
        self.db_path = root / "state" / "chaski.sqlite3"
        self.key_dir = root / "keys"
        self.backups = root / "backups"
        self.backups.mkdir()
        ensure_keys(self.key_dir, self.db_path)
        self.keys = load_keys(self.key_dir)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[Env, Database, Seeded]]:
    setup = Env(tmp_path)
    db = await Database.open(setup.db_path)
    seeded = await seed(db, setup.keys, NOW)
    yield setup, db, seeded
    await db.close()


def _secret_bytes(env: Env) -> list[bytes]:
    keys, _ = read_data_keys(env.key_dir)
    doc = json.loads((env.key_dir / "backup.key").read_text())
    return [
        *keys.values(),
        (env.key_dir / "pepper.key").read_bytes(),
        base64.b64decode(doc["key"]),
    ]


async def test_backup_under_load_restores_every_committed_row(
    env: tuple[Env, Database, Seeded], tmp_path: Path
) -> None:
    setup, bot_db, seeded = env
    invites = SqliteInviteRepository(bot_db, setup.keys)
    committed: dict[int, str] = {}
    stop, started = asyncio.Event(), asyncio.Event()

    async def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            codename = f"Carga{n}Pz"
            member_id = await invites.create(
                NewInvite(Role.INFORMANT, "RZA", codename, Lang.ES, 72),
                f"load{n}".ljust(43, "q"),
                NOW,
                NOW,
            )
            committed[member_id] = codename
            n += 1
            if n >= 3:
                started.set()

    writer = asyncio.create_task(keep_writing())
    await started.wait()
    cli_db = await Database.open(setup.db_path)  # `chaski backup` is another process
    try:
        before = dict(committed)
        info = await create_backup(cli_db, setup.backups / "daily.chaski", setup.key_dir)
        during = len(committed) - len(before)
    finally:
        stop.set()
        await writer
        await cli_db.close()
    assert during > 0, "the writer did not run during the backup"

    raw = info.path.read_bytes()
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((setup.key_dir / "backup.key").stat().st_mode) == 0o600
    assert info.size == len(raw)
    assert raw.startswith(b"CHASKIBK")
    # T-48: no plaintext, no key material, not even the SQLite header in the clear.
    needles = [
        *seeded.plaintexts,
        *committed.values(),
        *map(str, seeded.telegram_ids),
        "SQLite format 3",
        "CREATE TABLE",
    ]
    assert [n for n in needles if n.encode() in raw] == []
    assert [k for k in _secret_bytes(setup) if k in raw] == []
    assert not list(setup.db_path.parent.glob(".chaski-*"))  # plaintext copy deleted

    target = tmp_path / "scratch" / "restored.sqlite3"
    report = await restore_backup(
        info.path, target, setup.key_dir, setup.keys, now=NOW, force=False
    )
    assert report.moved_aside is None
    assert report.claims == len(seeded.claim_ids)
    assert report.members >= len(seeded.member_ids) + len(before)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not list(target.parent.glob(".chaski-*"))

    restored = await Database.open(target)
    try:
        integrity = await restored.fetchone("PRAGMA integrity_check")
        assert integrity is not None
        assert integrity[0] == "ok"
        # T-39: every sealed field opens with the production key set.
        check = await check_sealed(restored, load_keys(setup.key_dir))
        assert check.failures == ()
        assert check.cells == report.sealed_cells > 0
        members = SqliteMemberRepository(restored, setup.keys)
        for member_id, codename in before.items():
            member = await members.get(member_id)
            assert member is not None
            assert member.codename == codename
        restored_ids = {m.id for m in await members.list_all()}
        assert restored_ids <= set(committed) | set(seeded.member_ids)
        assert await members.telegram_id(seeded.member_ids[0]) == seeded.telegram_ids[0]
    finally:
        await restored.close()


async def _small_backup(env: Env, db: Database) -> Path:
    info = await create_backup(db, env.backups / "b.chaski", env.key_dir, chunk_size=4096)
    return info.path


def _records(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each record after the header."""
    out, offset = [], _HEADER.size
    while offset < len(data):
        _, length = _RECORD.unpack_from(data, offset)
        size = _RECORD.size + 12 + length
        out.append((offset, size))
        offset += size
    return out


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("drop_last_record", "final chunk missing"),
        ("cut_mid_record", "truncated"),
        ("header_only", "final chunk missing"),
        ("flip_ciphertext_bit", "failed authentication"),
        ("swap_records", "failed authentication"),
        ("mark_first_final", "failed authentication"),
        ("trailing_bytes", "after its final chunk"),
        ("not_a_backup", "not a chaski backup"),
        ("future_version", "version 2 is not supported"),
        ("absurd_length", "chunk 0 is corrupt"),
        ("bad_flag", "chunk 0 is corrupt"),
    ],
)
async def test_a_damaged_backup_is_refused(
    env: tuple[Env, Database, Seeded], tmp_path: Path, damage: str, message: str
) -> None:
    setup, db, _ = env
    path = await _small_backup(setup, db)
    data = bytearray(path.read_bytes())
    records = _records(bytes(data))
    assert len(records) > 3
    last_offset, _ = records[-1]
    if damage == "drop_last_record":
        data = data[:last_offset]
    elif damage == "cut_mid_record":
        data = data[: last_offset + 30]
    elif damage == "header_only":
        data = data[: _HEADER.size]
    elif damage == "flip_ciphertext_bit":
        data[records[1][0] + 40] ^= 0x01
    elif damage == "swap_records":
        (a, size_a), (b, size_b) = records[0], records[1]
        data = data[:a] + data[b : b + size_b] + data[a : a + size_a] + data[b + size_b :]
    elif damage == "mark_first_final":
        data[records[0][0]] = 1
    elif damage == "trailing_bytes":
        data += b"\x00" * 10
    elif damage == "future_version":
        data[len(b"CHASKIBK")] = 2
    elif damage == "absurd_length":
        data[records[0][0] + 1 : records[0][0] + 5] = b"\xff\xff\xff\xff"
    elif damage == "bad_flag":
        data[records[0][0]] = 7
    else:
        data = bytearray(b"SQLite format 3\x00" + bytes(100))
    path.write_bytes(bytes(data))
    target = tmp_path / "scratch" / "restored.sqlite3"
    with pytest.raises(BackupError, match=message):
        await restore_backup(path, target, setup.key_dir, setup.keys, now=NOW, force=False)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no plaintext left behind


async def test_a_backup_from_another_backup_key_is_refused(
    env: tuple[Env, Database, Seeded], tmp_path: Path
) -> None:
    setup, db, _ = env
    path = await _small_backup(setup, db)
    (setup.key_dir / "backup.key").unlink()
    await create_backup(db, setup.backups / "other.chaski", setup.key_dir)  # new backup key
    with pytest.raises(BackupError, match="made with backup key"):
        await restore_backup(
            path, tmp_path / "r.sqlite3", setup.key_dir, setup.keys, now=NOW, force=False
        )


async def test_restore_needs_the_backup_key(
    env: tuple[Env, Database, Seeded], tmp_path: Path
) -> None:
    setup, db, _ = env
    path = await _small_backup(setup, db)
    (setup.key_dir / "backup.key").chmod(0o644)
    with pytest.raises(KeyFileError, match="readable"):
        await restore_backup(
            path, tmp_path / "r.sqlite3", setup.key_dir, setup.keys, now=NOW, force=False
        )
    (setup.key_dir / "backup.key").unlink()
    with pytest.raises(KeyFileError, match="missing"):
        await restore_backup(
            path, tmp_path / "r.sqlite3", setup.key_dir, setup.keys, now=NOW, force=False
        )


async def test_restore_refuses_data_keys_that_do_not_open_it(
    env: tuple[Env, Database, Seeded], tmp_path: Path
) -> None:
    setup, db, _ = env
    path = await _small_backup(setup, db)
    other_dir = tmp_path / "other-keys"
    ensure_keys(other_dir, tmp_path / "elsewhere" / "x.sqlite3")
    target = tmp_path / "scratch" / "restored.sqlite3"
    with pytest.raises(BackupError, match="do not open with the current keys"):
        await restore_backup(
            path, target, setup.key_dir, load_keys(other_dir), now=NOW, force=False
        )
    assert not target.exists()


async def test_restore_over_an_existing_database_needs_force_and_keeps_it(
    env: tuple[Env, Database, Seeded], tmp_path: Path
) -> None:
    setup, db, seeded = env
    path = await _small_backup(setup, db)
    target = tmp_path / "live" / "chaski.sqlite3"
    old = await Database.open(target)  # a different, newer database with its own rows
    await old.execute(
        "INSERT INTO regions (name, created_at) VALUES ('SOLO-EN-LA-VIEJA', '2025-01-01')"
    )
    await old.close()
    with pytest.raises(BackupError, match="--force"):
        await restore_backup(path, target, setup.key_dir, setup.keys, now=NOW, force=False)

    report = await restore_backup(path, target, setup.key_dir, setup.keys, now=NOW, force=True)
    assert report.moved_aside == target.with_name("chaski.sqlite3.before-restore-20250301T120000Z")
    assert report.members == len(seeded.member_ids)
    old_rows = "SELECT count(*) FROM regions WHERE name LIKE 'SOLO%'"
    async with aiosqlite.connect(report.moved_aside) as aside, aside.execute(old_rows) as cur:
        row = await cur.fetchone()
    assert row is not None
    assert row[0] == 1
    restored = await Database.open(target)
    try:
        assert await restored.fetchone("SELECT 1 FROM regions WHERE name LIKE 'SOLO%'") is None
    finally:
        await restored.close()


async def test_backups_stay_outside_the_key_directory(
    env: tuple[Env, Database, Seeded],
) -> None:
    setup, db, _ = env
    with pytest.raises(BackupError, match="outside the key directory"):
        await create_backup(db, setup.key_dir / "b.chaski", setup.key_dir)


async def test_a_malformed_backup_key_is_refused(
    env: tuple[Env, Database, Seeded],
) -> None:
    setup, db, _ = env
    await _small_backup(setup, db)
    key = setup.key_dir / "backup.key"
    key.write_text('{"id": "short", "key": "AAAA"}')
    with pytest.raises(KeyFileError, match="malformed"):
        await create_backup(db, setup.backups / "again.chaski", setup.key_dir)
    key.write_text("not json")
    with pytest.raises(KeyFileError, match="malformed"):
        await create_backup(db, setup.backups / "again.chaski", setup.key_dir)
    assert not (setup.backups / "again.chaski").exists()
