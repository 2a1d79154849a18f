"""Administrators manage registrations in the chat (issue #16.3): ``/miembros [texto]``.

The chat face of ``bot.services.registrations``, the service ``chaski members`` uses: one
mechanism, two doors. ``/miembros`` lists the members whose codename contains the text (at
most ``MAX_LISTED``) with role, state and regions, filter buttons for what an administrator
looks for in the chat (invite not redeemed, blocked the bot, suspended, not opened the bot
for 7, 30 or 90 days), and per member a button to suspend or reactivate and one that opens
the member: change the role, move, add or remove a region, unlink a lost or seized phone
(the question and the unlink of ``/desvincular``). The unused invites are listed without
their codes, each with a button to revoke it. Every change asks for a confirmation first
and is judged again at the press.

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
from collections.abc import Awaitable, Callable
from gettext import NullTranslations
from html import escape

from telegram import InlineKeyboardMarkup, Update

from bot.domain.errors import NotAllowed, ValidationError
from bot.domain.models import Member, MemberState, Region, Role
from bot.domain.pin import PinPass, PinRule
from bot.domain.registrations import (
    REGION_EDIT_LIFETIME,
    ChangeRefused,
    EditWait,
    MemberFilter,
    Refusal,
    RegionChange,
    RegionInUse,
    digits_only,
    region_fingerprint,
)
from bot.i18n import format_date, format_datetime, format_money
from handlers import operations_admin
from handlers.access import menu_expired, requires
from handlers.context import BotContext
from handlers.panic import ask_unlink
from handlers.transport import send

_ID = r"([1-9][0-9]{0,17})"
FILTER_DATA = re.compile(r"madm:f:(all|new|blk|sus)")
ASK_DATA = re.compile(rf"madm:ask:(s|r):{_ID}")
DO_DATA = re.compile(rf"madm:do:(s|r):{_ID}")
CANCEL_DATA = "madm:no"
#: ``madm:m:<id>`` opens a member: role, regions, unlink.
MEMBER_DATA = re.compile(rf"madm:m:{_ID}")
#: ``madm:rol:<id>`` offers the other roles; ``madm:(ask|do):ro:<id>:<i|c|a>`` confirms, does.
ROLES_DATA = re.compile(rf"madm:rol:{_ID}")
ROLE_DATA = re.compile(rf"madm:(ask|do):ro:{_ID}:([ica])")
#: ``madm:reg:<id>`` offers the regions; ``madm:(ask|do):r<m|a|q>:<id>:<region id>`` moves
#: an informant to, adds or removes (quitar) one region.
REGIONS_DATA = re.compile(rf"madm:reg:{_ID}")
REGION_DATA = re.compile(rf"madm:(ask|do):r([maq]):{_ID}:{_ID}")
#: ``madm:ask:u:<id>``: the unlink question of ``/desvincular`` (``unlink:yes:<id>`` decides).
UNLINK_DATA = re.compile(rf"madm:ask:u:{_ID}")
#: ``madm:inv`` lists unused invites; ``madm:(ask|do):iv:<id>`` revokes the member's.
INVITES_DATA = "madm:inv"
REVOKE_DATA = re.compile(rf"madm:(ask|do):iv:{_ID}")
#: ``madm:idle:<days>``: active members who have not opened the bot for that many days.
IDLE_DATA = re.compile(r"madm:idle:(7|30|90)")
#: ``madm:regs``: every region with how many members belong to it.
REGION_LIST_DATA = "madm:regs"
#: ``madm:rg:add`` / ``madm:rg:ren:<region id>``: ask for the name of a new region or the new
#: name of one; the name is typed as plain text (``typed_text``); ``madm:rg:ok`` confirms.
REGION_EDIT_DATA = re.compile(rf"madm:rg:(?:add|ren:{_ID})")
REGION_CONFIRM_DATA = "madm:rg:ok"
#: ``madm:rg:ask:q:<region id>`` asks about removing an unused region;
#: ``madm:rg:do:q:<region id>:<fingerprint>`` removes it if it still has the name asked about.
REGION_REMOVE_ASK_DATA = re.compile(rf"madm:rg:ask:q:{_ID}")
REGION_REMOVE_DO_DATA = re.compile(rf"madm:rg:do:q:{_ID}:([0-9a-f]{{8}})")
#: ``madm:ops``: the operations, as ``chaski operations list`` shows them (read only).
OPERATIONS_DATA = "madm:ops"
_ROLES = {"i": Role.INFORMANT, "c": Role.COORDINATOR, "a": Role.ADMIN}
_CHANGES = {"m": RegionChange.MOVE, "a": RegionChange.ADD, "q": RegionChange.REMOVE}
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
        row: list[tuple[str, str]] = []
        if member.state is MemberState.ACTIVE:
            # Translators: botón de /miembros; {codename} es un seudónimo. ≤ 30 caracteres.
            label = t.pgettext("botón", "Suspender a {codename}")
            row.append((label.format(codename=member.codename), f"madm:ask:s:{member.id}"))
        elif member.state is MemberState.SUSPENDED:
            # Translators: botón de /miembros; {codename} es un seudónimo. ≤ 30 caracteres.
            label = t.pgettext("botón", "Reactivar a {codename}")
            row.append((label.format(codename=member.codename), f"madm:ask:r:{member.id}"))
        # Translators: botón de /miembros que abre rol, regiones y desvincular de un miembro;
        # {codename} es un seudónimo. ≤ 30 caracteres.
        label = t.pgettext("botón", "Más: {codename}")
        row.append((label.format(codename=member.codename), f"madm:m:{member.id}"))
        rows.append(row)
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
    rows.append(
        [
            # Translators: botón filtro de /miembros: no abren el bot hace {days} días o más;
            # ≤ 20 caracteres.
            (t.pgettext("botón", "Sin abrir {days} días").format(days=days), f"madm:idle:{days}")
            for days in (7, 30, 90)
        ]
    )
    # Translators: botón de /miembros: lista las invitaciones aún no usadas; ≤ 30 caracteres.
    invites = t.pgettext("botón", "Invitaciones sin usar")
    # Translators: botón de /miembros: las regiones y sus miembros; ≤ 20 caracteres.
    regions = t.pgettext("botón", "Regiones")
    rows.append([(invites, INVITES_DATA), (regions, REGION_LIST_DATA)])
    # Translators: botón de /miembros: lista las operaciones (solo lectura); ≤ 20 caracteres.
    rows.append([(t.pgettext("botón", "Operaciones"), OPERATIONS_DATA)])
    return send.callback_keyboard(rows)


async def _send_list(
    context: BotContext,
    actor: Member,
    chat_id: int,
    wanted: MemberFilter,
    title: str | None = None,
) -> None:
    """The members ``wanted`` asks for, with their buttons, under ``title`` if given.

    Raises:
        NotAllowed: ``actor`` is not an active administrator now (audited).
    """
    t = context.catalogs.for_lang(actor.lang)
    members = await context.services.registrations.find_by(actor, wanted)
    if members:
        # Translators: título de la lista de /miembros (como mucho 20).
        lines = [title or t.gettext("Miembros (como mucho 20):")]
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
        if not await _dispatch(context, member, chat.id, data):
            await menu_expired(update, context, member, chat.id)
            return
    except NotAllowed:
        await menu_expired(update, context, member, chat.id)
        return
    await send.answer_callback(context, query.id)


async def _dispatch(context: BotContext, actor: Member, chat_id: int, data: str) -> bool:
    """Run the button ``data`` names; False for one this module does not know.

    Raises:
        NotAllowed: the service refused ``actor`` (audited).
    """
    if data == INVITES_DATA:
        await _send_invites(context, actor, chat_id)
        return True
    if data == REGION_LIST_DATA:
        await _send_regions(context, actor, chat_id)
        return True
    if data == OPERATIONS_DATA:
        await _send_operations(context, actor, chat_id)
        return True
    if data == REGION_CONFIRM_DATA:
        await _do_region_edit(context, actor, chat_id)
        return True
    if data == CANCEL_DATA:
        # A region name asked for is not waited for any more either.
        await context.services.registrations.drop_region_edit(actor.id)
        t = context.catalogs.for_lang(actor.lang)
        # Translators: el administrador canceló una suspensión o reactivación.
        await send.send_text(context, chat_id, t.gettext("Cancelado; nada cambió."))
        return True
    for pattern, route in _ROUTES:
        if match := pattern.fullmatch(data):
            await route(context, actor, chat_id, match)
            return True
    return False


async def _role_route(
    context: BotContext, actor: Member, chat_id: int, match: re.Match[str]
) -> None:
    role, member_id = _ROLES[match[3]], int(match[2])
    if match[1] == "ask":
        await _ask_role(context, actor, chat_id, member_id, role)
    else:
        await _do_role(context, actor, chat_id, member_id, role)


async def _region_route(
    context: BotContext, actor: Member, chat_id: int, match: re.Match[str]
) -> None:
    step = _ask_region if match[1] == "ask" else _do_region
    await step(
        context,
        actor,
        chat_id,
        member_id=int(match[3]),
        region_id=int(match[4]),
        change=_CHANGES[match[2]],
    )


async def _unlink_route(
    context: BotContext, actor: Member, chat_id: int, match: re.Match[str]
) -> None:
    target = await context.services.registrations.target_by(actor, int(match[1]))
    await ask_unlink(context, actor, chat_id, target)


async def _revoke_route(
    context: BotContext, actor: Member, chat_id: int, match: re.Match[str]
) -> None:
    step = _ask_revoke if match[1] == "ask" else _do_revoke
    await step(context, actor, chat_id, int(match[2]))


_Route = Callable[[BotContext, Member, int, re.Match[str]], Awaitable[None]]
#: Each button pattern and what it runs (``madm:inv`` and ``madm:no`` are plain strings).
_ROUTES: tuple[tuple[re.Pattern[str], _Route], ...] = (
    (FILTER_DATA, lambda c, a, i, m: _send_list(c, a, i, _FILTERS[m[1]])),
    (IDLE_DATA, lambda c, a, i, m: _send_idle(c, a, i, int(m[1]))),
    (ASK_DATA, lambda c, a, i, m: _ask(c, a, i, suspend=m[1] == "s", member_id=int(m[2]))),
    (DO_DATA, lambda c, a, i, m: _do(c, a, i, suspend=m[1] == "s", member_id=int(m[2]))),
    (MEMBER_DATA, lambda c, a, i, m: _open_member(c, a, i, int(m[1]))),
    (ROLES_DATA, lambda c, a, i, m: _offer_roles(c, a, i, int(m[1]))),
    (ROLE_DATA, _role_route),
    (REGIONS_DATA, lambda c, a, i, m: _offer_regions(c, a, i, int(m[1]))),
    (REGION_DATA, _region_route),
    (UNLINK_DATA, _unlink_route),
    (REVOKE_DATA, _revoke_route),
    (
        REGION_EDIT_DATA,
        lambda c, a, i, m: _start_region_edit(c, a, i, int(m[1]) if m[1] else None),
    ),
    (REGION_REMOVE_ASK_DATA, lambda c, a, i, m: _ask_remove_region(c, a, i, int(m[1]))),
    (REGION_REMOVE_DO_DATA, lambda c, a, i, m: _do_remove_region(c, a, i, int(m[1]), m[2])),
)


def _confirm_keyboard(t: NullTranslations, data: str) -> InlineKeyboardMarkup:
    return send.callback_keyboard(
        [
            [
                (t.pgettext("botón", "Confirmar"), data),
                (t.pgettext("botón", "Cancelar"), CANCEL_DATA),
            ]
        ]
    )


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
    except ChangeRefused as refusal:  # the last active administrator (audited)
        await send.send_sensitive(context, actor, chat_id, _refusal_text(t, refusal.reason))
        return
    except ValidationError:
        # Translators: el miembro cambió de estado desde que se mostró el botón.
        text = t.gettext("Nada cambió: ese miembro ya no está en ese estado. Escribe /miembros.")
        await send.send_sensitive(context, actor, chat_id, text)
        return
    await send.send_sensitive(
        context, actor, chat_id, text.format(codename=escape(target.codename))
    )


async def _send_idle(context: BotContext, actor: Member, chat_id: int, days: int) -> None:
    """Active members whose last day in the bot (or enrolment, if never) is ``days`` ago."""
    t = context.catalogs.for_lang(actor.lang)
    # Translators: título de la lista de /miembros filtrada; {days} es 7, 30 o 90.
    title = t.gettext("Sin abrir el bot hace {days} días o más (como mucho 20):").format(days=days)
    wanted = MemberFilter(state=MemberState.ACTIVE, idle_days=days)
    await _send_list(context, actor, chat_id, wanted, title)


async def _open_member(context: BotContext, actor: Member, chat_id: int, member_id: int) -> None:
    """One member and what can be changed: role, regions, and the phone if one is linked."""
    target = await context.services.registrations.target_by(actor, member_id)
    t = context.catalogs.for_lang(actor.lang)
    rows = [
        [
            # Translators: botón de /miembros; ≤ 20 caracteres.
            (t.pgettext("botón", "Cambiar rol"), f"madm:rol:{member_id}"),
            # Translators: botón de /miembros; ≤ 20 caracteres.
            (t.pgettext("botón", "Cambiar regiones"), f"madm:reg:{member_id}"),
        ]
    ]
    if target.telegram_linked:
        # Translators: botón de /miembros: olvidar la cuenta de un teléfono perdido o quitado;
        # ≤ 30 caracteres.
        rows.append([(t.pgettext("botón", "Desvincular teléfono"), f"madm:ask:u:{member_id}")])
    await send.send_sensitive(
        context, actor, chat_id, _member_line(t, target), reply_markup=send.callback_keyboard(rows)
    )


async def _offer_roles(context: BotContext, actor: Member, chat_id: int, member_id: int) -> None:
    target = await context.services.registrations.target_by(actor, member_id)
    t = context.catalogs.for_lang(actor.lang)
    # Translators: /miembros; {codename} es un seudónimo, {role} su rol actual.
    text = t.gettext("{codename} es {role}. Elige su nuevo rol:").format(
        codename=escape(target.codename), role=escape(role_label(t, target.role))
    )
    buttons = [
        (role_label(t, role), f"madm:ask:ro:{member_id}:{key}")
        for key, role in _ROLES.items()
        if role is not target.role
    ]
    await send.send_sensitive(
        context, actor, chat_id, text, reply_markup=send.callback_keyboard([buttons])
    )


async def _ask_role(
    context: BotContext, actor: Member, chat_id: int, member_id: int, role: Role
) -> None:
    target = await context.services.registrations.target_by(actor, member_id)
    t = context.catalogs.for_lang(actor.lang)
    # Translators: confirmación de /miembros; {codename} es un seudónimo, {old} y {new} roles.
    text = t.gettext(
        "¿Cambiar el rol de {codename} de {old} a {new}? Vale desde su próxima acción."
    ).format(
        codename=escape(target.codename),
        old=escape(role_label(t, target.role)),
        new=escape(role_label(t, role)),
    )
    key = next(key for key, value in _ROLES.items() if value is role)
    await send.send_sensitive(
        context,
        actor,
        chat_id,
        text,
        reply_markup=_confirm_keyboard(t, f"madm:do:ro:{member_id}:{key}"),
    )


async def _do_role(
    context: BotContext, actor: Member, chat_id: int, member_id: int, role: Role
) -> None:
    t = context.catalogs.for_lang(actor.lang)
    try:
        target = await context.services.registrations.set_role_by(actor, member_id, role)
    except ChangeRefused as refusal:
        await send.send_sensitive(context, actor, chat_id, _refusal_text(t, refusal.reason))
        return
    # The member's command menu follows through the outbox row the service wrote with the
    # change, in their language (silently), as after ``chaski members set-role``.
    # Translators: resultado de /miembros; {codename} es un seudónimo, {role} el nuevo rol.
    text = t.gettext("{codename} ahora es {role} (registrado en la auditoría).").format(
        codename=escape(target.codename), role=escape(role_label(t, role))
    )
    await send.send_sensitive(context, actor, chat_id, text)


def _region_button(t: NullTranslations, target: Member, region: Region) -> tuple[str, str]:
    """Move an informant to the region; add it to, or remove it from, staff."""
    if target.role is Role.INFORMANT:
        # Translators: botón de /miembros; {region} es una región. ≤ 30 caracteres.
        label, kind = t.pgettext("botón", "Mover a {region}"), "m"
    elif region.name in target.regions:
        # Translators: botón de /miembros; {region} es una región. ≤ 30 caracteres.
        label, kind = t.pgettext("botón", "Quitar {region}"), "q"
    else:
        # Translators: botón de /miembros; {region} es una región. ≤ 30 caracteres.
        label, kind = t.pgettext("botón", "Añadir {region}"), "a"
    return label.format(region=region.name), f"madm:ask:r{kind}:{target.id}:{region.id}"


async def _offer_regions(context: BotContext, actor: Member, chat_id: int, member_id: int) -> None:
    registrations = context.services.registrations
    target = await registrations.target_by(actor, member_id)
    regions = await registrations.regions_by(actor)
    t = context.catalogs.for_lang(actor.lang)
    # Translators: /miembros; {codename} es un seudónimo, {regions} sus regiones.
    text = t.gettext("Regiones de {codename}: {regions}. Elige una región:").format(
        codename=escape(target.codename), regions=escape(", ".join(target.regions) or "—")
    )
    rows = [
        [_region_button(t, target, region)]
        for region in regions
        if not (target.role is Role.INFORMANT and region.name in target.regions)
    ]
    await send.send_sensitive(
        context, actor, chat_id, text, reply_markup=send.callback_keyboard(rows)
    )


async def _ask_region(
    context: BotContext,
    actor: Member,
    chat_id: int,
    *,
    member_id: int,
    region_id: int,
    change: RegionChange,
) -> None:
    registrations = context.services.registrations
    target = await registrations.target_by(actor, member_id)
    names = {region.id: region.name for region in await registrations.regions_by(actor)}
    t = context.catalogs.for_lang(actor.lang)
    if region_id not in names:
        text = _refusal_text(t, Refusal.UNKNOWN_REGION)
        await send.send_sensitive(context, actor, chat_id, text)
        return
    codename, region = escape(target.codename), escape(names[region_id])
    if change is RegionChange.MOVE:
        # Translators: confirmación de /miembros; {codename} es un seudónimo, {region} una región.
        question = t.gettext("¿Mover a {codename} a la región {region}?")
    elif change is RegionChange.ADD:
        # Translators: confirmación de /miembros; {codename} es un seudónimo, {region} una región.
        question = t.gettext("¿Añadir la región {region} a {codename}?")
    else:
        # Translators: confirmación de /miembros; {codename} es un seudónimo, {region} una región.
        question = t.gettext("¿Quitar la región {region} a {codename}?")
    kind = next(key for key, value in _CHANGES.items() if value is change)
    await send.send_sensitive(
        context,
        actor,
        chat_id,
        question.format(codename=codename, region=region),
        reply_markup=_confirm_keyboard(t, f"madm:do:r{kind}:{member_id}:{region_id}"),
    )


async def _do_region(
    context: BotContext,
    actor: Member,
    chat_id: int,
    *,
    member_id: int,
    region_id: int,
    change: RegionChange,
) -> None:
    t = context.catalogs.for_lang(actor.lang)
    try:
        target, regions = await context.services.registrations.change_region_by(
            actor, member_id, region_id, change
        )
    except ChangeRefused as refusal:
        await send.send_sensitive(context, actor, chat_id, _refusal_text(t, refusal.reason))
        return
    # Translators: resultado de /miembros; {codename} es un seudónimo, {regions} sus regiones.
    text = t.gettext("Regiones de {codename}: {regions} (registrado en la auditoría).").format(
        codename=escape(target.codename), regions=escape(", ".join(regions))
    )
    await send.send_sensitive(context, actor, chat_id, text)


def _refusal_text(t: NullTranslations, reason: Refusal) -> str:
    """A refused change of role or regions, in the administrator's language."""
    texts = {
        # Translators: /miembros rechazó un cambio: el miembro ya estaba así.
        Refusal.UNCHANGED: t.gettext("Nada cambió: ya estaba así. Escribe /miembros."),
        # Translators: /miembros rechazó un cambio de rol o de regiones.
        Refusal.ONE_REGION: t.gettext(
            "Nada cambió: un informante pertenece a una sola región. Deja primero una sola región."
        ),
        # Translators: /miembros rechazó quitar el rol al último administrador activo.
        Refusal.LAST_ADMIN: t.gettext(
            "Nada cambió: es el último administrador activo. Nombra antes a otro."
        ),
        # Translators: /miembros: la región del botón ya no existe.
        Refusal.UNKNOWN_REGION: t.gettext(
            "Nada cambió: esa región ya no existe. Escribe /miembros."
        ),
        # Translators: /miembros rechazó quitar la única región de un coordinador o
        # administrador.
        Refusal.NO_REGION: t.gettext("Nada cambió: necesita al menos una región."),
        # Translators: /miembros: el nombre de región escrito no sirve (vacío, largo, raro).
        Refusal.BAD_NAME: t.gettext(
            "Nada cambió: ese nombre no sirve. Escribe una sola línea de como mucho 64"
            " caracteres, con letras de un solo alfabeto."
        ),
        # Translators: /miembros: el nombre de región escrito ya lo tiene otra región.
        Refusal.NAME_TAKEN: t.gettext(
            "Nada cambió: ya existe una región con ese nombre. Escribe otro nombre."
        ),
        # Translators: /miembros: se confirmó una región nueva o renombrada que ya no espera.
        Refusal.NOTHING_PENDING: t.gettext(
            "Nada cambió: no hay ninguna región esperando. Escribe /miembros."
        ),
        # Translators: /miembros: se confirmó una región nueva o renombrada después de
        # {minutes} minutos; se canceló.
        Refusal.EXPIRED: t.gettext(
            "Nada cambió: el cambio de región esperó más de {minutes} minutos y se canceló."
            " Empieza otra vez con /miembros."
        ).format(minutes=_LIFETIME_MINUTES),
        # Translators: /miembros: se escribió solo cifras como nombre de región (quizá un
        # PIN); el bot borró el mensaje. No repetir las cifras.
        Refusal.DIGITS_ONLY: t.gettext(
            "Nada cambió: un nombre de región no puede ser solo cifras. El bot borró tu"
            " mensaje. Escribe un nombre con letras."
        ),
        # Translators: /miembros: otro administrador renombró la región antes de que se
        # confirmara quitarla.
        Refusal.REGION_CHANGED: t.gettext(
            "Nada cambió: la región cambió de nombre mientras tanto. Escribe /miembros."
        ),
    }
    return texts[reason]


