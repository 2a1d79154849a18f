"""Answering alerts: the informants' *Estoy bien* / *Necesito ayuda* buttons, a coordinator
taking a help request, and the follow-ups of a sent alert (its all clear, a note to someone
who asked for help; issue #12.5).

Informants' answer buttons are never gated: answering an alert must take one tap. Staff
buttons pass the role and PIN gates (``handlers.alerts.gates``) and are re-authorised in the
service on every press (M-04).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from telegram import InlineKeyboardMarkup, Update

from bot.domain.alerts import Answer
from bot.domain.errors import Conflict, NotAllowed, NotFound
from bot.domain.models import Lang, Member, Role
from bot.domain.notices import AlertAllClear
from handlers.access import menu_expired, requires
from handlers.alerts.gates import Button, callback_parts, parse_id, staff_button
from handlers.alerts.renderers import answer_keyboard, render_all_clear
from handlers.alerts.views import defer_tally, show_answers
from handlers.context import BotContext
from handlers.transport import send
from handlers.transport.send import callback_keyboard


@requires(Role.INFORMANT)
async def on_answer_button(update: Update, context: BotContext, member: Member) -> None:
    """``alert:safe|help:<id>``: the recipient answers (idempotent, own alerts only)."""
    parsed = callback_parts(update)
    query = update.callback_query
    if parsed is None or query is None or query.message is None:
        return
    parts, chat_id, message_id = parsed
    t = context.catalogs.for_lang(member.lang)
    try:
        action, alert_id = parse_id(parts, frozenset({"safe", "help"}))
        outcome = await context.services.alert_responses.answer(member, alert_id, Answer(action))
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


@staff_button
async def on_help_button(
    update: Update, context: BotContext, member: Member, button: Button
) -> None:
    """``help:ack:<id>``: a coordinator takes the request; the others are told."""
    query, parts, chat_id, message_id = button
    t = context.catalogs.for_lang(member.lang)
    original = getattr(query.message, "text_html", "") or ""
    try:
        _, help_id = parse_id(parts, frozenset({"ack"}))
        await context.services.alert_responses.ack_help(member, help_id)
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


async def _ask_all_clear(button: Button, context: BotContext, member: Member) -> None:
    """``afu:end:<alert>``: say what the all clear would do and ask to confirm."""
    _, alert_id = parse_id(button.parts, frozenset({"end"}))
    t = context.catalogs.for_lang(member.lang)
    received, waiting = await context.services.alert_responses.all_clear_reach(member, alert_id)
    es = context.catalogs.for_lang(Lang.ES)
    sample = render_all_clear(es, Lang.ES, AlertAllClear(alert=alert_id)).text
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


async def _send_all_clear(button: Button, context: BotContext, member: Member) -> None:
    """``afu:endok:<alert>``: queue the all clear (once per recipient, however often pressed);
    ``afu:endno:<alert>``: nothing is sent."""
    action, alert_id = parse_id(button.parts, frozenset({"endok", "endno"}))
    t = context.catalogs.for_lang(member.lang)
    if action == "endno":
        # Translators: tras tocar «Cancelar» en la confirmación del fin de un aviso.
        text = t.gettext("No se envió el fin del aviso n.º {alert}.").format(alert=alert_id)
    else:
        done = await context.services.alert_responses.all_clear(member, alert_id)
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


async def _reach(button: Button, context: BotContext, member: Member) -> None:
    """``afu:reach:<help>``: the informant is told a coordinator saw their request."""
    _, help_id = parse_id(button.parts, frozenset({"reach"}))
    t = context.catalogs.for_lang(member.lang)
    _, queued = await context.services.alert_responses.reach_out(member, help_id)
    if queued:
        # Translators: aviso breve (toast) tras «Avisar a … que lo viste».
        toast = t.gettext("Le enviamos el mensaje. Comunícate con esa persona.")
    else:
        # Translators: aviso breve (toast): el mensaje fijo ya se le había enviado.
        toast = t.gettext("Ya se le envió ese mensaje por este aviso.")
    await send.answer_callback(context, button.query.id, toast)


_FOLLOW_UPS: Mapping[str, Callable[[Button, BotContext, Member], Coroutine[Any, Any, None]]] = {
    "who": show_answers,
    "pg": show_answers,
    "end": _ask_all_clear,
    "endok": _send_all_clear,
    "endno": _send_all_clear,
    "reach": _reach,
}


@staff_button
async def on_follow_up_button(
    update: Update, context: BotContext, member: Member, button: Button
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
