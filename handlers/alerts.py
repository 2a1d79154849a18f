"""Safety alerts in chat: compose (``/aviso``), approve (``/aprobar``), list, answer, escalate.

Composition is a **persisted draft** (``alert_drafts``, one per coordinator) driven by buttons
and two commands, not a ``ConversationHandler``: a restart keeps the draft, and no plain-text
catch-all competes with the menu keyboard. Steps: ``/aviso`` → template button (or
``/aviso_texto <español> || <quechua>``) → ``/aviso_datos <valor> | <valor>`` when the
template has placeholders → region buttons → severity buttons → preview in both languages →
confirm. The preview message becomes the sender's live tally, edited by outbox TALLY rows.

Every staff command and button first needs an open PIN session (M-05: mandatory for
coordinators and administrators, ``handlers.pin.require_pin``); without one nothing is read or
changed and the PIN is asked for. Informants' answer buttons are never gated: answering an
alert must take one tap. Every button is re-authorised in the service (M-04); anything
forged, stale or foreign gets the neutral "menú vencido" (T-10). The outbox renderers for
alert, tally, help and approval rows are registered here at import time.
"""

from __future__ import annotations

import functools
import gettext
import html
import json
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import JobQueue

from bot.domain.alerts import (
    TEMPLATES,
    Alert,
    AlertContent,
    AlertDraft,
    AlertStatus,
    AlertTally,
    Answer,
    Approval,
    RejectReason,
    Severity,
)
from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import Lang, Member, Role
from bot.i18n import N_
from bot.services.alerts import (
    TEMPLATE_ALERT,
    TEMPLATE_ALL_CLEAR,
    TEMPLATE_APPROVAL_DECIDED,
    TEMPLATE_APPROVAL_ESCALATED,
    TEMPLATE_APPROVAL_NEEDED,
    TEMPLATE_HELP,
    TEMPLATE_HELP_ACKED,
    TEMPLATE_HELP_REACH,
    TEMPLATE_TALLY,
    AlertAnswers,
    AlertPreview,
    alert_params,
)
from handlers.access import menu_expired, requires
from handlers.context import BotContext
from handlers.notifier import Rendered, register_template
from handlers.pin import register_continuation, require_pin
from handlers.transport import send
from handlers.transport.send import callback_keyboard

_LOGGER = logging.getLogger(__name__)

SENDERS = (Role.COORDINATOR, Role.ADMIN)

#: Seconds after a deferred answer that its alert's tally is counted again (about the
#: per-chat interval: the coordinator's chat takes no more edits than that).
TALLY_DEFER = 1.0
#: Name prefix of the one-off job that counts one alert's tally again (not a periodic tick).
_DEFERRED_TALLY_JOB = "alert-tally"

#: Spanish msgids of the shipped templates (keys and placeholders: ``bot.domain.alerts``).
#: None asks anyone to go anywhere or share a location (A3).
TEMPLATE_TEXT: Mapping[str, str] = {
    # Translators: aviso de seguridad. {place} es un lugar tal como lo escribió el
    # coordinador (p. ej. «Pichari» o «el puente»), {time} una hora como 18:00.
    "avoid_area": N_("Zona que debes evitar hasta las {time}: {place}."),
    # Translators: aviso de seguridad.
    "stay_home": N_("Quédate en casa hasta nuevo aviso."),
    # Translators: aviso de seguridad.
    "meeting_cancelled": N_("La reunión de seguridad está cancelada."),
    # Translators: aviso de seguridad.
    "check_messages": N_("Comunícate con tu coordinador."),
}

#: Short labels of the templates on the coordinator's buttons (≤ ~30 characters).
TEMPLATE_LABEL: Mapping[str, str] = {
    "avoid_area": N_("Evitar una zona"),
    "stay_home": N_("Quedarse en casa"),
    "meeting_cancelled": N_("Reunión cancelada"),
    "check_messages": N_("Comunicarse con el coordinador"),
}


# ---------------------------------------------------------------------- pure rendering


def severity_label(t: gettext.NullTranslations, severity: Severity) -> str:
    """The severity's name on buttons and in lists."""
    return {
        # Translators: [bilingüe] gravedad 1 de 3 (la más baja), en botones del coordinador.
        Severity.INFO: t.pgettext("gravedad de aviso", "Información"),
        # Translators: [bilingüe] gravedad 2 de 3 (media), en botones del coordinador.
        Severity.WARNING: t.pgettext("gravedad de aviso", "Advertencia"),
        # Translators: [bilingüe] gravedad 3 de 3 (la más alta), en botones del coordinador.
        Severity.URGENT: t.pgettext("gravedad de aviso", "Urgente"),
    }[severity]


def severity_header(t: gettext.NullTranslations, severity: Severity) -> str:
    """The first line of an alert: all the lock screen shows besides the text itself."""
    return {
        # Translators: [bilingüe] primera línea de un aviso de seguridad de gravedad baja.
        Severity.INFO: t.gettext("Aviso"),
        # Translators: [bilingüe] primera línea de un aviso de gravedad media (glosario:
        # Musyay!).
        Severity.WARNING: t.gettext("¡Atención!"),
        # Translators: [bilingüe] primera línea de un aviso urgente (glosario: Paqtataq!).
        Severity.URGENT: t.gettext("¡Cuidado! Urgente."),
    }[severity]


def alert_body(t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]) -> str:
    """The alert's text in ``lang``; Quechua readers also get the Spanish under it.

    Safety prompts are bilingual for Quechua readers (Quechua first), since
    most learned to read in Spanish and the Quechua is not yet reviewed.
    """
    key = params.get("template")
    if key:
        values = {
            name: html.escape(params.get(f"p_{name}", "")) for name in TEMPLATES[key].placeholders
        }
        spanish = TEMPLATE_TEXT[key].format(**values)
        own = t.gettext(TEMPLATE_TEXT[key]).format(**values)
    else:
        spanish = html.escape(params.get("text_es", ""))
        own = html.escape(params.get("text_qu", "")) if lang is Lang.QU else spanish
    if lang is Lang.QU and own != spanish:
        return f"{own}\n\n<i>{spanish}</i>"
    return own


def answer_keyboard(
    t: gettext.NullTranslations, alert_id: str, *, safe: bool = True
) -> InlineKeyboardMarkup:
    """*Estoy bien* / *Necesito ayuda*; after *Estoy bien* only help stays (things change)."""
    buttons = []
    if safe:
        buttons.append(
            InlineKeyboardButton(
                # Translators: [bilingüe] botón de respuesta a un aviso; ≤ 20 caracteres.
                t.pgettext("botón", "Estoy bien"),
                callback_data=f"alert:safe:{alert_id}",
            )
        )
    buttons.append(
        InlineKeyboardButton(
            # Translators: [bilingüe] botón de respuesta a un aviso (pedir ayuda); ≤ 20
            # caracteres.
            t.pgettext("botón", "Necesito ayuda"),
            callback_data=f"alert:help:{alert_id}",
        )
    )
    # One button per row: a two-language label is cut on a 360-dp screen if they share one.
    return InlineKeyboardMarkup([[button] for button in buttons])


def render_alert(t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]) -> Rendered:
    """An alert for one recipient: header, text, the question, the two answer buttons.

    No codename, amount or reference ever appears (T-22). Info alerts arrive silently and
    ask nothing: asking "are you safe?" about a cancelled meeting would cry wolf (#12.5).
    """
    severity = Severity(params.get("severity", Severity.WARNING))
    text = f"<b>{severity_header(t, severity)}</b>\n{alert_body(t, lang, params)}"
    if severity is Severity.INFO:
        return Rendered(text, disable_notification=True)
    # Translators: [bilingüe] última línea de cada aviso de seguridad, sobre los dos botones.
    question = t.gettext("¿Estás a salvo? Responde con un botón.")
    return Rendered(
        f"{text}\n\n{question}", reply_markup=answer_keyboard(t, params.get("alert", "0"))
    )


