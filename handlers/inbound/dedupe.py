"""Group -3 of the inbound pipeline: each update applied once (R-09, T-31)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from handlers.context import BotContext

_LOGGER = logging.getLogger(__name__)


async def dedupe(update: Update, context: BotContext) -> None:
    """Group -3: apply each ``update_id`` once, and remember the member's message id.

    Raises:
        ApplicationHandlerStop: the update was processed before (redelivery).
    """
    message, chat = update.message, update.effective_chat
    private = chat is not None and chat.type == ChatType.PRIVATE
    new = await context.services.safety.accept_update(
        update.update_id,
        telegram_id=chat.id if private and chat is not None else None,
        message_id=message.message_id if private and message is not None else None,
    )
    if not new:
        _LOGGER.info("Dropped a repeated update %d", update.update_id)
        raise ApplicationHandlerStop
