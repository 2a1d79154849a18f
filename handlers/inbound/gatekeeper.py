"""Group -1 of the inbound pipeline: drop what no feature may see (T-08, T-09, #11.10)."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from handlers.context import BotContext
from handlers.transport import send

#: Chats the bot never stays in (groups are out of scope, T-08).
_LEAVE = frozenset({ChatType.GROUP, ChatType.SUPERGROUP, ChatType.CHANNEL})


async def gatekeeper(update: Update, context: BotContext) -> None:
    """Group -1: drop what no feature may see, before any feature looks at it.

    Leaves groups and channels (any message, button or membership change there; audited
    without the chat's id), and drops updates without a sender, forwarded or edited messages
    and sender-chat messages (T-08, T-09): edits are received only for the PIN and location
    deletions of group -2, never for a feature, so an edited command never runs. A private
    chat's id is its user's id on Telegram; an update claiming otherwise is forged, and
    answering it would send the sender's data into someone else's chat, so it is dropped
    too (#11.10). Private block/unblock notices pass on to ``handlers.membership`` (R-06).

    Raises:
        ApplicationHandlerStop: the update is not for the features.
    """
    chat = update.effective_chat
    query = update.callback_query
    if chat is not None and chat.type in _LEAVE:
        if query is not None:
            await send.answer_callback(context, query.id)
        await send.leave_chat(context, chat.id)
        await context.services.membership.left_group()
        raise ApplicationHandlerStop
    if update.my_chat_member is not None:
        return
    user = update.effective_user
    if user is None or chat is None or chat.type != ChatType.PRIVATE or chat.id != user.id:
        if query is not None:
            await send.answer_callback(context, query.id)
        raise ApplicationHandlerStop
    message = update.message
    if query is None and (
        message is None or message.forward_origin is not None or message.sender_chat is not None
    ):
        raise ApplicationHandlerStop
