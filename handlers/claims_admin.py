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
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from gettext import NullTranslations
from html import escape
from typing import Any

from telegram import InlineKeyboardMarkup, Update

from bot.domain.claims import (
    ClaimEdit,
    ClaimRefused,
    EditKind,
    Payment,
    Rule,
    manual_targets,
)
from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import CLOSED_STATUSES, Claim, ClaimStatus, Lang, Member, Role
from bot.domain.notices import AmountApprovalNeeded, AmountDecided, AmountOutcome
from bot.domain.pin import PinPass, PinRule, Resume
from bot.i18n import format_date, format_money
from bot.services.claims_admin import ClaimFile
from bot.services.claims_import import parse_amount
from handlers.access import menu_expired, requires
from handlers.context import BotContext
from handlers.notifier import Rendered
from handlers.render import render_claim, status_label
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
CANCEL_DATA = "cadm:no"
#: Statuses offered as filters under the list (the open ones a coordinator works on).
_FILTERS = (
    ClaimStatus.REGISTERED,
    ClaimStatus.UNDER_REVIEW,
    ClaimStatus.APPROVED,
    ClaimStatus.PAYMENT_SCHEDULED,
    ClaimStatus.PARTIALLY_PAID,
)
_STATUSES = {status.value: status for status in ClaimStatus}
#: ``14/03/2026`` as people write dates in Peru, or ``2026-03-14``.
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: History entries shown under an opened claim (the newest ones).
_EVENTS_SHOWN = 8

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


def _parse_day(text: str) -> date:
    """``14/03/2026`` or ``2026-03-14``.

    Raises:
        ValidationError: anything else, or not a real date.
    """
    try:
        if match := _DMY.fullmatch(text):
            return date(int(match[3]), int(match[2]), int(match[1]))
        if _ISO.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValidationError("date")


# ---------------------------------------------------------------------- texts


def refusal_text(t: NullTranslations, rule: Rule) -> str:
    """Why the domain refused a change, as a sentence for the coordinator."""
    texts = {
        # Translators: se muestra a un coordinador que eligió un estado no permitido.
        Rule.TRANSITION: t.gettext("Este reclamo no puede pasar a ese estado desde el actual."),
        # Translators: «Pagado» y «Pagado en parte» resultan de registrar pagos.
        Rule.BY_PAYMENT: t.gettext(
            "«Pagado» y «Pagado en parte» se ponen solos al registrar un pago."
        ),
        # Translators: rechazar un reclamo exige escribir el motivo con /nota.
        Rule.REASON_REQUIRED: t.gettext(
            "Para rechazar hace falta el motivo: escribe /nota y el motivo."
        ),
        # Translators: un coordinador escribió un monto de 0 o negativo.
        Rule.NEGATIVE: t.gettext("El monto debe ser mayor que cero."),
        # Translators: el monto supera cualquier recompensa: probablemente un error de tipeo.
        Rule.TOO_LARGE: t.gettext("Ese monto es demasiado grande; revisa la cifra."),
        # Translators: se intentó registrar un pago en un reclamo no aprobado o ya pagado.
        Rule.NOT_PAYABLE: t.gettext(
            "Solo se registran pagos de un reclamo aprobado que no está pagado del todo."
        ),
        # Translators: el pago supera el monto aprobado menos lo ya pagado.
        Rule.OVERPAYMENT: t.gettext("Ese pago es mayor que lo que falta pagar."),
        # Translators: montos de un reclamo: el aprobado no puede pasar del prometido.
        Rule.ABOVE_PROMISED: t.gettext("El monto aprobado no puede superar el prometido."),
        # Translators: montos de un reclamo: el aprobado no puede quedar bajo lo pagado.
        Rule.BELOW_PAID: t.gettext("El monto aprobado no puede ser menor que lo ya pagado."),
        # Translators: montos de un reclamo: el prometido no puede quedar bajo lo pagado.
        Rule.PROMISED_BELOW_PAID: t.gettext(
            "El monto prometido no puede ser menor que lo ya pagado."
        ),
        # Translators: una operación reparte su recompensa entre varios reclamos.
        Rule.OVER_TOTAL: t.gettext(
            "Con ese monto, las partes superarían la recompensa total de la operación."
        ),
        # Translators: un reclamo pagado o rechazado está cerrado.
        Rule.CLOSED: t.gettext("El reclamo está cerrado; primero hay que reabrirlo."),
        # Translators: una nota o un paso escrito por el coordinador es demasiado largo.
        Rule.TOO_LONG: t.gettext("El texto es demasiado largo; acórtalo."),
        # Translators: falta el monto del pago o el paso antes de confirmar.
        Rule.INCOMPLETE: t.gettext("Falta completar el cambio antes de confirmarlo."),
    }
    return texts[rule]


