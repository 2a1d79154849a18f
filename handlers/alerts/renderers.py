"""How alerts look: the outbox renderers of the alert notices and the pure text helpers.

Every function here is pure presentation (a translator in, text or a ``Rendered`` out), so
it is tested without Telegram. The outbox renderers (``render_alert`` … ``render_help_reach``)
are listed in the renderer table of ``handlers.notices``; the alert preview and the tally
text are shared by composing, approving and listing. Every interpolated value is escaped
(M-09); nothing shown to an informant names anyone (T-22).
"""

from __future__ import annotations

import gettext
import html
from collections.abc import Mapping, Sequence
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.alerts import (
    TEMPLATES,
    AlertContent,
    AlertTally,
    RejectReason,
    Severity,
)
from bot.domain.models import Lang
from bot.domain.notices import (
    AlertAllClear,
    AlertSent,
    AlertTallyChanged,
    ApprovalDecided,
    ApprovalEscalated,
    ApprovalNeeded,
    Decision,
    HelpAcked,
    HelpRequested,
    HelpSeen,
)
from bot.i18n import N_
from handlers.context import BotContext
from handlers.notifier import Rendered

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


def alert_body(t: gettext.NullTranslations, lang: Lang, content: AlertContent) -> str:
    """The alert's text in ``lang``; Quechua readers also get the Spanish under it.

    Safety prompts are bilingual for Quechua readers (Quechua first), since
    most learned to read in Spanish and the Quechua is not yet reviewed.
    """
    key = content.template
    if key:
        values = {name: html.escape(content.params[name]) for name in TEMPLATES[key].placeholders}
        spanish = TEMPLATE_TEXT[key].format(**values)
        own = t.gettext(TEMPLATE_TEXT[key]).format(**values)
    else:
        spanish = html.escape(content.text_es or "")
        own = html.escape(content.text_qu or "") if lang is Lang.QU else spanish
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


def render_alert(t: gettext.NullTranslations, lang: Lang, notice: AlertSent) -> Rendered:
    """An alert for one recipient: header, text, the question, the two answer buttons.

    No codename, amount or reference ever appears (T-22). Info alerts arrive silently and
    ask nothing: asking "are you safe?" about a cancelled meeting would cry wolf (#12.5).
    """
    severity = notice.severity
    text = f"<b>{severity_header(t, severity)}</b>\n{alert_body(t, lang, notice.content)}"
    if severity is Severity.INFO:
        return Rendered(text, disable_notification=True)
    # Translators: [bilingüe] última línea de cada aviso de seguridad, sobre los dos botones.
    question = t.gettext("¿Estás a salvo? Responde con un botón.")
    return Rendered(f"{text}\n\n{question}", reply_markup=answer_keyboard(t, str(notice.alert)))


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


def render_tally(t: gettext.NullTranslations, lang: Lang, notice: AlertTallyChanged) -> Rendered:
    """A TALLY row: edit the sender's summary message in place."""
    del lang
    asks = notice.severity is not Severity.INFO
    text = render_tally_text(t, notice.alert, notice.tally, notice.planned, asks=asks)
    return Rendered(text, edit_message_id=notice.message_id or None)


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


