"""The one owner of the SQLite file: pragmas, migrations, a writer and a reader connection.

All writes go through one connection guarded by a lock, inside ``BEGIN IMMEDIATE``
transactions that never span a network call (R-10). Reads outside a transaction use a
second connection that sees only committed data (WAL), so a long broadcast never blocks
``/estado``. A task inside ``transaction()`` reads through the writer and sees its own
uncommitted rows; nested ``transaction()`` calls in that task join the outer one, which is
how a service commits a status change together with its outbox and audit rows (R-01).
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.resources
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.domain.errors import Unavailable
from storage import authorizer

_LOGGER = logging.getLogger(__name__)

_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA secure_delete = ON",
    "PRAGMA trusted_schema = OFF",
    "PRAGMA busy_timeout = 5000",
)
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

Params = Sequence[Any] | dict[str, Any]


def migrations() -> list[tuple[int, str]]:
    """Return ``(version, sql)`` pairs from ``storage/migrations/NNNN_*.sql``, ascending."""
    found: list[tuple[int, str]] = []
    for entry in importlib.resources.files("storage.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migration numbers must be 1..n without gaps, got {versions}")
    return found


async def _user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _open(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    if await _user_version(conn) == 0:
        await conn.execute("PRAGMA auto_vacuum = FULL")  # effective only before any table
    for pragma in _PRAGMAS:
        await conn.execute(pragma)
    return conn


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply every newer migration atomically together with its version bump."""
    current = await _user_version(conn)
    for version, sql in migrations():
        if version <= current:
            continue
        _LOGGER.info("Applying migration %04d", version)
        try:
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
        except Exception:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        current = version
    return current


async def _quick_check(conn: aiosqlite.Connection, path: Path) -> None:
    async with conn.execute("PRAGMA quick_check") as cursor:
        row = await cursor.fetchone()
    if row is None or row[0] != "ok":
        raise RuntimeError(f"database {path} failed PRAGMA quick_check")


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text or "disk" in text or "readonly" in text


class Database:
    """Two connections to one file and the transaction discipline around them."""

    __slots__ = ("_in_tx", "_lock", "path", "reader", "writer")

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        """Use ``Database.open``; this only stores what it was given."""
        self.path = path
        self.writer = writer
        self.reader = reader
        self._lock = asyncio.Lock()
        self._in_tx: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"chaski_tx_{id(self)}", default=False
        )

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Create the file (and its folder) if needed, apply pragmas and migrations."""
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _open(path)
        try:
            await migrate(writer)
            await _quick_check(writer, path)
            reader = await _open(path)
            try:
                # From here on, data statements only: no DDL, ATTACH or pragma writes (M-08).
                await authorizer.install(writer)
                await authorizer.install(reader)
            except BaseException:
                await reader.close()
                raise
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        """Close both connections (reader first: the writer owns the WAL checkpoint)."""
        await self.reader.close()
        await self.writer.close()

    @property
    def in_transaction(self) -> bool:
        """Whether the current task is inside ``transaction()``."""
        return self._in_tx.get()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Run a short ``BEGIN IMMEDIATE`` write; nested use in the same task joins it.

        Never start a task (``create_task``) inside a transaction: it would inherit the
        "in transaction" flag and write on the writer connection without holding the lock.

        Raises:
            Unavailable: the database stayed locked past ``busy_timeout``, is read-only or
                the disk is full; the transaction was rolled back, nothing half-written.
        """
        if self._in_tx.get():
            yield self.writer
            return
        async with self._lock:
            token = self._in_tx.set(True)
            try:
                await self.writer.execute("BEGIN IMMEDIATE")
                try:
                    yield self.writer
                except BaseException:
                    await self.writer.execute("ROLLBACK")
                    raise
                await self.writer.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self.writer.in_transaction:
                    await self.writer.execute("ROLLBACK")
                if _is_busy(exc):
                    _LOGGER.warning("Database unavailable: %s", type(exc).__name__)
                    raise Unavailable from exc
                raise
            finally:
                self._in_tx.reset(token)

    def _conn(self) -> aiosqlite.Connection:
        return self.writer if self._in_tx.get() else self.reader

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row (or None), from the writer inside a transaction, else the reader.

        One trip to the connection's thread (``execute_fetchall``) instead of three
        (execute, fetch, close): every trip is a thread hand-off and an event-loop wake-up,
        which was most of a lookup's cost on the ``/estado`` path. Every caller selects by
        key (or an aggregate), so at most a row or two ever comes back.
        """
        rows = await self._conn().execute_fetchall(sql, params)
        for row in rows:
            return row
        return None

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows, from the writer inside a transaction, else the reader (one trip)."""
        return list(await self._conn().execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Params = ()) -> aiosqlite.Cursor:
        """Run one write statement in the current (or a new, own) transaction."""
        async with self.transaction() as conn:
            return await conn.execute(sql, params)

    async def execute_alone(self, sql: str, params: Params = ()) -> int:
        """Run one write statement as its own transaction, committed on return; its rowcount.

        SQLite commits a lone statement by itself (autocommit; the connection never opens
        transactions implicitly): one trip to the writer's thread instead of four
        (``BEGIN IMMEDIATE``, statement, cursor, ``COMMIT``). Only for writes that need no
        other statement with them, such as the update de-duplication row (R-09).

        Raises:
            RuntimeError: called inside ``transaction()``, where it could not commit alone.
            Unavailable: the database stayed locked past ``busy_timeout``, is read-only or
                the disk is full; nothing was written.
        """
        if self._in_tx.get():
            raise RuntimeError("execute_alone() commits by itself: not inside transaction()")
        async with self._lock:
            try:
                cursor = await self.writer.execute(sql, params)
            except sqlite3.OperationalError as exc:
                if _is_busy(exc):
                    _LOGGER.warning("Database unavailable: %s", type(exc).__name__)
                    raise Unavailable from exc
                raise
        return int(cursor.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one write statement for many parameter sets in one transaction."""
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def next_id(self, table: str) -> int:
        """Allocate the next row id of ``table`` inside the current write transaction.

        Encrypted columns bind their ciphertext to the row id (M-07), so the id must be known
        before the INSERT; the single writer makes ``MAX(id) + 1`` safe.
        """
        if not self._in_tx.get():
            raise RuntimeError("next_id() needs an open transaction")
        if not table.isidentifier():
            raise ValueError(table)
        row = await self.fetchone(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608
        assert row is not None  # noqa: S101 - an aggregate always returns a row
        return int(row[0])
