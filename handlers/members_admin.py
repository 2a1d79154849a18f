"""Administrators manage registrations in the chat (issue #16.3): ``/miembros [texto]``.

The chat face of ``bot.services.registrations``, the service ``chaski members`` uses: one
mechanism, two doors. ``/miembros`` lists the members whose codename contains the text (at
most ``MAX_LISTED``) with role, state and regions, filter buttons for what an administrator
looks for in the chat (invite not redeemed, blocked the bot, suspended), and a button per
member to suspend or reactivate, which asks for a confirmation first. Roles, regions and
invites stay with the CLI; unlinking a phone is ``/desvincular``.

The command is declared for administrators with an open PIN session (M-04, M-05); anyone
else gets the same "not available" as for an unknown command (T-13). The buttons are
declared for staff so that a coordinator's press (forged, or an administrator demoted to
coordinator since the list was sent) reaches the service, which refuses it, audits it and
counts it (T-11); nothing changes and the press gets "menu expired" (T-10). An informant's
press is stopped by the gate the same way.

The list carries codenames and roles, so it goes through ``send_sensitive`` and is deleted
after a few minutes (M-10).
"""

from __future__ import annotations

import re
from gettext import NullTranslations
from html import escape

from telegram import InlineKeyboardMarkup, Update

from bot.domain.errors import NotAllowed, ValidationError
from bot.domain.models import Member, MemberState, Role
from bot.domain.pin import PinPass, PinRule
from bot.domain.registrations import MemberFilter
from handlers.access import menu_expired, requires
from handlers.context import BotContext
from handlers.transport import send

_ID = r"([1-9][0-9]{0,17})"
FILTER_DATA = re.compile(r"madm:f:(all|new|blk|sus)")
ASK_DATA = re.compile(rf"madm:ask:(s|r):{_ID}")
DO_DATA = re.compile(rf"madm:do:(s|r):{_ID}")
CANCEL_DATA = "madm:no"
#: The filter buttons under the list, as the service's ``MemberFilter``.
_FILTERS = {
    "all": MemberFilter(),
    "new": MemberFilter(not_redeemed=True),
    "blk": MemberFilter(blocked=True),
    "sus": MemberFilter(state=MemberState.SUSPENDED),
}


def role_label(t: NullTranslations, role: Role) -> str:
    """A role as administrators read it in the member list."""
    labels = {
        # Translators: rol de un miembro en la lista de /miembros.
        Role.INFORMANT: t.pgettext("rol", "Informante"),
        # Translators: rol de un miembro en la lista de /miembros.
        Role.COORDINATOR: t.pgettext("rol", "Coordinador"),
        # Translators: rol de un miembro en la lista de /miembros.
        Role.ADMIN: t.pgettext("rol", "Administrador"),
    }
    return labels[role]


def state_label(t: NullTranslations, member: Member) -> str:
    """A member's state; an active member without an account has not redeemed the invite."""
    if member.state is MemberState.SUSPENDED:
        # Translators: estado de un miembro en la lista de /miembros.
        return t.pgettext("miembro", "Suspendido")
    if member.state is MemberState.UNLINKED:
        # Translators: estado de un miembro cuyo teléfono se desvinculó.
        return t.pgettext("miembro", "Desvinculado")
    if not member.telegram_linked:
        # Translators: estado de un miembro que aún no usó su invitación.
        return t.pgettext("miembro", "Invitación sin usar")
    # Translators: estado de un miembro en la lista de /miembros.
    return t.pgettext("miembro", "Activo")


def _member_line(t: NullTranslations, member: Member) -> str:
    parts = [
        f"<b>{escape(member.codename)}</b>",
        escape(role_label(t, member.role)),
        escape(state_label(t, member)),
        escape(", ".join(member.regions)) if member.regions else "—",
    ]
    if member.blocked:
        # Translators: en la lista de /miembros: la persona bloqueó el bot en Telegram.
        parts.append(t.gettext("bloqueó el bot"))
    return " · ".join(parts)


def _list_keyboard(
    t: NullTranslations, actor: Member, members: list[Member]
) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = []
    for member in members:
        if member.id == actor.id:
            continue
        if member.state is MemberState.ACTIVE:
            # Translators: botón de /miembros; {codename} es un seudónimo. ≤ 30 caracteres.
            label = t.pgettext("botón", "Suspender a {codename}")
            rows.append([(label.format(codename=member.codename), f"madm:ask:s:{member.id}")])
        elif member.state is MemberState.SUSPENDED:
            # Translators: botón de /miembros; {codename} es un seudónimo. ≤ 30 caracteres.
            label = t.pgettext("botón", "Reactivar a {codename}")
            rows.append([(label.format(codename=member.codename), f"madm:ask:r:{member.id}")])
    rows.append(
        [
            # Translators: botón filtro de /miembros: invitación aún no usada; ≤ 20 caracteres.
            (t.pgettext("botón", "Sin canjear"), "madm:f:new"),
            # Translators: botón filtro de /miembros: bloquearon el bot; ≤ 20 caracteres.
            (t.pgettext("botón", "Bloquearon el bot"), "madm:f:blk"),
        ]
    )
    rows.append(
        [
            # Translators: botón filtro de /miembros: miembros suspendidos; ≤ 20 caracteres.
            (t.pgettext("botón", "Suspendidos"), "madm:f:sus"),
            # Translators: botón filtro de /miembros: todos los miembros; ≤ 20 caracteres.
            (t.pgettext("botón", "Todos"), "madm:f:all"),
        ]
    )
    return send.callback_keyboard(rows)