def planned_line(t: gettext.NullTranslations, local_time: str | None) -> str:
    """A line saying when held-back messages leave ("" when they go at once; #12.5)."""
    if not local_time:
        return ""
    # Translators: {time} es una hora como 06:00, cuando terminan las horas de descanso.
    return "\n" + t.gettext("Sale a las {time}, al terminar las horas de descanso.").format(
        time=html.escape(local_time)
    )


def render_tally_text(
    t: gettext.NullTranslations,
    alert_id: int,
    tally: AlertTally,
    planned: str | None = None,
    *,
    asks: bool = True,
) -> str:
    """The sender's live summary (counts only), and when held-back rows leave.

    ``asks`` is False for an information alert: it carries no question and no answer
    buttons, so its summary has no answer counts either (#12.5).
    """
    counts = {
        "alert": alert_id,
        "sent": tally.sent,
        "total": tally.total,
        "queued": tally.queued,
        "failed": tally.failed,
        "blocked": tally.blocked,
        "cancelled": tally.cancelled,
    }
    if not asks:
        # Translators: resumen en vivo de un aviso informativo (sin pregunta ni botones)
        # para el coordinador que lo envió. Cada {marcador} es un número.
        text = t.gettext(
            "Aviso n.º {alert}\n"
            "Enviados: {sent} de {total}\n"
            "En espera: {queued}\n"
            "No entregados: {failed}\n"
            "Bloquearon el bot: {blocked}\n"
            "Cancelados: {cancelled}"
        ).format(**counts)
        return text + planned_line(t, planned if tally.queued else None)
    # Translators: resumen en vivo de un aviso para el coordinador que lo envió. Cada
    # {marcador} es un número.
    text = t.gettext(
        "Aviso n.º {alert}\n"
        "Enviados: {sent} de {total}\n"
        "En espera: {queued}\n"
        "No entregados: {failed}\n"
        "Bloquearon el bot: {blocked}\n"
        "Cancelados: {cancelled}\n"
        "Están bien: {safe}\n"
        "Necesitan ayuda: {help}\n"
        "Sin respuesta: {no_answer}"
    )
    return text.format(
        **counts, safe=tally.safe, help=tally.help, no_answer=tally.no_answer
    ) + planned_line(t, planned if tally.queued else None)


def _tally_from(params: Mapping[str, str]) -> AlertTally:
    def n(name: str) -> int:
        value = params.get(name, "0")
        return int(value) if value.isdigit() else 0

    return AlertTally(
        total=n("total"),
        queued=n("queued"),
        sent=n("sent"),
        failed=n("failed"),
        blocked=n("blocked"),
        cancelled=n("cancelled"),
        safe=n("safe"),
        help=n("help"),
    )


def render_tally(t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]) -> Rendered:
    """A TALLY row: edit the sender's summary message in place."""
    del lang
    alert_id = int(params.get("alert", "0"))
    message_id = int(params.get("message_id", "0"))
    asks = params.get("severity") != Severity.INFO
    text = render_tally_text(t, alert_id, _tally_from(params), params.get("planned"), asks=asks)
    return Rendered(text, edit_message_id=message_id or None)


#: Buttons under one escalation at most (Telegram takes 100); /alertas lists every request
#: of the alert with its own button.
MAX_HELP_BUTTONS = 40
#: Characters of codenames in one escalation: room under Telegram's 4 096 for the sentence.
HELP_NAMES_CHARS = 3500


def _names_line(names: Sequence[str]) -> str:
    """The codenames, comma-separated, as many as fit; "… (+N)" for the rest (the count in
    the sentence and /alertas still cover them)."""
    shown: list[str] = []
    used = 0
    for name in names:
        used += len(name) + 2
        if used > HELP_NAMES_CHARS:
            break
        shown.append(html.escape(name))
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" … (+{rest})" if rest else "")


def _asked(params: Mapping[str, str]) -> list[tuple[str, str]]:
    """(help request id, codename) of everybody one escalation covers, oldest first."""
    try:
        decoded = json.loads(params.get("asked", "{}"))
    except ValueError:
        decoded = {}
    if not isinstance(decoded, dict) or not decoded:
        return [(params.get("help", "0"), params.get("codename", "?"))]
    return sorted(
        ((str(k), str(v)) for k, v in decoded.items()),
        key=lambda pair: int(pair[0]) if pair[0].isdigit() else 0,
    )


def render_help(t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]) -> Rendered:
    """To a coordinator: who asked for help, with the button to take each request.

    One row may cover several requests of one alert (coalesced while it waited for the
    coordinator's chat, issue #13): then it names them all, with one button each.
    """
    del lang
    asked = _asked(params)
    if len(asked) > 1:
        # Translators: se envía a un coordinador cuando varias personas pidieron ayuda en
        # el mismo aviso. {alert} es un número, {codenames} una lista de seudónimos separados
        # por comas, {count} cuántos son (siempre 2 o más).
        text = t.ngettext(
            "Pidió ayuda en el aviso n.º {alert} ({count} persona): {codenames}.",
            "Pidieron ayuda en el aviso n.º {alert} ({count} personas): {codenames}.",
            len(asked),
        ).format(
            alert=html.escape(params.get("alert", "?")),
            count=len(asked),
            codenames=_names_line([name for _, name in asked]),
        )
        buttons = [
            [
                InlineKeyboardButton(
                    # Translators: botón por cada persona de un pedido de ayuda agrupado;
                    # {codename} es un seudónimo. ≤ 30 caracteres.
                    t.pgettext("botón", "Atiendo a {codename}").format(codename=name),
                    callback_data=f"help:ack:{help_id}",
                )
            ]
            for help_id, name in asked[:MAX_HELP_BUTTONS]
        ]
        return Rendered(f"<b>{text}</b>", reply_markup=InlineKeyboardMarkup(buttons))
    # Translators: se envía a un coordinador. {codename} es el seudónimo de un miembro,
    # {alert} el número del aviso que respondió.
    text = t.gettext("{codename} pidió ayuda al responder el aviso n.º {alert}.").format(
        codename=html.escape(params.get("codename", "?")),
        alert=html.escape(params.get("alert", "?")),
    )
    button = InlineKeyboardButton(
        t.pgettext("botón", "Yo lo atiendo"), callback_data=f"help:ack:{params.get('help', '0')}"
    )
    return Rendered(f"<b>{text}</b>", reply_markup=InlineKeyboardMarkup([[button]]))


