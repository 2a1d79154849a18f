"""Processed ``update_id``s (R-09): a redelivered update is applied at most once.

Per update, one transaction in one trip: for a private message of a linked member its message
id for the panic wipe (``chat_messages``), and ``INSERT OR IGNORE`` of the update id.
"""

from __future__ import annotations

import sqlite3
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

        One unit of the group commit, in one trip to the database thread: the message id for
        the panic wipe (for a linked member's private message) and the update id, committed
        together before this returns, so before the handler's effects (R-09); other chats'
        updates arriving at the same moment share that commit. A repeat writes nothing
        (``INSERT OR IGNORE`` on both keys).

        Raises:
            RuntimeError: called inside ``transaction()``, where it could not commit alone.
            Unavailable: the database is locked, read-only or full; nothing was written.
        """
        if self.db.in_transaction:
            raise RuntimeError("first_seen() commits by itself: not inside transaction()")
        stamp = ts(now)
        account = (
            self.keys.index("telegram", str(telegram_id))
            if telegram_id is not None and message_id is not None
            else None
        )

        def record(conn: sqlite3.Connection) -> bool:
            if account is not None:
                conn.execute(RECORD_SQL, (message_id, stamp, account)).close()
            cursor = conn.execute(
                "INSERT OR IGNORE INTO processed_updates (update_id, at) VALUES (?, ?)",
                (update_id, stamp),
            )
            added = cursor.rowcount == 1
            cursor.close()
            return added

        return await self.db.run(record)

    async def purge(self, before: datetime) -> int:
        """Forget updates processed before ``before``."""
        cursor = await self.db.execute("DELETE FROM processed_updates WHERE at < ?", (ts(before),))
        return int(cursor.rowcount)
