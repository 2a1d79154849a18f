"""A read-only look at the database and keys for ``chaski status`` (#14.4).

A monitoring probe runs this every minute, possibly as root, possibly while the bot is
stopped, so it must change nothing: no database created when the file is missing (the
caller checks first), no keys created, no migration, and no ``-wal``/``-shm`` file left
behind. SQLite's read-only mode still creates those two files when they are absent (and a
root-owned ``-wal`` would then stop the service from writing), so when they are absent,
which means no process has the database open, the file is opened ``immutable``: read as it
is, with no side files at all. While the bot runs they exist and are shared as usual.

Synchronous ``sqlite3`` on purpose: one short command, nothing else runs meanwhile.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.domain.health import Heartbeat, OutboxHealth
from storage import keycheck
from storage.codec import parse_ts, ts
from storage.crypto import KEY_ID_LEN, DecryptionError
from storage.database import migrations
from storage.keys import KeyFileError, load_keys
from storage.rotation import SEALED_COLUMNS

#: The first line of a failed ``quick_check`` is cut to this length (it names pages).
_PROBLEM_CHARS = 200


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    """What the database says, for ``bot.domain.health.HealthFacts``."""

    integrity: str
    schema_version: int
    code_schema_version: int
    heartbeat: Heartbeat | None
    outbox: OutboxHealth
    members: int
    linked: int
    blocked: int
    claims: int
    sealed_values: int
    pending_approvals: int
    oldest_pending_at: datetime | None
    keys_problem: str | None
    active_key: str | None


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open ``path`` so that nothing on disk changes (module docstring)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    companions = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    if not all(companion.exists() for companion in companions):
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA trusted_schema = OFF")
    return conn


def _scalar(conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()) -> int:
    row = conn.execute(sql, params).fetchone()
    return int(row[0] or 0) if row else 0


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master")}


def _integrity(conn: sqlite3.Connection) -> str:
    first = conn.execute("PRAGMA quick_check").fetchone()
    text = str(first[0]) if first else "no answer"
    return text if text == "ok" else text.splitlines()[0][:_PROBLEM_CHARS]


def _heartbeat(conn: sqlite3.Connection, tables: set[str]) -> Heartbeat | None:
    if "heartbeat" not in tables:
        return None
    row = conn.execute(
        "SELECT started_at, beat_at, polled_at, pid, host, version, beat_every_s,"
        " poll_timeout_s FROM heartbeat WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    return Heartbeat(
        started_at=parse_ts(row[0]),
        beat_at=parse_ts(row[1]),
        polled_at=parse_ts(row[2]) if row[2] else None,
        pid=int(row[3]),
        host=str(row[4]),
        version=str(row[5]),
        beat_every_s=int(row[6]),
        poll_timeout_s=int(row[7]),
    )


def read_heartbeat(path: Path) -> Heartbeat | None:
    """The heartbeat ``path`` holds, read without changing anything (``chaski restore``).

    None when there is none, and when the file cannot be read as a database: a damaged
    database is a reason to restore, and no bot can be running on it.
    """
    try:
        with closing(connect_read_only(path)) as conn:
            return _heartbeat(conn, _tables(conn))
    except sqlite3.DatabaseError:
        return None


def _outbox(conn: sqlite3.Connection, now: datetime) -> OutboxHealth:
    """Waiting rows split by why they wait (the sender's lease query decides "due")."""
    row = conn.execute(
        "SELECT"
        " SUM(due), MIN(CASE WHEN due THEN next_attempt_at END),"
        " SUM(NOT due AND not_before IS NOT NULL AND not_before > :now),"
        " SUM(NOT due AND (not_before IS NULL OR not_before <= :now))"
        " FROM (SELECT next_attempt_at, not_before,"
        "   next_attempt_at <= :now AND (not_before IS NULL OR not_before <= :now) AS due"
        "   FROM outbox WHERE status IN ('queued', 'errored'))",
        {"now": ts(now)},
    ).fetchone()
    return OutboxHealth(
        due=int(row[0] or 0),
        oldest_due_at=parse_ts(row[1]) if row[1] else None,
        scheduled=int(row[2] or 0),
        retrying=int(row[3] or 0),
        sending=_scalar(conn, "SELECT count(*) FROM outbox WHERE status = 'sending'"),
        dead=_scalar(conn, "SELECT count(*) FROM outbox WHERE status = 'dead'"),
    )


_Sample = tuple[str, str, int, bytes]


def _sealed(conn: sqlite3.Connection, tables: set[str]) -> tuple[int, set[str], list[_Sample]]:
    """Sealed cells counted, the key ids they name, and the newest cell of each column."""
    count = 0
    key_ids: set[str] = set()
    samples: list[_Sample] = []
    for table, spec in SEALED_COLUMNS.items():
        if table not in tables:
            continue
        for name in spec.columns:
            column = f"{name}_enc"
            for prefix, cells in conn.execute(
                f"SELECT substr({column}, 1, {KEY_ID_LEN}), count(*) FROM {table}"  # noqa: S608 - names from the registry
                f" WHERE {column} IS NOT NULL GROUP BY 1"
            ):
                count += int(cells)
                key_ids.add(bytes(prefix).decode("ascii", "replace"))
            newest = conn.execute(
                f"SELECT {spec.row_id}, {column} FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608 - names from the registry
                f" ORDER BY {spec.row_id} DESC LIMIT 1"
            ).fetchone()
            if newest is not None:
                samples.append((table, name, int(newest[0]), bytes(newest[1])))
    return count, key_ids, samples


def _pepper_matches(conn: sqlite3.Connection, key_dir: Path) -> bool | None:
    """Whether ``pepper.key`` is the one the lookups were made with (None: nothing to test).

    The newest linked member's Telegram ID is opened and hashed again; a wrong pepper
    would leave every member unrecognised by the bot while every value still opens.
    """
    row = conn.execute(
        "SELECT id, telegram_enc, telegram_hmac FROM members"
        " WHERE telegram_enc IS NOT NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    keys = load_keys(key_dir, check_owner=False)  # read-only: root may run status
    telegram = keys.cipher.open(bytes(row[1]), table="members", column="telegram", row_id=row[0])
    return bool(keys.index("telegram", telegram) == row[2])


def _keys(
    conn: sqlite3.Connection, tables: set[str], key_dir: Path, database: Path
) -> tuple[int, str | None, str | None]:
    """``(sealed values, problem or None, active key id)``; nothing is created."""
    count, used, samples = _sealed(conn, tables)
    try:
        keys = load_keys(key_dir, check_owner=False)  # read-only: root may run status
    except KeyFileError as exc:
        return count, str(exc), None
    except OSError as exc:  # a key file this user may not read: status run as someone else
        reason = exc.strerror or type(exc).__name__
        problem = (
            f"the keys in {key_dir} cannot be read ({reason}); run status as the service user"
            " (sudo chaski-admin status)"
        )
        return count, problem, None
    active = keys.cipher.active_key_id
    unknown = sorted(used - keys.cipher.key_ids)
    if unknown:
        return (
            count,
            f"the database uses data key(s) {', '.join(unknown)} that {key_dir / 'data.keys'}"
            " lacks: restore data.keys from the offline copy",
            active,
        )
    for table, name, row_id, blob in samples:
        try:
            keys.cipher.open(blob, table=table, column=name, row_id=row_id)
        except (DecryptionError, UnicodeDecodeError):
            return (
                count,
                f"a sealed {table}.{name} value does not open with {key_dir / 'data.keys'}:"
                " a damaged or wrong key file? Compare it with the offline copy",
                active,
            )
    if "members" in tables and _pepper_matches(conn, key_dir) is False:
        return (
            count,
            f"{key_dir / 'pepper.key'} is not the pepper this database was made with: members"
            " would not be recognised; restore pepper.key from the offline copy",
            active,
        )
    if "key_check" in tables:
        mismatch = keycheck.problem(conn, keys, key_dir, database)
        if mismatch is not None:
            return count, mismatch, active
    return count, None, active


def probe(path: Path, key_dir: Path, now: datetime) -> DatabaseFacts:
    """Gather every fact ``chaski status`` judges, changing nothing (module docstring).

    The caller makes sure ``path`` exists: opening a missing file read-only fails anyway,
    but the operator deserves a sentence rather than SQLite's.

    Raises:
        sqlite3.DatabaseError: the file is not a database or cannot be read.
    """
    with closing(connect_read_only(path)) as conn:
        tables = _tables(conn)
        integrity = _integrity(conn)
        sealed, keys_problem, active = _keys(conn, tables, key_dir, path)
        pending = conn.execute(
            "SELECT count(*), MIN(created_at) FROM alerts WHERE status = 'pending'"
        ).fetchone()
        return DatabaseFacts(
            integrity=integrity,
            schema_version=_scalar(conn, "PRAGMA user_version"),
            code_schema_version=len(migrations()),
            heartbeat=_heartbeat(conn, tables),
            outbox=_outbox(conn, now),
            members=_scalar(conn, "SELECT count(*) FROM members"),
            linked=_scalar(conn, "SELECT count(*) FROM members WHERE telegram_enc IS NOT NULL"),
            blocked=_scalar(conn, "SELECT count(*) FROM members WHERE blocked = 1"),
            claims=_scalar(conn, "SELECT count(*) FROM claims"),
            sealed_values=sealed,
            pending_approvals=int(pending[0]),
            oldest_pending_at=parse_ts(pending[1]) if pending[1] else None,
            keys_problem=keys_problem,
            active_key=active,
        )
