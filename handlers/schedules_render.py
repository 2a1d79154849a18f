"""How the outbox rows of schedules look (issue #15): every renderer of the feature, here.

All of them in one module, with the parameters each one reads listed in ``PARAMS``, so the
rows can move to typed notices in one place. Texts are neutral on a lock screen (T-22): a
reminder says only that there is one (the informant reads what it is about with
``/recordatorios``, behind the bot's usual deletion), a check-in asks "are you well?".
Every interpolated value is escaped (M-09).
"""

from __future__ import annotations

import gettext
import html
import json
from collections.abc import Mapping, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.models import Lang
from bot.services.schedules import (
    TEMPLATE_CHECKIN,
    TEMPLATE_CHECKIN_HELP,
    TEMPLATE_CHECKIN_HELP_ACKED,
    TEMPLATE_CHECKIN_LATE,
    TEMPLATE_CHECKIN_MISSED,
    TEMPLATE_DIGEST,
    TEMPLATE_REMINDER,
)
from handlers.notifier import Rendered, register_template

#: The parameters each renderer reads (the schedule tick adds ``schedule`` and
#: ``occurrence`` to every row of an occurrence).
PARAMS: Mapping[str, tuple[str, ...]] = {
    TEMPLATE_REMINDER: ("schedule", "occurrence"),
    TEMPLATE_CHECKIN: ("schedule", "occurrence"),
    TEMPLATE_CHECKIN_HELP: ("occurrence", "codename", "asked"),
    TEMPLATE_CHECKIN_MISSED: ("occurrence", "schedule", "missing", "unreachable"),
    TEMPLATE_CHECKIN_LATE: ("occurrence", "codename"),
    TEMPLATE_CHECKIN_HELP_ACKED: ("codename", "by"),
    TEMPLATE_DIGEST: (
        "overdue",
        "overdue_n",
        "stalled",
        "stalled_n",
        "stalled_days",
        "pending_n",
        "help",
        "help_n",
        "blocked",
        "blocked_n",
        "missed",
        "missed_n",
    ),
}

#: Callback data of a check-in's buttons: ``chk:safe:<occurrence>`` / ``chk:help:<occurrence>``.
CHECKIN_CALLBACK = "chk"


def _names(raw: str) -> list[str]:
    """A JSON list (or object's values) of codenames, escaped; [] when malformed."""
    try:
        decoded = json.loads(raw or "[]")
    except ValueError:
        return []
    values = decoded.values() if isinstance(decoded, dict) else decoded
    if not isinstance(values, Sequence) and not isinstance(decoded, dict):
        return []
    return sorted(html.escape(str(value)) for value in values)


def render_reminder(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """A reminder as the lock screen shows it: that there is one, nothing about what."""
    del lang, params
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


def render_checkin(t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]) -> Rendered:
    """A safety check-in: the question and the two answer buttons."""
    del lang
    # Translators: [bilingüe] control de seguridad programado; debajo van los botones
    # «Estoy bien» y «Necesito ayuda».
    text = t.gettext("Control de seguridad: ¿estás bien? Responde con un botón.")
    return Rendered(text, reply_markup=checkin_keyboard(t, params.get("occurrence", "0")))