async def _send_list(
    context: BotContext, actor: Member, chat_id: int, wanted: MemberFilter
) -> None:
    """The members ``wanted`` asks for, with their buttons.

    Raises:
        NotAllowed: ``actor`` is not an active administrator now (audited).
    """
    t = context.catalogs.for_lang(actor.lang)
    members = await context.services.registrations.find_by(actor, wanted)
    if members:
        # Translators: título de la lista de /miembros (como mucho 20).
        lines = [t.gettext("Miembros (como mucho 20):")]
        lines += [_member_line(t, member) for member in members]
        text = "\n".join(lines)
    else:
        # Translators: /miembros no encontró a nadie con ese texto o filtro.
        text = t.gettext("Ningún miembro coincide.")
    markup = _list_keyboard(t, actor, members)
    await send.send_sensitive(context, actor, chat_id, text, reply_markup=markup)


@requires(Role.ADMIN, pin=PinRule.ACTION)
async def members_command(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """``/miembros [texto]``: administrators only; the text searches codenames (any case)."""
    del pin
    message, chat = update.effective_message, update.effective_chat
    if chat is None:
        return
    text = message.text if message is not None and message.text else ""
    parts = text.split(maxsplit=1)
    search = parts[1].strip() if len(parts) > 1 else None
    try:
        await _send_list(context, member, chat.id, MemberFilter(search=search or None))
    except NotAllowed:
        await menu_expired(update, context, member, chat.id)


@requires(Role.COORDINATOR, Role.ADMIN, pin=PinRule.ACTION)
async def on_button(update: Update, context: BotContext, member: Member, pin: PinPass) -> None:
    """Every ``madm:`` button; the service re-checks the administrator each time (M-04)."""
    del pin
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    data = query.data if isinstance(query.data, str) else ""
    try:
        if match := FILTER_DATA.fullmatch(data):
            await _send_list(context, member, chat.id, _FILTERS[match[1]])
        elif match := ASK_DATA.fullmatch(data):
            await _ask(context, member, chat.id, suspend=match[1] == "s", member_id=int(match[2]))
        elif match := DO_DATA.fullmatch(data):
            await _do(context, member, chat.id, suspend=match[1] == "s", member_id=int(match[2]))
        elif data == CANCEL_DATA:
            t = context.catalogs.for_lang(member.lang)
            # Translators: el administrador canceló una suspensión o reactivación.
            await send.send_text(context, chat.id, t.gettext("Cancelado; nada cambió."))
        else:
            await menu_expired(update, context, member, chat.id)
            return
    except NotAllowed:
        await menu_expired(update, context, member, chat.id)
        return
    await send.answer_callback(context, query.id)


async def _ask(
    context: BotContext, actor: Member, chat_id: int, *, suspend: bool, member_id: int
) -> None:
    """The confirmation step: nothing changes until *Confirmar*. Checked now as well, so a
    refused actor never sees a codename."""
    registrations = context.services.registrations
    target = await registrations.target_by(actor, member_id)
    t = context.catalogs.for_lang(actor.lang)
    name = escape(target.codename)
    if suspend:
        # Translators: confirmación de /miembros; {codename} es un seudónimo.
        text = t.gettext(
            "¿Suspender a {codename}? No podrá usar el bot hasta que lo reactives."
        ).format(codename=name)
    else:
        # Translators: confirmación de /miembros; {codename} es un seudónimo.
        text = t.gettext("¿Reactivar a {codename}? Podrá usar el bot de nuevo.").format(
            codename=name
        )
    kind = "s" if suspend else "r"
    keyboard = send.callback_keyboard(
        [
            [
                (t.pgettext("botón", "Confirmar"), f"madm:do:{kind}:{member_id}"),
                (t.pgettext("botón", "Cancelar"), CANCEL_DATA),
            ]
        ]
    )
    await send.send_sensitive(context, actor, chat_id, text, reply_markup=keyboard)


async def _do(
    context: BotContext, actor: Member, chat_id: int, *, suspend: bool, member_id: int
) -> None:
    registrations = context.services.registrations
    t = context.catalogs.for_lang(actor.lang)
    try:
        if suspend:
            target = await registrations.suspend_by(actor, member_id)
            # Translators: resultado de /miembros; {codename} es un seudónimo.
            text = t.gettext("{codename} quedó suspendido (registrado en la auditoría).")
        else:
            target = await registrations.reactivate_by(actor, member_id)
            # Translators: resultado de /miembros; {codename} es un seudónimo.
            text = t.gettext("{codename} quedó reactivado (registrado en la auditoría).")
    except ValidationError:
        # Translators: el miembro cambió de estado desde que se mostró el botón.
        text = t.gettext("Nada cambió: ese miembro ya no está en ese estado. Escribe /miembros.")
        await send.send_sensitive(context, actor, chat_id, text)
        return
    await send.send_sensitive(
        context, actor, chat_id, text.format(codename=escape(target.codename))
    )
