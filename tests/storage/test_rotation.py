"""Data-key rotation while a bot keeps working, and retirement of old keys (M-07, M-13d)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from bot.domain.models import Lang, NewInvite, Role
from storage.crypto import KEY_ID_LEN, DecryptionError
from storage.database import Database
from storage.keys import KeyMaterial, ensure_keys, load_keys, read_data_keys, write_data_keys
from storage.members import SqliteInviteRepository, SqliteMemberRepository
from storage.rotation import (
    SEALED_COLUMNS,
    RotationError,
    check_sealed,
    key_usage,
    reseal_all,
    retire,
    rotate,
    schema_mismatches,
)
from tests.storage.seed import sealed_cells, seed

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    db_path, key_dir = tmp_path / "data" / "chaski.sqlite3", tmp_path / "keys"
    ensure_keys(key_dir, db_path)
    return db_path, key_dir


@pytest.fixture
async def db(paths: tuple[Path, Path]) -> AsyncIterator[Database]:
    database = await Database.open(paths[0])
    yield database
    await database.close()


async def test_the_registry_names_every_sealed_column_of_the_schema(db: Database) -> None:
    assert await schema_mismatches(db) == []
    tables = {row["name"] for row in await db.fetchall("SELECT name FROM sqlite_master")}
    assert {"members", "claims", "operations", "claim_events"} <= set(SEALED_COLUMNS)
    assert set(SEALED_COLUMNS) <= tables  # no stale entries once every migration is applied


async def test_an_unregistered_sealed_column_stops_rotation(paths: tuple[Path, Path]) -> None:
    db_path, key_dir = paths
    await (await Database.open(db_path)).close()  # create and migrate
    async with aiosqlite.connect(db_path) as raw:  # the migration step, not the runtime
        await raw.execute("ALTER TABLE regions ADD COLUMN motto_enc BLOB")
        await raw.commit()
    before = read_data_keys(key_dir)
    database = await Database.open(db_path)
    try:
        assert await schema_mismatches(database) == [
            "regions.motto_enc is sealed but not registered"
        ]
        with pytest.raises(RotationError, match=r"regions\.motto_enc"):
            await rotate(database, key_dir)
        with pytest.raises(RotationError, match="registry"):
            await retire(database, key_dir)
    finally:
        await database.close()
    assert read_data_keys(key_dir) == before  # nothing rotated


async def test_rotation_while_a_bot_reads_and_writes(paths: tuple[Path, Path]) -> None:
    db_path, key_dir = paths
    bot_keys = load_keys(key_dir)
    bot_db = await Database.open(db_path)
    cli_db = await Database.open(db_path)  # `chaski keys rotate` runs as another process
    try:
        seeded = await seed(bot_db, bot_keys, NOW)
        old_key = bot_keys.cipher.active_key_id
        members = SqliteMemberRepository(bot_db, bot_keys)
        invites = SqliteInviteRepository(bot_db, bot_keys)
        stop, started = asyncio.Event(), asyncio.Event()
        written: list[int] = []
        rounds = 0

        async def bot() -> None:
            nonlocal rounds
            while not stop.is_set():
                listed = await members.list_all()
                assert {m.codename for m in listed} >= {"KunturAQx0", "KunturAQx1"}
                assert await members.telegram_id(seeded.member_ids[0]) == seeded.telegram_ids[0]
                written.append(
                    await invites.create(
                        NewInvite(Role.INFORMANT, "RZA", f"Wayra{rounds}", Lang.ES, 72),
                        f"code{rounds}".ljust(43, "x"),
                        NOW,
                        NOW,
                    )
                )
                rounds += 1
                started.set()

        task = asyncio.create_task(bot())
        await started.wait()
        rounds_before = rounds
        report = await rotate(cli_db, key_dir, batch_size=1)
        rounds_during = rounds - rounds_before
        stop.set()
        await task
        assert rounds_during > 0, "the bot did not run during the rotation"

        fresh = load_keys(key_dir)
        assert fresh.cipher.active_key_id == report.new_key_id != old_key
        assert read_data_keys(key_dir)[0].keys() == {old_key, report.new_key_id}
        cells = await sealed_cells(cli_db)
        assert {blob[:KEY_ID_LEN].decode() for blob in cells.values()} == {report.new_key_id}
        assert report.usage.keys() == {report.new_key_id}
        assert await key_usage(cli_db, fresh.cipher) == {report.new_key_id: len(cells)}
        check = await check_sealed(cli_db, fresh)
        assert check.failures == ()
        assert check.cells == len(cells) > len(seeded.plaintexts)
        # The bot picked the new key up without a restart and still reads every row.
        assert bot_keys.cipher.active_key_id == report.new_key_id
        names = {m.codename for m in await members.list_all()}
        assert names >= {f"Wayra{n}" for n in range(len(written))} | {"KunturAQx0"}

        assert await retire(cli_db, key_dir) == [old_key]
        assert read_data_keys(key_dir)[0].keys() == {report.new_key_id}
        assert await members.telegram_id(seeded.member_ids[0]) == seeded.telegram_ids[0]
        await invites.create(
            NewInvite(Role.INFORMANT, "RZA", "WayraLast", Lang.ES, 72), "z" * 43, NOW, NOW
        )
        assert old_key not in bot_keys.cipher.key_ids  # the next seal dropped it from memory
    finally:
        await cli_db.close()
        await bot_db.close()


async def test_retire_refuses_while_old_ciphertexts_remain(
    db: Database, paths: tuple[Path, Path]
) -> None:
    key_dir = paths[1]
    keys = load_keys(key_dir)
    await seed(db, keys, NOW)
    old = keys.cipher.active_key_id
    # An interrupted rotation: the new key is active, nothing re-sealed yet.
    key_set, _ = read_data_keys(key_dir)
    key_set["n3wk3y00"] = os.urandom(32)
    write_data_keys(key_dir, key_set, "n3wk3y00")
    cells = len(await sealed_cells(db))
    with pytest.raises(RotationError, match=rf"{old}: {cells}\b"):
        await retire(db, key_dir)
    assert read_data_keys(key_dir)[0].keys() == {old, "n3wk3y00"}

    assert await reseal_all(db, load_keys(key_dir), batch_size=3) == cells
    assert await key_usage(db, keys.cipher) == {"n3wk3y00": cells}
    assert await retire(db, key_dir) == [old]
    assert await retire(db, key_dir) == []  # idempotent


async def test_two_rotations_then_one_retire(db: Database, paths: tuple[Path, Path]) -> None:
    key_dir = paths[1]
    keys = load_keys(key_dir)
    await seed(db, keys, NOW)
    first = await rotate(db, key_dir)
    second = await rotate(db, key_dir)
    assert first.passes == 2  # one that re-sealed, one that found nothing left
    assert second.resealed == first.resealed
    assert len(await retire(db, key_dir)) == 2
    assert (await check_sealed(db, load_keys(key_dir))).failures == ()


async def test_a_process_opens_a_value_sealed_under_a_key_it_has_not_seen(
    db: Database, paths: tuple[Path, Path]
) -> None:
    key_dir = paths[1]
    stale = load_keys(key_dir)
    seeded = await seed(db, stale, NOW)
    rotated = load_keys(key_dir)
    report = await rotate(db, key_dir)
    row = await db.fetchone(
        "SELECT id, codename_enc FROM members WHERE id = ?", (seeded.member_ids[1],)
    )
    assert row is not None
    assert stale.cipher.active_key_id != report.new_key_id  # nothing sealed here since
    # Opening a ciphertext under an unknown key id re-reads data.keys and retries once.
    opened = stale.cipher.open(
        row["codename_enc"], table="members", column="codename", row_id=row["id"]
    )
    assert opened == "KunturAQx1"
    assert stale.cipher.active_key_id == report.new_key_id
    assert rotated.reload_if_changed() is True
    assert rotated.reload_if_changed() is False  # unchanged file: one stat, no reload


async def test_an_unknown_key_still_fails_closed(paths: tuple[Path, Path]) -> None:
    keys: KeyMaterial = load_keys(paths[1])
    blob = keys.cipher.seal("x", table="t", column="c", row_id=1)
    forged = b"zzzzzzzz" + blob[KEY_ID_LEN:]
    with pytest.raises(DecryptionError):
        keys.cipher.open(forged, table="t", column="c", row_id=1)


async def test_a_world_readable_key_file_is_not_reloaded(paths: tuple[Path, Path]) -> None:
    key_dir = paths[1]
    keys = load_keys(key_dir)
    key_set, active = read_data_keys(key_dir)
    key_set["0therk3y"] = os.urandom(32)
    write_data_keys(key_dir, key_set, "0therk3y")
    (key_dir / "data.keys").chmod(0o644)
    assert keys.reload_if_changed() is False
    assert keys.cipher.active_key_id == active  # kept the set verified at start
