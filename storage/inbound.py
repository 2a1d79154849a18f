"""Processed ``update_id``s (R-09): a redelivered update is applied at most once.

Per update, two statements each committed alone: for a private message of a linked member its
message id for the panic wipe (``chat_messages``), then ``INSERT OR IGNORE`` of the update id.
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
        """Record the update (and the message id); False if it was processed before.

        Two statements, each committed alone (one trip to the database thread each, instead
        of the four of a ``BEGIN IMMEDIATE`` transaction): first the message id for the
        panic wipe, then the update id. In that order, an update found processed always has
        its message id kept, as with one transaction; a crash between the two leaves an id
        recorded for an update that is then processed on redelivery. Recording the id again
        for a repeat changes nothing (``INSERT OR IGNORE`` on its primary key). The update
        id is committed before this returns, so before the handler's effects (R-09).
        """
        stamp = ts(now)
        if telegram_id is not None and message_id is not None:
            await self.db.execute_alone(
                RECORD_SQL, (message_id, stamp, self.keys.index("telegram", str(telegram_id)))
            )
        added = await self.db.execute_alone(
            "INSERT OR IGNORE INTO processed_updates (update_id, at) VALUES (?, ?)",
            (update_id, stamp),
        )
        return added == 1

    async def purge(self, before: datetime) -> int:
        """Forget updates processed before ``before``."""
        cursor = await self.db.execute("DELETE FROM processed_updates WHERE at < ?", (ts(before),))
        return int(cursor.rowcount)