#: The lifetime of a region change, as the chat names it.
_LIFETIME_MINUTES = int(REGION_EDIT_LIFETIME.total_seconds()) // 60


def _in_use_text(t: NullTranslations, refusal: RegionInUse) -> str:
    """A region that cannot be removed, and what uses it, in counts."""
    usage = refusal.usage
    uses = [
        # Translators: parte de una lista de lo que usa una región, p. ej. «3 miembros».
        t.ngettext("{n} miembro", "{n} miembros", usage.members).format(n=usage.members)
        if usage.members
        else "",
        # Translators: parte de una lista de lo que usa una región, p. ej. «1 operación».
        t.ngettext("{n} operación", "{n} operaciones", usage.operations).format(n=usage.operations)
        if usage.operations
        else "",
        # Translators: parte de una lista de lo que usa una región, p. ej. «2 reclamos».
        t.ngettext("{n} reclamo", "{n} reclamos", usage.claims).format(n=usage.claims)
        if usage.claims
        else "",
        # Translators: parte de una lista de lo que usa una región: avisos de seguridad de
        # los últimos 30 días, p. ej. «1 aviso».
        t.ngettext("{n} aviso", "{n} avisos", usage.alerts).format(n=usage.alerts)
        if usage.alerts
        else "",
    ]
    # Translators: /miembros no quita una región usada; {region} es la región, {uses} una
    # lista como «3 miembros, 1 operación».
    return t.gettext(
        "Nada cambió: la región {region} todavía se usa ({uses}; los miembros desvinculados"
        " también cuentan). Muévelos antes a otra región."
    ).format(region=escape(refusal.region), uses=escape(", ".join(use for use in uses if use)))


