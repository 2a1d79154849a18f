"""SQLite authorizer for the runtime connections: data statements only (M-08, T-26).

Migrations run before this is installed (``Database.open``); afterwards the bot has no
reason to change the schema, attach another file or relax a pragma, so a statement that
tries, whatever path it came through (a bug, an injected string), is refused by SQLite at
prepare time with ``sqlite3.DatabaseError: not authorized``. This is an allow-list in the
style of GlobaLeaks: every action code not named here is denied.

The backup API (``storage.backup``) copies pages without preparing statements, so it is not
affected; restores and migrations use connections set up before the authorizer.
"""

from __future__ import annotations

import sqlite3

import aiosqlite

#: Statement actions the application performs. Everything else (CREATE, DROP, ALTER, ATTACH,
#: DETACH, REINDEX, ANALYZE, virtual tables, ...) is denied.
_ALLOWED_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_RECURSIVE,
    }
)

#: Writes to the schema table would be a schema change by the back door.
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master"})

#: Pragmas that may be set at runtime, and the only values they may be set to: the hardened
#: values ``Database`` applies at open (setting them again is harmless, relaxing them is not).
_PRAGMA_WRITES: dict[str, frozenset[str] | None] = {
    "journal_mode": frozenset({"wal"}),
    "synchronous": frozenset({"full", "2"}),
    "foreign_keys": frozenset({"on", "1", "true"}),
    "secure_delete": frozenset({"on", "1", "true"}),
    "trusted_schema": frozenset({"off", "0", "false"}),
    "busy_timeout": None,  # any number
    "wal_checkpoint": frozenset({"passive", "full", "restart", "truncate"}),
    "quick_check": None,  # the argument is a row limit or a table name: still read-only
    "integrity_check": None,
}

#: Pragmas that may be read (no argument): diagnostics, the schema checks of
#: ``storage.rotation`` and the restore smoke test.
_PRAGMA_READS = frozenset(
    {
        "journal_mode",
        "synchronous",
        "foreign_keys",
        "secure_delete",
        "trusted_schema",
        "busy_timeout",
        "auto_vacuum",
        "user_version",
        "quick_check",
        "integrity_check",
        "foreign_key_check",
        "wal_checkpoint",
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "foreign_key_list",
        "page_count",
        "page_size",
        "freelist_count",
        "data_version",
    }
)

#: Pragmas whose argument names a table rather than setting a value.
_PRAGMA_TABLE_ARG = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "foreign_key_list"}
)


def _pragma_allowed(name: str, value: str | None) -> bool:
    name = name.lower()
    if value is None:
        return name in _PRAGMA_READS
    if name in _PRAGMA_TABLE_ARG or name == "foreign_key_check":
        return True
    if name not in _PRAGMA_WRITES:
        return False
    allowed = _PRAGMA_WRITES[name]
    if allowed is None:
        return name != "busy_timeout" or value.strip().isdigit()
    return value.strip().strip("'\"").lower() in allowed


def runtime_authorizer(
    action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None
) -> int:
    """The ``sqlite3`` authorizer callback: ``SQLITE_OK`` for data statements, else DENY."""
    del source
    if db_name not in (None, "main"):
        return sqlite3.SQLITE_DENY  # temp schema or an attached file
    if action == sqlite3.SQLITE_PRAGMA:
        allowed = arg1 is not None and _pragma_allowed(arg1, arg2)
        return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if (
        action in (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE)
        and arg1 is not None
        and arg1.lower() in _SCHEMA_TABLES
    ):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


async def install(conn: aiosqlite.Connection) -> None:
    """Install ``runtime_authorizer`` on an open connection (aiosqlite's public API)."""
    await conn.set_authorizer(runtime_authorizer)
