"""Coordinators keep claims true in the chat (issue #16.2): find, open, change, confirm.

``/reclamos`` lists the claims of the member's regions, overdue first (or those matching a
reference or a codename: ``/reclamos R-2016-0007``, ``/reclamos Puma``), with a button each
and buttons to filter by status. A claim opens with its amounts, payments and whole history
(internal notes marked), and buttons for what can be done next: the statuses it may move to,
*record a payment*, *next step*. Each of them starts an edit that lives in the database
(``claim_edits``), so it survives a restart; what only words can say is typed with a command
(``/nota``, ``/pago``, ``/paso``), and nothing is written until *Confirmar*.

Every press and command is re-authorized from the member record of this update (M-04, T-10):
a claim outside the member's regions, a forged id or an old button of a coordinator demoted
meanwhile gets "menu expired", and the refusal is audited (``update_claim``, T-11). Staff
need an open PIN session (M-05). Two people confirming changes to one claim: the second is
told the claim changed meanwhile and nothing of theirs is written (compare-and-set).

Replies carry claim data, so they go through ``send_sensitive`` and are deleted after a few
minutes (M-10).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from html import escape
from typing import Any

from telegram import Update

from bot.domain.claims import (
    ClaimEdit,
    ClaimRefused,
    EditKind,
    Payment,
    Rule,
)
from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import Claim, ClaimStatus, Member, Role
from bot.domain.pin import PinPass, PinRule, Resume
from bot.i18n import format_money
from bot.services.claims_import import parse_amount, parse_date
from handlers import claims_admin_views as views
from handlers.access import menu_expired, requires
from handlers.context import BotContext
from handlers.render import status_label
from handlers.transport import send

STAFF = (Role.COORDINATOR, Role.ADMIN)
_ID = r"([1-9][0-9]{0,17})"
OPEN_DATA = re.compile(rf"cadm:open:{_ID}")
LIST_DATA = re.compile(r"cadm:list:([a-z_]{1,20})")
EDIT_DATA = re.compile(rf"cadm:(pay|step|amt):{_ID}:{_ID}")
DECIDE_DATA = re.compile(rf"cadm:(amok|amno):{_ID}")
TO_DATA = re.compile(rf"cadm:to:{_ID}:{_ID}:([a-z_]{{1,20}})")
VISIBLE_DATA = re.compile(r"cadm:vis:(0|1)")
CONFIRM_DATA = re.compile(rf"cadm:ok:{_ID}:{_ID}")
CANCEL_DATA = views.CANCEL_DATA
#: Statuses offered as filters under the list (the open ones a coordinator works on).
_STATUSES = {status.value: status for status in ClaimStatus}
#: The amount that opens ``/pago``'s arguments: ``1500.50``, ``1,500.50``, ``S/1500`` or
#: ``S/ 1,500.50`` (Peru writes a space after the sign; ``S/.`` is its older form), so the
#: sign and the figure stay one amount for ``parse_amount`` and do not shift the means.
_LEADING_AMOUNT = re.compile(r"((?:S/\.?\s*)?\S+)\s*(.*)", re.IGNORECASE | re.DOTALL)

StaffHandler = Callable[[Update, BotContext, Member, int], Coroutine[Any, Any, None]]


async def _in_chat(
    body: StaffHandler, update: Update, context: BotContext, member: Member
) -> None:
    """Run a command's ``body`` with the chat id (every command here is declared with the
    staff roles and ``PinRule.ACTION``: nothing is read or changed without an open PIN
    session, M-05)."""
    chat = update.effective_chat
    if chat is not None:
        await body(update, context, member, chat.id)


def _args_text(update: Update) -> str:
    """The text after the command (``context.args`` would lose line breaks)."""
    message = update.effective_message
    text = message.text if message and message.text else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


async def _send_list(
    context: BotContext, member: Member, chat_id: int, claims: list[Claim]
) -> None:
    t = context.catalogs.for_lang(member.lang)
    service = context.services.claims_admin
    if not claims:
        # Translators: un coordinador buscó reclamos y no hay ninguno (en sus regiones).
        text = t.gettext("No hay reclamos que coincidan en tus regiones.")
    else:
        names = await service.codenames(claims)
        today = context.services.clock.today()
        # Translators: título de la lista de reclamos de un coordinador.
        lines = [t.gettext("Reclamos de tus regiones, los atrasados primero:")]
        lines += [views.claim_line(t, claim, names[claim.member_id], today) for claim in claims]
        text = "\n".join(lines)
    markup = views.list_keyboard(t, claims, member.lang)
    await send.send_sensitive(context, member, chat_id, text, reply_markup=markup)


async def _show_edit(
    context: BotContext, member: Member, chat_id: int, claim: Claim, edit: ClaimEdit
) -> None:
    t = context.catalogs.for_lang(member.lang)
    text, keyboard = views.edit_view(t, member.lang, context.services.clock.today(), claim, edit)
    await send.send_sensitive(context, member, chat_id, text, reply_markup=keyboard)


async def _say(context: BotContext, member: Member, chat_id: int, text: str) -> None:
    await send.send_sensitive(context, member, chat_id, text)


# ---------------------------------------------------------------------- commands


async def _claims(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """``/reclamos [referencia o nombre clave]``: the claims to work on, overdue first."""
    service = context.services.claims_admin
    query = _args_text(update)
    try:
        claims = await (service.find(member, query) if query else service.list_claims(member))
    except NotAllowed:
        await menu_expired(update, context, member, chat_id)
        return
    await _send_list(context, member, chat_id, claims)


@requires(*STAFF, pin=PinRule.ACTION, resume=Resume.CLAIMS_ADMIN)
async def claims_command(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """``/reclamos``: coordinators (their regions) and administrators; runs by itself after
    the PIN."""
    del pin
    await _in_chat(_claims, update, context, member)


async def _amend(
    update: Update,
    context: BotContext,
    member: Member,
    chat_id: int,
    **changes: Any,
) -> None:
    t = context.catalogs.for_lang(member.lang)
    service = context.services.claims_admin
    try:
        claim, edit = await service.amend(member, **changes)
    except NotFound:
        # Translators: el coordinador escribió /nota, /pago o /paso sin un cambio empezado.
        await _say(
            context,
            member,
            chat_id,
            t.gettext("No hay ningún cambio empezado. Abre un reclamo con /reclamos."),
        )
        return
    except ClaimRefused as exc:
        await _say(context, member, chat_id, views.refusal_text(t, exc.rule))
        if exc.rule is Rule.OTHER_EDIT and (found := await service.pending(member)):
            await _show_edit(context, member, chat_id, *found)  # what it does take
        return
    await _show_edit(context, member, chat_id, claim, edit)


async def _note(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """``/nota <texto>``: the note of the change under way."""
    text = _args_text(update)
    if not text:
        t = context.catalogs.for_lang(member.lang)
        # Translators: /nota llegó sin texto; deja /nota tal cual.
        await _say(context, member, chat_id, t.gettext("Escribe /nota y el texto de la nota."))
        return
    await _amend(update, context, member, chat_id, note=text)


async def _payment(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """``/pago <monto> <medio> [referencia]``: the payment of the change under way."""
    t = context.catalogs.for_lang(member.lang)
    match = _LEADING_AMOUNT.fullmatch(_args_text(update))
    parts = match[2].split(maxsplit=1) if match else []
    try:
        amount = parse_amount(match[1]) if match and parts else None
    except ValidationError:
        amount = None
    if amount is None:
        await _say(
            context,
            member,
            chat_id,
            t.gettext(
                "Escribe /pago, el monto, el medio y una referencia si la hay, p. ej."
                " /pago 1500.50 transferencia OP-123"
            ),
        )
        return
    reference = parts[1] if len(parts) > 1 else None
    payment = Payment(amount, context.services.clock.today(), parts[0], reference)
    await _amend(update, context, member, chat_id, payment=payment)


async def _step(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """``/paso <fecha> <texto>``: the next step of the change under way.

    A date before today is refused here: the informant would read it as their next step,
    and it is most often last year's number typed by habit.
    """
    t = context.catalogs.for_lang(member.lang)
    parts = _args_text(update).split(maxsplit=1)
    try:
        day = (
            parse_date(parts[0], "date", required=True, day_first=True)
            if len(parts) == 2
            else None
        )
    except ValidationError:
        day = None
    if day is None:
        await _say(
            context,
            member,
            chat_id,
            views.step_hint(t, context.services.clock.today()),
        )
        return
    if day < context.services.clock.today():
        # Translators: /paso con una fecha anterior a hoy (p. ej. el año pasado por costumbre);
        # deja /paso tal cual.
        text = t.gettext(
            "Esa fecha ya pasó: el próximo paso va con una fecha de hoy en adelante."
            " Escribe /paso, la fecha y el paso."
        )
        await _say(context, member, chat_id, text)
        return
    await _amend(update, context, member, chat_id, step=(parts[1], day))


async def _amount(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """``/monto prometido|aprobado <soles>``: a new amount for the change under way."""
    t = context.catalogs.for_lang(member.lang)
    # The figure is all that follows the word, so ``S/ 2,000,000`` is one amount.
    parts = _args_text(update).split(maxsplit=1)
    which = parts[0].lower() if parts else ""
    try:
        cents = (
            parse_amount(parts[1])
            if len(parts) == 2 and which in {"prometido", "aprobado"}
            else None
        )
    except ValidationError:
        cents = None
    if cents is None:
        await _say(
            context,
            member,
            chat_id,
            t.gettext(
                "Escribe /monto prometido o /monto aprobado y la cifra en soles, p. ej."
                " /monto aprobado 1200"
            ),
        )
        return
    field = "promised" if which == "prometido" else "approved"
    await _amend(update, context, member, chat_id, amount=(field, cents))


async def _review(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """``/revisar``: the amount changes waiting for this member's approval (never their own)."""
    t = context.catalogs.for_lang(member.lang)
    try:
        waiting = await context.services.claims_admin.amount_requests(member)
    except NotAllowed:
        await menu_expired(update, context, member, chat_id)
        return
    if not waiting:
        # Translators: /revisar sin cambios de monto pendientes.
        await _say(context, member, chat_id, t.gettext("No hay cambios de monto por aprobar."))
        return
    for request, claim, requester in waiting:
        # Translators: un cambio de monto pendiente; {reference} es un código como
        # R-2016-0007, {codename} el seudónimo de quien lo pidió.
        lines = [
            t.gettext("<b>{reference}</b>: cambio pedido por {codename}").format(
                reference=escape(claim.reference), codename=escape(requester)
            ),
            t.gettext("Monto prometido: {amount}").format(
                amount=format_money(claim.promised_cents, member.lang)
            ),
            *views.amount_lines(t, member.lang, request.promised_cents, request.approved_cents),
        ]
        if request.note:
            lines.append(t.gettext("Nota: {note}").format(note=escape(request.note)))
        keyboard = send.callback_keyboard(
            [
                [
                    # Translators: botón que aprueba un cambio de monto; ≤ 20 caracteres.
                    (t.pgettext("botón", "Aprobar cambio"), f"cadm:amok:{request.id}"),
                    # Translators: botón que rechaza un cambio de monto; ≤ 20 caracteres.
                    (t.pgettext("botón", "Rechazar cambio"), f"cadm:amno:{request.id}"),
                ]
            ]
        )
        await send.send_sensitive(
            context, member, chat_id, "\n".join(lines), reply_markup=keyboard
        )


