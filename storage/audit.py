"""Append-only audit log with a SHA-256 hash chain (M-16); never any message content."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from bot.domain.models import Role
from storage.codec import ts
from storage.database import Database

GENESIS = "0" * 64
#: Written by the retention purge (storage.retention), the only path that deletes entries:
#: its target ``upto:<last purged id>:<last purged hash>`` is where the remaining chain starts.
CHECKPOINT_ACTION = "audit_checkpoint"


def checkpoint_target(last_id: int, last_hash: str) -> str:
    """The target of a checkpoint entry: the id and hash of the last purged entry."""
    return f"upto:{last_id}:{last_hash}"


def checkpoint_hash(target: str | None) -> str | None:
    """The purged entry's hash named by a checkpoint target, or None if malformed."""
    parts = (target or "").split(":")
    if len(parts) != 3 or parts[0] != "upto" or len(parts[2]) != 64:
        return None
    return parts[2]


def entry_hash(prev_hash: str, fields: tuple[str, ...]) -> str:
    """Hash of one entry chained to the previous one."""
    return hashlib.sha256("\x1f".join((prev_hash, *fields)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SqliteAuditLog:
    """Implements ``bot.domain.ports.AuditLog``."""

    db: Database

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
            await conn.execute(
                "INSERT INTO audit (at, actor_id, actor_role, action, target, result,"
                " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    at,
                    actor_id,
                    role or None,
                    action,
                    target,
                    result,
                    prev,
                    entry_hash(prev, fields),
                ),
            )

    async def verify(self) -> list[int]:
        """Return the ids of entries whose chain link is broken (empty = intact).

        After a retention purge the oldest remaining entry links to a deleted one; the chain
        then starts from the hash named by the latest checkpoint entry (itself chained, so
        forging it means rewriting every later entry), never from an unexplained gap.
        """
        broken: list[int] = []
        prev = GENESIS
        rows = await self.db.fetchall(
            "SELECT id, at, actor_id, actor_role, action, target, result, prev_hash, hash"
            " FROM audit ORDER BY id"
        )
        if rows and rows[0]["prev_hash"] != GENESIS:
            checkpoints = [row for row in rows if row["action"] == CHECKPOINT_ACTION]
            if checkpoints:
                prev = checkpoint_hash(checkpoints[-1]["target"]) or GENESIS
        for row in rows:
            fields = (
                row["at"],
                str(row["actor_id"] or ""),
                row["actor_role"] or "",
                row["action"],
                row["target"] or "",
                row["result"],
            )
            if row["prev_hash"] != prev or row["hash"] != entry_hash(prev, fields):
                broken.append(int(row["id"]))
            prev = row["hash"]
        return broken