def _changed_meanwhile(t: NullTranslations) -> str:
    # Translators: dos coordinadores cambiaron el mismo reclamo a la vez; este llegó segundo.
    return t.gettext(
        "Otra persona cambió este reclamo mientras tanto; tu cambio no se guardó."
        " Ábrelo de nuevo con /reclamos para ver cómo quedó."
    )


def _claim_line(t: NullTranslations, claim: Claim, codename: str, today: date) -> str:
    days = claim.days_overdue(today)
    line = f"<b>{escape(claim.reference)}</b> · {escape(codename)} · " + escape(
        status_label(t, claim.status)
    )
    if days:
        # Translators: en la lista de reclamos de un coordinador: días de atraso del pago.
        line += " · " + t.ngettext("{n} día de atraso", "{n} días de atraso", days).format(n=days)
    return line


def _list_keyboard(
    t: NullTranslations, claims: Sequence[Claim], lang: Lang
) -> InlineKeyboardMarkup:
    del lang
    rows = [[(claim.reference, f"cadm:open:{claim.id}")] for claim in claims]
    filters = [(status_label(t, status), f"cadm:list:{status.value}") for status in _FILTERS]
    rows += [filters[:3], filters[3:]]
    # Translators: botón que muestra los reclamos atrasados primero; ≤ 20 caracteres.
    rows.append([(t.pgettext("botón", "Atrasados primero"), "cadm:list:all")])
    return send.callback_keyboard(rows)


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
        lines += [_claim_line(t, claim, names[claim.member_id], today) for claim in claims]
        text = "\n".join(lines)
    markup = _list_keyboard(t, claims, member.lang)
    await send.send_sensitive(context, member, chat_id, text, reply_markup=markup)


def _event_lines(
    t: NullTranslations, lang: Lang, context: BotContext, file: ClaimFile
) -> list[str]:
    lines: list[str] = []
    tz = context.services.clock.tz
    for event in file.events[-_EVENTS_SHOWN:]:
        when = format_date(event.at.astimezone(tz).date(), lang)
        line = f"{when} · {escape(status_label(t, event.status))}"
        if event.note:
            line += " · " + escape(event.note[:200])
        if not event.visible:
            # Translators: marca una nota que el informante no ve.
            line += " " + t.gettext("(interna)")
        lines.append(line)
    return lines


def _claim_view(
    t: NullTranslations, member: Member, context: BotContext, file: ClaimFile, codename: str
) -> tuple[str, InlineKeyboardMarkup]:
    claim, lang = file.claim, member.lang
    today = context.services.clock.today()
    # Translators: en la ficha de un reclamo para coordinadores; {codename} es un seudónimo.
    lines = [
        render_claim(t, lang, claim, today),
        t.gettext("Informante: {codename}").format(codename=escape(codename)),
    ]
    if claim.operation.total_cents is not None:
        # Translators: recompensa total ofrecida por la operación, repartida entre reclamos.
        lines.append(
            t.gettext("Recompensa total de la operación: {amount}").format(
                amount=format_money(claim.operation.total_cents, lang)
            )
        )
    for payment in file.payments:
        if payment.imported:
            # Translators: lo pagado según la planilla importada por la administración (no
            # un pago registrado en el bot); {amount} y {date} ya vienen con formato.
            imported = t.gettext("Pago: {amount} el {date} (según la planilla importada)")
            lines.append(
                imported.format(
                    amount=format_money(payment.amount_cents, lang),
                    date=format_date(payment.paid_on, lang),
                )
            )
            continue
        # Translators: un pago registrado; {amount} y {date} ya vienen con formato;
        # {method} es p. ej. «transferencia».
        lines.append(
            t.gettext("Pago: {amount} el {date} ({method})").format(
                amount=format_money(payment.amount_cents, lang),
                date=format_date(payment.paid_on, lang),
                method=escape(payment.method),
            )
        )
    events = _event_lines(t, lang, context, file)
    if events:
        # Translators: título de los últimos cambios de un reclamo.
        lines += ["", t.gettext("Últimos cambios:"), *events]
    rows: list[list[tuple[str, str]]] = []
    targets = [s for s in ClaimStatus if s in manual_targets(claim.status)]
    for status in targets:
        # Translators: botón que empieza a cambiar el estado de un reclamo; {status} es
        # el nuevo estado. ≤ 30 caracteres.
        label = t.pgettext("botón", "→ {status}").format(status=status_label(t, status))
        rows.append([(label, f"cadm:to:{claim.id}:{claim.version}:{status.value}")])
    actions: list[tuple[str, str]] = []
    if claim.status in {
        ClaimStatus.APPROVED,
        ClaimStatus.PAYMENT_SCHEDULED,
        ClaimStatus.PARTIALLY_PAID,
    }:
        # Translators: botón para registrar un pago de un reclamo; ≤ 20 caracteres.
        actions.append(
            (t.pgettext("botón", "Registrar pago"), f"cadm:pay:{claim.id}:{claim.version}")
        )
    if claim.status not in CLOSED_STATUSES:
        # Translators: botón para fijar el próximo paso y su fecha; ≤ 20 caracteres.
        actions.append(
            (t.pgettext("botón", "Próximo paso"), f"cadm:step:{claim.id}:{claim.version}")
        )
        # Translators: botón para cambiar el monto prometido o aprobado; ≤ 20 caracteres.
        actions.append(
            (t.pgettext("botón", "Cambiar montos"), f"cadm:amt:{claim.id}:{claim.version}")
        )
    if actions:
        rows.append(actions)
    return "\n".join(lines), send.callback_keyboard(rows)


