"""The keyed audit chain (issue #16.5, M-16, T-38): file access alone cannot rewrite history.

Someone who can write the database file (but not read CHASKI_KEY_DIR) drops the triggers and
edits, deletes or forges entries, even recomputing a plain SHA-256 chain over everything
after the edit: ``check`` names the first entry that can no longer be trusted.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.models import Role
from storage.audit import (
    GENESIS,
    KEYED_ACTION,
    SqliteAuditLog,
    entry_hash,
    keyed_hash,
    prepare_audit_keys,
)
from storage.database import Database
from storage.keys import (
    AUDIT_KEYS,
    KeyFileError,
    create_audit_keys,
    load_audit_keys,
    rotate_audit_keys,
)
from tests.storage.conftest import T0


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """The key folder, made owner-only as the bot makes it (no data keys needed here)."""
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    return folder


async def _keyed(db: Database, key_dir: Path) -> SqliteAuditLog:
    return SqliteAuditLog(db, await prepare_audit_keys(db, key_dir, T0))


async def _fill(audit: SqliteAuditLog, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await audit.record(
            action="claim_update" if i % 2 else "manage_members",
            result="ok",
            now=T0 + timedelta(minutes=i),
            actor_id=i + 1,
            actor_role=Role.ADMIN,
            target=f"claim:{i}",
        )


def _raw(db: Database) -> sqlite3.Connection:
    """What someone with write access to the file has: no authorizer, no key."""
    raw = sqlite3.connect(db.path, isolation_level=None)
    raw.execute("DROP TRIGGER IF EXISTS audit_no_update")
    raw.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    return raw


def _recompute_plain(raw: sqlite3.Connection, start_id: int) -> None:
    """Rewrite every entry from ``start_id`` on as a valid plain SHA-256 chain."""
    prev_row = raw.execute(
        "SELECT hash FROM audit WHERE id < ? ORDER BY id DESC LIMIT 1", (start_id,)
    ).fetchone()
    prev = prev_row[0] if prev_row else GENESIS
    rows = raw.execute(
        "SELECT id, at, actor_id, actor_role, action, target, result FROM audit WHERE id >= ?"
        " ORDER BY id",
        (start_id,),
    ).fetchall()
    for row_id, at, actor_id, role, action, target, result in rows:
        fields = (at, str(actor_id or ""), role or "", action, target or "", result)
        digest = entry_hash(prev, fields)
        raw.execute(
            "UPDATE audit SET prev_hash = ?, hash = ?, key_id = NULL WHERE id = ?",
            (prev, digest, row_id),
        )
        prev = digest


async def test_keyed_entries_verify_and_name_their_key(db: Database, key_dir: Path) -> None:
    audit = await _keyed(db, key_dir)
    await _fill(audit, 4)
    check = await audit.check()
    assert check.broken == ()
    assert check.entries == 4
    rows = await db.fetchall("SELECT key_id, hash FROM audit ORDER BY id")
    keys = load_audit_keys(key_dir)
    assert keys is not None
    assert {row["key_id"] for row in rows} == {keys.active_id}
    assert (check.head_id, check.head_hash) == (4, rows[-1]["hash"])
    assert (key_dir / AUDIT_KEYS).stat().st_mode & 0o777 == 0o600


async def test_an_edited_entry_is_named(db: Database, key_dir: Path) -> None:
    audit = await _keyed(db, key_dir)
    await _fill(audit, 5)
    with closing(_raw(db)) as raw:
        raw.execute("UPDATE audit SET result = 'denied' WHERE id = 3")
    check = await audit.check()
    assert check.first_broken is not None
    assert check.first_broken.id == 3
    assert "changed" in check.first_broken.reason


async def test_a_deleted_entry_is_named_by_the_next_one(db: Database, key_dir: Path) -> None:
    audit = await _keyed(db, key_dir)
    await _fill(audit, 5)
    with closing(_raw(db)) as raw:
        raw.execute("DELETE FROM audit WHERE id = 2")
    check = await audit.check()
    assert [entry.id for entry in check.broken] == [3]
    assert "link" in check.broken[0].reason


async def test_a_recomputed_plain_chain_is_detected(db: Database, key_dir: Path) -> None:
    """The attack a plain hash chain cannot see: edit entry 3, re-hash 3 and everything after."""
    audit = await _keyed(db, key_dir)
    await _fill(audit, 6)
    with closing(_raw(db)) as raw:
        raw.execute("UPDATE audit SET result = 'denied' WHERE id = 3")
        _recompute_plain(raw, 3)
    check = await audit.check()
    assert check.first_broken is not None
    assert check.first_broken.id == 3
    assert "recomputed plain chain" in check.first_broken.reason
    # A plain verifier (no key) finds nothing wrong from entry 3 on: the key is what adds it.
    assert await SqliteAuditLog(db).verify() == [1, 2]  # only the keyed ones it cannot check


async def test_a_whole_chain_recomputed_plain_is_detected_from_its_first_entry(
    db: Database, key_dir: Path
) -> None:
    audit = await _keyed(db, key_dir)
    await _fill(audit, 3)
    with closing(_raw(db)) as raw:
        _recompute_plain(raw, 1)
    check = await audit.check()
    assert check.first_broken is not None
    assert check.first_broken.id == 1


async def test_a_chain_recomputed_with_another_key_is_detected(
    db: Database, key_dir: Path, tmp_path: Path
) -> None:
    audit = await _keyed(db, key_dir)
    await _fill(audit, 4)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    other = SqliteAuditLog(db, create_audit_keys(elsewhere))
    await other.record(action="forged", result="ok", now=T0)
    check = await audit.check()
    assert check.first_broken is not None
    assert check.first_broken.id == 5
    assert "not in audit.keys" in check.first_broken.reason


async def test_a_plain_prefix_is_sealed_when_the_key_is_adopted(
    db: Database, key_dir: Path
) -> None:
    """A database from before #16.5: its plain entries verify as before, up to the switch."""
    await _fill(SqliteAuditLog(db), 3)  # written before the key existed
    audit = await _keyed(db, key_dir)
    rows = await db.fetchall("SELECT action, target, key_id FROM audit ORDER BY id")
    assert [row["key_id"] is None for row in rows] == [True, True, True, False]
    assert (rows[3]["action"], rows[3]["target"]) == (KEYED_ACTION, "after:3")
    await _fill(audit, 2, start=3)
    assert (await audit.check()).broken == ()
    # An edit inside the plain prefix, even re-hashed up to the switch, breaks the switch.
    with closing(_raw(db)) as raw:
        raw.execute("UPDATE audit SET result = 'denied' WHERE id = 2")
        prev = GENESIS
        for row_id, at, actor_id, role, action, target, result in raw.execute(
            "SELECT id, at, actor_id, actor_role, action, target, result FROM audit"
            " WHERE id <= 3 ORDER BY id"
        ).fetchall():
            fields = (at, str(actor_id or ""), role or "", action, target or "", result)
            digest = entry_hash(prev, fields)
            raw.execute(
                "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, row_id)
            )
            prev = digest
    check = await audit.check()
    assert [entry.id for entry in check.broken] == [4]


