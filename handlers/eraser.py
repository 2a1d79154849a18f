"""The Telegram side of a wipe (``bot.domain.safety.ChatEraser``), shared by the panic
buttons (``handlers.panic``) and the duress PIN (``handlers.pin``).

It deletes with the outbox's own ``handlers.notifier.delete_messages``, so a wipe's first
attempt and the outbox's retries of what it could not delete judge Telegram's answers alike
(issue #11.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.outbox import SendResult
from handlers.context import BotContext
from handlers.notifier import delete_messages
from handlers.transport import send


@dataclass(frozen=True, slots=True)
class TelegramEraser:
    """Implements ``bot.domain.safety.ChatEraser`` for one update's context."""

    context: BotContext

    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        """Delete up to 100 messages in one call; Telegram's answer as an outcome."""
        return await delete_messages(self.context.bot, chat_id, message_ids)

    async def clear_commands(self, chat_id: int) -> None:
        """Remove the chat's command menu."""
        await send.delete_chat_commands(self.context, chat_id)
