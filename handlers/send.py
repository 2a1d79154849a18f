"""The one send path for interactive replies: HTML, ``protect_content`` and auto-deletion.

Every Telegram call a handler makes goes through here, so ``protect_content=True`` (M-11) is
set in one place (on top of ``Defaults``) and sensitive replies get a persisted deletion
(M-10). Proactive messages do not come here: they are outbox rows (R-01).
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.domain.models import Member
from handlers.context import BotContext

_LOGGER = logging.getLogger(__name__)

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


async def send_text(
    context: BotContext, chat_id: int, text: str, *, reply_markup: Markup | None = None
) -> Message:
    """Send one HTML message that cannot be forwarded or saved."""
    return await context.bot.send_message(
        chat_id,
        text,
        parse_mode=ParseMode.HTML,
        protect_content=True,
        reply_markup=reply_markup,
    )


async def send_sensitive(
    context: BotContext,
    member: Member,
    chat_id: int,
    text: str,
    *,
    reply_markup: Markup | None = None,
) -> Message:
    """Send a message with claim data and persist its deletion after ``delete_after``."""
    message = await send_text(context, chat_id, text, reply_markup=reply_markup)
    services = context.services
    await services.deletions.schedule_deletion(
        member.id, [message.message_id], services.clock.now() + services.delete_after
    )
    return message


async def edit_text(
    context: BotContext,
    chat_id: int,
    message_id: int,
    text: str,
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Replace a message's text (HTML); "not modified" is not an error for us."""
    try:
        await context.bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=reply_markup,
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def delete_now(context: BotContext, chat_id: int, message_id: int) -> None:
    """Delete a message at once (invite payloads, PINs); failure is logged, not raised."""
    try:
        await context.bot.delete_message(chat_id, message_id)
    except TelegramError as exc:
        _LOGGER.info("Immediate deletion failed: %s", type(exc).__name__)


async def answer_callback(context: BotContext, query_id: str, text: str | None = None) -> None:
    """Always answer a callback query so the client stops its spinner (T-10)."""
    try:
        await context.bot.answer_callback_query(query_id, text=text)
    except TelegramError as exc:
        _LOGGER.info("answerCallbackQuery failed: %s", type(exc).__name__)
