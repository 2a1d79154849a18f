"""The runtime connections refuse schema changes, ATTACH and pragma writes (M-08, T-26)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.database import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "chaski.sqlite3")
    yield database
    await database.close()


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE claims",
        "DROP TRIGGER audit_no_delete",
        "DROP INDEX claims_member",
        "ATTACH DATABASE 'stolen.sqlite3' AS stolen",
        "DETACH DATABASE main",
        "CREATE TABLE exfil (x)",
        "CREATE TEMP TABLE scratch (x)",
        "CREATE TRIGGER t AFTER INSERT ON claims BEGIN SELECT 1; END",
        "CREATE INDEX i ON claims(status)",
        "ALTER TABLE claims ADD COLUMN leak TEXT",
        "PRAGMA foreign_keys = OFF",
        "PRAGMA secure_delete = OFF",
        "PRAGMA trusted_schema = ON",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = ON",
        "PRAGMA user_version = 99",
        "PRAGMA busy_timeout = 'x'",
        "PRAGMA temp.user_version",
        "SELECT * FROM pragma_table_info('claims')",
    ],
)
async def test_the_runtime_connections_refuse(db: Database, sql: str) -> None:
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        await db.execute(sql)
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        await db.fetchall(sql)  # the reader connection too
    tables = {row["name"] for row in await db.fetchall("SELECT name FROM sqlite_master")}
    assert {"claims", "audit", "audit_no_delete"} <= tables
    assert "exfil" not in tables
    row = await db.fetchone("PRAGMA foreign_keys")
    assert row is not None
    assert row[0] == 1


async def test_a_sql_injection_payload_stays_data(db: Database) -> None:
    """T-26: the string is stored literally; even a stacked statement could not drop."""
    payload = "'; DROP TABLE claims;--"
    await db.execute("INSERT INTO regions (name, created_at) VALUES (?, 'now')", (payload,))
    row = await db.fetchone("SELECT name FROM regions WHERE name = ?", (payload,))
    assert row is not None
    assert row["name"] == payload
    assert await db.fetchone("SELECT count(*) FROM claims") is not None


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA secure_delete = ON",
        "PRAGMA trusted_schema = OFF",
        "PRAGMA busy_timeout = 5000",
        "PRAGMA wal_checkpoint(TRUNCATE)",
        "PRAGMA quick_check",
        "PRAGMA integrity_check(10)",
        "PRAGMA user_version",
        "PRAGMA table_info(claims)",
        "PRAGMA foreign_key_check",
        "SELECT name FROM sqlite_master",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3)"
        " SELECT count(*) FROM n",
    ],
)
async def test_what_the_application_needs_is_allowed(db: Database, sql: str) -> None:
    assert await db.fetchall(sql) is not None
