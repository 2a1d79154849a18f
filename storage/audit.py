"""Append-only audit log, hash-chained and keyed (M-16); never any message content.

Every entry stores the hash of the one before it (``prev_hash``) and its own ``hash`` over
that link and its fields. Since issue #16.5 the hash is an HMAC-SHA-256 under a key in
``audit.keys`` (CHASKI_KEY_DIR, never the database; ``key_id`` names which key): someone who
can write the database file, dropping the triggers of migration 0001, can edit or delete a
row, but cannot recompute the chain after it. A plain SHA-256 chain (before the key) can be
recomputed by anyone, which is why:

- entries made before the key existed (``key_id`` NULL) are verified as before, but only
  while they precede the first keyed entry. Adopting the key on an existing database
  (``prepare_audit_keys``) appends a keyed ``audit_keyed`` entry at once, which seals the
  plain prefix: its HMAC covers the last plain hash. A plain entry after a keyed one, or
  plain entries with no keyed one after them once the key exists, are reported broken: that
  is what a recomputed plain chain looks like.
- the key is created only when ``audit.keys`` is missing *and* the database holds no keyed
  entry; with keyed entries and no key file, nothing starts (restore the key folder).

What the chain cannot show by itself is the newest entries cut off (the remaining prefix is
intact): ``chaski audit verify`` prints the head (last id and hash) for an outside record.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.domain.audit import AuditCheck, AuditEntry, BrokenEntry
from bot.domain.models import Role
from storage.codec import parse_ts, ts
from storage.database import Database
from storage.keys import (
    AUDIT_KEYS,
    AuditKeys,
    KeyFileError,
    create_audit_keys,
    load_audit_keys,
)

_LOGGER = logging.getLogger(__name__)

GENESIS = "0" * 64
#: Written by the retention purge (storage.retention), the only path that deletes entries:
#: its target ``upto:<last purged id>:<last purged hash>`` is where the remaining chain starts.
CHECKPOINT_ACTION = "audit_checkpoint"
#: The first keyed entry of a database whose chain began plain (its target: ``after:<id>``).
KEYED_ACTION = "audit_keyed"
#: Written by ``chaski keys rotate-audit`` with the new key (target ``key:<id>``).
ROTATED_ACTION = "audit_key_rotated"

#: Keyed entries tried at start: one made with the key file proves it is this database's
#: (a single edited entry must not stop the bot; ``chaski audit verify`` reports it).
_KEY_PROBE = 50

_COLUMNS = "id, at, actor_id, actor_role, action, target, result, prev_hash, hash, key_id"


def checkpoint_target(last_id: int, last_hash: str) -> str:
    """The target of a checkpoint entry: the id and hash of the last purged entry."""
    return f"upto:{last_id}:{last_hash}"


def checkpoint_hash(target: str | None) -> str | None:
    """The purged entry's hash named by a checkpoint target, or None if malformed."""
    parts = (target or "").split(":")
    if len(parts) != 3 or parts[0] != "upto" or len(parts[2]) != 64:
        return None
    return parts[2]


def _message(prev_hash: str, fields: tuple[str, ...]) -> bytes:
    return "\x1f".join((prev_hash, *fields)).encode()


def entry_hash(prev_hash: str, fields: tuple[str, ...]) -> str:
    """Plain hash of one entry chained to the previous one (entries before the key)."""
    return hashlib.sha256(_message(prev_hash, fields)).hexdigest()


def keyed_hash(
    keys: AuditKeys, key_id: str, prev_hash: str, fields: tuple[str, ...]
) -> str | None:
    """HMAC of one entry under ``key_id`` (which the message names too); None: unknown key."""
    return keys.mac(key_id, _message(prev_hash, (*fields, key_id)))


def _fields(row: sqlite3.Row) -> tuple[str, ...]:
    return (
        str(row["at"]),
        str(row["actor_id"] or ""),
        str(row["actor_role"] or ""),
        str(row["action"]),
        str(row["target"] or ""),
        str(row["result"]),
    )


