"""Data-key rotation without downtime, and THE registry of sealed columns (M-07, M-13d).

``SEALED_COLUMNS`` lists every column written through ``Sealer(cipher, table).seal(name, …)``:
rotation re-seals exactly these, retirement counts exactly these, and restore checks that
exactly these open. A table that adds a ``*_enc`` column must add it here in the same
change; ``schema_mismatches`` (run by every rotation and by the tests) refuses to go on
while the schema and the registry disagree, because a column rotation does not know about
would become unreadable the day its old key is retired.

Rotation (``chaski keys rotate``):

1. a new key is added to ``data.keys`` and made active at once, so every process that
   seals from now on uses it (``FieldCipher.seal`` re-reads a changed ``data.keys``);
2. every ciphertext under another key is opened and sealed again under the new key, in
   batches, each batch its own short ``BEGIN IMMEDIATE`` transaction, so a running bot keeps
   reading and writing in between (a process that meets a ciphertext under a key it does not
   know yet re-reads ``data.keys`` and retries once);
3. passes repeat until one finds nothing to re-seal (a value sealed by another process in
   the instant before it noticed the new key is caught by the next pass).

Making the new key active before re-sealing (rather than after) means there is only one
moment at which other processes must notice the change; the order does not matter for
crash safety, since a key is always in the file before any ciphertext uses it. An
interrupted rotation is finished by running it again.

Old keys stay in ``data.keys`` until ``retire`` finds no ciphertext under them (counted by
key-id prefix). Retiring is deliberately separate: backups made before the rotation still
need the old key; once retired (and its offline copy destroyed), those backups' sealed
fields are unreadable, which is the crypto-shred an emergency stop wants.

The HMAC pepper is not rotated here: lookup hashes (``*_hmac``) are one-way, so a new pepper
needs every hash recomputed from the plaintext (open each sealed value, hash it again),
and invite and account-counter hashes have no sealed plaintext at all (they would simply be
lost). If a pepper is ever compromised, do it offline with the bot stopped.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from storage.codec import Sealer
from storage.crypto import KEY_ID_LEN, KEY_LEN, DecryptionError, FieldCipher
from storage.database import Database
from storage.keys import KeyMaterial, load_keys, new_key_id, read_data_keys, write_data_keys

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SealedTable:
    """The sealed columns of one table and the column whose value is the AAD row id."""

    row_id: str
    #: Names as passed to ``Sealer.seal`` (``codename``); the SQL column is ``<name>_enc``.
    columns: tuple[str, ...]


#: Every sealed column of the schema. Add yours here when a migration adds a ``*_enc``
#: column: ``"table": SealedTable(row_id="id", columns=("name",))`` for ``name_enc`` sealed
#: as ``Sealer(cipher, "table").seal("name", row[row_id], value)``.
SEALED_COLUMNS: Final[Mapping[str, SealedTable]] = {
    "members": SealedTable("id", ("codename", "telegram")),
    "operations": SealedTable("id", ("label", "total", "promised_by", "basis")),
    "claims": SealedTable("id", ("reference", "promised", "approved", "paid", "next_step")),
    "claim_events": SealedTable("id", ("note",)),
    "claim_payments": SealedTable("id", ("amount", "method", "reference")),
    "outbox": SealedTable("id", ("params",)),
    "alert_drafts": SealedTable("member_id", ("params", "text_es", "text_qu")),
    "claim_edits": SealedTable("member_id", ("params",)),
    "operation_edits": SealedTable("member_id", ("params",)),
    "claim_amount_requests": SealedTable("id", ("params",)),
    "alerts": SealedTable("id", ("params", "text_es", "text_qu")),
    "member_pins": SealedTable("member_id", ("pin", "duress")),
    "pin_prompts": SealedTable("member_id", ("pending",)),
    "key_check": SealedTable("id", ("value",)),
    "schedules": SealedTable("id", ("params",)),
}

#: Re-sealing passes before giving up on a process that keeps sealing with an old key.
MAX_PASSES = 5
DEFAULT_BATCH = 200


class RotationError(Exception):
    """Rotation or retirement cannot proceed safely; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class RotationReport:
    """Outcome of ``rotate``: the new key, how many cells were re-sealed, keys in use after."""

    new_key_id: str
    resealed: int
    passes: int
    usage: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class SealedCheck:
    """Outcome of ``check_sealed``: cells seen and the (table, column, row id) that failed."""

    cells: int
    failures: tuple[tuple[str, str, int], ...]