def render_checkin_help(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To a coordinator: who asked for help in a check-in (coalesced while waiting), with a
    button to take each request (``sch:ha:<occurrence>:<member>``)."""
    del lang
    occurrence = params.get("occurrence", "0")
    asked = _asked(params)
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


def _asked(params: Mapping[str, str]) -> list[tuple[str, str]]:
    """(member id, codename) of everybody one escalation covers, by member id."""
    try:
        decoded = json.loads(params.get("asked", "{}"))
    except ValueError:
        decoded = {}
    if not isinstance(decoded, dict) or not decoded:
        return [("0", params.get("codename", "?"))]
    return sorted(
        ((str(k), str(v)) for k, v in decoded.items()),
        key=lambda pair: int(pair[0]) if pair[0].isdigit() else 0,
    )


#: Buttons of one coalesced escalation (Telegram allows 100; a screen shows far fewer).
MAX_HELP_BUTTONS = 40


def render_checkin_help_acked(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To the other coordinators: the check-in's help request is being handled."""
    del lang
    text = t.gettext("{by} atiende el pedido de ayuda de {codename}.").format(
        by=html.escape(params.get("by", "?")), codename=html.escape(params.get("codename", "?"))
    )
    return Rendered(text, disable_notification=True)


def render_checkin_missed(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To a coordinator, once per occurrence: who did not confirm, who was unreachable."""
    del lang
    occurrence = html.escape(params.get("occurrence", "?"))
    lines = []
    missing = _names(params.get("missing", ""))
    unreachable = _names(params.get("unreachable", ""))
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


def render_checkin_late(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """To a coordinator: someone reported as not confirmed answered after the window."""
    del lang
    # Translators: se envía a un coordinador. {codename} es un seudónimo, {occurrence} el
    # número del control de seguridad. Anula el aviso de que no había confirmado.
    text = t.gettext(
        "{codename} respondió tarde al control de seguridad n.º {occurrence}: está bien."
    )
    return Rendered(
        text.format(
            codename=html.escape(params.get("codename", "?")),
            occurrence=html.escape(params.get("occurrence", "?")),
        )
    )


def _pairs(raw: str) -> list[tuple[str, int]]:
    """A JSON list of ``[reference, days]``, escaped; [] when malformed."""
    try:
        decoded = json.loads(raw or "[]")
        return [(html.escape(str(ref)), int(days)) for ref, days in decoded]
    except (ValueError, TypeError):
        return []


def _more(shown: int, total: str) -> str:
    """`` … (+N)`` when the section names fewer than it counts."""
    rest = (int(total) if total.isdigit() else 0) - shown
    return f" … (+{rest})" if rest > 0 else ""


def render_digest(t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]) -> Rendered:
    """The coordinators' daily digest: only the sections with something in them."""
    del lang
    # Translators: título del resumen diario que reciben los coordinadores.
    title = t.gettext("Resumen del día")
    lines = [f"<b>{title}</b>"]
    overdue = _pairs(params.get("overdue", ""))
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
                count=params.get("overdue_n", "?"), items=items
            )
            + _more(len(overdue), params.get("overdue_n", ""))
        )
    stalled = _pairs(params.get("stalled", ""))
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
                days=html.escape(params.get("stalled_days", "?")),
                count=params.get("stalled_n", "?"),
                items=items,
            )
            + _more(len(stalled), params.get("stalled_n", ""))
        )
    pending = params.get("pending_n", "0")
    if pending.isdigit() and int(pending) > 0:
        # Translators: resumen diario. {count} es un número; /aprobar es un comando.
        lines.append(
            t.gettext("Avisos que esperan aprobación: {count}. Míralos con /aprobar.").format(
                count=pending
            )
        )
    for key, msgid in (
        # Translators: resumen diario. {names} son seudónimos separados por comas.
        ("help", t.gettext("Pedidos de ayuda que nadie atendió: {names}.")),
        # Translators: resumen diario. {names} son seudónimos separados por comas.
        ("blocked", t.gettext("Bloquearon el bot: {names}.")),
        # Translators: resumen diario. {names} son seudónimos separados por comas.
        ("missed", t.gettext("No confirmaron un control de seguridad: {names}.")),
    ):
        names = _names(params.get(key, ""))
        if names:
            lines.append(
                msgid.format(names=", ".join(names))
                + _more(len(names), params.get(f"{key}_n", ""))
            )
    return Rendered("\n".join(lines), disable_notification=True)


register_template(TEMPLATE_DIGEST, render_digest)
register_template(TEMPLATE_REMINDER, render_reminder)
register_template(TEMPLATE_CHECKIN, render_checkin)
register_template(TEMPLATE_CHECKIN_HELP, render_checkin_help)
register_template(TEMPLATE_CHECKIN_MISSED, render_checkin_missed)
register_template(TEMPLATE_CHECKIN_LATE, render_checkin_late)
register_template(TEMPLATE_CHECKIN_HELP_ACKED, render_checkin_help_acked)
