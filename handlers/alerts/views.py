"""Listing alerts: ``/alertas`` with each alert's tally, the pages of an alert's answers, and
the tally refreshes (the tick and the one deferred after a storm of answers, issue #13).
"""

from __future__ import annotations

import gettext
import html
import logging
from collections.abc import Sequence
from typing import NamedTuple, cast

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import JobQueue

from bot.domain.alerts import Alert, AlertStatus, Severity
from bot.domain.models import Member
from bot.domain.pin import Resume
from bot.services.alert_answers import AlertAnswers
from handlers.alerts.gates import Button, parse_id, resumable
from handlers.alerts.renderers import local_time, render_tally_text, severity_label
from handlers.context import BotContext
from handlers.transport import send
from handlers.transport.send import callback_keyboard

_LOGGER = logging.getLogger(__name__)


#: Seconds after a deferred answer that its alert's tally is counted again (about the
#: per-chat interval: the coordinator's chat takes no more edits than that).
TALLY_DEFER = 1.0


#: Name prefix of the one-off job that counts one alert's tally again (not a periodic tick).
_DEFERRED_TALLY_JOB = "alert-tally"


def _status_label(t: gettext.NullTranslations, status: AlertStatus) -> str:
    return {
        AlertStatus.PENDING: t.pgettext("estado de aviso", "Espera aprobación"),
        AlertStatus.SENDING: t.pgettext("estado de aviso", "Enviado"),
        AlertStatus.REJECTED: t.pgettext("estado de aviso", "Rechazado"),
        # Translators: estado de un aviso que su autor retiró antes de la aprobación.
        AlertStatus.WITHDRAWN: t.pgettext("estado de aviso", "Retirado"),
    }[status]


@resumable(Resume.ALERT_LIST)
async def alerts_command(
    update: Update, context: BotContext, member: Member, chat_id: int
) -> None:
    """``/alertas``: alerts of the last day in the member's regions, with their tallies."""
    t = context.catalogs.for_lang(member.lang)
    recent = await context.services.alert_tallies.recent_for(member)
    if not recent:
        await send.send_text(
            context, chat_id, t.gettext("No hubo avisos en las últimas 24 horas.")
        )
        return
    blocks = []
    for alert, tally in recent[:10]:
        planned = local_time(context, context.services.alert_tallies.planned_for(alert))
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


async def show_answers(button: Button, context: BotContext, member: Member) -> None:
    """``afu:who:<alert>`` sends page 1 as a new, self-deleting message (codenames, M-10);
    ``afu:pg:<alert>:<n>`` turns the page in place (the deletion stays scheduled)."""
    parts = button.parts
    if parts[1] == "who":
        _, alert_id = parse_id(parts, frozenset({"who"}))
        number = 0
    elif len(parts) == 4 and parts[2].isdecimal() and parts[3].isdecimal():
        alert_id, number = int(parts[2]), int(parts[3])
    else:
        raise ValueError("callback data")
    t = context.catalogs.for_lang(member.lang)
    answers = await context.services.alert_responses.answers_for(member, alert_id)
    text, keyboard = render_answers_page(t, answers, number)
    if parts[1] == "who":
        await send.send_sensitive(context, member, button.chat_id, text, reply_markup=keyboard)
    else:
        await send.edit_text(
            context, button.chat_id, button.message_id, text, reply_markup=keyboard
        )
    await send.answer_callback(context, button.query.id)


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
        await context.services.alert_tallies.refresh_tally(job.data)


async def refresh_tallies(context: BotContext) -> None:
    """The tally tick: queue one coalesced summary edit per changed recent alert."""
    changed = await context.services.alert_tallies.refresh_tallies()
    if changed:
        _LOGGER.debug("Queued %d tally update(s)", changed)