def _region_refusal_text(t: NullTranslations, refusal: ChangeRefused) -> str:
    """``_refusal_text``, with the counts when the refusal is a region in use."""
    if isinstance(refusal, RegionInUse):
        return _in_use_text(t, refusal)
    return _refusal_text(t, refusal.reason)


async def _send_regions(context: BotContext, actor: Member, chat_id: int) -> None:
    """Every region with its number of members, as ``chaski region list`` names them."""
    counts = await context.services.registrations.region_counts_by(actor)
    t = context.catalogs.for_lang(actor.lang)
    # Translators: título de la lista de regiones de /miembros (región · número).
    lines = [t.gettext("Regiones y cuántos miembros tiene cada una (sin los desvinculados):")]
    lines += [f"<b>{escape(region.name)}</b> · {count}" for region, count, _ in counts]
    # Translators: botón de la lista de regiones de /miembros; {region} es una región.
    # ≤ 30 caracteres.
    rename = t.pgettext("botón", "Renombrar {region}")
    # A region nothing uses may be removed (a used one would be refused anyway: no button).
    remove = t.pgettext("botón", "Quitar {region}")
    rows = [
        [(rename.format(region=region.name), f"madm:rg:ren:{region.id}")]
        + (
            [(remove.format(region=region.name), f"madm:rg:ask:q:{region.id}")]
            if usage.unused
            else []
        )
        for region, _, usage in counts
    ]
    # Translators: botón de la lista de regiones de /miembros; ≤ 20 caracteres.
    rows.append([(t.pgettext("botón", "Añadir región"), "madm:rg:add")])
    await send.send_sensitive(
        context, actor, chat_id, "\n".join(lines), reply_markup=send.callback_keyboard(rows)
    )


