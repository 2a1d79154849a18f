"""Approving alerts: ``/aprobar``, the approve / reject / withdraw buttons, the escalation tick.

A second person approves what one coordinator wrote (M-14, T-14); a rejection says why, and the
author may withdraw an alert still waiting (issue #12.4). Urgent alerts waiting too long reach
the administrators (the approval tick).
"""

from __future__ import annotations

import gettext
import html
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain.alerts import Approval, RejectReason
from bot.domain.errors import Conflict, NotAllowed, NotFound
from bot.domain.models import Member
from bot.domain.pin import Resume
from handlers.access import menu_expired
from handlers.alerts.gates import Button, parse_id, resumable, staff_button
from handlers.alerts.renderers import local_time, planned_line, reject_reason_label, render_preview
from handlers.context import BotContext
from handlers.transport import send


@resumable(Resume.ALERT_APPROVE)
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
        when = context.services.alert_tallies.planned_for(alert)
        preview += planned_line(t, local_time(context, when))
        await send.send_text(
            context, chat_id, f"<b>{header}</b>\n{kind}\n\n{preview}", reply_markup=keyboard
        )


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
    action, alert_id = parse_id(parts, frozenset({"ok", "no", "drop"}))
    if action == "ok":
        alert = await service.approve(member, alert_id)
        # Translators: {alert} y {count} son números.
        text = t.ngettext(
            "Aprobaste el aviso n.º {alert}. Se envía a {count} persona.",
            "Aprobaste el aviso n.º {alert}. Se envía a {count} personas.",
            alert.recipients,
        )
        planned = local_time(context, context.services.alert_tallies.planned_for(alert))
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


@staff_button
async def on_approval_button(
    update: Update, context: BotContext, member: Member, button: Button
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


async def escalate_approvals(context: BotContext) -> None:
    """The approval tick: urgent alerts waiting too long reach the administrators."""
    await context.services.alerts.escalate_waiting()
