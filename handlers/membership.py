"""Block and unblock notices (R-06, T-41) and the administrators' alarm notes (T-06, T-11).

In a private chat Telegram sends ``my_chat_member`` only when the person blocks the bot
(new status ``kicked``) or unblocks it (``member``). The gatekeeper lets these through
(group and channel ones make the bot leave first); :func:`on_my_chat_member` hands them to
``services.membership`` and sends nothing: a blocked chat cannot receive, and an unblocked
one gets the menu when the member next writes.

The alarm notes go to administrators only: the brute-force note is neutral, the probing
note names the coordinator's codename (staff-only, like the ``MemberBlocked`` note to
coordinators, also rendered here).
"""

from __future__ import annotations

import gettext
import html

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType

from bot.domain.models import Lang
from bot.domain.notices import IntakeConflict, MemberBlocked, RegistrationsFailing, StaffDenials
from handlers.context import BotContext
from handlers.notifier import Rendered


async def on_my_chat_member(update: Update, context: BotContext) -> None:
    """A private block (``kicked``) or unblock (``member``); other statuses are ignored."""
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.PRIVATE:
        return
    status = change.new_chat_member.status
    membership = context.services.membership
    if status == ChatMemberStatus.BANNED:
        await membership.bot_blocked(change.from_user.id)
    elif status == ChatMemberStatus.MEMBER:
        await membership.bot_unblocked(change.from_user.id)


def render_member_blocked(
    t: gettext.NullTranslations, lang: Lang, notice: MemberBlocked
) -> Rendered:
    """Tell a coordinator that one of their members blocked the bot (R-06, T-41)."""
    del lang
    # Translators: se envía a un coordinador. {codename} es el seudónimo de un miembro.
    text = t.gettext("{codename} bloqueó el bot o desactivó su cuenta.")
    return Rendered(text.format(codename=html.escape(notice.codename)))


def render_invite_alarm(
    t: gettext.NullTranslations, lang: Lang, notice: RegistrationsFailing
) -> Rendered:
    """Tell an administrator that registrations fail in bulk (T-06); no code, no account."""
    del lang, notice
    # Translators: a los administradores cuando en una hora se rechazaron muchos códigos
    # de invitación.
    return Rendered(t.gettext("Muchos intentos fallidos de registro en la última hora."))


def render_denials(t: gettext.NullTranslations, lang: Lang, notice: StaffDenials) -> Rendered:
    """Tell an administrator that a coordinator keeps trying what they may not do (T-11)."""
    del lang
    # Translators: a los administradores. {codename} es el seudónimo de un coordinador que
    # intentó varias veces en una hora actuar fuera de sus regiones.
    text = t.gettext(
        "{codename} intentó varias veces en la última hora acciones fuera de sus regiones."
    )
    return Rendered(text.format(codename=html.escape(notice.codename)))


def render_intake_conflict(
    t: gettext.NullTranslations, lang: Lang, notice: IntakeConflict
) -> Rendered:
    """Tell an administrator that Telegram hands the bot's messages to someone else (A7)."""
    del lang, notice
    # Translators: a los administradores. Telegram dejó de entregar al bot sus mensajes
    # porque otro programa los recibe con el token del bot (su contraseña secreta);
    # «@BotFather» es la cuenta de bots de Telegram y queda tal cual.
    text = t.gettext(
        "Alerta: Telegram ya no entrega al bot los mensajes que recibe, porque otro"
        " programa los recibe con el token del bot. Si no hay otra copia del bot en marcha,"
        " el token pudo filtrarse: revócalo con @BotFather y sigue la parada de emergencia"
        " del manual de operación."
    )
    return Rendered(text)