async def _start_region_edit(
    context: BotContext, actor: Member, chat_id: int, region_id: int | None
) -> None:
    """*Añadir región* / *Renombrar …*: ask for the name, typed as a plain message next."""
    t = context.catalogs.for_lang(actor.lang)
    try:
        region = await context.services.registrations.start_region_edit_by(actor, region_id)
    except ChangeRefused as refusal:
        await send.send_sensitive(context, actor, chat_id, _refusal_text(t, refusal.reason))
        return
    if region is None:
        # Translators: /miembros pide escribir el nombre de una región nueva.
        text = t.gettext(
            "Escribe el nombre de la nueva región (una línea, como mucho 64 caracteres)."
        )
    else:
        # Translators: /miembros pide escribir el nuevo nombre; {region} es su nombre actual.
        text = t.gettext("Escribe el nuevo nombre de la región {region}.").format(
            region=escape(region.name)
        )
    await send.send_sensitive(context, actor, chat_id, text)


async def typed_text(update: Update, context: BotContext, member: Member) -> bool:
    """A plain text that is no menu button: the region name this member was asked for, if a
    region change of theirs waits for one (False: not ours, the caller answers).

    A change that waited past its lifetime is dropped, the member told that their text was
    not taken as a name, and the text goes on to the normal answer (issue #16.3). A text of
    digits only is deleted at once, before any other check (it may be a PIN typed in the
    wrong place, T-54; ``PinText`` took every text that looks like a PIN before this), and
    the service refuses it as a name.
    """
    registrations = context.services.registrations
    state = await registrations.region_edit_state(member.id)
    if state is EditWait.NONE:
        return False
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return False
    if state is EditWait.EXPIRED:
        t = context.catalogs.for_lang(member.lang)
        # Translators: /miembros: un texto llegó después de {minutes} minutos de espera del
        # nombre de una región; no se usó como nombre.
        text = t.gettext(
            "El cambio de región que empezaste esperó más de {minutes} minutos y se canceló:"
            " tu mensaje no se usó como nombre de región."
        ).format(minutes=_LIFETIME_MINUTES)
        await send.send_sensitive(context, member, chat.id, text)
        return False
    if digits_only(message.text or ""):
        await send.delete_now(context, chat.id, message.message_id)
    await region_name_text.run(update, context, member)
    return True


