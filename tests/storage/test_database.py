"""The SQLite owner (M-08, R-10, T-34): pragmas, migrations, transactions, busy handling."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosqlite
import pytest

from bot.domain.errors import Unavailable
from storage.codec import parse_ts, ts
from storage.database import Database, migrate, migrations, next_id_in
from tests.storage.conftest import T0


async def _scalar(db: Database, sql: str) -> object:
    row = await db.fetchone(sql)
    assert row is not None
    return row[0]


async def _regions(db: Database) -> list[str]:
    return [row["name"] for row in await db.fetchall("SELECT name FROM regions ORDER BY id")]


async def _insert_region(db: Database, name: str) -> None:
    await db.execute(
        "INSERT INTO regions (name, created_at) VALUES (?, ?)", (name, T0.isoformat())
    )


EXPECTED_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": 2,  # FULL
    "foreign_keys": 1,
    "secure_delete": 1,
    "trusted_schema": 0,
    "auto_vacuum": 1,  # FULL, set before the first table
    "busy_timeout": 5000,
}


@pytest.mark.parametrize(("pragma", "expected"), EXPECTED_PRAGMAS.items())
async def test_pragmas_are_in_force_on_reader_and_writer(
    db: Database, pragma: str, expected: object
) -> None:
    assert await _scalar(db, f"PRAGMA {pragma}") == expected  # reader
    async with db.transaction():
        if pragma != "journal_mode":  # cannot be queried inside a transaction meaningfully
            assert await _scalar(db, f"PRAGMA {pragma}") == expected  # writer


async def test_open_creates_the_folder_and_applies_every_migration(db_path: Path) -> None:
    assert not db_path.parent.exists()
    db = await Database.open(db_path)
    try:
        assert await asyncio.to_thread(db_path.is_file)
        assert await _scalar(db, "PRAGMA user_version") == len(migrations())
        tables = {
            row["name"]
            for row in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        assert {"regions", "members", "invites", "claims", "claim_events", "audit"} <= tables
    finally:
        await db.close()


async def test_migrations_are_idempotent(db_path: Path) -> None:
    first = await Database.open(db_path)
    await _insert_region(first, "Pichari")
    await first.close()
    second = await Database.open(db_path)  # nothing to apply, data intact
    try:
        assert await _scalar(second, "PRAGMA user_version") == len(migrations())
        assert await _regions(second) == ["Pichari"]
        assert await migrate(second.writer) == len(migrations())
    finally:
        await second.close()


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [version for version, _ in migrations()]
    assert versions == list(range(1, len(versions) + 1))
    assert all(sql.strip() for _, sql in migrations())


async def test_transaction_commits(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO regions (name, created_at) VALUES ('Pichari', ?)", (T0.isoformat(),)
        )
    assert await _regions(db) == ["Pichari"]
    assert not db.in_transaction


async def test_exception_rolls_back_everything(db: Database) -> None:
    async def failing() -> None:
        async with db.transaction():
            await _insert_region(db, "Pichari")
            await _insert_region(db, "Kimbiri")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing()
    assert await _regions(db) == []
    assert not db.in_transaction
    assert not db.writer.in_transaction
    await _insert_region(db, "Pangoa")  # the writer is usable again
    assert await _regions(db) == ["Pangoa"]


async def test_nested_transaction_joins_the_outer_one(db: Database) -> None:
    async def outer_fails() -> None:
        async with db.transaction():
            await _insert_region(db, "Pichari")
            async with db.transaction():
                await _insert_region(db, "Kimbiri")  # execute() nests a third level
                assert db.in_transaction
            assert await _regions(db) == ["Pichari", "Kimbiri"]  # writer sees own rows
            raise RuntimeError("outer fails after the inner block finished")

    with pytest.raises(RuntimeError):
        await outer_fails()
    assert await _regions(db) == []  # the inner block was not committed on its own


async def test_a_task_started_inside_a_transaction_does_not_join_it(db: Database) -> None:
    """A task inherits its creator's context, so it used to inherit "in transaction" too and
    write on the writer, without the lock, inside a transaction it does not own (#10.6). It
    now writes on its own once that transaction is over: a rollback there takes nothing of
    it."""
    started = asyncio.Event()
    children: list[asyncio.Task[None]] = []

    seen: list[bool] = []

    async def write_elsewhere() -> None:
        seen.append(db.in_transaction)
        started.set()
        await _insert_region(db, "Kimbiri")

    async def parent_fails() -> None:
        async with db.transaction():
            await _insert_region(db, "Pichari")
            children.append(asyncio.create_task(write_elsewhere()))
            await started.wait()
            raise RuntimeError("the parent rolls back")

    with pytest.raises(RuntimeError, match="parent"):
        await parent_fails()
    await children[0]
    assert seen == [False]
    assert await _regions(db) == ["Kimbiri"]


async def test_error_in_nested_block_rolls_back_the_outer_work(db: Database) -> None:
    async def inner_fails() -> None:
        async with db.transaction():
            await _insert_region(db, "Pichari")
            async with db.transaction():
                raise ValueError("inner")

    with pytest.raises(ValueError, match="inner"):
        await inner_fails()
    assert await _regions(db) == []


async def test_reader_does_not_see_uncommitted_writes(db: Database) -> None:
    written = asyncio.Event()
    looked = asyncio.Event()
    seen: list[list[str]] = []

    async def other_task() -> None:  # created outside the transaction: uses the reader
        await written.wait()
        seen.append(await _regions(db))
        looked.set()

    task = asyncio.create_task(other_task())
    async with db.transaction():
        await _insert_region(db, "Pichari")
        written.set()
        await looked.wait()
    await task
    assert seen == [[]]
    assert await _regions(db) == ["Pichari"]


async def test_writes_are_serialised_across_tasks(db: Database) -> None:
    """Two tasks' transactions never interleave: the second waits for the first."""
    inside = asyncio.Event()
    release = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with db.transaction():
            order.append("first-begin")
            inside.set()
            await release.wait()
            order.append("first-end")

    async def second() -> None:
        await inside.wait()
        async with db.transaction():
            order.append("second")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await inside.wait()
    await asyncio.sleep(0)  # give "second" its chance to (wrongly) run; not a sync sleep
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first-begin", "first-end", "second"]


@asynccontextmanager
async def _locked(db: Database) -> AsyncIterator[None]:
    """Another connection holds the write lock; our writer gives up after 50 ms."""
    await db.writer.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_locked_database_raises_unavailable_and_writes_nothing(db: Database) -> None:
    async with _locked(db):
        with pytest.raises(Unavailable):
            async with db.transaction():
                await _insert_region(db, "Pichari")
        assert not db.in_transaction
        assert not db.writer.in_transaction
    await _insert_region(db, "Kimbiri")  # lock gone: works again, nothing half-written
    assert await _regions(db) == ["Kimbiri"]


async def test_non_busy_sql_error_is_not_disguised_as_unavailable(db: Database) -> None:
    async def bad_sql() -> None:
        async with db.transaction():
            await _insert_region(db, "Pichari")
            await db.execute("INSERT INTO nowhere VALUES (1)")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await bad_sql()
    assert await _regions(db) == []


_ADD_REGION = "INSERT INTO regions (name, created_at) VALUES (?, ?)"


async def _trace(db: Database) -> list[str]:
    """Every statement the writer runs from now on, in order (SQLite's own trace)."""
    seen: list[str] = []
    await db.writer.set_trace_callback(seen.append)
    return seen


async def test_run_outside_a_transaction_commits_alone_in_one_step(db: Database) -> None:
    def add_two(conn: sqlite3.Connection) -> int:
        conn.execute(_ADD_REGION, ("Pichari", T0.isoformat()))
        return conn.execute(_ADD_REGION, ("Kimbiri", T0.isoformat())).rowcount

    seen = await _trace(db)
    assert await db.run(add_two) == 1
    assert not db.writer.in_transaction  # committed on return, nothing left open
    assert await _regions(db) == ["Pichari", "Kimbiri"]  # the reader sees it: committed
    assert seen[0] == "BEGIN IMMEDIATE"
    assert seen[-1] == "COMMIT"
    assert len(seen) == 4


async def test_run_outside_a_transaction_rolls_back_on_error(db: Database) -> None:
    def half(conn: sqlite3.Connection) -> None:
        conn.execute(_ADD_REGION, ("Pichari", T0.isoformat()))
        raise LookupError("second step failed")

    with pytest.raises(LookupError):
        await db.run(half)
    assert not db.writer.in_transaction
    assert await _regions(db) == []


async def test_run_on_a_locked_database_raises_unavailable(db: Database) -> None:
    async with _locked(db):
        with pytest.raises(Unavailable):
            await db.execute(_ADD_REGION, ("Pichari", T0.isoformat()))
        with pytest.raises(Unavailable):
            await db.write(_ADD_REGION, ("Pichari", T0.isoformat()))
    assert not db.writer.in_transaction
    assert await _regions(db) == []
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await db.execute("INSERT INTO nowhere VALUES (1)")


async def test_a_transaction_sends_begin_with_its_first_statement(db: Database) -> None:
    seen = await _trace(db)
    async with db.transaction() as conn:
        await db.write(_ADD_REGION, ("Pichari", T0.isoformat()))
        assert not db.writer.in_transaction  # deferred: nothing sent yet
        assert seen == []
        written = await conn.execute(_ADD_REGION, ("Kimbiri", T0.isoformat()))
        assert written.rowcount == 1
        assert written.lastrowid == 2
        assert db.writer.in_transaction
        assert await _regions(db) == ["Pichari", "Kimbiri"]  # the writer sees its own rows
    assert not db.writer.in_transaction
    assert await _regions(db) == ["Pichari", "Kimbiri"]
    assert [sql.split(" (")[0] for sql in seen] == [
        "BEGIN IMMEDIATE",
        "INSERT INTO regions",
        "INSERT INTO regions",
        "SELECT name FROM regions ORDER BY id",
        "COMMIT",
    ]


async def test_deferred_writes_alone_commit_in_one_step(db: Database) -> None:
    seen = await _trace(db)
    async with db.transaction():
        await db.write(_ADD_REGION, ("Pichari", T0.isoformat()))
        await db.write(_ADD_REGION, ("Kimbiri", T0.isoformat()))
    assert await _regions(db) == ["Pichari", "Kimbiri"]
    assert seen[0] == "BEGIN IMMEDIATE"
    assert seen[-1] == "COMMIT"
    async with db.transaction():
        pass  # nothing to do: nothing sent
    assert len(seen) == 4


async def test_a_failing_deferred_write_rolls_back_the_whole_transaction(db: Database) -> None:
    async def duplicate() -> None:
        async with db.transaction():
            await db.write(_ADD_REGION, ("Pichari", T0.isoformat()))
            await db.write(_ADD_REGION, ("PICHARI", T0.isoformat()))  # UNIQUE NOCASE

    await db.write(_ADD_REGION, ("Pangoa", T0.isoformat()))  # outside: committed alone
    with pytest.raises(sqlite3.IntegrityError):
        await duplicate()
    assert not db.writer.in_transaction
    assert not db.in_transaction
    assert await _regions(db) == ["Pangoa"]


async def test_an_error_before_anything_was_sent_drops_the_deferred_writes(db: Database) -> None:
    async def fails_early() -> None:
        async with db.transaction():
            await db.write(_ADD_REGION, ("Pichari", T0.isoformat()))
            raise RuntimeError("fails before any trip")

    seen = await _trace(db)
    with pytest.raises(RuntimeError, match="before"):
        await fails_early()
    assert seen == []
    async with db.transaction():
        pass
    assert await _regions(db) == []


async def test_deferred_writes_on_a_locked_database_raise_unavailable(db: Database) -> None:
    async with _locked(db):
        with pytest.raises(Unavailable):
            async with db.transaction():
                await db.write(_ADD_REGION, ("Pichari", T0.isoformat()))
    assert not db.writer.in_transaction
    assert await _regions(db) == []


async def test_concurrent_writes_share_one_commit(db: Database) -> None:
    """Units waiting at the same moment go in one transaction, one savepoint each."""
    names = [f"Region {i}" for i in range(16)]
    seen = await _trace(db)
    before = db.commits
    results = await asyncio.gather(
        *(db.execute(_ADD_REGION, (name, T0.isoformat())) for name in names)
    )
    assert [written.lastrowid for written in results] == list(range(1, 17))
    assert await _regions(db) == names  # committed, in the order the calls were made
    assert db.commits == before + 1
    assert seen.count("COMMIT") == 1
    assert seen.count("SAVEPOINT unit") == 16


async def test_a_failing_unit_of_a_batch_rolls_back_alone(db: Database) -> None:
    await _insert_region(db, "Pichari")

    async def deferred_only(name: str) -> None:
        async with db.transaction():  # sends nothing before its end: one unit of the batch
            await db.write(_ADD_REGION, (name, T0.isoformat()))
            await db.write(_ADD_REGION, (f"{name} Norte", T0.isoformat()))

    before = db.commits
    outcomes = await asyncio.gather(
        db.execute(_ADD_REGION, ("Kimbiri", T0.isoformat())),
        deferred_only("Pangoa"),
        deferred_only("PICHARI"),  # UNIQUE NOCASE: this whole unit fails, its 2nd row too
        db.execute(_ADD_REGION, ("Llochegua", T0.isoformat())),
        return_exceptions=True,
    )
    assert isinstance(outcomes[2], sqlite3.IntegrityError)
    assert not any(isinstance(outcome, BaseException) for outcome in outcomes[:2] + outcomes[3:])
    assert await _regions(db) == ["Pichari", "Kimbiri", "Pangoa", "Pangoa Norte", "Llochegua"]
    assert db.commits == before + 1
    assert not db.writer.in_transaction


async def test_a_locked_database_fails_every_unit_of_a_batch(db: Database) -> None:
    async with _locked(db):
        outcomes = await asyncio.gather(
            *(db.write(_ADD_REGION, (name, T0.isoformat())) for name in ("Pichari", "Kimbiri")),
            return_exceptions=True,
        )
    assert [type(outcome) for outcome in outcomes] == [Unavailable, Unavailable]
    assert not db.writer.in_transaction
    assert await _regions(db) == []


async def test_a_unit_that_ends_the_whole_transaction_fails_the_whole_batch(
    db: Database,
) -> None:
    """SQLite itself rolls a transaction back on a full disk or an I/O error: all units fail."""

    def disk_full(conn: sqlite3.Connection) -> None:
        conn.execute(_ADD_REGION, ("Kimbiri", T0.isoformat()))
        conn.execute("ROLLBACK")  # what SQLite does on SQLITE_FULL
        raise sqlite3.OperationalError("database or disk is full")

    outcomes = await asyncio.gather(
        db.execute(_ADD_REGION, ("Pichari", T0.isoformat())),
        db.run(disk_full),
        return_exceptions=True,
    )
    assert [type(outcome) for outcome in outcomes] == [Unavailable, Unavailable]
    assert not db.writer.in_transaction
    assert await _regions(db) == []


async def test_a_caller_cancelled_before_the_commit_writes_nothing(db: Database) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def holds_the_writer() -> None:
        async with db.transaction():
            await _insert_region(db, "Pichari")
            inside.set()
            await release.wait()

    holder = asyncio.create_task(holds_the_writer())
    await inside.wait()
    waiting = asyncio.create_task(_insert_region(db, "Kimbiri"))
    await asyncio.sleep(0)  # let it hand its unit over (it then waits behind the holder)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await holder
    await _insert_region(db, "Pangoa")
    assert await _regions(db) == ["Pichari", "Pangoa"]


async def test_a_caller_cancelled_during_its_commit_still_has_it_committed(
    db: Database,
) -> None:
    """Once the flusher took a unit it commits with its batch; cancelling cannot unsend it."""
    waiting = asyncio.create_task(_insert_region(db, "Pichari"))
    await asyncio.sleep(0)  # the caller hands its unit over and starts the flusher
    await asyncio.sleep(0)  # the flusher takes it and starts the trip
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await _insert_region(db, "Kimbiri")  # queued behind that trip on the writer's thread
    assert await _regions(db) == ["Pichari", "Kimbiri"]


async def test_close_commits_what_was_handed_over(db_path: Path) -> None:
    db = await Database.open(db_path)
    pending = asyncio.create_task(_insert_region(db, "Pichari"))
    await asyncio.sleep(0)  # the unit is queued; its flusher has not run yet
    await db.close()
    await pending
    db = await Database.open(db_path)
    try:
        assert await _regions(db) == ["Pichari"]
    finally:
        await db.close()


async def test_writer_executemany_counts_changed_rows(db: Database) -> None:
    async with db.transaction() as conn:
        rows = [("Pichari", T0.isoformat()), ("Kimbiri", T0.isoformat())]
        assert await conn.executemany(_ADD_REGION, rows) == 2
    assert await db.executemany("UPDATE regions SET created_at = ?", [("x",)]) == 2


def test_next_id_in_refuses_a_non_identifier() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        with pytest.raises(ValueError, match="outbox; DROP"):
            next_id_in(conn, "outbox; DROP TABLE claims")
    finally:
        conn.close()


async def test_next_id_needs_a_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError, match="transaction"):
        await db.next_id("regions")


