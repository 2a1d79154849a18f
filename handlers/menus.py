"""The member's menus: big reply-keyboard buttons, chat command lists and ``/menu``.

Labels and command descriptions are translated at use time with the member's translator (no
module-level translated text, docs/architecture.md §3). A menu button arrives as plain text in the
member's language, so button presses are matched against the labels of both languages: a member
who just switched language may still press a button of the old keyboard.
"""

from __future__ import annotations

from enum import StrEnum
from gettext import NullTranslations

from telegram import KeyboardButton, ReplyKeyboardMarkup, Update

from bot.domain.models import Lang, Member, Role
from bot.i18n import Catalogs
from handlers.access import ALL_ROLES, requires
from handlers.context import BotContext
from handlers.transport import send


class MenuAction(StrEnum):
    """What a reply-keyboard button does."""

    STATUS = "status"
    HELP = "help"
    LANGUAGE = "language"
    ALERT = "alert"
    ALERTS = "alerts"
    APPROVE = "approve"


def button_labels(t: NullTranslations) -> dict[MenuAction, str]:
    """The button labels in ``t``'s language (one or two words, ≤ ~20 characters)."""
    return {
        # Translators: botón grande del menú que muestra los reclamos del miembro; ≤ 20
        # caracteres. Al tocarlo queda escrito en el chat como texto del propio miembro:
        # palabra neutral, nunca «recompensa» (un teléfono revisado no debe delatarlo).
        MenuAction.STATUS: t.pgettext("botón", "Mis trámites"),
        # Translators: botón grande del menú que abre las instrucciones; ≤ 20 caracteres.
        # Sin palabras de «ayuda»: esas quedan para el botón de SOS «Necesito ayuda».
        MenuAction.HELP: t.pgettext("botón", "Cómo usar"),
        # Translators: botón grande del menú que abre la elección de idioma; ≤ 20 caracteres.
        MenuAction.LANGUAGE: t.pgettext("botón", "Idioma"),
        # Translators: botón grande del menú de coordinadores: empieza un aviso (/aviso);
        # ≤ 20 caracteres.
        MenuAction.ALERT: t.pgettext("botón", "Enviar aviso"),
        # Translators: botón grande del menú de coordinadores: los avisos recientes
        # (/alertas); ≤ 20 caracteres.
        MenuAction.ALERTS: t.pgettext("botón", "Avisos recientes"),
        # Translators: botón grande del menú de coordinadores: avisos que esperan su
        # aprobación (/aprobar); ≤ 20 caracteres.
        MenuAction.APPROVE: t.pgettext("botón", "Por aprobar"),
    }


def actions_for(role: Role) -> tuple[MenuAction, ...]:
    """The buttons a role sees: only informants have claims to look at; coordinators and
    administrators get their alert commands on buttons (issue #12.6: typing is hard)."""
    if role is Role.INFORMANT:
        return (MenuAction.STATUS, MenuAction.HELP, MenuAction.LANGUAGE)
    return (
        MenuAction.ALERT,
        MenuAction.ALERTS,
        MenuAction.APPROVE,
        MenuAction.HELP,
        MenuAction.LANGUAGE,
    )


def main_keyboard(t: NullTranslations, role: Role) -> ReplyKeyboardMarkup:
    """Large buttons, one per row for the main action, for small Android screens."""
    labels = button_labels(t)
    actions = actions_for(role)
    rows: list[list[KeyboardButton]] = []
    if MenuAction.STATUS in actions:
        rows.append([KeyboardButton(labels[MenuAction.STATUS])])
    if MenuAction.ALERT in actions:
        rows.append([KeyboardButton(labels[MenuAction.ALERT])])
        rows.append(
            [KeyboardButton(labels[MenuAction.ALERTS]), KeyboardButton(labels[MenuAction.APPROVE])]
        )
    rows.append(
        [KeyboardButton(labels[MenuAction.HELP]), KeyboardButton(labels[MenuAction.LANGUAGE])]
    )
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, is_persistent=True)


def action_for_text(catalogs: Catalogs, text: str) -> MenuAction | None:
    """The action whose button label (in any language) is ``text``, if any."""
    wanted = text.strip()
    for lang in Lang:
        for action, label in button_labels(catalogs.for_lang(lang)).items():
            if label == wanted:
                return action
    return None