@requires(Role.COORDINATOR, Role.ADMIN, pin=PinRule.ACTION)
async def region_name_text(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """The typed region name: judged again (a demoted administrator's step is refused and
    forgotten, M-04, T-11), checked, then asked about; nothing changes before *Confirmar*."""
    del pin
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    t = context.catalogs.for_lang(member.lang)
    try:
        region, name = await context.services.registrations.name_region_edit_by(
            member, message.text or ""
        )
    except NotAllowed:
        await menu_expired(update, context, member, chat.id)
        return
    except ChangeRefused as refusal:
        await send.send_sensitive(context, member, chat.id, _refusal_text(t, refusal.reason))
        return
    if region is None:
        # Translators: confirmación de /miembros; {name} es el nombre de una región nueva.
        question = t.gettext("¿Añadir la región {name}?").format(name=escape(name))
    else:
        # Translators: confirmación de /miembros; {region} es el nombre actual, {name} el nuevo.
        question = t.gettext("¿Renombrar la región {region} a {name}?").format(
            region=escape(region.name), name=escape(name)
        )
    await send.send_sensitive(
        context,
        member,
        chat.id,
        question,
        reply_markup=_confirm_keyboard(t, REGION_CONFIRM_DATA),
    )


async def _do_region_edit(context: BotContext, actor: Member, chat_id: int) -> None:
    t = context.catalogs.for_lang(actor.lang)
    try:
        old, region = await context.services.registrations.confirm_region_edit_by(actor)
    except ChangeRefused as refusal:
        await send.send_sensitive(context, actor, chat_id, _refusal_text(t, refusal.reason))
        return
    if old is None:
        # Translators: resultado de /miembros; {name} es la región nueva.
        text = t.gettext("Región {name} añadida (registrado en la auditoría).").format(
            name=escape(region.name)
        )
    else:
        # Translators: resultado de /miembros; {region} es el nombre anterior, {name} el nuevo.
        text = t.gettext(
            "Región {region} renombrada a {name} (registrado en la auditoría)."
        ).format(region=escape(old.name), name=escape(region.name))
    await send.send_sensitive(context, actor, chat_id, text)


async def _ask_remove_region(
    context: BotContext, actor: Member, chat_id: int, region_id: int
) -> None:
    """*Quitar …*: ask first; a region used since the list was sent is refused now."""
    t = context.catalogs.for_lang(actor.lang)
    try:
        region = await context.services.registrations.ask_remove_region_by(actor, region_id)
    except ChangeRefused as refusal:
        await send.send_sensitive(context, actor, chat_id, _region_refusal_text(t, refusal))
        return
    # Translators: confirmación de /miembros; {region} es una región que nada usa.
    question = t.gettext(
        "¿Quitar la región {region}? Ningún miembro, operación ni reclamo la usa."
    )
    data = f"madm:rg:do:q:{region.id}:{region_fingerprint(region.name)}"
    await send.send_sensitive(
        context,
        actor,
        chat_id,
        question.format(region=escape(region.name)),
        reply_markup=_confirm_keyboard(t, data),
    )


async def _do_remove_region(
    context: BotContext, actor: Member, chat_id: int, region_id: int, fingerprint: str
) -> None:
    t = context.catalogs.for_lang(actor.lang)
    try:
        region = await context.services.registrations.remove_region_by(
            actor, region_id, fingerprint
        )
    except ChangeRefused as refusal:
        await send.send_sensitive(context, actor, chat_id, _region_refusal_text(t, refusal))
        return
    # Translators: resultado de /miembros; {region} es la región quitada.
    text = t.gettext("Región {region} quitada (registrado en la auditoría).").format(
        region=escape(region.name)
    )
    await send.send_sensitive(context, actor, chat_id, text)


async def _send_operations(context: BotContext, actor: Member, chat_id: int) -> None:
    """The last operations: label, region, date, whole reward offered (read only)."""
    operations = await context.services.claims_admin.operations_by(actor)
    t = context.catalogs.for_lang(actor.lang)
    if not operations:
        # Translators: /miembros: todavía no se declaró ninguna operación.
        text = t.gettext("No hay operaciones todavía.")
        keyboard = operations_admin.operations_keyboard(t, [])
        await send.send_sensitive(context, actor, chat_id, text, reply_markup=keyboard)
        return
    # Translators: título de la lista de operaciones de /miembros.
    lines = [t.gettext("Operaciones (como mucho las 20 últimas):")]
    for operation in operations:
        parts = [
            f"<b>{escape(operation.label)}</b>",
            escape(operation.region),
            format_date(operation.date, actor.lang) if operation.date else "—",
            format_money(operation.total_cents, actor.lang)
            if operation.total_cents is not None
            else "—",
        ]
        lines.append(" · ".join(parts))
    keyboard = operations_admin.operations_keyboard(t, operations)  # create and correct
    await send.send_sensitive(context, actor, chat_id, "\n".join(lines), reply_markup=keyboard)


async def _send_invites(context: BotContext, actor: Member, chat_id: int) -> None:
    """Unused, unexpired invites: whose, role, regions, expiry; never a code (M-03)."""
    invites = await context.services.registrations.open_invites_by(actor)
    t = context.catalogs.for_lang(actor.lang)
    if not invites:
        # Translators: /miembros: no hay invitaciones sin usar y vigentes.
        await send.send_sensitive(
            context, actor, chat_id, t.gettext("No hay invitaciones sin usar.")
        )
        return
    tz = context.services.clock.tz
    # Translators: título de la lista de invitaciones de /miembros (como mucho 20); los
    # códigos nunca se muestran.
    lines = [t.gettext("Invitaciones sin usar (los códigos no se muestran):")]
    rows: list[list[tuple[str, str]]] = []
    for invite in invites:
        # Translators: una invitación en /miembros; {date} es fecha y hora de vencimiento.
        expiry = t.gettext("vence el {date}").format(
            date=format_datetime(invite.expires_at, actor.lang, tz)
        )
        parts = [
            f"<b>{escape(invite.codename)}</b>",
            escape(role_label(t, invite.role)),
            escape(", ".join(invite.regions)) if invite.regions else "—",
            escape(expiry),
        ]
        lines.append(" · ".join(parts))
        # Translators: botón de /miembros; {codename} es un seudónimo. ≤ 30 caracteres.
        label = t.pgettext("botón", "Revocar: {codename}").format(codename=invite.codename)
        rows.append([(label, f"madm:ask:iv:{invite.member_id}")])
    await send.send_sensitive(
        context, actor, chat_id, "\n".join(lines), reply_markup=send.callback_keyboard(rows)
    )


async def _ask_revoke(context: BotContext, actor: Member, chat_id: int, member_id: int) -> None:
    target = await context.services.registrations.target_by(actor, member_id)
    t = context.catalogs.for_lang(actor.lang)
    # Translators: confirmación de /miembros; {codename} es un seudónimo.
    text = t.gettext("¿Revocar la invitación de {codename}? Su código dejará de servir.").format(
        codename=escape(target.codename)
    )
    await send.send_sensitive(
        context, actor, chat_id, text, reply_markup=_confirm_keyboard(t, f"madm:do:iv:{member_id}")
    )


async def _do_revoke(context: BotContext, actor: Member, chat_id: int, member_id: int) -> None:
    t = context.catalogs.for_lang(actor.lang)
    try:
        target, _ = await context.services.registrations.revoke_invites_by(actor, member_id)
    except ValidationError:
        # Translators: /miembros: la invitación ya se usó o ya se revocó.
        text = t.gettext("Nada cambió: esa invitación ya no está sin usar. Escribe /miembros.")
        await send.send_sensitive(context, actor, chat_id, text)
        return
    # Translators: resultado de /miembros; {codename} es un seudónimo.
    text = t.gettext("Invitación de {codename} revocada (registrado en la auditoría).").format(
        codename=escape(target.codename)
    )
    await send.send_sensitive(context, actor, chat_id, text)
