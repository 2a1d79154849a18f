"""How the outbox rows of schedules look (issue #15): every renderer of the feature, here.

All of them in one module, each taking its typed notice (``bot.domain.notices``) and listed
in the renderer table of ``handlers.notices``. Texts are neutral on a lock screen (T-22): a
reminder says only that there is one (the informant reads what it is about with
``/recordatorios``, behind the bot's usual deletion), a check-in asks "are you well?".
Every interpolated value is escaped (M-09).
"""

from __future__ import annotations

import gettext
import html
from collections.abc import Iterable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.models import Lang
from bot.domain.notices import (
    Checkin,
    CheckinHelp,
    CheckinHelpAcked,
    CheckinLate,
    CheckinMissed,
    Digest,
    Reminder,
)
from handlers.notifier import Rendered

#: Callback data of a check-in's buttons: ``chk:safe:<occurrence>`` / ``chk:help:<occurrence>``.
CHECKIN_CALLBACK = "chk"


def _names(values: Iterable[str]) -> list[str]:
    """Codenames, escaped and sorted."""
    return sorted(html.escape(value) for value in values)


def render_reminder(t: gettext.NullTranslations, lang: Lang, notice: Reminder) -> Rendered:
    """A reminder as the lock screen shows it: that there is one, nothing about what."""
    del lang, notice
    # Translators: aviso en la pantalla bloqueada: no debe decir de qué trata (cita, pago,
    # documento). /recordatorios es un comando: no se traduce.
    return Rendered(t.gettext("Tienes un recordatorio. Escribe /recordatorios para verlo."))


def checkin_keyboard(t: gettext.NullTranslations, occurrence: str) -> InlineKeyboardMarkup:
    """*Estoy bien* / *Necesito ayuda*, one per row (as an alert's answer buttons)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t.pgettext("botón", "Estoy bien"),
                    callback_data=f"{CHECKIN_CALLBACK}:safe:{occurrence}",
                )
            ],
            [
                InlineKeyboardButton(
                    t.pgettext("botón", "Necesito ayuda"),
                    callback_data=f"{CHECKIN_CALLBACK}:help:{occurrence}",
                )
            ],
        ]
    )


def render_checkin(t: gettext.NullTranslations, lang: Lang, notice: Checkin) -> Rendered:
    """A safety check-in: the question and the two answer buttons."""
    del lang
    # Translators: [bilingüe] control de seguridad programado; debajo van los botones
    # «Estoy bien» y «Necesito ayuda».
    text = t.gettext("Control de seguridad: ¿estás bien? Responde con un botón.")
    return Rendered(text, reply_markup=checkin_keyboard(t, str(notice.occurrence)))


def render_checkin_help(t: gettext.NullTranslations, lang: Lang, notice: CheckinHelp) -> Rendered:
    """To a coordinator: who asked for help in a check-in (coalesced while waiting), with a
    button to take each request (``sch:ha:<occurrence>:<member>``)."""
    del lang
    occurrence = str(notice.occurrence)
    asked = notice.asked
    names = [html.escape(name) for _, name in asked]
    # Translators: se envía a un coordinador. {codenames} son seudónimos separados por comas,
    # {occurrence} el número del control de seguridad.
    text = t.gettext("Pidió ayuda en el control de seguridad n.º {occurrence}: {codenames}.")
    if len(asked) == 1:
        buttons = [
            [
                InlineKeyboardButton(
                    t.pgettext("botón", "Yo lo atiendo"),
                    callback_data=f"sch:ha:{occurrence}:{asked[0][0]}",
                )
            ]
        ]
    else:
        buttons = [
            [
                InlineKeyboardButton(
                    t.pgettext("botón", "Atiendo a {codename}").format(codename=name),
                    callback_data=f"sch:ha:{occurrence}:{member_id}",
                )
            ]
            for member_id, name in asked[:MAX_HELP_BUTTONS]
        ]
    return Rendered(
        "<b>"
        + text.format(occurrence=html.escape(occurrence), codenames=", ".join(names))
        + "</b>",
        reply_markup=InlineKeyboardMarkup(buttons),
    )


#: Buttons of one coalesced escalation (Telegram allows 100; a screen shows far fewer).
MAX_HELP_BUTTONS = 40


def render_checkin_help_acked(
    t: gettext.NullTranslations, lang: Lang, notice: CheckinHelpAcked
) -> Rendered:
    """To the other coordinators: the check-in's help request is being handled."""
    del lang
    text = t.gettext("{by} atiende el pedido de ayuda de {codename}.").format(
        by=html.escape(notice.by), codename=html.escape(notice.codename)
    )
    return Rendered(text, disable_notification=True)


