"""Composing an alert: ``/aviso``, ``/aviso_texto``, ``/aviso_datos`` and the compose buttons.

Composition is a **persisted draft** (``alert_drafts``, one per coordinator) driven by buttons
and two commands, not a ``ConversationHandler``: a restart keeps the draft, and no plain-text
catch-all competes with the menu keyboard. Steps: ``/aviso`` → template button (or
``/aviso_texto <español> || <quechua>``) → the template's values (buttons, or
``/aviso_datos <valor> | <valor>``) → region buttons → severity buttons → preview in both
languages → confirm. The preview message becomes the sender's live tally, edited by outbox
TALLY rows. Every button is re-authorised in the service (M-04); anything forged, stale or
foreign gets the neutral "menú vencido" (T-10).
"""

from __future__ import annotations

import gettext
import html
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain.alerts import (
    TEMPLATES,
    AlertDraft,
    AlertStatus,
    Approval,
    Severity,
)
from bot.domain.errors import NotAllowed, NotFound, ValidationError
from bot.domain.models import Member
from bot.domain.pin import Resume
from bot.services.alerts import AlertPreview
from handlers.access import menu_expired
from handlers.alerts.gates import Button, resumable, staff_button, staff_command
from handlers.alerts.renderers import (
    TEMPLATE_LABEL,
    local_time,
    planned_line,
    render_preview,
    severity_label,
)
from handlers.context import BotContext
from handlers.transport import send


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
    text += planned_line(t, local_time(context, preview.planned))
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


@resumable(Resume.ALERT_COMPOSE)
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


@staff_command
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


@staff_command
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


@staff_button
async def on_alert_compose_button(
    update: Update, context: BotContext, member: Member, button: Button
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
