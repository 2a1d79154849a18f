"""Processed ``update_id``s (R-09): a redelivered update is applied at most once.

One transaction per update: ``INSERT OR IGNORE`` of the id and, for a new private message of
a linked member, its message id for the panic wipe (``chat_messages``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.chat_messages import RECORD_SQL
from storage.codec import ts
from storage.database import Database
from storage.keys import KeyMaterial


@dataclass(frozen=True, slots=True)
class SqliteInboundLog:
    """Implements ``bot.domain.safety.InboundLog``."""

    db: Database
    keys: KeyMaterial

    async def first_seen(
        self,
        update_id: int,
        now: datetime,
        *,
        telegram_id: int | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Record the update (and the message id); False if it was processed before."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT OR IGNORE INTO processed_updates (update_id, at) VALUES (?, ?)",
                (update_id, stamp),
            )
            new = cursor.rowcount == 1  # no close(): one thread trip less; nothing to fetch
            if new and telegram_id is not None and message_id is not None:
                await conn.execute(
                    RECORD_SQL,
                    (message_id, stamp, self.keys.index("telegram", str(telegram_id))),
                )
        return new

    async def purge(self, before: datetime) -> int:
        """Forget updates processed before ``before``."""
        cursor = await self.db.execute("DELETE FROM processed_updates WHERE at < ?", (ts(before),))
        return int(cursor.rowcount)
