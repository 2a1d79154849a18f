"""Panic wipe, unlink and inbound hygiene: ports and constants (M-06, M-13, R-09).

``/borrar`` must delete what Telegram still lets the bot delete, and the Bot API has no "list
this chat's messages": so the ids of messages sent to and received from each linked member
are kept (ids alone reveal nothing) until Telegram's 48-hour deletion window closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

#: Telegram lets a bot delete private-chat messages for 48 hours (docs/telegram-limits.md §1).
DELETABLE_FOR = timedelta(hours=48)
#: ``deleteMessages`` accepts 1..100 ids per call.
DELETE_BATCH = 100
#: Processed ``update_id``s are remembered this long; Telegram keeps updates ≤ 24 h (R-09).
UPDATE_MEMORY = timedelta(hours=48)

#: Outbox templates (rendered by ``handlers.safety``); parameters: ``codename`` only.
TEMPLATE_COERCION = "safety_coercion"
TEMPLATE_UNLINKED = "safety_unlinked"
TEMPLATE_PIN_LOCKED = "safety_pin_locked"


class ChatMessageLog(Protocol):
    """Message ids of each linked member's chat (bot's and member's), for the wipe."""

    async def record(self, telegram_id: int, message_id: int, now: datetime) -> None:
        """Remember a message of the chat of the member linked to ``telegram_id``, if any."""

    async def recent(self, member_id: int, since: datetime) -> list[int]:
        """Ids recorded for the member at or after ``since``, ascending."""

    async def forget(self, member_id: int) -> None:
        """Drop every id of the member (after a wipe or unlink)."""

    async def purge(self, before: datetime) -> int:
        """Drop ids recorded before ``before`` (no longer deletable); return how many."""


class InboundLog(Protocol):
    """Processed ``update_id``s, so a redelivered update is applied once (R-09, T-31)."""

    async def first_seen(
        self,
        update_id: int,
        now: datetime,
        *,
        telegram_id: int | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Record the update; False if it was processed before.

        When new and ``message_id`` is given, the incoming message id is recorded for the
        wipe in the same transaction (a single write per update).
        """

    async def purge(self, before: datetime) -> int:
        """Forget updates processed before ``before``; return how many."""


class ChatEraser(Protocol):
    """Telegram calls the wipe needs (implemented in ``handlers.safety``); never raise."""

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> bool:
        """Delete 1..100 messages of a chat; False if Telegram refused the call."""

    async def clear_commands(self, chat_id: int) -> None:
        """Remove the chat's own command menu, so a seized phone shows no role menu."""
