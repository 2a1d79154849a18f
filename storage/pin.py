"""PIN records and PIN prompts (M-05): hashes sealed, lock state persisted across restarts.

The scrypt strings are sealed with the field cipher and bound to the member's row (M-07):
with the database alone an attacker cannot even start guessing a 6-digit PIN offline.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from bot.domain.pin import PinPrompt, PinPurpose, PinRecord, parse_then
from storage.codec import Sealer, parse_ts, ts
from storage.database import Database
from storage.keys import KeyMaterial

_LOGGER = logging.getLogger(__name__)


def _opt_ts(value: str | None) -> datetime | None:
    return parse_ts(value) if value else None


@dataclass(frozen=True, slots=True)
class SqlitePinRepository:
    """Implements ``bot.domain.pin.PinRepository``."""

    db: Database
    keys: KeyMaterial

    @property
    def _sealer(self) -> Sealer:
        return Sealer(self.keys.cipher, "member_pins")

    @property
    def _prompt_sealer(self) -> Sealer:
        return Sealer(self.keys.cipher, "pin_prompts")

    def _record(self, row: sqlite3.Row) -> PinRecord:
        member_id = int(row["member_id"])
        return PinRecord(
            member_id=member_id,
            pin_hash=self._sealer.open_opt("pin", member_id, row["pin_enc"]),
            duress_hash=self._sealer.open_opt("duress", member_id, row["duress_enc"]),
            failures=int(row["failures"]),
            locked_until=_opt_ts(row["locked_until"]),
            reset_required=bool(row["reset_required"]),
            session_until=_opt_ts(row["session_until"]),
            session_decoy=bool(row["session_decoy"]),
            unlink_at=_opt_ts(row["unlink_at"]),
        )

    async def _ensure(self, member_id: int, now: datetime) -> None:
        await self.db.execute(
            "INSERT OR IGNORE INTO member_pins (member_id, updated_at) VALUES (?, ?)",
            (member_id, ts(now)),
        )

    async def get(self, member_id: int) -> PinRecord | None:
        """The member's PIN record."""
        row = await self.db.fetchone("SELECT * FROM member_pins WHERE member_id = ?", (member_id,))
        return self._record(row) if row else None

    async def set_pin(self, member_id: int, pin_hash: str, now: datetime) -> None:
        """Store a new PIN hash; failures and locks start afresh."""
        async with self.db.transaction():
            await self._ensure(member_id, now)
            await self.db.execute(
                "UPDATE member_pins SET pin_enc = ?, failures = 0, locked_until = NULL,"
                " reset_required = 0, updated_at = ? WHERE member_id = ?",
                (self._sealer.seal("pin", member_id, pin_hash), ts(now), member_id),
            )

    async def set_duress(self, member_id: int, duress_hash: str | None, now: datetime) -> None:
        """Store or remove the duress PIN hash."""
        async with self.db.transaction():
            await self._ensure(member_id, now)
            await self.db.execute(
                "UPDATE member_pins SET duress_enc = ?, updated_at = ? WHERE member_id = ?",
                (self._sealer.seal_opt("duress", member_id, duress_hash), ts(now), member_id),
            )

    async def add_failure(self, member_id: int, now: datetime) -> int:
        """Count one failure atomically and return the new count."""
        async with self.db.transaction() as conn:
            await self._ensure(member_id, now)
            cursor = await conn.execute(
                "UPDATE member_pins SET failures = failures + 1, session_until = NULL,"
                " session_decoy = 0, updated_at = ? WHERE member_id = ? RETURNING failures",
                (ts(now), member_id),
            )
            row = cursor.first()
        assert row is not None  # noqa: S101 - the row was ensured in this transaction
        return int(row[0])

    async def set_lock(
        self, member_id: int, locked_until: datetime | None, reset_required: bool
    ) -> None:
        """Record the lock derived from the failure count."""
        await self.db.execute(
            "UPDATE member_pins SET locked_until = ?, reset_required = ? WHERE member_id = ?",
            (ts(locked_until) if locked_until else None, int(reset_required), member_id),
        )

    async def open_session(
        self, member_id: int, until: datetime, *, decoy: bool, now: datetime
    ) -> None:
        """A successful check: failures cleared, session (or decoy session) until ``until``."""
        await self.db.execute(
            "UPDATE member_pins SET failures = 0, locked_until = NULL, session_until = ?,"
            " session_decoy = ?, updated_at = ? WHERE member_id = ?",
            (ts(until), int(decoy), ts(now), member_id),
        )

    async def schedule_unlink(self, member_id: int, at: datetime) -> None:
        """Unlink at ``at``; an earlier schedule is kept (the first duress wins)."""
        await self.db.execute(
            "UPDATE member_pins SET unlink_at = COALESCE(unlink_at, ?) WHERE member_id = ?",
            (ts(at), member_id),
        )

    async def due_unlinks(self, now: datetime) -> list[int]:
        """Members whose scheduled unlink is due, oldest first."""
        rows = await self.db.fetchall(
            "SELECT member_id FROM member_pins WHERE unlink_at IS NOT NULL AND unlink_at <= ?"
            " ORDER BY unlink_at",
            (ts(now),),
        )
        return [int(row[0]) for row in rows]

    async def clear(self, member_id: int) -> None:
        """Forget everything PIN-related about the member (reset or unlink)."""
        async with self.db.transaction():
            await self.db.execute("DELETE FROM member_pins WHERE member_id = ?", (member_id,))
            await self.db.execute("DELETE FROM pin_prompts WHERE member_id = ?", (member_id,))

    async def set_prompt(self, prompt: PinPrompt) -> None:
        """Arm or replace the member's prompt."""
        pending = self._prompt_sealer.seal_opt("pending", prompt.member_id, prompt.pending_hash)
        await self.db.execute(
            "INSERT OR REPLACE INTO pin_prompts (member_id, purpose, then_action, pending_enc,"
            " expires_at) VALUES (?, ?, ?, ?, ?)",
            (
                prompt.member_id,
                str(prompt.purpose),
                None if prompt.then is None else str(prompt.then),
                pending,
                ts(prompt.expires_at),
            ),
        )

    async def get_prompt(self, member_id: int) -> PinPrompt | None:
        """The member's prompt, expired or not."""
        row = await self.db.fetchone(
            "SELECT purpose, then_action, pending_enc, expires_at FROM pin_prompts"
            " WHERE member_id = ?",
            (member_id,),
        )
        if row is None:
            return None
        then = parse_then(row["then_action"])
        if then is None and row["then_action"] is not None:
            # Armed by another version of the bot: the PIN still counts, nothing runs after.
            _LOGGER.warning("A PIN prompt named a continuation this version lacks; dropped")
        return PinPrompt(
            member_id=member_id,
            purpose=PinPurpose(row["purpose"]),
            expires_at=parse_ts(row["expires_at"]),
            then=then,
            pending_hash=self._prompt_sealer.open_opt("pending", member_id, row["pending_enc"]),
        )

    async def prompt_armed_for(self, telegram_id: int, now: datetime) -> bool:
        """Whether the account's member has an unexpired prompt (one indexed lookup)."""
        row = await self.db.fetchone(
            "SELECT 1 FROM pin_prompts p JOIN members m ON m.id = p.member_id"
            " WHERE m.telegram_hmac = ? AND p.expires_at > ?",
            (self.keys.index("telegram", str(telegram_id)), ts(now)),
        )
        return row is not None

    async def clear_prompt(self, member_id: int) -> None:
        """Disarm the member's prompt."""
        await self.db.execute("DELETE FROM pin_prompts WHERE member_id = ?", (member_id,))

    async def purge_prompts(self, now: datetime) -> int:
        """Delete expired prompts."""
        cursor = await self.db.execute("DELETE FROM pin_prompts WHERE expires_at <= ?", (ts(now),))
        return int(cursor.rowcount)
