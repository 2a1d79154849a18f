"""Who may reach which handler: the gatekeeper (group -1) and the ``requires`` role gate.

Every update is judged afresh: the member is looked up from the database on each update (no
cache, M-04, T-12), so a suspended, unlinked or demoted member loses access at once. Strangers
all get one identical Spanish reply at most once a day, whatever they sent (M-02).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, filters

from bot.domain.models import Lang, Member, Role
from handlers.context import BotContext
from handlers.transport import send

#: Commands and texts are taken only from new, non-forwarded messages in private chats
#: (T-08, T-09: PTB's CommandHandler also matches edited messages by default).
PRIVATE = filters.ChatType.PRIVATE & ~filters.FORWARDED & ~filters.UpdateType.EDITED

ALL_ROLES: tuple[Role, ...] = tuple(Role)

#: Chats the bot never stays in (groups are out of scope, T-08).
_LEAVE = frozenset({ChatType.GROUP, ChatType.SUPERGROUP, ChatType.CHANNEL})

PtbCallback = Callable[[Update, BotContext], Coroutine[Any, Any, None]]
MemberCallback = Callable[[Update, BotContext, Member], Coroutine[Any, Any, None]]


async def gatekeeper(update: Update, context: BotContext) -> None:
    """Group -1: drop what no feature may see, before any feature looks at it.

    Leaves groups and channels (any message, button or membership change there; audited
    without the chat's id), and drops updates without a sender, forwarded or edited messages
    and sender-chat messages (T-08, T-09). A private chat's id is its user's id on Telegram;
    an update claiming otherwise is forged, and answering it would send the sender's data
    into someone else's chat, so it is dropped too (#11.10). Private block/unblock notices
    pass on to ``handlers.membership`` (R-06).

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


async def answer_stranger(update: Update, context: BotContext) -> None:
    """The one neutral reply (M-02): the same Spanish text for every reason, once a day.

    Button presses are always answered so the client stops its spinner (T-10), but beyond the
    daily reply nothing else is sent: a flood of updates gets nothing back (M-06).
    """
    user, chat = update.effective_user, update.effective_chat
    if update.callback_query is not None:
        await send.answer_callback(context, update.callback_query.id)
    if user is None or chat is None:
        return
    if await context.services.registration.may_answer_stranger(user.id):
        t = context.catalogs.for_lang(Lang.ES)
        await send.send_text(context, chat.id, t.gettext("Este servicio no está disponible."))


async def not_available(context: BotContext, member: Member, chat_id: int) -> None:
    """ "Not available" for commands outside the member's role or unknown (T-13).

    The same text whether the command exists for other roles or not at all, so nobody learns
    that administrator commands exist.
    """
    t = context.catalogs.for_lang(member.lang)
    await send.send_text(
        context, chat_id, t.gettext("Este comando no está disponible. Escribe /menu.")
    )


async def menu_expired(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """Neutral answer to a stale, forged or foreign button (T-10); nothing is changed."""
    if update.callback_query is not None:
        await send.answer_callback(context, update.callback_query.id)
    t = context.catalogs.for_lang(member.lang)
    await send.send_text(
        context, chat_id, t.gettext("Este menú ya no está disponible. Escribe /menu.")
    )


def requires(*roles: Role) -> Callable[[MemberCallback], PtbCallback]:
    """Wrap a handler that needs an active member holding one of ``roles``.

    The member is resolved once per update through ``registration.identify`` and passed to
    the handler, which must not look it up again; whatever they sent shows they have not
    blocked the bot (``registration.seen``). Strangers get ``answer_stranger``; members
    of another role get "not available" for messages and "menu expired" for buttons.
    """
    allowed = frozenset(roles)

    def decorate(callback: MemberCallback) -> PtbCallback:
        @functools.wraps(callback)
        async def wrapper(update: Update, context: BotContext) -> None:
            user, chat = update.effective_user, update.effective_chat
            if user is None or chat is None:
                return
            registration = context.services.registration
            member = await registration.identify(user.id)
            if member is not None:
                member = await registration.seen(member)  # clears a stale "blocked" flag
            if member is None:
                await answer_stranger(update, context)
            elif member.role not in allowed:
                if update.callback_query is not None:
                    await menu_expired(update, context, member, chat.id)
                else:
                    await not_available(context, member, chat.id)
            else:
                await callback(update, context, member)

        return wrapper

    return decorate
