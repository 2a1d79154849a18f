"""Append-only, hash-chained audit log (M-16, T-38)."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from datetime import timedelta

import pytest

from bot.domain.models import Role
from storage.audit import GENESIS, SqliteAuditLog, entry_hash
from storage.database import Database
from tests.storage.conftest import T0


@pytest.fixture
def audit(db: Database) -> SqliteAuditLog:
    return SqliteAuditLog(db)


async def _fill(audit: SqliteAuditLog, n: int = 4) -> None:
    for i in range(n):
        await audit.record(
            action="invite_redeem" if i % 2 else "claim_update",
            result="ok",
            now=T0 + timedelta(minutes=i),
            actor_id=i + 1 if i % 2 else None,
            actor_role=Role.COORDINATOR if i % 2 else None,
            target=f"claim:{i}" if i != 2 else None,
        )


async def _rows(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM audit ORDER BY id")


def _raw(db: Database) -> sqlite3.Connection:
    """A plain connection without our authorizer: what someone with file access has."""
    return sqlite3.connect(db.path, isolation_level=None)


async def test_empty_log_verifies(audit: SqliteAuditLog) -> None:
    assert await audit.verify() == []


async def test_entries_chain_from_genesis_and_verify(audit: SqliteAuditLog, db: Database) -> None:
    await _fill(audit)
    rows = await _rows(db)
    assert len(rows) == 4
    assert rows[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["hash"]
    assert rows[1]["actor_role"] == "coordinator"
    assert rows[0]["actor_role"] is None
    assert rows[0]["at"] == "2026-03-02T12:00:00+00:00"
    assert await audit.verify() == []


async def test_concurrent_records_keep_one_chain(audit: SqliteAuditLog) -> None:
    await asyncio.gather(
        *(audit.record(action="x", result=str(i), now=T0, actor_id=i) for i in range(20))
    )
    assert await audit.verify() == []


async def test_record_joins_the_callers_transaction(audit: SqliteAuditLog, db: Database) -> None:
    async def failing_change() -> None:
        async with db.transaction():
            await audit.record(action="claim_update", result="ok", now=T0)
            raise RuntimeError("the change it describes failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await _rows(db) == []


@pytest.mark.parametrize(
    "sql",
    ["UPDATE audit SET action = 'nothing'", "UPDATE audit SET result = 'denied' WHERE id = 1"],
)
async def test_update_is_refused_by_trigger(audit: SqliteAuditLog, db: Database, sql: str) -> None:
    await _fill(audit)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        await db.execute(sql)
    raw = _raw(db)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(sql)
    finally:
        raw.close()
    assert await audit.verify() == []


async def test_delete_is_refused_by_trigger(audit: SqliteAuditLog, db: Database) -> None:
    await _fill(audit)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        await db.execute("DELETE FROM audit WHERE id = 2")
    raw = _raw(db)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute("DELETE FROM audit")
    finally:
        raw.close()
    assert len(await _rows(db)) == 4


async def test_forged_row_with_wrong_prev_hash_is_reported(
    audit: SqliteAuditLog, db: Database
) -> None:
    await _fill(audit, 3)
    fields = ("2026-03-02T13:00:00+00:00", "", "", "manage_members", "", "ok")
    raw = _raw(db)
    try:
        raw.execute(
            "INSERT INTO audit (at, actor_id, actor_role, action, target, result, prev_hash,"
            " hash) VALUES (?, NULL, NULL, 'manage_members', NULL, 'ok', ?, ?)",
            (fields[0], GENESIS, entry_hash(GENESIS, fields)),  # self-consistent, wrong link
        )
        forged_id = raw.execute("SELECT max(id) FROM audit").fetchone()[0]
    finally:
        raw.close()
    assert await audit.verify() == [forged_id]


async def test_forged_row_with_wrong_hash_is_reported(audit: SqliteAuditLog, db: Database) -> None:
    await _fill(audit, 2)
    last = (await _rows(db))[-1]["hash"]
    raw = _raw(db)
    try:
        raw.execute(
            "INSERT INTO audit (at, action, result, prev_hash, hash)"
            " VALUES ('2026-03-02T13:00:00+00:00', 'x', 'ok', ?, ?)",
            (last, "f" * 64),
        )
    finally:
        raw.close()
    assert await audit.verify() == [3]


async def test_edited_row_is_reported_when_triggers_are_bypassed(
    audit: SqliteAuditLog, db: Database
) -> None:
    """T-38: someone with file access drops the trigger and rewrites history."""
    await _fill(audit, 4)
    raw = _raw(db)
    try:
        raw.execute("DROP TRIGGER audit_no_update")
        raw.execute("UPDATE audit SET result = 'denied' WHERE id = 2")
    finally:
        raw.close()
    assert await audit.verify() == [2]


async def test_deleted_middle_row_breaks_the_next_link(
    audit: SqliteAuditLog, db: Database
) -> None:
    await _fill(audit, 4)
    raw = _raw(db)
    try:
        raw.execute("DROP TRIGGER audit_no_delete")
        raw.execute("DELETE FROM audit WHERE id = 2")
    finally:
        raw.close()
    assert await audit.verify() == [3]


def test_entry_hash_depends_on_every_field() -> None:
    fields = ("2026-03-02T12:00:00+00:00", "1", "admin", "invite_create", "member:2", "ok")
    base = entry_hash(GENESIS, fields)
    assert len(base) == 64
    assert entry_hash("1" * 64, fields) != base
    for i in range(len(fields)):
        changed = (*fields[:i], fields[i] + "x", *fields[i + 1 :])
        assert entry_hash(GENESIS, changed) != base
