"""The panic buttons: ``/borrar``, remote unlink, and the duress PIN's follow-up.

``/borrar`` asks for confirmation, then deletes what Telegram still allows and shreds the
link (M-13a); ``/desvincular`` asks too and does the same remotely for a coordinator
(M-13c), and the ``safety-tick`` job does it after a duress PIN's decoy is gone (M-13b).
Named apart from the safety *alerts* (``handlers.alerts``): this is one person's own chat.
"""

from __future__ import annotations

import gettext
import html
import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain.errors import NotFound
from bot.domain.models import Lang, Member, Role
from bot.domain.notices import DuressPinUsed, MemberUnlinked, PinLocked
from bot.domain.pin import PinPass, PinRequired, PinRule
from bot.domain.registrations import ChangeRefused
from bot.domain.safety import WipeReport
from handlers.access import (
    ALL_ROLES,
    menu_expired,
    pin_lapsed,
    requires,
)
from handlers.context import BotContext
from handlers.eraser import TelegramEraser
from handlers.notifier import Rendered
from handlers.transport import send

_LOGGER = logging.getLogger(__name__)

WIPE_YES = "wipe:yes"
WIPE_NO = "wipe:no"


# ---------------------------------------------------------------------- wipe and unlink


def wipe_keyboard(t: gettext.NullTranslations) -> InlineKeyboardMarkup:
    """Confirm or cancel the wipe."""
    return InlineKeyboardMarkup(
        [
            [
                # Translators: botón que confirma borrar el chat; ≤ 20 caracteres.
                InlineKeyboardButton(t.pgettext("botón", "Sí, borrar"), callback_data=WIPE_YES),
                # Translators: botón; ≤ 20 caracteres.
                InlineKeyboardButton(t.pgettext("botón", "Cancelar"), callback_data=WIPE_NO),
            ]
        ]
    )


@requires(*ALL_ROLES)
async def wipe_command(update: Update, context: BotContext, member: Member) -> None:
    """``/borrar``: ask before deleting the chat and unlinking the account (M-13a)."""
    chat = update.effective_chat
    if chat is None:
        return
    t = context.catalogs.for_lang(member.lang)
    text = t.gettext(
        "¿Borrar los mensajes de este chat y desvincular tu cuenta? Para volver a usar el "
        "servicio necesitarás una nueva invitación."
    )
    await send.send_text(context, chat.id, text, reply_markup=wipe_keyboard(t))


@requires(*ALL_ROLES)
async def on_wipe_button(update: Update, context: BotContext, member: Member) -> None:
    """``wipe:yes`` wipes and unlinks; ``wipe:no`` removes the question."""
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    if query.data == WIPE_NO:
        await send.answer_callback(context, query.id)
        if query.message is not None:
            await send.delete_now(context, chat.id, query.message.message_id)
        return
    if query.data != WIPE_YES:
        await menu_expired(update, context, member, chat.id)
        return
    report = await context.services.safety.wipe_self(member, TelegramEraser(context))
    # A toast, not a message: nothing is left in the chat (M-13a). When Telegram did not
    # delete everything, an alert the person must acknowledge says so (issue #11.1).
    t = context.catalogs.for_lang(member.lang)
    if report.complete:
        await send.answer_callback(context, query.id, t.gettext("Listo."))
    else:
        await send.answer_callback(context, query.id, wipe_incomplete_text(t, report), alert=True)


def wipe_incomplete_text(t: gettext.NullTranslations, report: WipeReport) -> str:
    """The truth about a wipe Telegram did not finish at once (an alert of ≤ 200 characters,
    Quechua and Spanish together while the Quechua is an unreviewed draft)."""
    if report.retrying:
        # Translators: [seguridad] alerta tras /borrar; con el español al lado debe caber en
        # 200 caracteres. Telegram no dejó borrar todo todavía; el bot lo reintentará.
        return t.gettext(
            "Aún no se pudo borrar todo; el bot lo reintentará. Borra también este chat tú mismo."
        )
    # Translators: [seguridad] alerta tras /borrar; con el español al lado debe caber en 200
    # caracteres. Algunos mensajes tienen más de 48 horas: el bot ya no puede borrarlos.
    return t.gettext("Algunos mensajes ya no se pueden borrar. Borra este chat tú mismo.")


