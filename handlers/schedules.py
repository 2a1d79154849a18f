"""Schedules in chat (issue #15): the tick, check-in answers, reminders, coordinators' tools.

The tick is one row of ``handlers.ticks``; everything it acts on is in the database, so a
missed run (downtime, a busy loop) is caught up by the next one. How the rows look is in
``handlers.schedules_render`` (imported here so its renderers are registered).
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Update

from bot.domain.errors import NotAllowed, NotFound
from bot.domain.models import Member, Role
from bot.domain.schedules import CheckinAnswer
from handlers import schedules_render, send
from handlers.access import menu_expired, requires
from handlers.context import BotContext

_LOGGER = logging.getLogger(__name__)

#: Every role may be asked to check in (an informant most often, a coordinator in the field).
_ANSWERING = (Role.INFORMANT, Role.COORDINATOR, Role.ADMIN)


async def schedules_tick(context: BotContext) -> None:
    """The schedules tick: due occurrences to the outbox, closed check-in windows reported."""
    await context.services.schedules.tick()


def _parse(data: str | None) -> tuple[CheckinAnswer, int] | None:
    """``chk:safe|help:<occurrence>`` → (answer, occurrence id), or None if malformed."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != schedules_render.CHECKIN_CALLBACK:
        return None
    try:
        return CheckinAnswer(parts[1]), int(parts[2])
    except ValueError:
        return None


@requires(*_ANSWERING)
async def on_checkin_button(update: Update, context: BotContext, member: Member) -> None:
    """``chk:safe|help:<occurrence>``: the member answers (idempotent, own check-ins only)."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or query.message is None:
        return
    parsed = _parse(query.data)
    t = context.catalogs.for_lang(member.lang)
    if parsed is None:
        await menu_expired(update, context, member, chat.id)
        return
    answer, occurrence_id = parsed
    try:
        changed = await context.services.schedules.answer_checkin(member, occurrence_id, answer)
    except (NotFound, NotAllowed):
        await menu_expired(update, context, member, chat.id)
        return
    if not changed:
        await send.answer_callback(context, query.id)
        return
    if answer is CheckinAnswer.HELP:
        note = t.gettext("Tu coordinador fue avisado.")
        keyboard = None
    else:
        # Translators: [seguridad] respuesta al botón «Estoy bien» de un control de seguridad.
        note = t.gettext("Respondiste: estás bien. Si algo cambia, toca «Necesito ayuda».")
        # After *Estoy bien* only help stays (things change), as with an alert.
        full = schedules_render.checkin_keyboard(t, str(occurrence_id))
        keyboard = InlineKeyboardMarkup([full.inline_keyboard[1]])
    await send.answer_callback(context, query.id, note)
    original = getattr(query.message, "text_html", "") or ""
    send.edit_later(
        context,
        chat.id,
        query.message.message_id,
        f"{original}\n\n<i>{note}</i>",
        reply_markup=keyboard,
    )