def render_checkin_missed(
    t: gettext.NullTranslations, lang: Lang, notice: CheckinMissed
) -> Rendered:
    """To a coordinator, once per occurrence: who did not confirm, who was unreachable."""
    del lang
    occurrence = str(notice.occurrence)
    lines = []
    missing = _names(notice.missing)
    unreachable = _names(notice.unreachable)
    if missing:
        # Translators: se envía a un coordinador cuando pasó el plazo de respuesta.
        # {occurrence} es un número, {codenames} seudónimos separados por comas.
        lines.append(
            t.gettext(
                "Control de seguridad n.º {occurrence}: no confirmaron a tiempo: {codenames}."
            ).format(occurrence=occurrence, codenames=", ".join(missing))
        )
    if unreachable:
        # Translators: se envía a un coordinador. {codenames} son seudónimos de personas a
        # las que el control no llegó (bloquearon el bot o falló el envío).
        lines.append(
            t.gettext(
                "Control de seguridad n.º {occurrence}: no se pudo llegar a: {codenames}."
            ).format(occurrence=occurrence, codenames=", ".join(unreachable))
        )
    return Rendered("\n".join(lines))


def render_checkin_late(t: gettext.NullTranslations, lang: Lang, notice: CheckinLate) -> Rendered:
    """To a coordinator: someone reported as not confirmed answered after the window."""
    del lang
    # Translators: se envía a un coordinador. {codename} es un seudónimo, {occurrence} el
    # número del control de seguridad. Anula el aviso de que no había confirmado.
    text = t.gettext(
        "{codename} respondió tarde al control de seguridad n.º {occurrence}: está bien."
    )
    return Rendered(
        text.format(
            codename=html.escape(notice.codename),
            occurrence=str(notice.occurrence),
        )
    )


def _pairs(pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """``(reference, days)`` with the reference escaped."""
    return [(html.escape(ref), days) for ref, days in pairs]


def _more(shown: int, total: int) -> str:
    """`` … (+N)`` when the section names fewer than it counts."""
    rest = total - shown
    return f" … (+{rest})" if rest > 0 else ""


def render_digest(t: gettext.NullTranslations, lang: Lang, notice: Digest) -> Rendered:
    """The coordinators' daily digest: only the sections with something in them."""
    del lang
    # Translators: título del resumen diario que reciben los coordinadores.
    title = t.gettext("Resumen del día")
    lines = [f"<b>{title}</b>"]
    overdue = _pairs(notice.overdue)
    if overdue:
        items = ", ".join(
            # Translators: un reclamo atrasado en el resumen diario: {reference} su código,
            # {days} los días de atraso.
            t.ngettext("{reference} ({days} día)", "{reference} ({days} días)", days).format(
                reference=ref, days=days
            )
            for ref, days in overdue
        )
        # Translators: resumen diario. {count} es un número, {items} una lista.
        lines.append(
            t.gettext("Atrasados respecto a la fecha prometida ({count}): {items}.").format(
                count=notice.overdue_n, items=items
            )
            + _more(len(overdue), notice.overdue_n)
        )
    stalled = _pairs(notice.stalled)
    if stalled:
        items = ", ".join(
            t.ngettext("{reference} ({days} día)", "{reference} ({days} días)", days).format(
                reference=ref, days=days
            )
            for ref, days in stalled
        )
        # Translators: resumen diario. {days} es el umbral en días, {count} un número,
        # {items} una lista de códigos con sus días.
        lines.append(
            t.gettext("Sin cambios hace más de {days} días ({count}): {items}.").format(
                days=notice.stalled_days,
                count=notice.stalled_n,
                items=items,
            )
            + _more(len(stalled), notice.stalled_n)
        )
    pending = notice.pending_n
    if pending > 0:
        # Translators: resumen diario. {count} es un número; /aprobar es un comando.
        lines.append(
            t.gettext("Avisos que esperan aprobación: {count}. Míralos con /aprobar.").format(
                count=pending
            )
        )
    for names, total, msgid in (
        # Translators: resumen diario. {names} son seudónimos separados por comas.
        (notice.help, notice.help_n, t.gettext("Pedidos de ayuda que nadie atendió: {names}.")),
        # Translators: resumen diario. {names} son seudónimos separados por comas.
        (notice.blocked, notice.blocked_n, t.gettext("Bloquearon el bot: {names}.")),
        (
            notice.missed,
            notice.missed_n,
            # Translators: resumen diario. {names} son seudónimos separados por comas.
            t.gettext("No confirmaron un control de seguridad: {names}."),
        ),
    ):
        shown = _names(names)
        if shown:
            lines.append(msgid.format(names=", ".join(shown)) + _more(len(shown), total))
    return Rendered("\n".join(lines), disable_notification=True)