def render_help_acked(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To the other coordinators: the help request is being handled."""
    del lang
    # Translators: se envía a los coordinadores. {by} y {codename} son seudónimos.
    text = t.gettext("{by} atiende el pedido de ayuda de {codename}.").format(
        by=html.escape(params.get("by", "?")), codename=html.escape(params.get("codename", "?"))
    )
    return Rendered(text, disable_notification=True)


def render_approval_needed(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To possible approvers: neutral, the content is shown only inside ``/aprobar``."""
    del lang, params
    # Translators: a coordinadores y administradores. /aprobar es un comando.
    return Rendered(t.gettext("Un aviso espera tu aprobación. Escribe /aprobar."))


def render_approval_escalated(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To the administrators: an urgent alert still waits (neutral, no content)."""
    del lang
    minutes = int(params.get("minutes", "0") or 0)
    # Translators: a los administradores. {alert} es un número, {minutes} los minutos que
    # lleva esperando. /aprobar es un comando.
    text = t.ngettext(
        "El aviso urgente n.º {alert} espera aprobación desde hace {minutes} minuto."
        " Escribe /aprobar.",
        "El aviso urgente n.º {alert} espera aprobación desde hace {minutes} minutos."
        " Escribe /aprobar.",
        minutes,
    ).format(alert=html.escape(params.get("alert", "?")), minutes=minutes)
    return Rendered(f"<b>{text}</b>")


def reject_reason_label(t: gettext.NullTranslations, reason: RejectReason) -> str:
    """Why an approver refused: a button label and the author's note (≤ ~25 characters)."""
    return {
        # Translators: motivo para rechazar un aviso; botón y nota al autor.
        RejectReason.DOUBTFUL: t.pgettext("motivo de rechazo", "Contenido dudoso"),
        # Translators: motivo para rechazar un aviso; botón y nota al autor.
        RejectReason.DETAILS: t.pgettext("motivo de rechazo", "Datos equivocados"),
        # Translators: motivo para rechazar un aviso; botón y nota al autor.
        RejectReason.NOT_NEEDED: t.pgettext("motivo de rechazo", "Ya no hace falta"),
    }[reason]


def render_approval_decided(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To the author: who approved or rejected their alert, and why (issue #12.4)."""
    del lang
    alert = html.escape(params.get("alert", "?"))
    by = html.escape(params.get("codename", "?"))
    if params.get("decision") == "approved":
        count = int(params.get("count", "0") or 0)
        # Translators: al autor de un aviso. {by} es un seudónimo, {alert} y {count} números.
        text = t.ngettext(
            "{by} aprobó tu aviso n.º {alert}. Se envía a {count} persona.",
            "{by} aprobó tu aviso n.º {alert}. Se envía a {count} personas.",
            count,
        ).format(by=by, alert=alert, count=count)
        return Rendered(text)
    try:
        reason = reject_reason_label(t, RejectReason(params.get("reason", "")))
    except ValueError:
        reason = reject_reason_label(t, RejectReason.DOUBTFUL)
    # Translators: al autor de un aviso. {by} es un seudónimo, {alert} un número, {reason}
    # un motivo como «Contenido dudoso».
    text = t.gettext("{by} rechazó tu aviso n.º {alert}. Motivo: {reason}. No se enviará.")
    return Rendered(text.format(by=by, alert=alert, reason=reason))


def render_all_clear(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To everyone an alert reached: the danger is over (issue #12.5). A fixed text, with
    the Spanish under the Quechua like the alert's header; silent during quiet hours."""
    del lang
    # Translators: [bilingüe] se envía a quienes recibieron un aviso de seguridad cuando el
    # coordinador da por terminado el peligro. No pide hacer nada ni ir a ningún lugar.
    text = t.gettext("Fin del aviso: ya pasó el peligro.")
    return Rendered(f"<b>{text}</b>", disable_notification=bool(params.get("silent")))


def render_help_reach(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To an informant who asked for help: a coordinator saw it (neutral, no names)."""
    del lang, params
    # Translators: [bilingüe] a un informante que tocó «Necesito ayuda». Texto fijo y
    # neutro: no nombra a nadie ni pide ir a ningún lugar.
    return Rendered(t.gettext("Un coordinador vio tu pedido de ayuda y se comunicará contigo."))


register_template(TEMPLATE_ALERT, render_alert)
register_template(TEMPLATE_TALLY, render_tally)
register_template(TEMPLATE_HELP, render_help)
register_template(TEMPLATE_HELP_ACKED, render_help_acked)
register_template(TEMPLATE_APPROVAL_NEEDED, render_approval_needed)
register_template(TEMPLATE_APPROVAL_ESCALATED, render_approval_escalated)
register_template(TEMPLATE_APPROVAL_DECIDED, render_approval_decided)
register_template(TEMPLATE_ALL_CLEAR, render_all_clear)
register_template(TEMPLATE_HELP_REACH, render_help_reach)


def render_preview(
    context: BotContext,
    t: gettext.NullTranslations,
    *,
    content: AlertContent,
    severity: Severity,
    regions: Sequence[str],
    recipients: int,
) -> str:
    """The alert as each language's recipients will see it, plus what will happen."""
    params = alert_params(
        Alert(
            id=0,
            creator_id=0,
            nonce="",
            content=content,
            severity=severity,
            regions=tuple(regions),
            status=AlertStatus.PENDING,
            recipients=recipients,
            created_at=context.services.clock.now(),
        )
    )
    versions = []
    for lang, label in ((Lang.ES, "Español"), (Lang.QU, "Runasimi")):
        r = context.catalogs.for_lang(lang)
        versions.append(f"<b>{label}</b>\n{render_alert(r, lang, params).text}")
    # Translators: cabecera de la vista previa de un aviso. {severity} es una etiqueta como
    # «Urgente», {regions} una lista de regiones, {count} un número de personas.
    summary = t.gettext("Gravedad: {severity}\nRegiones: {regions}\nDestinatarios: {count}")
    summary = summary.format(
        severity=severity_label(t, severity),
        regions=html.escape(", ".join(regions)),
        count=recipients,
    )
    return "\n\n".join([summary, *versions])


def _local_time(context: BotContext, when: datetime | None) -> str | None:
    """``HH:MM`` in the programme's zone, or None."""
    if when is None:
        return None
    return when.astimezone(context.services.clock.tz).strftime("%H:%M")


# ---------------------------------------------------------------------- keyboards


def _template_keyboard(t: gettext.NullTranslations) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(t.gettext(TEMPLATE_LABEL[key]), callback_data=f"alert:tpl:{key}")]
        for key in TEMPLATES
    ]
    rows.append([_cancel_button(t)])
    return InlineKeyboardMarkup(rows)


def _cancel_button(t: gettext.NullTranslations) -> InlineKeyboardButton:
    return InlineKeyboardButton(t.pgettext("botón", "Cancelar"), callback_data="alert:no")


async def _region_step(
    context: BotContext, member: Member, draft: AlertDraft
) -> tuple[str, InlineKeyboardMarkup]:
    t = context.catalogs.for_lang(member.lang)
    rows = []
    for region in await context.services.alerts.sendable_regions(member):
        mark = "✅ " if region.name in draft.regions else ""
        rows.append(
            [InlineKeyboardButton(f"{mark}{region.name}", callback_data=f"alert:reg:{region.id}")]
        )
    rows.append(
        [
            InlineKeyboardButton(t.pgettext("botón", "Listo"), callback_data="alert:regs"),
            _cancel_button(t),
        ]
    )
    return t.gettext("¿A qué regiones va el aviso? Toca para elegir y luego «Listo»."), (
        InlineKeyboardMarkup(rows)
    )


def _severity_step(t: gettext.NullTranslations) -> tuple[str, InlineKeyboardMarkup]:
    buttons = [
        [InlineKeyboardButton(severity_label(t, s), callback_data=f"alert:sev:{s}")]
        for s in Severity
    ]
    buttons.append([_cancel_button(t)])
    # Translators: en las horas de descanso de la noche solo salen los avisos urgentes.
    text = t.gettext("¿Qué tan grave es? Solo los urgentes se envían en horas de descanso.")
    return text, InlineKeyboardMarkup(buttons)


def _preview_step(
    context: BotContext, t: gettext.NullTranslations, preview: AlertPreview
) -> tuple[str, InlineKeyboardMarkup]:
    draft = preview.draft
    assert draft.severity is not None  # noqa: S101 - preview() checked it
    text = render_preview(
        context,
        t,
        content=draft.content,
        severity=draft.severity,
        regions=draft.regions,
        recipients=preview.recipients,
    )
    text += planned_line(t, _local_time(context, preview.planned))
    if preview.approval is Approval.PEER:
        text += "\n\n" + t.gettext("Este aviso necesita la aprobación de otra persona.")
    elif preview.approval is Approval.ADMIN:
        # Translators: en la vista previa de un aviso con texto escrito a mano (texto libre
        # o un lugar que no está en la lista) o con muchos destinatarios.
        text += "\n\n" + t.gettext(
            "Este aviso necesita la aprobación de un administrador: lleva texto escrito a mano"
            " o va a muchas personas."
        )
    if preview.stranded:
        # Translators: en la vista previa; no se muestra el botón de confirmar.
        text += "\n" + t.gettext(
            "Nadie puede aprobarlo ahora, así que no se puede enviar. Usa una plantilla con un"
            " lugar de la lista o pide ayuda a un administrador."
        )
        return text, InlineKeyboardMarkup([[_cancel_button(t)]])
    if preview.needs_approval:
        # Translators: {names} son seudónimos separados por comas.
        text += "\n" + t.gettext("Pueden aprobarlo: {names}.").format(
            names=html.escape(", ".join(preview.approvers))
        )
    confirm = InlineKeyboardButton(
        t.pgettext("botón", "Confirmar y enviar"), callback_data=f"alert:ok:{draft.nonce}"
    )
    return text, InlineKeyboardMarkup([[confirm], [_cancel_button(t)]])


# ---------------------------------------------------------------------- commands


StaffCommand = Callable[[Update, BotContext, Member, int], Coroutine[Any, Any, None]]


def _staff_command(
    callback: StaffCommand, *, resume: str | None = None
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """A coordinator/admin command: role gate, then an open PIN session (M-05), then the
    command with the chat id; without a session the PIN is asked for and nothing is read.

    With ``resume`` (commands without arguments), the command runs by itself once the PIN
    is given (issue #12.6); the others are repeated by the member.
    """

    @requires(*SENDERS)
    @functools.wraps(callback)
    async def wrapper(update: Update, context: BotContext, member: Member) -> None:
        chat = update.effective_chat
        if chat is None or not await require_pin(update, context, member, then=resume):
            return
        await callback(update, context, member, chat.id)

    if resume is not None:

        async def resumed(update: Update, context: BotContext, member: Member) -> None:
            chat = update.effective_chat
            if chat is not None and member.role in SENDERS:
                await callback(update, context, member, chat.id)

        register_continuation(resume, resumed)
    return wrapper


def _resumable(
    name: str,
) -> Callable[[StaffCommand], Callable[[Update, BotContext], Coroutine[Any, Any, None]]]:
    """``_staff_command`` that resumes after the PIN under the continuation ``name``."""
    return functools.partial(_staff_command, resume=name)


@_resumable("alert_compose")
async def alert_command(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """``/aviso``: start composing; pick a template or switch to free text."""
    t = context.catalogs.for_lang(member.lang)
    try:
        await context.services.alerts.start_draft(member)
    except NotAllowed:
        # A coordinator without regions: nothing they may send.
        await send.send_text(context, chat_id, t.gettext("No tienes regiones asignadas."))
        return
    # Translators: /aviso_texto es un comando; deja el comando y el separador || tal cual.
    text = t.gettext(
        "Elige una plantilla. Para un texto libre escribe:\n"
        "/aviso_texto texto en español || texto en quechua\n"
        "(un texto libre necesita la aprobación de otra persona)."
    )
    await send.send_text(context, chat_id, text, reply_markup=_template_keyboard(t))


def _args_text(update: Update) -> str:
    """The text after the command (``context.args`` would lose line breaks)."""
    message = update.effective_message
    text = message.text if message and message.text else ""
    parts = text.split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


@_staff_command
async def alert_values_command(
    update: Update, context: BotContext, member: Member, chat_id: int
) -> None:
    """``/aviso_datos <valor> | <valor>``: fill the chosen template's placeholders."""
    t = context.catalogs.for_lang(member.lang)
    values = [part.strip() for part in _args_text(update).split("|")]
    try:
        draft = await context.services.alerts.set_values(member, values)
    except NotFound:
        await send.send_text(context, chat_id, t.gettext("Primero escribe /aviso."))
        return
    except ValidationError:
        await send.send_text(context, chat_id, _values_hint(t))
        return
    text, keyboard = await _region_step(context, member, draft)
    await send.send_text(context, chat_id, text, reply_markup=keyboard)


def _values_hint(t: gettext.NullTranslations) -> str:
    # Translators: /aviso_datos es un comando; el orden lugar | hora no cambia.
    return t.gettext(
        "Escribe el lugar y la hora separados por |, por ejemplo:\n/aviso_datos Pichari | 18:00"
    )


def _free_text_hint(t: gettext.NullTranslations) -> str:
    # Translators: /aviso_texto es un comando; deja el comando y el separador ||.
    return t.gettext(
        "Escribe el aviso en los dos idiomas, separados por ||, sin caracteres ocultos"
        " y con 1000 caracteres como máximo en cada idioma:\n"
        "/aviso_texto texto en español || texto en quechua"
    )


@_staff_command
async def alert_text_command(
    update: Update, context: BotContext, member: Member, chat_id: int
) -> None:
    """``/aviso_texto <español> || <quechua>``: free text, which will need approval."""
    t = context.catalogs.for_lang(member.lang)
    spanish, separator, quechua = _args_text(update).partition("||")
    if not separator:
        await send.send_text(context, chat_id, _free_text_hint(t))
        return
    try:
        draft = await context.services.alerts.set_free_text(member, spanish, quechua)
    except NotAllowed:
        await send.send_text(context, chat_id, t.gettext("No tienes regiones asignadas."))
        return
    except ValidationError:
        await send.send_text(context, chat_id, _free_text_hint(t))
        return
    text, keyboard = await _region_step(context, member, draft)
    await send.send_text(context, chat_id, text, reply_markup=keyboard)


@_resumable("alert_approve")
async def approve_command(
    update: Update, context: BotContext, member: Member, chat_id: int
) -> None:
    """``/aprobar``: each alert waiting for this member's approval, with its buttons."""
    t = context.catalogs.for_lang(member.lang)
    pending = await context.services.alerts.approval_queue(member)
    if not pending:
        await send.send_text(context, chat_id, t.gettext("No hay avisos pendientes."))
        return
    for alert, author in pending:
        preview = render_preview(
            context,
            t,
            content=alert.content,
            severity=alert.severity,
            regions=alert.regions,
            recipients=alert.recipients,
        )
        if alert.content.is_free_text:
            kind = t.gettext("Texto libre escrito por una persona: revísalo con cuidado.")
        elif alert.approval is Approval.ADMIN and alert.content.params:
            # Translators: en /aprobar, para una plantilla cuyo lugar no es de la lista.
            kind = t.gettext(
                "Plantilla con un lugar escrito a mano, que no está en la lista: revísalo con"
                " cuidado."
            )
        else:
            kind = t.gettext("Plantilla traducida.")
        # Translators: en /aprobar. {author} es el seudónimo de quien escribió el aviso.
        kind = t.gettext("Escrito por {author}.").format(author=html.escape(author)) + "\n" + kind
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        t.pgettext("botón", "Aprobar"), callback_data=f"appr:ok:{alert.id}"
                    ),
                    InlineKeyboardButton(
                        t.pgettext("botón", "Rechazar"), callback_data=f"appr:no:{alert.id}"
                    ),
                ]
            ]
        )
        header = t.gettext("Aviso n.º {alert}").format(alert=alert.id)
        when = context.services.alerts.planned_for(alert)
        preview += planned_line(t, _local_time(context, when))
        await send.send_text(
            context, chat_id, f"<b>{header}</b>\n{kind}\n\n{preview}", reply_markup=keyboard
        )


def _status_label(t: gettext.NullTranslations, status: AlertStatus) -> str:
    return {
        AlertStatus.PENDING: t.pgettext("estado de aviso", "Espera aprobación"),
        AlertStatus.SENDING: t.pgettext("estado de aviso", "Enviado"),
        AlertStatus.REJECTED: t.pgettext("estado de aviso", "Rechazado"),
        # Translators: estado de un aviso que su autor retiró antes de la aprobación.
        AlertStatus.WITHDRAWN: t.pgettext("estado de aviso", "Retirado"),
    }[status]


@_resumable("alert_list")
async def alerts_command(
    update: Update, context: BotContext, member: Member, chat_id: int
) -> None:
    """``/alertas``: alerts of the last day in the member's regions, with their tallies."""
    t = context.catalogs.for_lang(member.lang)
    recent = await context.services.alerts.recent_for(member)
    if not recent:
        await send.send_text(
            context, chat_id, t.gettext("No hubo avisos en las últimas 24 horas.")
        )
        return
    blocks = []
    for alert, tally in recent[:10]:
        planned = _local_time(context, context.services.alerts.planned_for(alert))
        status = _status_label(t, alert.status)
        if planned and alert.status is AlertStatus.SENDING and tally.queued:
            # Translators: estado en /alertas de un aviso retenido por las horas de descanso.
            # {time} es una hora como 06:00.
            status = t.pgettext("estado de aviso", "Sale a las {time}").format(time=planned)
        # Translators: una línea de la lista de /alertas. {severity} y {status} son etiquetas.
        line = t.gettext("{severity} · {regions} · {status}").format(
            severity=severity_label(t, alert.severity),
            regions=html.escape(", ".join(alert.regions)),
            status=status,
        )
        summary = render_tally_text(
            t, alert.id, tally, planned, asks=alert.severity is not Severity.INFO
        )
        blocks.append(f"{summary}\n{line}")
    shown = [alert for alert, _ in recent[:10] if alert.status is AlertStatus.SENDING]
    keyboard = follow_up_keyboard(t, shown) if shown else None
    await send.send_text(context, chat_id, "\n\n".join(blocks), reply_markup=keyboard)


def follow_up_keyboard(
    t: gettext.NullTranslations, alerts: Sequence[Alert]
) -> InlineKeyboardMarkup:
    """Under ``/alertas``: each sent alert's answers and its "all clear" (issue #12.5)."""
    rows: list[list[tuple[str, str]]] = []
    for alert in alerts:
        # Translators: botón bajo /alertas; abre la lista de seudónimos. {alert} es un número.
        who = t.pgettext("botón", "Quién pidió ayuda / quién no respondió (n.º {alert})")
        # Translators: botón bajo /alertas; pide confirmar antes de enviar nada.
        end = t.pgettext("botón", "Fin del aviso n.º {alert}")
        rows.append([(who.format(alert=alert.id), f"afu:who:{alert.id}")])
        rows.append([(end.format(alert=alert.id), f"afu:end:{alert.id}")])
    return callback_keyboard(rows)


# ---------------------------------------------------------------------- compose buttons


def _callback_parts(update: Update) -> tuple[list[str], int, int] | None:
    """``(data parts, chat id, message id)`` of a button press, or None."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or query.data is None or query.message is None:
        return None
    return query.data.split(":"), chat.id, query.message.message_id


class _Button(NamedTuple):
    """A staff button press: the query, its split data and the message it sits on."""

    query: CallbackQuery
    parts: list[str]
    chat_id: int
    message_id: int


StaffButton = Callable[[Update, BotContext, Member, _Button], Coroutine[Any, Any, None]]


def _staff_button(
    callback: StaffButton,
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """A coordinator/admin button: role gate, then an open PIN session (M-05), then the press.

    Without a session the press is answered (so the spinner stops) and changes nothing; the
    PIN prompt (or "create your PIN first") arrives as a message and the member presses the
    button again after it.
    """

    @requires(*SENDERS)
    @functools.wraps(callback)
    async def wrapper(update: Update, context: BotContext, member: Member) -> None:
        parsed = _callback_parts(update)
        query = update.callback_query
        if parsed is None or query is None:
            return
        if not await require_pin(update, context, member):
            await send.answer_callback(context, query.id)
            return
        parts, chat_id, message_id = parsed
        await callback(update, context, member, _Button(query, parts, chat_id, message_id))

    return wrapper


@dataclass(frozen=True, slots=True)
class _Press:
    """One press of a compose button, with what every step needs."""

    context: BotContext
    member: Member
    t: gettext.NullTranslations
    chat_id: int
    message_id: int
    arg: str

    async def show(self, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
        """Turn the pressed message into the next step."""
        await send.edit_text(
            self.context, self.chat_id, self.message_id, text, reply_markup=keyboard
        )


async def _step_template(press: _Press) -> str | None:
    draft = await press.context.services.alerts.choose_template(press.member, press.arg)
    await _next_value_step(press, draft)
    return None


async def _next_value_step(press: _Press, draft: AlertDraft) -> None:
    """Ask for the next missing value with buttons (issue #12.6), then the regions."""
    key = draft.content.template
    placeholders = TEMPLATES[key].placeholders if key else ()
    missing = [name for name in placeholders if name not in draft.content.params]
    if not missing:
        await press.show(*await _region_step(press.context, press.member, draft))
    elif missing[0] == "time":
        await press.show(*_time_step(press.context, press.t))
    else:
        await press.show(*await _place_step(press.context, press.t))


async def _place_step(
    context: BotContext, t: gettext.NullTranslations
) -> tuple[str, InlineKeyboardMarkup]:
    """The listed places as buttons; another place can still be typed (it needs approval)."""
    rows = [
        [InlineKeyboardButton(region.name, callback_data=f"alert:place:{region.id}")]
        for region in await context.services.alerts.places()
    ]
    rows.append([_cancel_button(t)])
    # Translators: tras elegir la plantilla «Evitar una zona». Los botones son regiones.
    text = t.gettext(
        "Elige el lugar. Para otro lugar escribe el lugar y la hora separados por |, por"
        " ejemplo:\n/aviso_datos el puente | 18:00\n(otro lugar necesita la aprobación de un"
        " administrador)."
    )
    return text, InlineKeyboardMarkup(rows)


#: Hours ahead offered as buttons for "until when" (local time, on the hour).
TIME_CHOICES = (1, 2, 3, 4, 6, 8, 12)


def _time_step(
    context: BotContext, t: gettext.NullTranslations
) -> tuple[str, InlineKeyboardMarkup]:
    """Until when, as buttons on the hour from the next one (local time)."""
    hour = context.services.clock.now().astimezone(context.services.clock.tz).hour
    labels = [f"{(hour + ahead) % 24:02d}:00" for ahead in TIME_CHOICES]
    buttons = [
        InlineKeyboardButton(label, callback_data=f"alert:time:{label.replace(':', '')}")
        for label in labels
    ]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    rows.append([_cancel_button(t)])
    # Translators: segunda pregunta de la plantilla «Evitar una zona»; botones con horas.
    return t.gettext("¿Hasta qué hora?"), InlineKeyboardMarkup(rows)


async def _step_place(press: _Press) -> str | None:
    draft = await press.context.services.alerts.choose_place(press.member, int(press.arg))
    await _next_value_step(press, draft)
    return None


async def _step_time(press: _Press) -> str | None:
    if len(press.arg) != 4 or not press.arg.isdecimal():
        raise ValueError("time button")
    value = f"{press.arg[:2]}:{press.arg[2:]}"
    draft = await press.context.services.alerts.set_value(press.member, "time", value)
    await _next_value_step(press, draft)
    return None


async def _step_region(press: _Press) -> str | None:
    draft = await press.context.services.alerts.toggle_region(press.member, int(press.arg))
    await press.show(*await _region_step(press.context, press.member, draft))
    return None


async def _step_regions_done(press: _Press) -> str | None:
    draft = await press.context.services.alerts.draft(press.member)
    if not draft.regions:
        return press.t.gettext("Elige al menos una región.")
    await press.show(*_severity_step(press.t))
    return None


async def _step_severity(press: _Press) -> str | None:
    service = press.context.services.alerts
    await service.set_severity(press.member, Severity(press.arg))
    await press.show(*_preview_step(press.context, press.t, await service.preview(press.member)))
    return None


async def _step_confirm(press: _Press) -> str | None:
    try:
        alert = await press.context.services.alerts.confirm(
            press.member, press.arg, tally_message_id=press.message_id
        )
    except ValidationError as exc:
        if str(exc).startswith("approvers"):
            # Translators: aviso breve (toast) al confirmar un aviso que nadie puede aprobar.
            return press.t.gettext("Nadie puede aprobar este aviso. No se envió.")
        raise
    if alert.status is AlertStatus.PENDING:
        text = press.t.gettext("El aviso n.º {alert} espera la aprobación de otra persona.")
        withdraw = InlineKeyboardButton(
            # Translators: botón del autor para retirar un aviso que espera aprobación.
            press.t.pgettext("botón", "Retirar el aviso"),
            callback_data=f"appr:drop:{alert.id}",
        )
        await press.show(text.format(alert=alert.id), InlineKeyboardMarkup([[withdraw]]))
        return None
    text = press.t.gettext("Enviando el aviso n.º {alert}…")
    await press.show(text.format(alert=alert.id))
    return None


async def _step_cancel(press: _Press) -> str | None:
    await press.context.services.alerts.cancel_draft(press.member)
    await press.show(press.t.gettext("Aviso cancelado."))
    return None


_STEPS: Mapping[str, Callable[[_Press], Coroutine[Any, Any, str | None]]] = {
    "tpl": _step_template,
    "place": _step_place,
    "time": _step_time,
    "reg": _step_region,
    "regs": _step_regions_done,
    "sev": _step_severity,
    "ok": _step_confirm,
    "no": _step_cancel,
}


@_staff_button
async def on_alert_compose_button(
    update: Update, context: BotContext, member: Member, button: _Button
) -> None:
    """``alert:tpl|reg|regs|sev|ok|no[:…]``: one step of the composition."""
    query, parts, chat_id, message_id = button
    t = context.catalogs.for_lang(member.lang)
    step = _STEPS.get(parts[1]) if len(parts) in {2, 3} else None
    if step is None:
        await menu_expired(update, context, member, chat_id)
        return
    press = _Press(context, member, t, chat_id, message_id, parts[2] if len(parts) == 3 else "")
    try:
        toast = await step(press)
    except (NotFound, NotAllowed, ValueError, KeyError):
        # Stale, forged or out-of-scope (audited by the service): nothing changes (T-10).
        await menu_expired(update, context, member, chat_id)
        return
    except ValidationError:
        # A bad time or a value the template does not have is a forged button as well.
        toast = t.gettext("Falta completar el aviso. Escribe /aviso para empezar de nuevo.")
    await send.answer_callback(context, query.id, toast)


def _parse_id(parts: Sequence[str], actions: frozenset[str]) -> tuple[str, int]:
    """``feature:action:<number>`` → ``(action, number)``.

    Raises:
        ValueError: anything else (forged or malformed data, T-10, T-27).
    """
    if len(parts) != 3 or parts[1] not in actions or not parts[2].isdecimal():
        raise ValueError("callback data")
    return parts[1], int(parts[2])


# ---------------------------------------------------------------------- approval buttons


def _reason_keyboard(t: gettext.NullTranslations, alert_id: int) -> InlineKeyboardMarkup:
    """The reasons an approver may give; the author is told the chosen one (issue #12.4)."""
    rows = [
        [
            InlineKeyboardButton(
                reject_reason_label(t, reason), callback_data=f"appr:why:{alert_id}:{reason}"
            )
        ]
        for reason in RejectReason
    ]
    return InlineKeyboardMarkup(rows)


async def _decide(
    context: BotContext, member: Member, t: gettext.NullTranslations, parts: Sequence[str]
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Carry out one approval button; the new text of its message (and buttons, if any).

    Raises:
        NotFound, NotAllowed, ValueError: forged, foreign or malformed (menú vencido).
        Conflict: decided or withdrawn already.
    """
    service = context.services.alerts
    if len(parts) == 4 and parts[1] == "why":
        alert_id, reason = int(parts[2]), RejectReason(parts[3])
        alert = await service.reject(member, alert_id, reason)
        text = t.gettext("Rechazaste el aviso n.º {alert}. No se enviará.")
        return text.format(alert=alert.id), None
    action, alert_id = _parse_id(parts, frozenset({"ok", "no", "drop"}))
    if action == "ok":
        alert = await service.approve(member, alert_id)
        # Translators: {alert} y {count} son números.
        text = t.ngettext(
            "Aprobaste el aviso n.º {alert}. Se envía a {count} persona.",
            "Aprobaste el aviso n.º {alert}. Se envía a {count} personas.",
            alert.recipients,
        )
        planned = _local_time(context, service.planned_for(alert))
        return text.format(alert=alert.id, count=alert.recipients) + planned_line(t, planned), None
    if action == "drop":
        alert = await service.withdraw(member, alert_id)
        # Translators: al autor que retiró su aviso antes de que alguien lo aprobara.
        text = t.gettext("Retiraste el aviso n.º {alert}. No se enviará.")
        return text.format(alert=alert.id), None
    # "no": ask why first; the decision is the reason button (re-checked there). A late
    # press on an alert decided meanwhile is a Conflict, answered like a late "ok".
    await service.decidable(member, alert_id)
    # Translators: tras tocar «Rechazar»; el motivo se le dice al autor del aviso.
    text = t.gettext("¿Por qué rechazas el aviso n.º {alert}? Se lo diremos a su autor.")
    return text.format(alert=alert_id), _reason_keyboard(t, alert_id)


@_staff_button
async def on_approval_button(
    update: Update, context: BotContext, member: Member, button: _Button
) -> None:
    """``appr:ok|no|drop:<id>``, ``appr:why:<id>:<reason>``: approve, reject with a reason
    (M-14, T-14), or the author withdraws a pending alert (issue #12.4)."""
    query, parts, chat_id, message_id = button
    t = context.catalogs.for_lang(member.lang)
    try:
        text, keyboard = await _decide(context, member, t, parts)
    except (NotFound, NotAllowed, ValueError):
        await menu_expired(update, context, member, chat_id)
        return
    except Conflict:
        text = t.gettext("Otra persona ya decidió sobre este aviso.")
        await send.edit_text(context, chat_id, message_id, text)
        await send.answer_callback(context, query.id)
        return
    await send.edit_text(context, chat_id, message_id, text, reply_markup=keyboard)
    await send.answer_callback(context, query.id)


# ---------------------------------------------------------------------- answers and help


@requires(Role.INFORMANT)
async def on_answer_button(update: Update, context: BotContext, member: Member) -> None:
    """``alert:safe|help:<id>``: the recipient answers (idempotent, own alerts only)."""
    parsed = _callback_parts(update)
    query = update.callback_query
    if parsed is None or query is None or query.message is None:
        return
    parts, chat_id, message_id = parsed
    t = context.catalogs.for_lang(member.lang)
    try:
        action, alert_id = _parse_id(parts, frozenset({"safe", "help"}))
        outcome = await context.services.alerts.answer(member, alert_id, Answer(action))
    except (NotFound, NotAllowed, ValueError):
        await menu_expired(update, context, member, chat_id)
        return
    if outcome.tally_deferred:
        defer_tally(context, alert_id)
    if not outcome.changed:
        await send.answer_callback(context, query.id)
        return
    original = getattr(query.message, "text_html", "") or ""
    if outcome.answer is Answer.HELP:
        # Translators: [seguridad] tras «Necesito ayuda» (glosario: Coordinadorniykiman
        # willasqañam).
        note = t.gettext("Tu coordinador fue avisado.")
        keyboard = None
    else:
        # Translators: [seguridad] respuesta al botón «Estoy bien» de un aviso.
        note = t.gettext("Respondiste: estás bien. Si algo cambia, toca «Necesito ayuda».")
        keyboard = answer_keyboard(t, str(alert_id), safe=False)
    # The callback answer tells the person at once; the restatement in the message waits for
    # a send slot behind safety messages and tallies (a storm of answers, issue #13).
    await send.answer_callback(context, query.id, note)
    send.edit_later(
        context, chat_id, message_id, f"{original}\n\n<i>{note}</i>", reply_markup=keyboard
    )


@_staff_button
async def on_help_button(
    update: Update, context: BotContext, member: Member, button: _Button
) -> None:
    """``help:ack:<id>``: a coordinator takes the request; the others are told."""
    query, parts, chat_id, message_id = button
    t = context.catalogs.for_lang(member.lang)
    original = getattr(query.message, "text_html", "") or ""
    try:
        _, help_id = _parse_id(parts, frozenset({"ack"}))
        await context.services.alerts.ack_help(member, help_id)
        note = t.gettext("Tú atiendes este pedido de ayuda.")
    except (NotFound, NotAllowed, ValueError):
        await menu_expired(update, context, member, chat_id)
        return
    except Conflict:
        note = t.gettext("Otra persona ya atiende este pedido de ayuda.")
    # An escalation naming several people (issue #13) keeps the buttons of the others.
    markup = getattr(query.message, "reply_markup", None)
    rest = [
        [b for b in row if b.callback_data != query.data]
        for row in (markup.inline_keyboard if markup else ())
    ]
    rest = [row for row in rest if row]
    await send.edit_text(
        context,
        chat_id,
        message_id,
        f"{original}\n\n<i>{note}</i>",
        reply_markup=InlineKeyboardMarkup(rest) if rest else None,
    )
    await send.answer_callback(context, query.id)


# ---------------------------------------------------------------------- follow-ups (#12.5)

#: Characters of one page of an alert's answers: room under Telegram's 4 096 for the header.
ANSWERS_PAGE_CHARS = 3500
#: At most this many help requests (each with its button) on one page.
ANSWERS_PAGE_HELP = 10


class AnswersPage(NamedTuple):
    """One page of an alert's answers: its lines, and the help requests it shows."""

    lines: tuple[str, ...]
    help: tuple[tuple[int, str], ...]


def answer_pages(t: gettext.NullTranslations, answers: AlertAnswers) -> list[AnswersPage]:
    """Split the codenames into pages under Telegram's limit; a section header is repeated
    on the page where its names continue. Pure, so each press rebuilds the same pages."""
    sections: list[tuple[str, list[tuple[str, int | None]]]] = [
        (
            # Translators: título en la lista de respuestas a un aviso; {count} es un número.
            t.gettext("Pidieron ayuda ({count}):").format(count=len(answers.help)),
            [(name, request.id) for request, name in answers.help],
        ),
        (
            # Translators: título en la lista de respuestas a un aviso; {count} es un número.
            t.gettext("Lo recibieron y no respondieron ({count}):").format(
                count=len(answers.no_answer)
            ),
            [(name, None) for name in answers.no_answer],
        ),
        (
            # Translators: título en la lista de respuestas a un aviso: aún en espera (horas de
            # descanso), no entregado o bloquearon el bot. {count} es un número.
            t.gettext("Aún no lo recibieron ({count}):").format(count=len(answers.not_received)),
            [(name, None) for name in answers.not_received],
        ),
    ]
    pages: list[AnswersPage] = []
    lines: list[str] = []
    helps: list[tuple[int, str]] = []
    size = 0
    for header, names in sections:
        if not names:
            continue
        title = f"\n<b>{html.escape(header)}</b>"
        lines.append(title)
        size += len(title) + 1
        for name, help_id in names:
            line = f"• {html.escape(name)}"
            full = size + len(line) + 1 > ANSWERS_PAGE_CHARS
            if full or (help_id is not None and len(helps) >= ANSWERS_PAGE_HELP):
                pages.append(AnswersPage(tuple(lines), tuple(helps)))
                lines, helps = [title], []
                size = len(title) + 1
            lines.append(line)
            size += len(line) + 1
            if help_id is not None:
                helps.append((help_id, name))
    if lines or not pages:
        pages.append(AnswersPage(tuple(lines), tuple(helps)))
    return pages


def render_answers_page(
    t: gettext.NullTranslations, answers: AlertAnswers, number: int
) -> tuple[str, InlineKeyboardMarkup]:
    """Page ``number`` (clamped) of an alert's answers, with its buttons."""
    pages = answer_pages(t, answers)
    number = max(0, min(number, len(pages) - 1))
    page = pages[number]
    alert_id = answers.alert.id
    # Translators: título de la lista de seudónimos de un aviso. {alert} es un número.
    header = "<b>" + t.gettext("Respuestas al aviso n.º {alert}").format(alert=alert_id) + "</b>"
    if len(pages) > 1:
        # Translators: {page} y {pages} son números.
        header += "\n" + t.gettext("Página {page} de {pages}").format(
            page=number + 1, pages=len(pages)
        )
    body = "\n".join(page.lines)
    if not body:
        # Translators: en la lista de respuestas de un aviso sin pedidos de ayuda ni faltantes.
        body = "\n" + t.gettext("Nadie pidió ayuda y todos respondieron.")
    # Translators: botón por cada pedido de ayuda; le envía un mensaje fijo y neutro a esa
    # persona. {codename} es un seudónimo. ≤ 30 caracteres.
    label = t.pgettext("botón", "Avisar a {codename} que lo viste")
    rows = [[(label.format(codename=name), f"afu:reach:{help_id}")] for help_id, name in page.help]
    moves: list[tuple[str, str]] = []
    if number > 0:
        moves.append((t.pgettext("botón", "◀ Anterior"), f"afu:pg:{alert_id}:{number - 1}"))
    if number < len(pages) - 1:
        moves.append((t.pgettext("botón", "Siguiente ▶"), f"afu:pg:{alert_id}:{number + 1}"))
    if moves:
        rows.append(moves)
    return f"{header}\n{body}", callback_keyboard(rows)


async def _show_answers(button: _Button, context: BotContext, member: Member) -> None:
    """``afu:who:<alert>`` sends page 1 as a new, self-deleting message (codenames, M-10);
    ``afu:pg:<alert>:<n>`` turns the page in place (the deletion stays scheduled)."""
    parts = button.parts
    if parts[1] == "who":
        _, alert_id = _parse_id(parts, frozenset({"who"}))
        number = 0
    elif len(parts) == 4 and parts[2].isdecimal() and parts[3].isdecimal():
        alert_id, number = int(parts[2]), int(parts[3])
    else:
        raise ValueError("callback data")
    t = context.catalogs.for_lang(member.lang)
    answers = await context.services.alerts.answers_for(member, alert_id)
    text, keyboard = render_answers_page(t, answers, number)
    if parts[1] == "who":
        await send.send_sensitive(context, member, button.chat_id, text, reply_markup=keyboard)
    else:
        await send.edit_text(
            context, button.chat_id, button.message_id, text, reply_markup=keyboard
        )
    await send.answer_callback(context, button.query.id)


async def _ask_all_clear(button: _Button, context: BotContext, member: Member) -> None:
    """``afu:end:<alert>``: say what the all clear would do and ask to confirm."""
    _, alert_id = _parse_id(button.parts, frozenset({"end"}))
    t = context.catalogs.for_lang(member.lang)
    received, waiting = await context.services.alerts.all_clear_reach(member, alert_id)
    es = context.catalogs.for_lang(Lang.ES)
    sample = render_all_clear(es, Lang.ES, {}).text
    if not received and not waiting:
        # Translators: {alert} es un número.
        text = t.gettext("Nadie recibió el aviso n.º {alert}: no hay a quién avisar.")
        await send.send_text(context, button.chat_id, text.format(alert=alert_id))
        await send.answer_callback(context, button.query.id)
        return
    # Translators: confirmación antes de enviar el fin de un aviso. {count} y {alert} son
    # números; {text} es el mensaje fijo que recibirán.
    text = t.ngettext(
        "¿Enviar «{text}» a la {count} persona que recibió el aviso n.º {alert}?",
        "¿Enviar «{text}» a las {count} personas que recibieron el aviso n.º {alert}?",
        received,
    ).format(text=sample, count=received, alert=alert_id)
    if waiting:
        # Translators: en la confirmación del fin de un aviso; {count} es un número.
        text += "\n" + t.ngettext(
            "{count} envío del aviso que aún espera se cancelará.",
            "{count} envíos del aviso que aún esperan se cancelarán.",
            waiting,
        ).format(count=waiting)
    keyboard = callback_keyboard(
        [
            [(t.pgettext("botón", "Sí, enviar"), f"afu:endok:{alert_id}")],
            [(t.pgettext("botón", "Cancelar"), f"afu:endno:{alert_id}")],
        ]
    )
    await send.send_text(context, button.chat_id, text, reply_markup=keyboard)
    await send.answer_callback(context, button.query.id)


async def _send_all_clear(button: _Button, context: BotContext, member: Member) -> None:
    """``afu:endok:<alert>``: queue the all clear (once per recipient, however often pressed);
    ``afu:endno:<alert>``: nothing is sent."""
    action, alert_id = _parse_id(button.parts, frozenset({"endok", "endno"}))
    t = context.catalogs.for_lang(member.lang)
    if action == "endno":
        # Translators: tras tocar «Cancelar» en la confirmación del fin de un aviso.
        text = t.gettext("No se envió el fin del aviso n.º {alert}.").format(alert=alert_id)
    else:
        done = await context.services.alerts.all_clear(member, alert_id)
        lines = []
        if done.queued:
            # Translators: {alert} y {count} son números.
            lines.append(
                t.ngettext(
                    "Fin del aviso n.º {alert}: se envía a {count} persona.",
                    "Fin del aviso n.º {alert}: se envía a {count} personas.",
                    done.queued,
                ).format(alert=alert_id, count=done.queued)
            )
        elif done.recipients:
            # Translators: al tocar otra vez «Sí, enviar»: nadie recibe el fin dos veces.
            lines.append(
                t.gettext("El fin del aviso n.º {alert} ya se envió.").format(alert=alert_id)
            )
        if done.cancelled:
            # Translators: {count} es un número de mensajes del aviso que no llegaron a salir.
            lines.append(
                t.ngettext(
                    "Se canceló {count} envío del aviso que aún esperaba.",
                    "Se cancelaron {count} envíos del aviso que aún esperaban.",
                    done.cancelled,
                ).format(count=done.cancelled)
            )
        if not lines:
            lines.append(
                t.gettext("Nadie recibió el aviso n.º {alert}: no hay a quién avisar.").format(
                    alert=alert_id
                )
            )
        text = "\n".join(lines)
    await send.edit_text(context, button.chat_id, button.message_id, text)
    await send.answer_callback(context, button.query.id)


async def _reach(button: _Button, context: BotContext, member: Member) -> None:
    """``afu:reach:<help>``: the informant is told a coordinator saw their request."""
    _, help_id = _parse_id(button.parts, frozenset({"reach"}))
    t = context.catalogs.for_lang(member.lang)
    _, queued = await context.services.alerts.reach_out(member, help_id)
    if queued:
        # Translators: aviso breve (toast) tras «Avisar a … que lo viste».
        toast = t.gettext("Le enviamos el mensaje. Comunícate con esa persona.")
    else:
        # Translators: aviso breve (toast): el mensaje fijo ya se le había enviado.
        toast = t.gettext("Ya se le envió ese mensaje por este aviso.")
    await send.answer_callback(context, button.query.id, toast)


_FOLLOW_UPS: Mapping[str, Callable[[_Button, BotContext, Member], Coroutine[Any, Any, None]]] = {
    "who": _show_answers,
    "pg": _show_answers,
    "end": _ask_all_clear,
    "endok": _send_all_clear,
    "endno": _send_all_clear,
    "reach": _reach,
}


@_staff_button
async def on_follow_up_button(
    update: Update, context: BotContext, member: Member, button: _Button
) -> None:
    """``afu:who|pg|end|endok|endno|reach:…``: an alert's answers, its all clear, and a note
    to someone who asked for help (issue #12.5); re-authorised on every press (M-04)."""
    step = _FOLLOW_UPS.get(button.parts[1]) if len(button.parts) >= 3 else None
    if step is None:
        await menu_expired(update, context, member, button.chat_id)
        return
    try:
        await step(button, context, member)
    except (NotFound, NotAllowed, ValueError):
        # Forged, foreign, stale or not sent: audited by the service, nothing shown (T-10).
        await menu_expired(update, context, member, button.chat_id)


# ---------------------------------------------------------------------- the tally tick


def defer_tally(context: BotContext, alert_id: int) -> None:
    """Refresh one alert's tally in ``TALLY_DEFER`` s unless a refresh is already pending.

    An answer that found a tally edit still waiting queued none (``tally_deferred``): this
    one refresh then counts every answer that arrived meanwhile, so a storm of answers costs
    about one count a second and the tally shows the last press soon after it.
    """
    # PTB types a context's job queue with an unbound context type; it is the application's.
    job_queue = cast("JobQueue[BotContext] | None", context.job_queue)
    name = f"{_DEFERRED_TALLY_JOB}:{alert_id}"
    if job_queue is None or job_queue.get_jobs_by_name(name):
        return
    job_queue.run_once(_refresh_one_tally, TALLY_DEFER, data=alert_id, name=name)


async def _refresh_one_tally(context: BotContext) -> None:
    job = context.job
    if job is not None and isinstance(job.data, int):
        await context.services.alerts.refresh_tally(job.data)


async def refresh_tallies(context: BotContext) -> None:
    """The tally tick: queue one coalesced summary edit per changed recent alert."""
    changed = await context.services.alerts.refresh_tallies()
    if changed:
        _LOGGER.debug("Queued %d tally update(s)", changed)


async def escalate_approvals(context: BotContext) -> None:
    """The approval tick: urgent alerts waiting too long reach the administrators."""
    await context.services.alerts.escalate_waiting()