async def _tables(db: Database) -> set[str]:
    rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(row["name"]) for row in rows}


async def _columns(db: Database, table: str) -> dict[str, str]:
    """Column name → declared type (``PRAGMA table_info``; the authorizer allows it)."""
    rows = await db.fetchall(f"PRAGMA table_info({table})")
    return {str(row["name"]): str(row["type"]).upper() for row in rows}


async def present_tables(db: Database) -> dict[str, SealedTable]:
    """The registry entries whose table exists in this database (older schemas lack some)."""
    existing = await _tables(db)
    return {name: spec for name, spec in SEALED_COLUMNS.items() if name in existing}


async def schema_mismatches(db: Database) -> list[str]:
    """Differences between the schema's ``*_enc`` columns and ``SEALED_COLUMNS`` (empty = ok)."""
    problems: list[str] = []
    existing = await _tables(db)
    for table in sorted(existing):
        if table.startswith("sqlite_"):
            continue
        columns = await _columns(db, table)
        spec = SEALED_COLUMNS.get(table)
        registered = {f"{name}_enc" for name in spec.columns} if spec else set()
        in_schema = {name for name in columns if name.endswith("_enc")}
        problems += [f"{table}.{c} is sealed but not registered" for c in in_schema - registered]
        problems += [f"{table}.{c} is registered but missing" for c in registered - in_schema]
        if spec and spec.row_id not in columns:
            problems.append(f"{table}.{spec.row_id} (row id) is missing")
    return sorted(problems)


async def _require_registry(db: Database) -> None:
    problems = await schema_mismatches(db)
    if problems:
        raise RotationError(
            "the sealed-column registry (storage/rotation.py SEALED_COLUMNS) does not match "
            "the schema: " + "; ".join(problems)
        )


async def key_usage(db: Database, cipher: FieldCipher) -> dict[str, int]:
    """How many ciphertexts each key id seals, over every registered column."""
    usage: dict[str, int] = {}
    for table, spec in (await present_tables(db)).items():
        for name in spec.columns:
            column = f"{name}_enc"
            rows = await db.fetchall(
                f"SELECT substr({column}, 1, {KEY_ID_LEN}) AS prefix, count(*) AS n"  # noqa: S608 - names from the registry
                f" FROM {table} WHERE {column} IS NOT NULL GROUP BY prefix"
            )
            for row in rows:
                key_id = cipher.key_id_of(bytes(row["prefix"]))
                usage[key_id] = usage.get(key_id, 0) + int(row["n"])
    return usage


async def _reseal_table(
    db: Database, keys: KeyMaterial, table: str, spec: SealedTable, batch_size: int
) -> int:
    """Re-seal one table's stale cells in batches; returns how many cells changed."""
    sealer = Sealer(keys.cipher, table)
    active = keys.cipher.active_key_id.encode("ascii")
    columns = [f"{name}_enc" for name in spec.columns]
    stale = " OR ".join(
        f"({c} IS NOT NULL AND substr({c}, 1, {KEY_ID_LEN}) != ?)" for c in columns
    )
    select = (
        f"SELECT {spec.row_id} AS row_id, {', '.join(columns)} FROM {table}"  # noqa: S608 - names from the registry
        f" WHERE {spec.row_id} > ? AND ({stale}) ORDER BY {spec.row_id} LIMIT ?"
    )
    changed = 0
    last = -(2**63)
    while True:
        async with db.transaction() as conn:  # one short transaction per batch
            rows = await db.fetchall(select, (last, *([active] * len(columns)), batch_size))
            for row in rows:
                row_id = int(row["row_id"])
                updates: dict[str, bytes] = {}
                for name, column in zip(spec.columns, columns, strict=True):
                    blob = row[column]
                    if blob is None or bytes(blob[:KEY_ID_LEN]) == active:
                        continue
                    plain = sealer.open(name, row_id, bytes(blob))
                    updates[column] = sealer.seal(name, row_id, plain)
                sets = ", ".join(f"{column} = ?" for column in updates)
                await conn.execute(
                    f"UPDATE {table} SET {sets} WHERE {spec.row_id} = ?",  # noqa: S608 - names from the registry
                    (*updates.values(), row_id),
                )
                changed += len(updates)
        if len(rows) < batch_size:
            return changed
        last = int(rows[-1]["row_id"])


