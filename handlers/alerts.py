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
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
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
    Severity,
)
from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import Lang, Member, Role
from bot.i18n import N_
from bot.services.alerts import (
    TEMPLATE_ALERT,
    TEMPLATE_APPROVAL_NEEDED,
    TEMPLATE_HELP,
    TEMPLATE_HELP_ACKED,
    TEMPLATE_TALLY,
    AlertPreview,
    alert_params,
)
from handlers import send
from handlers.access import menu_expired, requires
from handlers.context import BotApplication, BotContext
from handlers.notifier import Rendered, register_template
from handlers.pin import require_pin

_LOGGER = logging.getLogger(__name__)

SENDERS = (Role.COORDINATOR, Role.ADMIN)

TALLY_JOB = "alert-tallies"
#: Seconds between tally refreshes: often enough to feel live, coalesced in between.
TALLY_INTERVAL = 5.0
#: Seconds after a deferred answer that its alert's tally is counted again (about the
#: per-chat interval: the coordinator's chat takes no more edits than that).
TALLY_DEFER = 1.0

#: Spanish msgids of the shipped templates (keys and placeholders: ``bot.domain.alerts``).
#: None asks anyone to go anywhere or share a location (A3).
TEMPLATE_TEXT: Mapping[str, str] = {
    # Translators: aviso de seguridad. {place} es un lugar, {time} una hora como 18:00.
    "avoid_area": N_("Evita la zona de {place} hasta las {time}."),
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

    No codename, amount or reference ever appears (T-22); info alerts arrive silently.
    """
    severity = Severity(params.get("severity", Severity.WARNING))
    # Translators: [bilingüe] última línea de cada aviso de seguridad, sobre los dos botones.
    question = t.gettext("¿Estás a salvo? Responde con un botón.")
    text = f"<b>{severity_header(t, severity)}</b>\n{alert_body(t, lang, params)}\n\n{question}"
    return Rendered(
        text,
        reply_markup=answer_keyboard(t, params.get("alert", "0")),
        disable_notification=severity is Severity.INFO,
    )


def render_tally_text(t: gettext.NullTranslations, alert_id: int, tally: AlertTally) -> str:
    """The sender's live summary (counts only)."""
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
        alert=alert_id,
        sent=tally.sent,
        total=tally.total,
        queued=tally.queued,
        failed=tally.failed,
        blocked=tally.blocked,
        cancelled=tally.cancelled,
        safe=tally.safe,
        help=tally.help,
        no_answer=tally.no_answer,
    )


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
    text = render_tally_text(t, alert_id, _tally_from(params))
    return Rendered(text, edit_message_id=message_id or None)


def render_help(t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]) -> Rendered:
    """To a coordinator: who asked for help, with the button to take it."""
    del lang
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


register_template(TEMPLATE_ALERT, render_alert)
register_template(TEMPLATE_TALLY, render_tally)
register_template(TEMPLATE_HELP, render_help)
register_template(TEMPLATE_HELP_ACKED, render_help_acked)
register_template(TEMPLATE_APPROVAL_NEEDED, render_approval_needed)


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
    if preview.needs_approval:
        text += "\n\n" + t.gettext("Este aviso necesita la aprobación de otra persona.")
    confirm = InlineKeyboardButton(
        t.pgettext("botón", "Confirmar y enviar"), callback_data=f"alert:ok:{draft.nonce}"
    )
    return text, InlineKeyboardMarkup([[confirm], [_cancel_button(t)]])


# ---------------------------------------------------------------------- commands


StaffCommand = Callable[[Update, BotContext, Member, int], Coroutine[Any, Any, None]]


