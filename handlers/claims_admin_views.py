"""What coordinators read in ``/reclamos``: claim lists, a claim's record, a change's preview.

Pure rendering, kept apart from the commands and buttons of ``handlers.claims_admin`` so each
module reads in one sitting: these functions take what to show and return text and keyboards
(whole sentences through gettext, values escaped), and the outbox renderers of the amount
approvals, which name no claim or amount (M-02).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta, tzinfo
from gettext import NullTranslations
from html import escape

from telegram import InlineKeyboardMarkup

from bot.domain.claims import ClaimEdit, EditKind, Rule, manual_targets
from bot.domain.models import CLOSED_STATUSES, Claim, ClaimStatus, Lang
from bot.domain.notices import AmountApprovalNeeded, AmountDecided, AmountOutcome
from bot.i18n import format_date, format_money
from bot.services.claims_admin import ClaimFile
from handlers.notifier import Rendered
from handlers.render import render_claim, status_label
from handlers.transport import send

#: Pressing it drops the change being prepared (``handlers.claims_admin`` routes it).
CANCEL_DATA = "cadm:no"
#: The status filters under the list.
_FILTERS = (
    ClaimStatus.REGISTERED,
    ClaimStatus.UNDER_REVIEW,
    ClaimStatus.APPROVED,
    ClaimStatus.PAYMENT_SCHEDULED,
    ClaimStatus.PARTIALLY_PAID,
)
#: A claim's record shows this many of its last changes.
_EVENTS_SHOWN = 8


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
        # Translators: el coordinador escribió /pago, /paso o /monto mientras prepara otro
        # tipo de cambio (p. ej. un cambio de estado); abajo se le muestra ese cambio.
        Rule.OTHER_EDIT: t.gettext(
            "Ese dato no es del cambio que tienes empezado; abajo está ese cambio."
            " Complétalo con lo que pide o pulsa Cancelar."
        ),
    }
    return texts[rule]


def changed_meanwhile(t: NullTranslations) -> str:
    """The second of two coordinators changing one claim: nothing of theirs was written."""
    # Translators: dos coordinadores cambiaron el mismo reclamo a la vez; este llegó segundo.
    return t.gettext(
        "Otra persona cambió este reclamo mientras tanto; tu cambio no se guardó."
        " Ábrelo de nuevo con /reclamos para ver cómo quedó."
    )


def claim_line(t: NullTranslations, claim: Claim, codename: str, today: date) -> str:
    """One claim in a list: reference, codename, status and days overdue."""
    days = claim.days_overdue(today)
    line = f"<b>{escape(claim.reference)}</b> · {escape(codename)} · " + escape(
        status_label(t, claim.status)
    )
    if days:
        # Translators: en la lista de reclamos de un coordinador: días de atraso del pago.
        line += " · " + t.ngettext("{n} día de atraso", "{n} días de atraso", days).format(n=days)
    return line


def list_keyboard(
    t: NullTranslations, claims: Sequence[Claim], lang: Lang
) -> InlineKeyboardMarkup:
    """A button per listed claim, then the status filters and *overdue first*."""
    del lang
    rows = [[(claim.reference, f"cadm:open:{claim.id}")] for claim in claims]
    filters = [(status_label(t, status), f"cadm:list:{status.value}") for status in _FILTERS]
    rows += [filters[:3], filters[3:]]
    # Translators: botón que muestra los reclamos atrasados primero; ≤ 20 caracteres.
    rows.append([(t.pgettext("botón", "Atrasados primero"), "cadm:list:all")])
    return send.callback_keyboard(rows)


def event_lines(t: NullTranslations, lang: Lang, tz: tzinfo, file: ClaimFile) -> list[str]:
    """The last changes of a claim, newest last, internal notes marked."""
    lines: list[str] = []
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


def claim_view(  # noqa: PLR0917 - each is a different thing to show
    t: NullTranslations, lang: Lang, today: date, tz: tzinfo, file: ClaimFile, codename: str
) -> tuple[str, InlineKeyboardMarkup]:
    """A claim as staff see it, with the buttons for what may be done next."""
    claim = file.claim
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
        paid = t.gettext("Pago: {amount} el {date} ({method})")
        if payment.reference:
            # Translators: un pago registrado con su referencia; {amount} y {date} ya vienen
            # con formato; {method} es p. ej. «transferencia»; {reference} es lo que escribió
            # el coordinador, p. ej. el número de operación del banco OP-123.
            paid = t.gettext("Pago: {amount} el {date} ({method}, referencia {reference})")
        lines.append(
            paid.format(
                amount=format_money(payment.amount_cents, lang),
                date=format_date(payment.paid_on, lang),
                method=escape(payment.method),
                reference=escape(payment.reference or ""),
            )
        )
    events = event_lines(t, lang, tz, file)
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


def step_hint(t: NullTranslations, today: date) -> str:
    """How to type the next step, with an example date two weeks ahead: a fixed example
    would one day lie in the past, and ``/paso`` refuses past dates."""
    example = (today + timedelta(days=14)).strftime("%d/%m/%Y")
    # Translators: deja /paso tal cual; {date} es una fecha de ejemplo día/mes/año.
    return t.gettext(
        "Escribe /paso, la fecha y el paso, p. ej. /paso {date} Cita con el coordinador"
    ).format(date=example)


def edit_view(
    t: NullTranslations, lang: Lang, today: date, claim: Claim, edit: ClaimEdit
) -> tuple[str, InlineKeyboardMarkup]:
    """The change being prepared, what is still to type, and *Confirmar* / *Cancelar*."""
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
            preview = t.gettext("Pago: {amount} ({method})")
            if edit.reference:
                # Translators: vista previa de un pago con su referencia; {amount} ya viene
                # con formato; {reference} es lo que escribió el coordinador, p. ej. OP-123.
                preview = t.gettext("Pago: {amount} ({method}, referencia {reference})")
            lines.append(
                preview.format(
                    amount=format_money(edit.amount_cents, lang),
                    method=escape(edit.method or ""),
                    reference=escape(edit.reference or ""),
                )
            )
    elif edit.kind is EditKind.AMOUNT:
        lines.extend(amount_lines(t, lang, edit.new_promised, edit.new_approved))
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
        lines.append(step_hint(t, today))
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


def amount_lines(
    t: NullTranslations, lang: Lang, promised: int | None, approved: int | None
) -> list[str]:
    """The new promised and approved amounts of a change, those that are set."""
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