async def reseal_all(db: Database, keys: KeyMaterial, *, batch_size: int = DEFAULT_BATCH) -> int:
    """One pass: re-seal every cell not under the active key; returns the count.

    Raises:
        DecryptionError: a cell opens with none of the known keys (fail closed: it is left
            as it was and the rotation stops, so nothing is sealed over a bad value).
    """
    total = 0
    for table, spec in (await present_tables(db)).items():
        count = await _reseal_table(db, keys, table, spec, batch_size)
        if count:
            _LOGGER.info("Re-sealed %d cell(s) of %s", count, table)
        total += count
    return total


async def rotate(
    db: Database, key_dir: Path, *, batch_size: int = DEFAULT_BATCH
) -> RotationReport:
    """Add and activate a new data key, then re-seal everything under it.

    Raises:
        RotationError: the registry does not match the schema, or other processes kept
            sealing with an old key for ``MAX_PASSES`` passes.
        KeyFileError: ``data.keys`` is missing, malformed or not owner-only.
    """
    await _require_registry(db)
    keys, _ = read_data_keys(key_dir)
    key_id = new_key_id()
    while key_id in keys:  # 32 random bits: a clash is unlikely but must not overwrite
        key_id = new_key_id()
    keys[key_id] = secrets.token_bytes(KEY_LEN)
    write_data_keys(key_dir, keys, key_id)
    _LOGGER.warning("New data key %s is active; re-sealing every sealed column", key_id)
    material = load_keys(key_dir)
    resealed = 0
    for passes in range(1, MAX_PASSES + 1):  # noqa: B007 - reported below
        count = await reseal_all(db, material, batch_size=batch_size)
        resealed += count
        if count == 0:
            break
    else:
        raise RotationError(
            f"values under old keys kept appearing for {MAX_PASSES} passes; a process is "
            "not picking up the new key: restart it, then run `chaski keys rotate` again"
        )
    usage = await key_usage(db, material.cipher)
    return RotationReport(new_key_id=key_id, resealed=resealed, passes=passes, usage=usage)


async def retire(db: Database, key_dir: Path) -> list[str]:
    """Remove every non-active key from ``data.keys``; refuse while any ciphertext uses one.

    Counting and rewriting the key file happen while holding the database's write lock,
    so no other process can commit a value under an old key in between.

    Returns:
        The retired key ids (empty if there were none).

    Raises:
        RotationError: ciphertexts under an old (or unknown) key remain; run
            ``chaski keys rotate`` (or let it finish) first.
    """
    await _require_registry(db)
    async with db.transaction():
        keys, active = read_data_keys(key_dir)
        usage = await key_usage(db, FieldCipher(keys, active))
        blocking = {key_id: n for key_id, n in usage.items() if key_id != active}
        if blocking:
            detail = ", ".join(f"{key_id}: {n}" for key_id, n in sorted(blocking.items()))
            raise RotationError(
                f"old keys still seal data ({detail}); run `chaski keys rotate` to re-seal "
                "under the active key before retiring"
            )
        retired = sorted(key_id for key_id in keys if key_id != active)
        if retired:
            write_data_keys(key_dir, {active: keys[active]}, active)
    if retired:
        _LOGGER.warning("Retired %d old data key(s)", len(retired))
    return retired


async def check_sealed(db: Database, keys: KeyMaterial) -> SealedCheck:
    """Open every registered sealed cell (restore drill, T-39); never returns plaintext."""
    cells = 0
    failures: list[tuple[str, str, int]] = []
    for table, spec in (await present_tables(db)).items():
        columns = [f"{name}_enc" for name in spec.columns]
        rows = await db.fetchall(
            f"SELECT {spec.row_id} AS row_id, {', '.join(columns)} FROM {table}"  # noqa: S608 - names from the registry
        )
        for row in rows:
            for name, column in zip(spec.columns, columns, strict=True):
                if row[column] is None:
                    continue
                cells += 1
                try:
                    keys.cipher.open(
                        bytes(row[column]), table=table, column=name, row_id=int(row["row_id"])
                    )
                except (DecryptionError, UnicodeDecodeError):
                    failures.append((table, name, int(row["row_id"])))
    return SealedCheck(cells=cells, failures=tuple(failures))
