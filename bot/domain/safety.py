"""Panic wipe, unlink and inbound hygiene: ports and constants (M-06, M-13, R-09).

``/borrar`` must delete what Telegram still lets the bot delete, and the Bot API has no "list
this chat's messages": so the ids of messages sent to and received from each linked member
are kept (ids alone reveal nothing) until Telegram's 48-hour deletion window closes.

A wipe is durable (issue #11.1): what Telegram refuses at the moment of the wipe (429, 5xx,
a timeout) becomes outbox DELETION rows that carry the chat (sealed) and are retried by the
one outbox sender until done or until the 48-hour window closes; the person is told
(``WipeReport``) whether everything went at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.outbox import SendResult

#: Telegram lets a bot delete private-chat messages for 48 hours (docs/telegram-limits.md §1).
DELETABLE_FOR = timedelta(hours=48)
#: ``deleteMessages`` accepts 1..100 ids per call.
DELETE_BATCH = 100
#: Processed ``update_id``s are remembered this long; Telegram keeps updates ≤ 24 h (R-09).
UPDATE_MEMORY = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class WipeReport:
    """What a wipe achieved at once, in message ids (never content), to tell the truth.

    ``deleted``: Telegram accepted the deletion (or the message was gone already).
    ``retrying``: refused for now (429, 5xx, timeout…): handed to the outbox, which retries
    until done or until Telegram's 48-hour window closes. ``lost``: Telegram will not delete
    them any more (past the window); only the person can, by deleting the chat.
    """

    deleted: int = 0
    retrying: int = 0
    lost: int = 0

    @property
    def complete(self) -> bool:
        """Whether every recorded message is gone already."""
        return self.retrying == 0 and self.lost == 0


class ChatMessageLog(Protocol):
    """Message ids of each linked member's chat (bot's and member's), for the wipe."""

    async def record(self, telegram_id: int, message_id: int, now: datetime) -> None:
        """Remember a message of the chat of the member linked to ``telegram_id``, if any."""

    async def recent(self, member_id: int, since: datetime) -> list[tuple[int, datetime]]:
        """``(id, recorded at)`` for the member at or after ``since``, ascending by id."""

    async def forget(self, member_id: int) -> None:
        """Drop every id of the member (after a wipe or unlink)."""

    async def forget_ids(self, member_id: int, message_ids: Sequence[int]) -> None:
        """Drop these ids of the member (handed to the outbox by a duress wipe)."""

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
    """Telegram calls the wipe needs (implemented in ``handlers.panic``); never raise."""

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        """Delete 1..100 messages of a chat; Telegram's answer as the outbox sees it."""

    async def clear_commands(self, chat_id: int) -> None:
        """Remove the chat's own command menu, so a seized phone shows no role menu."""
