"""Last-resort error handler (M-20): a correlation id in the log, one neutral reply.

The log line carries the correlation id, the update id, the exception type and where it was
raised (file and line), never the exception's message or the update: either may hold message
text, codenames or amounts (M-17, T-47). The person gets at most one neutral message.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import traceback
from pathlib import Path

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Conflict, TelegramError

from bot.domain.errors import Unavailable
from bot.domain.models import Lang
from handlers.context import BotContext
from handlers.transport import send

_LOGGER = logging.getLogger(__name__)
#: How many innermost frames to name in the log line.
_FRAMES = 3


def _correlation() -> str:
    """8 hex digits with at least one letter: the log filter redacts an all-digit run."""
    while (value := secrets.token_hex(4)).isdigit():
        pass  # 2 % of draws; the next one almost surely has a letter
    return value


def _where(error: BaseException) -> str:
    """``file.py:line`` of the innermost frames: enough to find the bug, no content."""
    frames = traceback.extract_tb(error.__traceback__)[-_FRAMES:]
    return " < ".join(f"{Path(frame.filename).name}:{frame.lineno}" for frame in reversed(frames))


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure without content and tell the person, neutrally, to try later.

    A 409 Conflict while polling is no bug of ours: Telegram hands the updates to another
    poller or a webhook (A7). The administrators are paged (``IntakeAlarm``) and PTB goes on
    retrying with its back-off, so the bot resumes by itself once the other side is gone.
    """
    error = context.error
    if update is None and isinstance(error, Conflict):
        _LOGGER.warning("Telegram refused getUpdates: 409 Conflict")
        try:
            await context.services.intake.conflict()
        except Unavailable:
            _LOGGER.warning("Could not queue the administrators' note about the conflict")
        return
    correlation = _correlation()
    update_id = update.update_id if isinstance(update, Update) else None
    name = type(error).__name__ if error is not None else "None"
    where = _where(error) if error is not None else "-"
    _LOGGER.error(
        "Unhandled %s (correlation %s, update %s) at %s", name, correlation, update_id, where
    )
    if not isinstance(update, Update):
        return
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    if update.callback_query is not None:
        await send.answer_callback(context, update.callback_query.id)
    lang = Lang.ES
    if not isinstance(error, Unavailable):
        # Strangers get only the M-02 reply, never this one; if the lookup itself fails
        # (storage down), answer in Spanish.
        try:
            member = await context.services.registration.identify(user.id)
        except Exception:
            member = None
            _LOGGER.info("Member lookup failed in the error path (correlation %s)", correlation)
        else:
            if member is None:
                return
            lang = member.lang
    t = context.catalogs.for_lang(lang)
    text = (
        t.gettext("El servicio está ocupado. Inténtalo más tarde.")
        if isinstance(error, Unavailable)
        else t.gettext("Algo salió mal. Inténtalo más tarde.")
    )
    with contextlib.suppress(TelegramError):
        await send.send_text(context, chat.id, text)
