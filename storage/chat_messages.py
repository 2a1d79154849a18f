"""Message ids of linked members' chats, for the panic wipe (M-13a); ids only, 48 h at most.

Rows are keyed by member id: a message of an account that is not linked to a member is not
recorded (the ``INSERT … SELECT`` finds no member), so strangers leave nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.codec import parse_ts, ts
from storage.database import Database
from storage.keys import KeyMaterial

#: Records the id for the member linked to the keyed hash, if any (one indexed lookup).
RECORD_SQL = (
    "INSERT OR IGNORE INTO chat_messages (member_id, message_id, at)"
    " SELECT id, ?, ? FROM members WHERE telegram_hmac = ?"
)


@dataclass(frozen=True, slots=True)
class SqliteChatMessageLog:
    """Implements ``bot.domain.safety.ChatMessageLog``."""

    db: Database
    keys: KeyMaterial

    async def record(self, telegram_id: int, message_id: int, now: datetime) -> None:
        """Remember a message of the linked member's chat (no row for strangers).

        A deferred write: inside a transaction it goes with the next trip (the reply path
        writes it with its deletion row), it cannot fail on its own (``INSERT OR IGNORE``).
        """
        await self.db.write(
            RECORD_SQL, (message_id, ts(now), self.keys.index("telegram", str(telegram_id)))
        )

    async def recent(self, member_id: int, since: datetime) -> list[tuple[int, datetime]]:
        """``(id, recorded at)`` at or after ``since``, ascending by id.

        The time bounds Telegram's 48-hour window of each id, so a wipe retries no longer
        than it can succeed (issue #11.1).
        """
        rows = await self.db.fetchall(
            "SELECT message_id, at FROM chat_messages WHERE member_id = ? AND at >= ?"
            " ORDER BY message_id",
            (member_id, ts(since)),
        )
        return [(int(row[0]), parse_ts(row[1])) for row in rows]

    async def forget(self, member_id: int) -> None:
        """Drop every id of the member."""
        await self.db.execute("DELETE FROM chat_messages WHERE member_id = ?", (member_id,))

    async def forget_ids(self, member_id: int, message_ids: Sequence[int]) -> None:
        """Drop these ids of the member (the outbox holds them now, issue #11.2)."""
        await self.db.executemany(
            "DELETE FROM chat_messages WHERE member_id = ? AND message_id = ?",
            [(member_id, message_id) for message_id in message_ids],
        )

    async def purge(self, before: datetime) -> int:
        """Drop ids older than Telegram's deletion window."""
        cursor = await self.db.execute("DELETE FROM chat_messages WHERE at < ?", (ts(before),))
        return int(cursor.rowcount)
