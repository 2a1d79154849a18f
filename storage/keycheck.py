"""The key check: refuse keys that are not the ones this database was written with (M-07).

Keys and database live apart on purpose (M-07), so either can go missing or be swapped
alone: a key folder not mounted, ``CHASKI_KEY_DIR`` or ``CHASKI_DB`` pointing at another
installation's files. Running on regardless is the worst outcome: with other keys every
member is a stranger, and whatever is written meanwhile (an invite, a claim) is sealed
under keys that break the database once the real ones return (issue #11.4). So the
``key_check`` table (migration 0009) holds one row that proves the match without holding a
key:

- ``value_enc``: a fixed text sealed under the data key, like any sealed column (so key
  rotation re-seals it and retirement counts it, ``storage.rotation.SEALED_COLUMNS``);
- ``pepper_mac``: the HMAC of a fixed text under the pepper (the blind index's own
  function), since the pepper seals nothing and would otherwise go unchecked.

A database created before the check existed gets its row on its first open, but only after
the keys have been tried on what it already holds (the newest value of each sealed column
opens, the newest linked member's lookup hash matches): writing a check for the wrong keys
would make the mistake permanent.
"""

from __future__ import annotations

import hmac
import sqlite3
from datetime import datetime
from functools import partial
from pathlib import Path

from storage.codec import ts
from storage.crypto import DecryptionError
from storage.database import Database
from storage.keys import DATA_KEYS, PEPPER, KeyFileError, KeyMaterial
from storage.rotation import SEALED_COLUMNS

TABLE = "key_check"
#: The text sealed and MACed; only its authenticity matters, not secrecy.
KNOWN = "chaski key check"
_MAC_KIND = "key_check"


class KeyMismatch(KeyFileError):
    """The keys load but are not the ones the database was written with: refuse to start."""


def _mismatch(key_dir: Path, database: Path, what: str) -> KeyMismatch:
    return KeyMismatch(
        f"{what} in {key_dir} is not the one database {database} was written with; check"
        " CHASKI_KEY_DIR and CHASKI_DB, or restore the key folder from the offline copy"
        " (nothing was changed)"
    )


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master")}


def _data_key_opens_existing(conn: sqlite3.Connection, keys: KeyMaterial) -> bool:
    """Whether the newest value of every sealed column opens (a legacy database's test)."""
    tables = _tables(conn)
    for table, spec in SEALED_COLUMNS.items():
        if table == TABLE or table not in tables:
            continue
        for name in spec.columns:
            row = conn.execute(
                f"SELECT {spec.row_id}, {name}_enc FROM {table}"  # noqa: S608 - names from the registry
                f" WHERE {name}_enc IS NOT NULL ORDER BY {spec.row_id} DESC LIMIT 1"
            ).fetchone()
            if row is None:
                continue
            try:
                keys.cipher.open(bytes(row[1]), table=table, column=name, row_id=int(row[0]))
            except (DecryptionError, UnicodeDecodeError):
                return False
    return True


def _pepper_fits_existing(conn: sqlite3.Connection, keys: KeyMaterial) -> bool:
    """Whether the newest linked member's lookup hash is this pepper's (legacy database)."""
    if "members" not in _tables(conn):
        return True
    row = conn.execute(
        "SELECT id, telegram_enc, telegram_hmac FROM members"
        " WHERE telegram_enc IS NOT NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return True
    telegram = keys.cipher.open(bytes(row[1]), table="members", column="telegram", row_id=row[0])
    return hmac.compare_digest(keys.index("telegram", telegram), str(row[2]))


def problem(
    conn: sqlite3.Connection, keys: KeyMaterial, key_dir: Path, database: Path
) -> str | None:
    """Why ``keys`` do not fit the database's key check, or None (also None without a row)."""
    row = conn.execute(f"SELECT value_enc, pepper_mac FROM {TABLE} WHERE id = 1").fetchone()  # noqa: S608 - a constant
    if row is None:
        return None
    try:
        sealed = keys.cipher.open(bytes(row[0]), table=TABLE, column="value", row_id=1)
    except (DecryptionError, UnicodeDecodeError):
        sealed = None
    if sealed != KNOWN:
        return str(_mismatch(key_dir, database, f"the data key file {DATA_KEYS}"))
    if not hmac.compare_digest(keys.index(_MAC_KIND, KNOWN), str(row[1])):
        return str(_mismatch(key_dir, database, f"the pepper file {PEPPER}"))
    return None


def _verify_or_record(
    keys: KeyMaterial, key_dir: Path, database: Path, now: datetime, conn: sqlite3.Connection
) -> bool:
    """The check as one step on the writer's thread; True if the row was written now."""
    _verify(keys, key_dir, database, conn)
    if conn.execute(f"SELECT 1 FROM {TABLE} WHERE id = 1").fetchone() is not None:  # noqa: S608 - a constant
        return False
    if not _data_key_opens_existing(conn, keys):
        raise _mismatch(key_dir, database, f"the data key file {DATA_KEYS}")
    if not _pepper_fits_existing(conn, keys):
        raise _mismatch(key_dir, database, f"the pepper file {PEPPER}")
    conn.execute(
        f"INSERT INTO {TABLE} (id, value_enc, pepper_mac, created_at) VALUES (1, ?, ?, ?)",  # noqa: S608 - a constant
        (
            keys.cipher.seal(KNOWN, table=TABLE, column="value", row_id=1),
            keys.index(_MAC_KIND, KNOWN),
            ts(now),
        ),
    )
    return True


async def verify_or_record(db: Database, keys: KeyMaterial, key_dir: Path, now: datetime) -> bool:
    """Refuse keys that do not fit the database; record the check where it is missing.

    Returns True when the check was written now (a new database, or the first open of one
    older than the check).

    Raises:
        KeyMismatch: the data key or the pepper is not the database's; nothing was written.
    """
    result: bool = await db.run(partial(_verify_or_record, keys, key_dir, db.path, now))
    return result


def _verify(keys: KeyMaterial, key_dir: Path, database: Path, conn: sqlite3.Connection) -> None:
    found = problem(conn, keys, key_dir, database)
    if found is not None:
        raise KeyMismatch(found)


async def verify(db: Database, keys: KeyMaterial, key_dir: Path) -> None:
    """Refuse keys that do not fit the database's key check; write nothing (restore).

    Raises:
        KeyMismatch: the data key or the pepper is not the database's.
    """
    await db.run(partial(_verify, keys, key_dir, db.path))