async def test_the_key_is_made_only_once_and_a_lost_key_stops_the_start(
    db: Database, key_dir: Path
) -> None:
    audit = await _keyed(db, key_dir)
    await _fill(audit, 2)
    first = (key_dir / AUDIT_KEYS).read_bytes()
    await prepare_audit_keys(db, key_dir, T0)
    assert (key_dir / AUDIT_KEYS).read_bytes() == first  # never replaced
    (key_dir / AUDIT_KEYS).unlink()
    with pytest.raises(KeyFileError, match=r"audit\.keys is missing"):
        await prepare_audit_keys(db, key_dir, T0)
    assert not (key_dir / AUDIT_KEYS).exists()  # not re-created over a keyed chain


async def test_another_installations_key_is_refused(
    db: Database, key_dir: Path, tmp_path: Path
) -> None:
    audit = await _keyed(db, key_dir)
    await _fill(audit, 2)
    other_dir = tmp_path / "other"
    other_dir.mkdir(mode=0o700)
    create_audit_keys(other_dir)
    (key_dir / AUDIT_KEYS).write_bytes((other_dir / AUDIT_KEYS).read_bytes())
    with pytest.raises(KeyFileError, match="not the audit key"):
        await prepare_audit_keys(db, key_dir, T0)


async def test_rotation_keeps_old_entries_verifiable(db: Database, key_dir: Path) -> None:
    audit = await _keyed(db, key_dir)
    await _fill(audit, 2)
    keys = load_audit_keys(key_dir)
    assert keys is not None
    old = keys.active_id
    assert audit.keys is not None
    new = rotate_audit_keys(key_dir)
    assert new != old
    await _fill(audit, 2, start=2)  # the open log picks the new key up
    rows = await db.fetchall("SELECT key_id FROM audit ORDER BY id")
    assert [row["key_id"] for row in rows] == [old, old, new, new]
    assert (await audit.check()).broken == ()
    # After the rotation, a leaked old key cannot rewrite an entry made before it: the
    # re-hashed entries verify, but the first entry under the new key no longer links.
    with closing(_raw(db)) as raw:
        raw.execute("UPDATE audit SET result = 'denied' WHERE id = 1")
        prev = GENESIS
        for row_id, at, actor_id, role, action, target, result in raw.execute(
            "SELECT id, at, actor_id, actor_role, action, target, result FROM audit"
            " WHERE id <= 2 ORDER BY id"
        ).fetchall():
            fields = (at, str(actor_id or ""), role or "", action, target or "", result)
            digest = keyed_hash(keys, old, prev, fields)
            assert digest is not None
            raw.execute(
                "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, digest, row_id)
            )
            prev = digest
    assert [entry.id for entry in (await audit.check()).broken] == [3]