def render_help(t: gettext.NullTranslations, lang: Lang, notice: HelpRequested) -> Rendered:
    """To a coordinator: who asked for help, with the button to take each request.

    One row may cover several requests of one alert (coalesced while it waited for the
    coordinator's chat, issue #13): then it names them all, with one button each.
    """
    del lang
    asked = notice.asked
    if len(asked) > 1:
        # Translators: se envía a un coordinador cuando varias personas pidieron ayuda en
        # el mismo aviso. {alert} es un número, {codenames} una lista de seudónimos separados
        # por comas, {count} cuántos son (siempre 2 o más).
        text = t.ngettext(
            "Pidió ayuda en el aviso n.º {alert} ({count} persona): {codenames}.",
            "Pidieron ayuda en el aviso n.º {alert} ({count} personas): {codenames}.",
            len(asked),
        ).format(
            alert=notice.alert,
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
    ((help_id, codename),) = asked
    # Translators: se envía a un coordinador. {codename} es el seudónimo de un miembro,
    # {alert} el número del aviso que respondió.
    text = t.gettext("{codename} pidió ayuda al responder el aviso n.º {alert}.").format(
        codename=html.escape(codename), alert=notice.alert
    )
    button = InlineKeyboardButton(
        t.pgettext("botón", "Yo lo atiendo"), callback_data=f"help:ack:{help_id}"
    )
    return Rendered(f"<b>{text}</b>", reply_markup=InlineKeyboardMarkup([[button]]))


def render_help_acked(t: gettext.NullTranslations, lang: Lang, notice: HelpAcked) -> Rendered:
    """To the other coordinators: the help request is being handled."""
    del lang
    # Translators: se envía a los coordinadores. {by} y {codename} son seudónimos.
    text = t.gettext("{by} atiende el pedido de ayuda de {codename}.").format(
        by=html.escape(notice.by), codename=html.escape(notice.codename)
    )
    return Rendered(text, disable_notification=True)


def render_approval_needed(
    t: gettext.NullTranslations, lang: Lang, notice: ApprovalNeeded
) -> Rendered:
    """To possible approvers: neutral, the content is shown only inside ``/aprobar``."""
    del lang, notice
    # Translators: a coordinadores y administradores. /aprobar es un comando.
    return Rendered(t.gettext("Un aviso espera tu aprobación. Escribe /aprobar."))


def render_approval_escalated(
    t: gettext.NullTranslations, lang: Lang, notice: ApprovalEscalated
) -> Rendered:
    """To the administrators: an urgent alert still waits (neutral, no content)."""
    del lang
    minutes = notice.minutes
    # Translators: a los administradores. {alert} es un número, {minutes} los minutos que
    # lleva esperando. /aprobar es un comando.
    text = t.ngettext(
        "El aviso urgente n.º {alert} espera aprobación desde hace {minutes} minuto."
        " Escribe /aprobar.",
        "El aviso urgente n.º {alert} espera aprobación desde hace {minutes} minutos."
        " Escribe /aprobar.",
        minutes,
    ).format(alert=notice.alert, minutes=minutes)
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
    t: gettext.NullTranslations, lang: Lang, notice: ApprovalDecided
) -> Rendered:
    """To the author: who approved or rejected their alert, and why (issue #12.4)."""
    del lang
    alert = notice.alert
    by = html.escape(notice.codename)
    if notice.decision is Decision.APPROVED:
        count = notice.count
        # Translators: al autor de un aviso. {by} es un seudónimo, {alert} y {count} números.
        text = t.ngettext(
            "{by} aprobó tu aviso n.º {alert}. Se envía a {count} persona.",
            "{by} aprobó tu aviso n.º {alert}. Se envía a {count} personas.",
            count,
        ).format(by=by, alert=alert, count=count)
        return Rendered(text)
    reason = reject_reason_label(t, notice.reason or RejectReason.DOUBTFUL)
    # Translators: al autor de un aviso. {by} es un seudónimo, {alert} un número, {reason}
    # un motivo como «Contenido dudoso».
    text = t.gettext("{by} rechazó tu aviso n.º {alert}. Motivo: {reason}. No se enviará.")
    return Rendered(text.format(by=by, alert=alert, reason=reason))


def render_all_clear(t: gettext.NullTranslations, lang: Lang, notice: AlertAllClear) -> Rendered:
    """To everyone an alert reached: the danger is over (issue #12.5). A fixed text, with
    the Spanish under the Quechua like the alert's header; silent during quiet hours."""
    del lang
    # Translators: [bilingüe] se envía a quienes recibieron un aviso de seguridad cuando el
    # coordinador da por terminado el peligro. No pide hacer nada ni ir a ningún lugar.
    text = t.gettext("Fin del aviso: ya pasó el peligro.")
    return Rendered(f"<b>{text}</b>", disable_notification=notice.silent)


def render_help_reach(t: gettext.NullTranslations, lang: Lang, notice: HelpSeen) -> Rendered:
    """To an informant who asked for help: a coordinator saw it (neutral, no names)."""
    del lang, notice
    # Translators: [bilingüe] a un informante que tocó «Necesito ayuda». Texto fijo y
    # neutro: no nombra a nadie ni pide ir a ningún lugar.
    return Rendered(t.gettext("Un coordinador vio tu pedido de ayuda y se comunicará contigo."))


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
    notice = AlertSent(alert=0, severity=severity, content=content)
    versions = []
    for lang, label in ((Lang.ES, "Español"), (Lang.QU, "Runasimi")):
        r = context.catalogs.for_lang(lang)
        versions.append(f"<b>{label}</b>\n{render_alert(r, lang, notice).text}")
    # Translators: cabecera de la vista previa de un aviso. {severity} es una etiqueta como
    # «Urgente», {regions} una lista de regiones, {count} un número de personas.
    summary = t.gettext("Gravedad: {severity}\nRegiones: {regions}\nDestinatarios: {count}")
    summary = summary.format(
        severity=severity_label(t, severity),
        regions=html.escape(", ".join(regions)),
        count=recipients,
    )
    return "\n\n".join([summary, *versions])


def local_time(context: BotContext, when: datetime | None) -> str | None:
    """``HH:MM`` in the programme's zone, or None."""
    if when is None:
        return None
    return when.astimezone(context.services.clock.tz).strftime("%H:%M")