def _command_entries(t: NullTranslations, role: Role) -> list[tuple[str, str, bool]]:
    """Every chat command of a role as ``(command, description, in the chat menu)``.

    One list feeds both the chat's command menu and ``/ayuda``, so help can never describe a
    command the member cannot use, nor leave one out. ``/aviso_texto`` and ``/aviso_datos``
    are explained in ``/ayuda`` only (tapped from the menu they would arrive without the
    text they need), and so is ``/pin_duress``: it is set once, and the menu stays short.
    ``/borrar`` comes last, away from the thumb's usual taps (it asks before acting anyway).
    """
    entries: list[tuple[str, str, bool]] = []
    if role is Role.INFORMANT:
        entries += [
            # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
            ("estado", t.pgettext("comando", "Ver tus trámites"), True),
            # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
            ("pin", t.pgettext("comando", "Crear o cambiar tu PIN"), True),
            (
                "recordatorios",
                # Translators: línea de /ayuda.
                t.pgettext("comando", "Ver tus próximos recordatorios"),
                False,
            ),
            (
                "pin_duress",
                # Translators: línea de /ayuda; qué hace ese PIN se explica en el mensaje de
                # seguridad que sigue.
                t.pgettext("comando", "Crear un PIN de emergencia (lee abajo qué hace)"),
                False,
            ),
        ]
    else:
        entries += [
            # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
            ("aviso", t.pgettext("comando", "Enviar un aviso de seguridad"), True),
            (
                "aviso_texto",
                # Translators: explicación en /ayuda. Deja /aviso_texto y || tal cual.
                t.pgettext(
                    "comando",
                    "Aviso con texto libre en los dos idiomas: /aviso_texto texto en español"
                    " || texto en quechua. Necesita la aprobación de un administrador.",
                ),
                False,
            ),
            (
                "aviso_datos",
                # Translators: explicación en /ayuda. Deja /aviso_datos y | tal cual.
                t.pgettext(
                    "comando",
                    "Completar la plantilla elegida, por ejemplo: /aviso_datos Pichari | 18:00",
                ),
                False,
            ),
            # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
            ("alertas", t.pgettext("comando", "Ver los avisos recientes y sus respuestas"), True),
            # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
            ("aprobar", t.pgettext("comando", "Aprobar avisos pendientes"), True),
            # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
            ("reclamos", t.pgettext("comando", "Buscar y actualizar los reclamos"), True),
            # Translators: explicación en /ayuda del paso de un cambio de reclamo; corto.
            ("nota", t.pgettext("comando", "Nota del cambio"), False),
            # Translators: explicación en /ayuda del paso de un cambio de reclamo; corto.
            ("pago", t.pgettext("comando", "Pago del cambio"), False),
            # Translators: explicación en /ayuda del paso de un cambio de reclamo; corto.
            ("paso", t.pgettext("comando", "Próximo paso del cambio"), False),
            # Translators: explicación en /ayuda del paso de un cambio de reclamo; corto.
            ("monto", t.pgettext("comando", "Montos del cambio"), False),
            # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
            ("revisar", t.pgettext("comando", "Aprobar cambios de montos"), True),
            # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
            ("informe", t.pgettext("comando", "Pagos por operación"), True),
            (
                "control",
                # Translators: línea de /ayuda.
                t.pgettext("comando", "Control de seguridad diario"),
                False,
            ),
            (
                "recordar",
                # Translators: línea de /ayuda. Deja /recordar y la palabra cita tal cual.
                t.pgettext(
                    "comando", "Recordar una cita: /recordar nombre_clave AAAA-MM-DD HH:MM cita"
                ),
                False,
            ),
            (
                "programados",
                # Translators: línea de /ayuda.
                t.pgettext("comando", "Ver, pausar o detener lo programado"),
                False,
            ),
            (
                "pin",
                # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
                t.pgettext(
                    "comando", "Crear o cambiar tu PIN (obligatorio para avisos y aprobaciones)"
                ),
                True,
            ),
            (
                "pin_reset",
                # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
                # Deja /pin_reset tal cual. «Nombre clave» es el seudónimo de un miembro.
                t.pgettext(
                    "comando",
                    "Borrar el PIN olvidado o bloqueado de alguien: /pin_reset y su nombre clave",
                ),
                True,
            ),
            (
                "desvincular",
                # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
                # Deja /desvincular tal cual. «Nombre clave» es el seudónimo de un miembro.
                t.pgettext(
                    "comando",
                    "Desvincular un teléfono perdido o quitado: /desvincular y su nombre clave",
                ),
                True,
            ),
        ]
    if role is Role.ADMIN:
        # Translators: menú de comandos, solo administradores; corto (la ayuda cabe en pantalla).
        entries.append(("miembros", t.pgettext("comando", "Ver y gestionar miembros"), True))
    entries += [
        # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
        ("menu", t.pgettext("comando", "Mostrar el menú"), True),
        # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
        ("idioma", t.pgettext("comando", "Cambiar el idioma"), True),
        # Translators: descripción en el menú de comandos del chat (≤ 256 caracteres).
        ("ayuda", t.pgettext("comando", "Cómo usar el bot"), True),
        # Translators: descripción del comando de pánico; antes de actuar pide confirmación.
        ("borrar", t.pgettext("comando", "Borrar este chat y desvincular tu cuenta"), True),
    ]
    return entries


def chat_commands(t: NullTranslations, role: Role) -> list[tuple[str, str]]:
    """The ``(command, description)`` menu of one member's chat, in their language."""
    return [(command, text) for command, text, in_menu in _command_entries(t, role) if in_menu]


def help_commands(t: NullTranslations, role: Role) -> list[tuple[str, str]]:
    """Every ``(command, explanation)`` of the role, for ``/ayuda`` (menu ones included)."""
    return [(command, text) for command, text, _ in _command_entries(t, role)]


async def show_menu(context: BotContext, member: Member, chat_id: int, text: str) -> None:
    """Send ``text`` with the member's big-button keyboard."""
    t = context.catalogs.for_lang(member.lang)
    await send.send_text(context, chat_id, text, reply_markup=main_keyboard(t, member.role))


@requires(*ALL_ROLES)
async def menu_command(update: Update, context: BotContext, member: Member) -> None:
    """``/menu``: show the big buttons again (e.g. after the keyboard was hidden)."""
    chat = update.effective_chat
    if chat is None:
        return
    t = context.catalogs.for_lang(member.lang)
    await show_menu(context, member, chat.id, t.gettext("Elige una opción del menú."))