async def test_entries_filter_by_time_actor_and_action(db: Database, key_dir: Path) -> None:
    audit = await _keyed(db, key_dir)
    await _fill(audit, 6)
    listed = await audit.entries(since=T0 + timedelta(minutes=2), action="claim_update")
    assert [(e.id, e.action, e.actor_id) for e in listed] == [
        (4, "claim_update", 4),
        (6, "claim_update", 6),
    ]
    assert [e.id for e in await audit.entries(actor_id=2)] == [2]
    assert [e.id for e in await audit.entries(limit=2)] == [5, 6]
    assert all(e.keyed for e in listed)


async def test_a_restored_backup_from_before_the_key_is_sealed_only_when_asked(
    db: Database, key_dir: Path
) -> None:
    """The audit key exists, the database's chain is all plain: an old backup restored, or
    an intruder's plain rewrite. A normal open never adopts it; ``chaski restore`` does."""
    keys = create_audit_keys(key_dir)
    await _fill(SqliteAuditLog(db), 3)  # as in a backup made before #16.5
    await prepare_audit_keys(db, key_dir, T0)  # a normal open: nothing appended
    audit = SqliteAuditLog(db, keys)
    check = await audit.check()
    assert check.first_broken is not None
    assert check.first_broken.id == 1
    assert await audit.seal_plain(T0, result="restore") is True
    assert (await audit.check()).broken == ()
    rows = await db.fetchall("SELECT action, target, result FROM audit ORDER BY id")
    assert tuple(rows[-1]) == (KEYED_ACTION, "after:3", "restore")
    assert await audit.seal_plain(T0, result="restore") is False  # keyed already


async def test_without_the_key_nothing_is_sealed(db: Database) -> None:
    """Sealing appends a keyed entry; with no audit key at hand (an installation from before
    #16.5 not yet migrated) there is nothing to seal with, and the plain chain stays as is."""
    await _fill(SqliteAuditLog(db), 2)
    assert await SqliteAuditLog(db).seal_plain(T0, result="restore") is False
    rows = await db.fetchall("SELECT key_id FROM audit ORDER BY id")
    assert [row["key_id"] for row in rows] == [None, None]