async def test_next_id_allocates_max_plus_one(db: Database) -> None:
    async with db.transaction():
        assert await db.next_id("regions") == 1
        await _insert_region(db, "Pichari")
        await _insert_region(db, "Kimbiri")
        assert await db.next_id("regions") == 3


async def test_next_id_refuses_a_non_identifier(db: Database) -> None:
    async with db.transaction():
        with pytest.raises(ValueError, match="regions; DROP"):
            await db.next_id("regions; DROP TABLE claims")


async def test_executemany_is_one_transaction(db: Database) -> None:
    rows = [("Pichari", T0.isoformat()), ("Kimbiri", T0.isoformat()), ("PICHARI", "x")]
    with pytest.raises(sqlite3.IntegrityError):  # the third violates UNIQUE NOCASE
        await db.executemany("INSERT INTO regions (name, created_at) VALUES (?, ?)", rows)
    assert await _regions(db) == []


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE claims",
        "CREATE TEMP TABLE scratch (x)",
        "REINDEX",
        "CREATE TABLE evil (x)",
        "ALTER TABLE claims ADD COLUMN x",
        "ATTACH DATABASE ':memory:' AS other",
        "PRAGMA foreign_keys = OFF",
        "PRAGMA secure_delete = OFF",
        "PRAGMA journal_mode = DELETE",
        "DROP TRIGGER audit_no_update",
    ],
)
async def test_runtime_connections_refuse_schema_changes(db: Database, sql: str) -> None:
    """M-08/T-26: the authorizer denies DDL, ATTACH and relaxing pragmas at runtime."""
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        await db.execute(sql)
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        await db.fetchall(sql)
    assert await _scalar(db, "PRAGMA foreign_keys") == 1
    assert await _scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'claims'") == 1


async def test_failed_migration_leaves_no_partial_schema(tmp_path: Path) -> None:
    """A migration and its version bump are one transaction: all or nothing."""
    path = tmp_path / "half.sqlite3"
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute("CREATE TABLE invites (x)")  # collides with migration 0001
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            await migrate(conn)
        assert not conn.in_transaction
        async with conn.execute("PRAGMA user_version") as cursor:
            assert await cursor.fetchone() == (0,)
        async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == ["invites"]
    finally:
        await conn.close()


def test_naive_timestamps_are_refused_and_aware_ones_stored_as_utc() -> None:
    with pytest.raises(ValueError, match="naive"):
        ts(datetime(2026, 3, 2, 12, 0))  # noqa: DTZ001 - the point of the test
    lima = datetime(2026, 3, 2, 7, 0, tzinfo=ZoneInfo("America/Lima"))
    assert ts(lima) == "2026-03-02T12:00:00+00:00"
    assert parse_ts(ts(lima)) == lima
    assert parse_ts(ts(lima)).tzinfo is UTC