def _edit_view(
    t: NullTranslations, lang: Lang, claim: Claim, edit: ClaimEdit
) -> tuple[str, InlineKeyboardMarkup]:
    # Translators: título de un cambio que el coordinador está preparando.
    lines = [t.gettext("Cambio en <b>{reference}</b>:").format(reference=escape(claim.reference))]
    if edit.kind is EditKind.STATUS and edit.status is not None:
        lines.append(
            # Translators: vista previa de un cambio; {status} es el estado nuevo.
            t.gettext("Nuevo estado: {status}").format(status=escape(status_label(t, edit.status)))
        )
    elif edit.kind is EditKind.PAYMENT:
        if edit.amount_cents is None:
            # Translators: deja /pago tal cual; MONTO en soles con punto decimal.
            lines.append(
                t.gettext(
                    "Escribe /pago, el monto, el medio y una referencia si la hay, p. ej."
                    " /pago 1500.50 transferencia OP-123"
                )
            )
        else:
            # Translators: vista previa de un pago; {amount} ya viene con formato.
            lines.append(
                t.gettext("Pago: {amount} ({method})").format(
                    amount=format_money(edit.amount_cents, lang),
                    method=escape(edit.method or ""),
                )
            )
    elif edit.kind is EditKind.AMOUNT:
        lines.extend(_amount_lines(t, lang, edit.new_promised, edit.new_approved))
        if edit.new_promised is None and edit.new_approved is None:
            # Translators: deja /monto, prometido y aprobado tal cual; montos en soles.
            lines.append(
                t.gettext(
                    "Escribe /monto prometido o /monto aprobado y la cifra en soles, p. ej."
                    " /monto aprobado 1200"
                )
            )
        # Translators: dos personas para cambiar el dinero prometido a alguien.
        lines.append(
            t.gettext(
                "El cambio de monto espera la aprobación de otra persona: un coordinador de"
                " la región o un administrador."
            )
        )
    elif edit.step is None and edit.step_date is None:
        # Translators: deja /paso tal cual; la fecha se escribe día/mes/año.
        lines.append(
            t.gettext(
                "Escribe /paso, la fecha y el paso, p. ej. /paso 02/04/2026 Cita con el"
                " coordinador"
            )
        )
    else:
        lines.append(
            t.gettext("Próximo paso: {step} ({date})").format(
                step=escape(edit.step or ""),
                date=format_date(edit.step_date, lang) if edit.step_date else "",
            )
        )
    if edit.note:
        # Translators: la nota que acompaña un cambio de reclamo.
        lines.append(t.gettext("Nota: {note}").format(note=escape(edit.note)))
    # Translators: explica cómo añadir una nota; deja /nota tal cual.
    lines.append(t.gettext("Para añadir o cambiar la nota escribe /nota y el texto."))
    if edit.visible:
        # Translators: la nota se mostrará al informante.
        lines.append(t.gettext("El informante verá la nota."))
        # Translators: botón que hace interna la nota; ≤ 20 caracteres.
        toggle = (t.pgettext("botón", "Nota interna"), "cadm:vis:0")
    else:
        # Translators: la nota queda solo para el personal.
        lines.append(t.gettext("La nota es interna: el informante no la verá."))
        # Translators: botón que hace visible la nota para el informante; ≤ 20 caracteres.
        toggle = (t.pgettext("botón", "Nota visible"), "cadm:vis:1")
    rows = [
        [toggle],
        [
            # Translators: botón que guarda el cambio de un reclamo; ≤ 20 caracteres.
            (t.pgettext("botón", "Confirmar"), f"cadm:ok:{claim.id}:{edit.version}"),
            # Translators: botón que descarta el cambio; ≤ 20 caracteres.
            (t.pgettext("botón", "Cancelar"), CANCEL_DATA),
        ],
    ]
    return "\n".join(lines), send.callback_keyboard(rows)