def _staff_command(
    callback: StaffCommand,
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """A coordinator/admin command: role gate, then an open PIN session (M-05), then the
    command with the chat id; without a session the PIN is asked for and nothing is read."""

    @requires(*SENDERS)
    @functools.wraps(callback)
    async def wrapper(update: Update, context: BotContext, member: Member) -> None:
        chat = update.effective_chat
        if chat is None or not await require_pin(update, context, member):
            return
        await callback(update, context, member, chat.id)

    return wrapper


@_staff_command
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


@_staff_command
async def approve_command(
    update: Update, context: BotContext, member: Member, chat_id: int
) -> None:
    """``/aprobar``: each alert waiting for this member's approval, with its buttons."""
    t = context.catalogs.for_lang(member.lang)
    pending = await context.services.alerts.pending_for(member)
    if not pending:
        await send.send_text(context, chat_id, t.gettext("No hay avisos pendientes."))
        return
    for alert in pending:
        preview = render_preview(
            context,
            t,
            content=alert.content,
            severity=alert.severity,
            regions=alert.regions,
            recipients=alert.recipients,
        )
        kind = (
            t.gettext("Texto libre escrito por una persona: revísalo con cuidado.")
            if alert.content.is_free_text
            else t.gettext("Plantilla traducida.")
        )
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
        await send.send_text(
            context, chat_id, f"<b>{header}</b>\n{kind}\n\n{preview}", reply_markup=keyboard
        )


def _status_label(t: gettext.NullTranslations, status: AlertStatus) -> str:
    return {
        AlertStatus.PENDING: t.pgettext("estado de aviso", "Espera aprobación"),
        AlertStatus.SENDING: t.pgettext("estado de aviso", "Enviado"),
        AlertStatus.REJECTED: t.pgettext("estado de aviso", "Rechazado"),
    }[status]


@_staff_command
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
        # Translators: una línea de la lista de /alertas. {severity} y {status} son etiquetas.
        line = t.gettext("{severity} · {regions} · {status}").format(
            severity=severity_label(t, alert.severity),
            regions=html.escape(", ".join(alert.regions)),
            status=_status_label(t, alert.status),
        )
        blocks.append(f"{render_tally_text(t, alert.id, tally)}\n{line}")
    await send.send_text(context, chat_id, "\n\n".join(blocks))


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
    if TEMPLATES[press.arg].placeholders:
        await press.show(_values_hint(press.t))
    else:
        await press.show(*await _region_step(press.context, press.member, draft))
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
    alert = await press.context.services.alerts.confirm(
        press.member, press.arg, tally_message_id=press.message_id
    )
    if alert.status is AlertStatus.PENDING:
        text = press.t.gettext("El aviso n.º {alert} espera la aprobación de otra persona.")
    else:
        text = press.t.gettext("Enviando el aviso n.º {alert}…")
    await press.show(text.format(alert=alert.id))
    return None


async def _step_cancel(press: _Press) -> str | None:
    await press.context.services.alerts.cancel_draft(press.member)
    await press.show(press.t.gettext("Aviso cancelado."))
    return None


_STEPS: Mapping[str, Callable[[_Press], Coroutine[Any, Any, str | None]]] = {
    "tpl": _step_template,
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


@_staff_button
async def on_approval_button(
    update: Update, context: BotContext, member: Member, button: _Button
) -> None:
    """``appr:ok|no:<id>``: a second person approves or rejects (M-14, T-14)."""
    query, parts, chat_id, message_id = button
    t = context.catalogs.for_lang(member.lang)
    service = context.services.alerts
    try:
        action, alert_id = _parse_id(parts, frozenset({"ok", "no"}))
        if action == "ok":
            alert = await service.approve(member, alert_id)
            text = t.gettext("Aprobaste el aviso n.º {alert}. Se envía a {count} personas.")
        else:
            alert = await service.reject(member, alert_id)
            text = t.gettext("Rechazaste el aviso n.º {alert}. No se enviará.")
    except (NotFound, NotAllowed, ValueError):
        await menu_expired(update, context, member, chat_id)
        return
    except Conflict:
        text = t.gettext("Otra persona ya decidió sobre este aviso.")
        await send.edit_text(context, chat_id, message_id, text)
        await send.answer_callback(context, query.id)
        return
    await send.edit_text(
        context, chat_id, message_id, text.format(alert=alert.id, count=alert.recipients)
    )
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
    await send.edit_text(context, chat_id, message_id, f"{original}\n\n<i>{note}</i>")
    await send.answer_callback(context, query.id)


# ---------------------------------------------------------------------- the tally tick


def defer_tally(context: BotContext, alert_id: int) -> None:
    """Refresh one alert's tally in ``TALLY_DEFER`` s unless a refresh is already pending.

    An answer that found a tally edit still waiting queued none (``tally_deferred``): this
    one refresh then counts every answer that arrived meanwhile, so a storm of answers costs
    about one count a second and the tally shows the last press soon after it.
    """
    # PTB types a context's job queue with an unbound context type; it is the application's.
    job_queue = cast("JobQueue[BotContext] | None", context.job_queue)
    name = f"{TALLY_JOB}:{alert_id}"
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


def start_tally_job(application: BotApplication) -> None:
    """Schedule the tally tick (the JobQueue is only a clock; SQLite is the truth, R-08)."""
    job_queue = application.job_queue
    if job_queue is None:  # pragma: no cover - the application is always built with one
        raise RuntimeError("alert tallies need a JobQueue")
    for job in job_queue.get_jobs_by_name(TALLY_JOB):
        job.schedule_removal()
    job_queue.run_repeating(
        refresh_tallies,
        interval=TALLY_INTERVAL,
        first=TALLY_INTERVAL,
        name=TALLY_JOB,
        job_kwargs={"coalesce": True, "misfire_grace_time": 30, "max_instances": 1},
    )
