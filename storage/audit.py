"""Append-only audit log with a SHA-256 hash chain (M-16); never any message content."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from bot.domain.models import Role
from storage.codec import ts
from storage.database import Database

GENESIS = "0" * 64


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
        """Return the ids of entries whose chain link is broken (empty = intact)."""
        broken: list[int] = []
        prev = GENESIS
        for row in await self.db.fetchall(
            "SELECT id, at, actor_id, actor_role, action, target, result, prev_hash, hash"
            " FROM audit ORDER BY id"
        ):
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