#: ``unlink:yes:<member id>`` (a positive integer of at most 18 digits) or ``unlink:no``.
UNLINK_DATA = re.compile(r"unlink:(?:yes:([1-9][0-9]{0,17})|no)")
UNLINK_NO = "unlink:no"


def unlink_keyboard(t: gettext.NullTranslations, member_id: int) -> InlineKeyboardMarkup:
    """Confirm or cancel a remote unlink; the button carries only the member's id."""
    return InlineKeyboardMarkup(
        [
            [
                # Translators: botón que confirma desvincular a un miembro; ≤ 20 caracteres.
                InlineKeyboardButton(
                    t.pgettext("botón", "Sí, desvincular"),
                    callback_data=f"unlink:yes:{member_id}",
                ),
                # Translators: botón; ≤ 20 caracteres.
                InlineKeyboardButton(t.pgettext("botón", "Cancelar"), callback_data=UNLINK_NO),
            ]
        ]
    )


@requires(Role.COORDINATOR, Role.ADMIN, pin=PinRule.ACTION)
async def unlink_command(
    update: Update, context: BotContext, member: Member, _pin: PinPass
) -> None:
    """``/desvincular <codename>``: ask, then unlink a lost or seized phone (M-13c; PIN).

    Unlinking cannot be undone from the chat (the member needs a new invite), and a typo
    in a codename names someone else: so the bot asks first, naming whom (issue #14.7).
    """
    chat = update.effective_chat
    if chat is None:
        return
    t = context.catalogs.for_lang(member.lang)
    codename = " ".join(context.args or [])
    if not codename:
        await send.send_sensitive(
            context, member, chat.id, t.gettext("Escribe /desvincular y el nombre clave.")
        )
        return
    try:
        target = await context.services.safety.unlink_target(member, codename)
    except PinRequired:  # the session ran out since the gate: ask again
        await pin_lapsed(update, context, member)
        return
    except NotFound:
        await send.send_sensitive(
            context, member, chat.id, t.gettext("No encontramos a ese miembro.")
        )
        return
    await ask_unlink(context, member, chat.id, target)


async def ask_unlink(context: BotContext, actor: Member, chat_id: int, target: Member) -> None:
    """The question before a remote unlink, naming whom; ``unlink:yes:<id>`` then decides
    (``/desvincular`` and the button of ``/miembros``: one question, one unlink)."""
    t = context.catalogs.for_lang(actor.lang)
    # Translators: {codename} es el seudónimo de un miembro. Se pregunta antes de desvincular
    # su teléfono.
    text = t.gettext(
        "¿Desvincular a {codename}? Se borrará lo que se pueda de su chat y necesitará una"
        " nueva invitación para volver."
    ).format(codename=html.escape(target.codename))
    await send.send_sensitive(
        context, actor, chat_id, text, reply_markup=unlink_keyboard(t, target.id)
    )


