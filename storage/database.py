"""The one owner of the SQLite file: pragmas, migrations, a writer and a reader connection.

All writes go through one connection guarded by a lock, inside ``BEGIN IMMEDIATE``
transactions that never span a network call (R-10). Reads outside a transaction use a
second connection that sees only committed data (WAL), so a long broadcast never blocks
``/estado``. A task inside ``transaction()`` reads through the writer and sees its own
uncommitted rows; nested ``transaction()`` calls in that task join the outer one, which is
how a service commits a status change together with its outbox and audit rows (R-01).

**Trips.** aiosqlite runs every call on the connection's own thread; each call is a thread
hand-off and an event-loop wake-up, and while a transaction waits for its next trip the
writer lock is held and every other writer waits behind it. That made the writer the
bottleneck of ``/estado`` under load (``docs/performance.md``). So a transaction costs as
few trips as its reads need: ``BEGIN IMMEDIATE`` is sent with the transaction's first
statement, writes whose result nobody reads (``write()``) wait and go with the next
statement or with ``COMMIT``, and a storage function can run several statements in one
trip (``run()``). The order of statements on the connection, and therefore what commits
together, is exactly the order of the calls.

**Group commit.** Every commit is a WAL append and an ``fsync`` (``synchronous = FULL``,
R-10), and under load those, not the statements, were most of the writer's cost: with 16
chats at once, the de-duplication row and the reply's rows of each ``/estado`` cost more CPU
than everything else the bot does for it (``docs/performance.md``). So work that commits
on its own (``run()``, ``execute()`` or ``write()`` outside a transaction, and a
``transaction()`` whose body sent nothing before its end) is a *unit* handed to one
flusher, which commits every unit waiting at that moment in one ``BEGIN IMMEDIATE`` …
``COMMIT`` trip, each unit inside its own ``SAVEPOINT``: a unit that fails rolls back alone
and raises in its own caller only; a failed ``COMMIT`` fails them all. Nobody waits for a
batch to fill: the flusher takes what is there, and what arrives during that trip goes
with the next. Alone, a unit costs what it did before (no savepoint). Every caller still
returns only once its work is committed.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.resources
import logging
import os
import re
import sqlite3
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from bot.domain.errors import Unavailable
from storage import authorizer
from storage.ownership import first_foreign

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
T = TypeVar("T")
#: Work for the writer's thread: gets the raw ``sqlite3`` connection (never the event loop).
Step = Callable[[sqlite3.Connection], T]


class DatabaseFileError(Exception):
    """The database file cannot be used (not a database, damaged, missing): refuse to start.

    One line for the operator, naming the file; never a traceback (issue #11.6).
    """


def companions(path: Path) -> list[Path]:
    """The database file and its ``-wal`` and ``-shm`` files."""
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))]


def check_owner(path: Path) -> None:
    """Refuse to touch a database of another user (#14.3): say which user to run as.

    Checked before anything is opened or created: SQLite would otherwise create a ``-wal``
    owned by whoever runs the command, which the service then cannot open.

    Raises:
        DatabaseFileError: the folder, the file, its ``-wal`` or ``-shm`` is another user's.
    """
    problem = first_foreign(companions(path), folders=[path.parent])
    if problem is not None:
        raise DatabaseFileError(f"database {problem}")


def _prepare_files(path: Path) -> None:
    """Owner-only from the first byte: folder 0700, database 0600 (#11.8).

    Under a usual umask SQLite creates the database (and so its ``-wal``/``-shm``, which
    take the database's mode) 0644 and the folder 0755: roles, regions, statuses, dates and
    the audit trail readable by any local user. So missing folders are made 0700 and a new
    file is created 0600 before SQLite opens it; an existing file (ours) that others could
    read is narrowed to 0600, with a warning.
    """
    missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in companions(path):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077 and file.stat().st_uid == os.geteuid():
            file.chmod(0o600)
            _LOGGER.warning("Narrowed %s from mode %o to 600 (owner only)", file, mode)


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


async def _open(path: Path) -> tuple[aiosqlite.Connection, sqlite3.Connection]:
    """An aiosqlite connection and the ``sqlite3`` connection it drives on its thread.

    Built as ``aiosqlite.connect`` builds it (a connector run on the connection's thread),
    keeping the raw connection for ``Database.run``'s steps, which run on that same thread.
    """
    made: list[sqlite3.Connection] = []

    def connector() -> sqlite3.Connection:
        raw = sqlite3.connect(str(path), isolation_level=None)
        made.append(raw)
        return raw

    conn = await aiosqlite.Connection(connector, iter_chunk_size=64)
    try:
        conn.row_factory = aiosqlite.Row
        if await _user_version(conn) == 0:
            await conn.execute("PRAGMA auto_vacuum = FULL")  # effective only before any table
        for pragma in _PRAGMAS:
            await conn.execute(pragma)
    except BaseException:
        # A file that is not a database fails here: close, or the connection and its
        # thread are left for the garbage collector (Python 3.13 warns, issue #9).
        await conn.close()
        raise
    return conn, made[0]


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
        raise DatabaseFileError(
            f"database {path} failed PRAGMA quick_check; restore the latest backup"
            " (docs/operations.md, restore)"
        )


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text or "disk" in text or "readonly" in text


def _unavailable(exc: sqlite3.OperationalError) -> BaseException:
    """``Unavailable`` for a locked, read-only or full database; any other error as it is."""
    if _is_busy(exc):
        _LOGGER.warning("Database unavailable: %s", type(exc).__name__)
        return Unavailable()
    return exc


def _raised(exc: BaseException) -> BaseException:
    """What a unit's caller gets for ``exc``: busy/locked/full as ``Unavailable``."""
    if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
        error = Unavailable()
        error.__cause__ = exc
        return error
    return exc


@dataclass(frozen=True, slots=True)
class Written:
    """What one statement gave back: its rows (``RETURNING``), row count and last row id."""

    rows: list[sqlite3.Row]
    rowcount: int
    lastrowid: int | None

    def first(self) -> sqlite3.Row | None:
        """The first returned row, or None."""
        return self.rows[0] if self.rows else None


# Steps: run on the writer's thread, with its raw connection, inside one trip.


def _statement(sql: str, params: Params, conn: sqlite3.Connection) -> Written:
    cursor = conn.execute(sql, params)
    try:
        rows = cursor.fetchall()  # before rowcount: RETURNING counts rows as they are read
        return Written(rows, cursor.rowcount, cursor.lastrowid)
    finally:
        cursor.close()


def _many(sql: str, rows: Iterable[Params], conn: sqlite3.Connection) -> int:
    before = conn.total_changes
    conn.executemany(sql, rows).close()
    return conn.total_changes - before


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:  # checked on the thread: an interrupted COMMIT may have finished
        conn.execute("ROLLBACK")


def _then(steps: Sequence[Step[object]], last: Step[T], conn: sqlite3.Connection) -> T:
    for step in steps:
        step(conn)
    return last(conn)


def _commit(steps: Sequence[Step[object]], conn: sqlite3.Connection) -> None:
    try:
        for step in steps:
            step(conn)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


#: What one unit gave: (True, its last step's result) or (False, the exception it raised).
Outcome = tuple[bool, Any]


def _isolated(steps: Sequence[Step[object]], conn: sqlite3.Connection) -> Outcome:
    """Run one unit of a batch inside a savepoint: on an error only its own work is undone."""
    conn.execute("SAVEPOINT unit")
    try:
        result = _then(steps[:-1], steps[-1], conn)
    except Exception as exc:  # handed to the unit's caller, who raises it
        if not conn.in_transaction:
            raise  # SQLite rolled the whole batch back itself (disk full, I/O error)
        conn.execute("ROLLBACK TO unit")
        conn.execute("RELEASE unit")
        return False, exc
    conn.execute("RELEASE unit")
    return True, result


def _commit_units(
    units: Sequence[Sequence[Step[object]]], conn: sqlite3.Connection
) -> list[Outcome]:
    """Commit several units in one transaction (one fsync); a lone unit needs no savepoint.

    Raises (after rolling everything back) what ``BEGIN``, ``COMMIT`` or a lone unit raised.
    """
    _begin(conn)
    try:
        if len(units) == 1:
            outcomes: list[Outcome] = [(True, _then(units[0][:-1], units[0][-1], conn))]
        else:
            outcomes = [_isolated(steps, conn) for steps in units]
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return outcomes


@dataclass(slots=True)
class _Unit:
    """Work that commits on its own, and the future its caller awaits."""

    steps: Sequence[Step[object]]
    done: asyncio.Future[Any]


class Database:
    """Two connections to one file and the transaction discipline around them."""

    __slots__ = (
        "_begun",
        "_flusher",
        "_in_tx",
        "_lock",
        "_pending",
        "_queued",
        "_raw",
        "_trip",
        "commits",
        "path",
        "reader",
        "writer",
    )

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        raw_writer: sqlite3.Connection,
    ):
        """Use ``Database.open``; this only stores what it was given."""
        self.path = path
        self.writer = writer
        self.reader = reader
        self._raw = raw_writer
        # aiosqlite's one way to run our own function on the connection's thread (all its
        # public methods are built on it). Private, so pinned by the lock file and covered
        # by every storage test; see the module docstring for why a trip matters.
        self._trip = cast(
            Callable[[Callable[[], Any]], Awaitable[Any]],
            writer._execute,
        )
        self._lock = asyncio.Lock()
        # The task that holds the open transaction, as its context sees it. A task started
        # inside a transaction inherits the value but is another task: it does not join.
        self._in_tx: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
            f"chaski_tx_{id(self)}", default=None
        )
        # State of the one open transaction (the lock allows one at a time).
        self._begun = False
        self._pending: list[Step[object]] = []
        # Group commit: units waiting for the flusher, and the flusher task while it runs.
        self._queued: list[_Unit] = []
        self._flusher: asyncio.Task[None] | None = None
        #: Commits sent so far (each one fsync): the group commit's effect, for benchmarks.
        self.commits = 0

    @classmethod
    async def open(cls, path: Path) -> Database:
        """Create the file (and its folder) if needed, apply pragmas and migrations.

        Raises:
            DatabaseFileError: the file is not a SQLite database, cannot be opened, or
                fails ``quick_check`` (one line naming the file, nothing changed).
        """
        try:
            _prepare_files(path)
        except OSError as exc:
            raise DatabaseFileError(
                f"{path} cannot be created or opened ({exc.strerror or type(exc).__name__});"
                " check CHASKI_DB and that this user may write its folder"
            ) from None
        try:
            return await cls._open_checked(path)
        except sqlite3.DatabaseError as exc:
            # "file is not a database", "unable to open database file" …: the operator
            # needs the file's name and what to do, not SQLite's traceback (#11.6).
            raise DatabaseFileError(
                f"{path} cannot be opened as a Chaski database ({exc}); check CHASKI_DB, or"
                " restore the latest backup (docs/operations.md, restore)"
            ) from None

    @classmethod
    async def _open_checked(cls, path: Path) -> Database:
        writer, raw_writer = await _open(path)
        try:
            await migrate(writer)
            await _quick_check(writer, path)
            reader, _ = await _open(path)
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
        return cls(path, writer, reader, raw_writer)

    async def close(self) -> None:
        """Close both connections (reader first: the writer owns the WAL checkpoint).

        Units already handed to the flusher are committed first.
        """
        if self._flusher is not None:
            await self._flusher
        await self.reader.close()
        await self.writer.close()

    @property
    def in_transaction(self) -> bool:
        """Whether the current task is inside ``transaction()``."""
        return self._joined()

    def _joined(self) -> bool:
        """Whether the current task opened the open transaction (or is nested in it).

        A task started inside a transaction inherits its creator's context and so the
        creator's task in ``_in_tx``; it is not that task, so it does not join: its writes
        go on their own once the transaction is over, never on the writer without the lock.
        """
        owner = self._in_tx.get()
        return owner is not None and owner is asyncio.current_task()

    async def _on_writer(self, fn: Step[T]) -> T:
        result: T = await self._trip(partial(fn, self._raw))
        return result

    def _owed(self) -> list[Step[object]]:
        """What the open transaction must send before its next statement; now sent."""
        steps: list[Step[object]] = [] if self._begun else [_begin]
        self._begun = True
        steps.extend(self._pending)
        self._pending.clear()
        return steps

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
        """Run a short ``BEGIN IMMEDIATE`` write; nested use in the same task joins it.

        Nothing is sent until the body's first statement (which carries the ``BEGIN``) or
        the end: a body of deferred writes only is then one unit of the group commit (its
        writes atomic, inside a savepoint when it shares the commit); a body that did
        nothing costs nothing. It yields this database: inside, ``execute``, ``executemany``,
        ``fetchone`` and ``fetchall`` join the transaction, each one trip carrying what the
        transaction still owes (its ``BEGIN``, deferred writes). A task started inside
        (``create_task``) is outside it: its writes wait until the transaction is over and
        commit on their own, so the transaction must not wait for such a task's writes.

        Raises:
            Unavailable: the database stayed locked past ``busy_timeout``, is read-only or
                the disk is full; the transaction was rolled back, nothing half-written.
        """
        if self._joined():
            yield self
            return
        deferred: list[Step[object]] = []
        async with self._lock:
            token = self._in_tx.set(asyncio.current_task())
            self._begun = False
            self._pending = []
            try:
                try:
                    yield self
                except BaseException:
                    self._pending = []
                    if self._begun:
                        await self._on_writer(_rollback)
                    raise
                if self._begun:
                    await self._on_writer(partial(_commit, self._owed()))
                    self.commits += 1
                else:  # nothing sent yet: the deferred writes are one unit of a group commit
                    deferred = self._pending
            except sqlite3.OperationalError as exc:
                raise _unavailable(exc) from exc
            finally:
                self._begun = False
                self._pending = []
                self._in_tx.reset(token)
        if deferred:
            await self._commit_alone(deferred)

    async def run(self, fn: Step[T]) -> T:
        """Run ``fn`` on the writer's thread with the raw connection, in one trip.

        Inside ``transaction()`` it joins it (after what the transaction owes: its
        ``BEGIN``, deferred writes); outside, it is one unit of the group commit: atomic,
        and committed before this returns. For storage code that needs several statements,
        or Python between them, without a trip each. ``fn`` must be quick and must not
        touch the event loop.

        Raises:
            Unavailable: (outside a transaction) the database is locked, read-only or full;
                nothing was written.
        """
        if self._joined():
            return await self._on_writer(partial(_then, self._owed(), fn))
        result: T = await self._commit_alone([fn])
        return result

    async def _commit_alone(self, steps: Sequence[Step[object]]) -> Any:
        """Hand a unit to the group commit; its last step's result once it is committed.

        If the caller is cancelled before the flusher took the unit, the unit is dropped
        (nothing written); once taken, it commits (or not) with its batch.
        """
        unit = _Unit(steps, asyncio.get_running_loop().create_future())
        self._queued.append(unit)
        if self._flusher is None:
            # A fresh context: the flusher must not inherit a caller's "in transaction" flag.
            self._flusher = asyncio.create_task(self._flush(), context=contextvars.Context())
        return await unit.done

    async def _flush(self) -> None:
        """Commit waiting units, all of them in one trip, until none are left."""
        try:
            while self._queued:
                async with self._lock:
                    units = [unit for unit in self._queued if not unit.done.done()]
                    self._queued = []
                    if units:
                        await self._commit_batch(units)
        finally:
            self._flusher = None
            for unit in self._queued:  # only if this task was cancelled (loop shutdown)
                unit.done.cancel()
            self._queued = []

    async def _commit_batch(self, units: Sequence[_Unit]) -> None:
        try:
            outcomes = await self._on_writer(partial(_commit_units, [u.steps for u in units]))
        except Exception as exc:  # BEGIN or COMMIT failed, or the lone unit raised
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                _LOGGER.warning("Database unavailable: %s", type(exc).__name__)
            outcomes = [(False, exc)] * len(units)
        except BaseException:
            for unit in units:
                unit.done.cancel()
            raise
        else:
            self.commits += 1
        for unit, (ok, value) in zip(units, outcomes, strict=True):
            if unit.done.done():
                continue  # its caller was cancelled meanwhile
            if ok:
                unit.done.set_result(value)
            else:
                unit.done.set_exception(_raised(value))

    async def write(self, sql: str, params: Params = ()) -> None:
        """A write whose result nobody needs: inside a transaction, sent with its next trip.

        So it costs no trip of its own. An error it causes (a constraint) surfaces at that
        later trip, still inside the transaction, which then rolls back as a whole: use it
        only where the caller would not handle the error itself. Outside a transaction it
        is committed alone at once.
        """
        await self.defer(partial(_statement, sql, params))

    async def defer(self, fn: Step[object]) -> None:
        """``run(fn)`` for a step whose result nobody needs, deferred as ``write()`` is.

        Inside a transaction it goes with the next trip or the ``COMMIT``, so a transaction
        made only of deferred work sends nothing before its end and joins the group commit.
        """
        if self._joined():
            self._pending.append(fn)
            return
        await self.run(fn)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row (or None), from the writer inside a transaction, else the reader.

        One trip to the connection's thread (inside a transaction, together with what the
        transaction still owes). Every caller selects by key (or an aggregate), so at most a
        row or two ever comes back.
        """
        for row in await self.fetchall(sql, params):
            return row
        return None

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """All rows, from the writer inside a transaction, else the reader (one trip)."""
        if self._joined():
            return (await self.run(partial(_statement, sql, params))).rows
        return list(await self.reader.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Params = ()) -> Written:
        """Run one write statement in the current (or a new, own) transaction; one trip."""
        return await self.run(partial(_statement, sql, params))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one write statement for many parameter sets in one transaction; rows changed."""
        return await self.run(partial(_many, sql, list(rows)))

    async def next_id(self, table: str) -> int:
        """Allocate the next row id of ``table`` inside the current write transaction.

        Encrypted columns bind their ciphertext to the row id (M-07), so the id must be known
        before the INSERT; the single writer makes ``MAX(id) + 1`` safe.
        """
        if not self._joined():
            raise RuntimeError("next_id() needs an open transaction")
        return await self.run(partial(next_id_in, table=table))


def next_id_in(conn: sqlite3.Connection, table: str) -> int:
    """``Database.next_id`` as a step on the writer's thread (``Database.run``)."""
    if not table.isidentifier():
        raise ValueError(table)
    row = conn.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()  # noqa: S608
    return int(row[0])
