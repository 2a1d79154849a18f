"""Group -4 of the inbound pipeline: floods and oversized input dropped before anything else.

Limits live in memory (``SafetyService.limiter``), so a flood costs no database write; only a
member's first dropped update of a flood costs one lookup, to tell them once (M-06, M-09,
T-23, T-46).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.services.safety import Verdict, command_args_too_long, text_too_long
from handlers.access import answer_stranger, not_available
from handlers.context import BotContext
from handlers.transport import send

_LOGGER = logging.getLogger(__name__)


async def guard(update: Update, context: BotContext) -> None:
    """Group -4: drop floods and oversized input before anything else runs.

    Edited messages count and are capped like new ones; an edited command is never
    answered here (the gatekeeper drops it, T-09).

    Raises:
        ApplicationHandlerStop: over a limit (a member is told once per flood, anyone else
            nothing), or an oversized command (one neutral answer, M-02 for strangers).
    """
    user = update.effective_user
    safety = context.services.safety
    verdict, first_drop = safety.limiter.judge(user.id if user else None)
    if verdict is not Verdict.ALLOW:
        if first_drop and user is not None:
            await _too_fast(update, context, user.id, verdict)
        raise ApplicationHandlerStop
    # An edit counts like a new message above and meets the same size caps: an edit storm
    # costs no more than a message storm (T-09: edits come only to delete a PIN).
    message, chat = update.message or update.edited_message, update.effective_chat
    if message is None or chat is None or chat.type != ChatType.PRIVATE:
        return  # groups and channels: the gatekeeper leaves them
    if text_too_long(message.text) or text_too_long(message.caption):
        _LOGGER.info("Dropped an oversized message (update %d)", update.update_id)
        raise ApplicationHandlerStop
    if update.message is None:
        return  # an edited command never runs (the gatekeeper drops it): nothing to answer
    if command_args_too_long(message.text) and user is not None:
        member = await context.services.registration.identify(user.id)
        if member is None:
            await answer_stranger(update, context)
        else:
            await not_available(context, member, chat.id)
        raise ApplicationHandlerStop


async def _too_fast(update: Update, context: BotContext, user_id: int, verdict: Verdict) -> None:
    """Tell a member, once per flood, that what they send is being dropped (issue #14.8).

    A coordinator composing an alert and typing PINs can reach the per-minute limit; being
    dropped without a word looks like a broken bot. Strangers get nothing (M-02), and the
    global limit says nothing to anyone (the machine is busy, not the person).
    """
    chat = update.effective_chat
    if verdict is Verdict.GLOBAL or chat is None or chat.type != ChatType.PRIVATE:
        return
    member = await context.services.registration.identify(user_id)
    if member is None:
        return
    t = context.catalogs.for_lang(member.lang)
    if verdict is Verdict.DAY:
        text = t.gettext(
            "Llegaste al límite de mensajes de hoy. El bot no leerá lo que envíes hasta mañana."
        )
    else:
        text = t.gettext(
            "Vas muy rápido: el bot no leerá lo que envíes durante un minuto. Espera y"
            " vuelve a intentarlo."
        )
    await send.send_text(context, chat.id, text)
