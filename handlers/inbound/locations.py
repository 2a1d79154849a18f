"""Group -2 of the inbound pipeline: a shared location is deleted at once (M-09)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from handlers.context import BotContext
from handlers.transport import send


async def on_location(update: Update, context: BotContext) -> None:
    """Group -2: delete a shared location at once; warn a member (strangers: M-02 reply).

    An edited location (a live location moving on, which Telegram sends as edits) is
    deleted too, without a word: the member was warned when it was shared, and a warning
    per move would be a storm of replies (T-09; the gatekeeper then drops the edit).

    Raises:
        ApplicationHandlerStop: a member was warned; nothing else answers.
    """
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None:
        return
    await send.delete_now(context, chat.id, message.message_id)
    if update.message is None:
        return
    member = await context.services.registration.identify(user.id)
    if member is None:
        return
    t = context.catalogs.for_lang(member.lang)
    await send.send_text(context, chat.id, t.gettext("No compartas tu ubicación aquí."))
    raise ApplicationHandlerStop
