"""Registration by invite deep link and the language choice (M-03, M-19, docs/translating.md).

``/start <code>`` is the only way in. The code is deleted from the chat at once, redeemed
atomically by the service, and the new member is asked for a language with two buttons,
whatever Telegram's ``language_code`` says: no Telegram client has a Quechua interface.
"""

from __future__ import annotations

import re
from gettext import NullTranslations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain.errors import InviteRejected
from bot.domain.models import Lang, Member, Role
from bot.i18n import Catalogs
from handlers.access import ALL_ROLES, answer_stranger, menu_expired, requires
from handlers.context import BotContext
from handlers.menus import chat_commands, show_menu
from handlers.transport import send

#: Endonyms, identical in every language (quechua.md §5 #41).
LANGUAGE_BUTTONS = ((Lang.ES, "Español"), (Lang.QU, "Runasimi"))
LANGUAGE_DATA = re.compile(r"lang:set:(es|qu)")


def language_keyboard() -> InlineKeyboardMarkup:
    """The two language buttons; callback data is language-neutral (``lang:set:qu``)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(label, callback_data=f"lang:set:{lang.value}")
                for lang, label in LANGUAGE_BUTTONS
            ]
        ]
    )


def language_prompt(catalogs: Catalogs) -> str:
    """The language question in Quechua and Spanish, and what choosing Runasimi gives.

    Shown before anyone knows the member's language, so its entries are ``[bilingüe]``: the
    Quechua translator returns the Quechua with the Spanish under it. The note tells the
    member, before they choose, whether the Quechua is unreviewed (drafts on) or partly
    Spanish (drafts off and not everything signed off yet).
    """
    t = catalogs.for_lang(Lang.QU)
    # Translators: [bilingüe] la pregunta del idioma, antes de saber qué idioma lee la persona.
    lines = [t.gettext("Elige tu idioma.")]
    release = catalogs.quechua
    if release.unreviewed and release.drafts:
        lines.append(
            # Translators: [bilingüe] bajo la pregunta del idioma cuando se usan los borradores.
            t.gettext(
                "Runasimi: textos en borrador, aún sin revisar por un hablante nativo. Los"
                " textos de seguridad van también en español."
            )
        )
    elif release.unreviewed:
        # Translators: [bilingüe] bajo la pregunta del idioma mientras faltan revisiones.
        lines.append(t.gettext("Runasimi: lo que aún no está revisado se muestra en español."))
    return "\n\n".join(lines)


async def ask_language(context: BotContext, chat_id: int) -> None:
    """Send the bilingual language question with its two buttons."""
    await send.send_text(
        context, chat_id, language_prompt(context.catalogs), reply_markup=language_keyboard()
    )


async def apply_chat_commands(context: BotContext, member: Member, chat_id: int) -> None:
    """Give this chat the command menu of the member's role, in the member's language."""
    t = context.catalogs.for_lang(member.lang)
    await send.set_chat_commands(context, chat_id, chat_commands(t, member.role))


def welcome_text(t: NullTranslations, member: Member) -> str:
    """The first greeting in the member's language, with the PIN advice of their role.

    Informants are advised to set a PIN (it keeps their claims hidden if someone takes the
    phone); coordinators and administrators are told it is mandatory before their commands
    (M-05), so the first privileged command does not surprise them. A member who has a
    PIN already (changing the language later) is not told again.
    """
    hello = t.gettext("¡Hola! Ya puedes usar el menú: toca uno de los botones de abajo.")
    if member.pin_set:
        return hello
    if member.role is Role.INFORMANT:
        # Translators: parte del primer saludo a un informante; /pin es un comando.
        advice = t.gettext(
            "Te recomendamos crear un PIN con /pin: así, si alguien toma tu teléfono, no"
            " podrá ver tus reclamos."
        )
    else:
        # Translators: parte del primer saludo a un coordinador o administrador;
        # /pin es un comando.
        advice = t.gettext(
            "Antes de usar los comandos de coordinación debes crear un PIN con /pin: es"
            " obligatorio."
        )
    return f"{hello}\n\n{advice}"


async def greet(context: BotContext, member: Member, chat_id: int) -> None:
    """Set the chat's command menu in the member's language and greet them."""
    await apply_chat_commands(context, member, chat_id)
    await show_menu(
        context, member, chat_id, welcome_text(context.catalogs.for_lang(member.lang), member)
    )


async def start_command(update: Update, context: BotContext) -> None:
    """``/start [code]``: redeem an invite, or greet a member who is already registered.

    A member whose account is linked already (re-tapping their used link, or any other
    link) gets "already registered" and the menu in their language: nothing is redeemed.
    Every other refusal (bad, used, expired, locked) gets the stranger reply, the same as
    any unknown account (M-02, T-03, T-04). An invite that preset the language skips the
    language question.
    """
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or message.text is None:
        return
    payload = message.text.partition(" ")[2].strip()
    registration = context.services.registration
    if payload:
        # The invite must not stay readable on the phone (M-03, M-10): delete it first.
        await send.delete_now(context, chat.id, message.message_id)
    member = await registration.identify(user.id)
    if member is not None:
        member = await registration.seen(member)
        if not member.lang_chosen:
            await ask_language(context, chat.id)
            return
        t = context.catalogs.for_lang(member.lang)
        text = t.gettext("Elige una opción del menú.")
        if payload:
            # Translators: un miembro ya registrado abrió otra vez un enlace de invitación.
            text = t.gettext("Ya estás registrado. Elige una opción del menú.")
        await show_menu(context, member, chat.id, text)
        return
    if not payload:
        await answer_stranger(update, context)
        return
    try:
        member = await registration.redeem(user.id, payload)
    except InviteRejected:
        await answer_stranger(update, context)
        return
    if member.lang_chosen:  # preset by the invite (chaski invite create --language)
        await greet(context, member, chat.id)
        return
    await apply_chat_commands(context, member, chat.id)
    await ask_language(context, chat.id)


@requires(*ALL_ROLES)
async def language_command(update: Update, context: BotContext, member: Member) -> None:
    """``/idioma``: ask for the language again."""
    del member
    chat = update.effective_chat
    if chat is not None:
        await ask_language(context, chat.id)


@requires(*ALL_ROLES)
async def on_language_button(update: Update, context: BotContext, member: Member) -> None:
    """``lang:set:<es|qu>``: store the choice, re-label the chat's menus, greet in it."""
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    match = LANGUAGE_DATA.fullmatch(query.data) if isinstance(query.data, str) else None
    if match is None:
        await menu_expired(update, context, member, chat.id)
        return
    member = await context.services.registration.choose_lang(member, Lang(match[1]))
    await send.answer_callback(context, query.id)
    if query.message is not None:
        await send.delete_now(context, chat.id, query.message.message_id)
    await greet(context, member, chat.id)