def _amount_lines(
    t: NullTranslations, lang: Lang, promised: int | None, approved: int | None
) -> list[str]:
    lines: list[str] = []
    if promised is not None:
        # Translators: vista previa; {amount} ya viene con formato, p. ej. "S/ 1,500".
        lines.append(
            t.gettext("Nuevo monto prometido: {amount}").format(
                amount=format_money(promised, lang)
            )
        )
    if approved is not None:
        # Translators: vista previa; {amount} ya viene con formato, p. ej. "S/ 1,200".
        lines.append(
            t.gettext("Nuevo monto aprobado: {amount}").format(amount=format_money(approved, lang))
        )
    return lines


async def _show_edit(
    context: BotContext, member: Member, chat_id: int, claim: Claim, edit: ClaimEdit
) -> None:
    t = context.catalogs.for_lang(member.lang)
    text, keyboard = _edit_view(t, member.lang, claim, edit)
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
    try:
        claim, edit = await context.services.claims_admin.amend(member, **changes)
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
        await _say(context, member, chat_id, refusal_text(t, exc.rule))
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
    parts = _args_text(update).split(maxsplit=2)
    try:
        amount = parse_amount(parts[0]) if len(parts) >= 2 else None
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
    reference = parts[2] if len(parts) > 2 else None
    payment = Payment(amount, context.services.clock.today(), parts[1], reference)
    await _amend(update, context, member, chat_id, payment=payment)


async def _step(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """``/paso <fecha> <texto>``: the next step of the change under way."""
    t = context.catalogs.for_lang(member.lang)
    parts = _args_text(update).split(maxsplit=1)
    try:
        day = _parse_day(parts[0]) if len(parts) == 2 else None
    except ValidationError:
        day = None
    if day is None:
        await _say(
            context,
            member,
            chat_id,
            t.gettext(
                "Escribe /paso, la fecha y el paso, p. ej. /paso 02/04/2026 Cita con el"
                " coordinador"
            ),
        )
        return
    await _amend(update, context, member, chat_id, step=(parts[1], day))


async def _amount(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """``/monto prometido|aprobado <soles>``: a new amount for the change under way."""
    t = context.catalogs.for_lang(member.lang)
    parts = _args_text(update).lower().split()
    try:
        cents = (
            parse_amount(parts[1])
            if len(parts) == 2 and parts[0] in {"prometido", "aprobado"}
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
    which = "promised" if parts[0] == "prometido" else "approved"
    await _amend(update, context, member, chat_id, amount=(which, cents))


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
            *_amount_lines(t, member.lang, request.promised_cents, request.approved_cents),
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
        await _say(context, member, chat.id, _changed_meanwhile(t))
        return
    except ClaimRefused as exc:
        await send.answer_callback(context, query.id)
        await _say(context, member, chat.id, refusal_text(t, exc.rule))
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
        text, keyboard = _claim_view(t, member, context, file, names[file.claim.member_id])
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


def render_amount_approval(
    t: NullTranslations, lang: Lang, notice: AmountApprovalNeeded
) -> Rendered:
    """Tell a coordinator or administrator that an amount change waits (no amount, M-02)."""
    del lang, notice
    # Translators: a coordinadores y administradores; /revisar es un comando. Sin montos.
    return Rendered(t.gettext("Un cambio en un trámite espera tu aprobación. Escribe /revisar."))


def render_amount_decided(t: NullTranslations, lang: Lang, notice: AmountDecided) -> Rendered:
    """Tell who asked for an amount change what became of it (no amount, M-02)."""
    del lang
    if notice.outcome is AmountOutcome.APPROVED:
        return Rendered(
            # Translators: a quien pidió el cambio; /reclamos es un comando. Sin montos.
            t.gettext(
                "Se aprobó el cambio que pediste en un trámite. Escribe /reclamos para verlo."
            )
        )
    if notice.outcome is AmountOutcome.REJECTED:
        return Rendered(
            # Translators: a quien pidió el cambio; /reclamos es un comando. Sin montos.
            t.gettext(
                "Se rechazó el cambio que pediste en un trámite. Escribe /reclamos para verlo."
            )
        )
    return Rendered(
        # Translators: a quien pidió el cambio; el trámite cambió antes de aprobarlo. Sin montos.
        t.gettext(
            "El cambio que pediste en un trámite no se aplicó: el trámite cambió antes."
            " Escribe /reclamos para verlo."
        )
    )