@requires(*STAFF, pin=PinRule.ACTION)
async def note_command(update: Update, context: BotContext, member: Member, pin: PinPass) -> None:
    """``/nota``: part of the change under way; repeated by the member after the PIN."""
    del pin
    await _in_chat(_note, update, context, member)


@requires(*STAFF, pin=PinRule.ACTION)
async def amount_command(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """``/monto``: part of the change under way; repeated by the member after the PIN."""
    del pin
    await _in_chat(_amount, update, context, member)


@requires(*STAFF, pin=PinRule.ACTION)
async def payment_command(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """``/pago``: part of the change under way; repeated by the member after the PIN."""
    del pin
    await _in_chat(_payment, update, context, member)


@requires(*STAFF, pin=PinRule.ACTION)
async def step_command(update: Update, context: BotContext, member: Member, pin: PinPass) -> None:
    """``/paso``: part of the change under way; repeated by the member after the PIN."""
    del pin
    await _in_chat(_step, update, context, member)


@requires(*STAFF, pin=PinRule.ACTION, resume=Resume.CLAIMS_REVIEW)
async def review_command(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """``/revisar``: runs by itself after the PIN."""
    del pin
    await _in_chat(_review, update, context, member)


async def typed_text(update: Update, context: BotContext, member: Member) -> bool:
    """A plain text from staff with a claim change under way: how values are typed (False:
    no change under way, the caller answers as usual).

    A new coordinator types the note as a plain message after the preview; "command not
    available" told them nothing. The answer names no claim, so it needs no PIN session.
    """
    chat = update.effective_chat
    if chat is None or member.role not in STAFF:
        return False
    if not await context.services.claims_admin.has_edit(member):
        return False
    t = context.catalogs.for_lang(member.lang)
    # Translators: un coordinador escribió un mensaje sin comando mientras prepara un cambio
    # de un reclamo; deja /nota, /pago, /paso, /monto y Confirmar tal cual.
    text = t.gettext(
        "Tu mensaje no se usó: en el cambio que tienes empezado, la nota va con /nota y el"
        " texto (p. ej. /nota Aprobado por el comité), y los datos con el comando que pide"
        " el cambio (/pago, /paso o /monto). Luego pulsa Confirmar."
    )
    await send.send_text(context, chat.id, text)
    return True


# ---------------------------------------------------------------------- buttons


@requires(*STAFF, pin=PinRule.ACTION)
async def on_button(update: Update, context: BotContext, member: Member, pin: PinPass) -> None:
    """Every ``cadm:`` button; each one re-authorized by the service (M-04, T-10).

    Without an open PIN session the press is answered and changes nothing (the gate asks
    for the PIN); the member presses again after it.
    """
    del pin
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    data = query.data if isinstance(query.data, str) else ""
    t = context.catalogs.for_lang(member.lang)
    try:
        handled = await _dispatch(update, context, member, chat.id, data)
    except NotFound:
        await menu_expired(update, context, member, chat.id)
        return
    except Conflict:
        await send.answer_callback(context, query.id)
        await _say(context, member, chat.id, views.changed_meanwhile(t))
        return
    except ClaimRefused as exc:
        await send.answer_callback(context, query.id)
        await _say(context, member, chat.id, views.refusal_text(t, exc.rule))
        return
    except NotAllowed:
        await menu_expired(update, context, member, chat.id)
        return
    if not handled:
        await menu_expired(update, context, member, chat.id)
        return
    await send.answer_callback(context, query.id)


async def _dispatch(
    update: Update, context: BotContext, member: Member, chat_id: int, data: str
) -> bool:
    """Run the button ``data`` names; False when it names nothing this version knows."""
    service = context.services.claims_admin
    t = context.catalogs.for_lang(member.lang)
    if match := OPEN_DATA.fullmatch(data):
        file = await service.open(member, int(match[1]))
        names = await service.codenames([file.claim])
        clock = context.services.clock
        text, keyboard = views.claim_view(
            t, member.lang, clock.today(), clock.tz, file, names[file.claim.member_id]
        )
        await send.send_sensitive(context, member, chat_id, text, reply_markup=keyboard)
        return True
    if match := LIST_DATA.fullmatch(data):
        status = None if match[1] == "all" else _STATUSES.get(match[1])
        if status is None and match[1] != "all":
            return False
        await _send_list(context, member, chat_id, await service.list_claims(member, status))
        return True
    if match := TO_DATA.fullmatch(data):
        status = _STATUSES.get(match[3])
        if status is None:
            return False
        claim, edit = await service.start_edit(
            member, int(match[1]), int(match[2]), EditKind.STATUS, status
        )
        await _show_edit(context, member, chat_id, claim, edit)
        return True
    if match := EDIT_DATA.fullmatch(data):
        kind = {"pay": EditKind.PAYMENT, "step": EditKind.STEP, "amt": EditKind.AMOUNT}[match[1]]
        claim, edit = await service.start_edit(member, int(match[2]), int(match[3]), kind)
        await _show_edit(context, member, chat_id, claim, edit)
        return True
    if match := DECIDE_DATA.fullmatch(data):
        await _decide(context, member, chat_id, int(match[2]), approve=match[1] == "amok")
        return True
    if match := VISIBLE_DATA.fullmatch(data):
        claim, edit = await service.amend(member, visible=match[1] == "1")
        await _show_edit(context, member, chat_id, claim, edit)
        return True
    if match := CONFIRM_DATA.fullmatch(data):
        confirmed = await service.confirm(member, int(match[1]), int(match[2]))
        claim = confirmed.claim
        if confirmed.pending:
            # Translators: el cambio de monto quedó pedido; otra persona debe aprobarlo.
            await _say(
                context,
                member,
                chat_id,
                t.gettext(
                    "Pedido enviado: el cambio de monto de {reference} espera la aprobación"
                    " de otra persona."
                ).format(reference=escape(claim.reference)),
            )
            return True
        # Translators: el cambio quedó guardado; el informante recibe un aviso sin detalles.
        text = t.gettext(
            "Guardado. {reference} ahora está en «{status}». El informante recibirá un aviso"
            " sin detalles."
        ).format(reference=escape(claim.reference), status=escape(status_label(t, claim.status)))
        await _say(context, member, chat_id, text)
        return True
    if data == CANCEL_DATA:
        await service.cancel(member)
        # Translators: el coordinador descartó el cambio que preparaba.
        await _say(context, member, chat_id, t.gettext("Cambio descartado; no se guardó nada."))
        return True
    return False


async def _decide(
    context: BotContext, member: Member, chat_id: int, request_id: int, *, approve: bool
) -> None:
    """``cadm:amok:<id>`` / ``cadm:amno:<id>``: approve or reject an amount change."""
    service = context.services.claims_admin
    t = context.catalogs.for_lang(member.lang)
    try:
        claim = await service.decide_amounts(member, request_id, approve=approve)
    except NotAllowed:
        # Translators: quien pidió un cambio de monto no puede aprobarlo.
        await _say(
            context,
            member,
            chat_id,
            t.gettext("Otra persona debe decidir sobre este cambio, no quien lo pidió."),
        )
        return
    if approve:
        # Translators: se aprobó un cambio de monto; {reference} es un código.
        text = t.gettext("Aprobado: los montos de {reference} quedaron cambiados.")
    else:
        # Translators: se rechazó un cambio de monto; {reference} es un código.
        text = t.gettext("Rechazado: los montos de {reference} no cambian.")
    await _say(context, member, chat_id, text.format(reference=escape(claim.reference)))