@dataclass(frozen=True, slots=True)
class SqliteAuditLog:
    """Implements ``bot.domain.ports.AuditLog``; keyed when given the audit keys.

    Without ``keys`` (tests of older behaviour, a database not yet opened by the bot) entries
    are plain and only plain entries verify.
    """

    db: Database
    keys: AuditKeys | None = None

    async def record(
        self,
        *,
        action: str,
        result: str,
        now: datetime,
        actor_id: int | None = None,
        actor_role: Role | None = None,
        target: str | None = None,
    ) -> None:
        """Append one chained entry inside the current (or its own) transaction."""
        async with self.db.transaction() as conn:
            last = await self.db.fetchone("SELECT hash FROM audit ORDER BY id DESC LIMIT 1")
            prev = last["hash"] if last else GENESIS
            at = ts(now)
            role = str(actor_role) if actor_role else ""
            fields = (at, str(actor_id or ""), role, action, target or "", result)
            key_id: str | None = None
            digest = entry_hash(prev, fields)
            if self.keys is not None:
                key_id = self.keys.active_id
                mac = keyed_hash(self.keys, key_id, prev, fields)
                assert mac is not None  # noqa: S101 - the active key is always in the file
                digest = mac
            await conn.execute(
                "INSERT INTO audit (at, actor_id, actor_role, action, target, result,"
                " prev_hash, hash, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (at, actor_id, role or None, action, target, result, prev, digest, key_id),
            )

    async def check(self) -> AuditCheck:
        """Verify the whole chain; every broken entry with its reason, and the head.

        After a retention purge the oldest remaining entry links to a deleted one; the chain
        then starts from the hash named by the latest checkpoint entry (itself chained, so
        forging it means rewriting every later entry), never from an unexplained gap.
        """
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM audit ORDER BY id")  # noqa: S608 - a constant
        prev = GENESIS
        if rows and rows[0]["prev_hash"] != GENESIS:
            checkpoints = [row for row in rows if row["action"] == CHECKPOINT_ACTION]
            if checkpoints:
                prev = checkpoint_hash(checkpoints[-1]["target"]) or GENESIS
        # Plain entries are trusted only before a keyed one (none keyed: none trusted).
        first_keyed = next(
            (index for index, row in enumerate(rows) if row["key_id"] is not None), 0
        )
        broken: list[BrokenEntry] = []
        for index, row in enumerate(rows):
            reason = self._problem(row, prev, plain_allowed=index < first_keyed)
            if reason is not None:
                broken.append(BrokenEntry(int(row["id"]), reason))
            prev = row["hash"]
        return AuditCheck(
            entries=len(rows),
            keyed=self.keys is not None,
            broken=tuple(broken),
            head_id=int(rows[-1]["id"]) if rows else None,
            head_hash=str(rows[-1]["hash"]) if rows else None,
        )

    def _problem(self, row: sqlite3.Row, prev: str, *, plain_allowed: bool) -> str | None:
        get = row.__getitem__
        fields = _fields(row)
        if get("prev_hash") != prev:
            return "does not link to the entry before it (an entry was deleted or changed)"
        key_id = get("key_id")
        if key_id is None:
            if self.keys is not None and not plain_allowed:
                return "unkeyed entry where the chain is keyed (a recomputed plain chain)"
            if get("hash") != entry_hash(prev, fields):
                return "its hash does not match its content (the entry was changed)"
            return None
        if self.keys is None:
            return f"keyed entry, but no {AUDIT_KEYS} was given to check it"
        expected = keyed_hash(self.keys, str(key_id), prev, fields)
        if expected is None:
            return f"made with audit key {key_id}, which is not in {AUDIT_KEYS}"
        if not hmac.compare_digest(expected, str(get("hash"))):
            return "its keyed hash does not match its content (the entry was changed)"
        return None

    async def seal_plain(self, now: datetime, *, result: str) -> bool:
        """Seal a chain with no keyed entry by appending the keyed ``audit_keyed`` entry.

        Only for the two moments a plain chain is legitimate: the key is adopted on a
        database from before it, or an operator restored a backup made before it
        (``result`` ``restore``). Never done on a normal open, which would adopt a chain an
        intruder recomputed in plain. True if an entry was appended.
        """
        if self.keys is None:
            return False
        async with self.db.transaction():
            keyed = await self.db.fetchone("SELECT 1 FROM audit WHERE key_id IS NOT NULL LIMIT 1")
            last = await self.db.fetchone("SELECT id FROM audit ORDER BY id DESC LIMIT 1")
            if keyed is not None or last is None:
                return False
            await self.record(
                action=KEYED_ACTION, result=result, now=now, target=f"after:{last['id']}"
            )
        return True

    async def verify(self) -> list[int]:
        """Return the ids of entries whose chain link is broken (empty = intact)."""
        return [entry.id for entry in (await self.check()).broken]

    async def entries(
        self,
        *,
        since: datetime | None = None,
        actor_id: int | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries oldest first, filtered; ``limit`` keeps the newest ones."""
        sql = (
            "SELECT id, at, actor_id, actor_role, action, target, result, key_id FROM audit"
            " WHERE (? IS NULL OR at >= ?) AND (? IS NULL OR actor_id = ?)"
            " AND (? IS NULL OR action = ?) ORDER BY id DESC LIMIT ?"
        )
        moment = ts(since) if since is not None else None
        rows = await self.db.fetchall(
            sql, (moment, moment, actor_id, actor_id, action, action, limit or -1)
        )
        return [
            AuditEntry(
                id=int(row["id"]),
                at=parse_ts(row["at"]),
                actor_id=row["actor_id"],
                actor_role=row["actor_role"],
                action=row["action"],
                target=row["target"],
                result=row["result"],
                keyed=row["key_id"] is not None,
            )
            for row in reversed(rows)
        ]


async def prepare_audit_keys(db: Database, key_dir: Path, now: datetime) -> AuditKeys:
    """The audit keys for this database: checked, or created when it never had any.

    Created only when ``audit.keys`` is missing and no entry is keyed (a database from
    before #16.5, or a new one); an existing plain chain is then sealed by a keyed
    ``audit_keyed`` entry at once. With the file present, one of the newest keyed entries must
    verify under it (another installation's key file is refused, like the key check of 0009).

    Raises:
        KeyFileError: keyed entries exist but ``audit.keys`` is missing, the file is
            malformed or exposed, or it is not the key this database's audit was made with.
    """
    keys = load_audit_keys(key_dir)
    keyed = await db.fetchone("SELECT 1 FROM audit WHERE key_id IS NOT NULL LIMIT 1")
    path = key_dir / AUDIT_KEYS
    if keys is None:
        if keyed is not None:
            raise KeyFileError(
                f"key file {path} is missing, but the audit log of database {db.path} is"
                " keyed: restore it from the offline copy of the key folder (nothing was"
                " changed)"
            )
        keys = create_audit_keys(key_dir)
        _LOGGER.warning(
            "Created the audit key %s; add it to the offline copy of the key folder", path
        )
        await SqliteAuditLog(db, keys).seal_plain(now, result="ok")
        return keys
    recent = await db.fetchall(
        f"SELECT {_COLUMNS} FROM audit WHERE key_id IS NOT NULL ORDER BY id DESC LIMIT ?",  # noqa: S608 - a constant
        (_KEY_PROBE,),
    )
    if recent and not any(_made_with(keys, row) for row in recent):
        raise KeyFileError(
            f"key file {path} is not the audit key database {db.path} was written with:"
            " check CHASKI_KEY_DIR and CHASKI_DB, or restore the key folder from the offline"
            " copy (nothing was changed)"
        )
    return keys


def _made_with(keys: AuditKeys, row: sqlite3.Row) -> bool:
    expected = keyed_hash(keys, str(row["key_id"]), str(row["prev_hash"]), _fields(row))
    return expected is not None and hmac.compare_digest(expected, str(row["hash"]))