@requires(Role.COORDINATOR, Role.ADMIN, pin=PinRule.ACTION)
async def on_unlink_button(
    update: Update, context: BotContext, member: Member, _pin: PinPass
) -> None:
    """``unlink:yes:<id>`` unlinks (re-judged now, PIN); ``unlink:no`` removes the question."""
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    match = UNLINK_DATA.fullmatch(query.data) if isinstance(query.data, str) else None
    if match is None:
        await menu_expired(update, context, member, chat.id)
        return
    question = query.message.message_id if query.message is not None else None
    if match[1] is None:  # cancelled
        await send.answer_callback(context, query.id)
        if question is not None:
            await send.delete_now(context, chat.id, question)
        return
    try:
        target, report = await context.services.safety.unlink_confirmed(
            member, int(match[1]), TelegramEraser(context)
        )
    except PinRequired:  # the session ran out since the gate: ask again
        await pin_lapsed(update, context, member)
        return
    except NotFound:
        await menu_expired(update, context, member, chat.id)
        return
    except ChangeRefused:  # the last active administrator (audited, issue #16.3)
        await send.answer_callback(context, query.id)
        t = context.catalogs.for_lang(member.lang)
        # Translators: /miembros rechazó quitar el rol al último administrador activo.
        text = t.gettext("Nada cambió: es el último administrador activo. Nombra antes a otro.")
        await send.send_text(context, chat.id, text)
        return
    await send.answer_callback(context, query.id)
    if question is not None:
        await send.delete_now(context, chat.id, question)
    t = context.catalogs.for_lang(member.lang)
    if report.complete:
        # Translators: {codename} es el seudónimo de un miembro.
        text = t.gettext(
            "Listo: {codename} quedó desvinculado. Para volver necesitará una nueva invitación."
        )
    elif report.retrying:
        # Translators: {codename} es el seudónimo de un miembro. Telegram no dejó borrar
        # todo su chat todavía; el bot lo reintentará hasta 48 horas.
        text = t.gettext(
            "{codename} quedó desvinculado, pero aún no se pudieron borrar todos los mensajes"
            " de su chat: el bot seguirá intentándolo hasta 48 horas. Para volver necesitará"
            " una nueva invitación."
        )
    else:
        # Translators: {codename} es el seudónimo de un miembro. Algunos mensajes de su chat
        # tienen más de 48 horas y Telegram ya no deja borrarlos.
        text = t.gettext(
            "{codename} quedó desvinculado, pero algunos mensajes de su chat ya no se pueden"
            " borrar. Para volver necesitará una nueva invitación."
        )
    await send.send_sensitive(
        context, member, chat.id, text.format(codename=html.escape(target.codename))
    )


# ---------------------------------------------------------------------- jobs


async def safety_tick(context: BotContext) -> None:
    """Unlink members whose duress PIN was used (after the decoy's deletion), tidy up."""
    services = context.services
    done = await services.safety.run_due_unlinks(TelegramEraser(context))
    if done:
        _LOGGER.info("Unlinked %d member(s) after a duress PIN", done)
    await services.safety.housekeeping()


# ---------------------------------------------------------------------- outbox renderers


def render_coercion(t: gettext.NullTranslations, lang: Lang, notice: DuressPinUsed) -> Rendered:
    """To coordinators: the duress PIN was used (M-13b). Codename only, calm wording."""
    del lang
    # Translators: [seguridad] se envía a un coordinador. {codename} es el seudónimo de un
    # miembro que escribió su PIN de emergencia: quizá alguien lo obliga a abrir el bot.
    text = t.gettext(
        "{codename} usó su PIN de emergencia. Puede estar bajo presión: comunícate con "
        "cuidado, por un medio seguro."
    )
    return Rendered(text.format(codename=html.escape(notice.codename)))


def render_unlinked(t: gettext.NullTranslations, lang: Lang, notice: MemberUnlinked) -> Rendered:
    """To coordinators: an account was unlinked (panic, remote, duress); claims are kept."""
    del lang
    # Translators: se envía a un coordinador. {codename} es el seudónimo de un miembro.
    text = t.gettext(
        "{codename} ya no está vinculado al servicio. Sus reclamos se conservan; para "
        "volver necesita una nueva invitación."
    )
    return Rendered(text.format(codename=html.escape(notice.codename)))


def render_pin_locked(t: gettext.NullTranslations, lang: Lang, notice: PinLocked) -> Rendered:
    """To coordinators: a PIN is locked until someone resets it (M-05)."""
    del lang
    # Translators: se envía a un coordinador. {codename} es el seudónimo de un miembro;
    # /pin_reset es un comando: déjalo tal cual.
    text = t.gettext(
        "El PIN de {codename} quedó bloqueado tras muchos intentos fallidos. Si la persona "
        "te lo pide, bórralo con /pin_reset."
    )
    return Rendered(text.format(codename=html.escape(notice.codename)))
