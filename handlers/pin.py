"""``/pin``, ``/pin_duress``, ``/pin_reset`` and the PIN prompt (M-05, M-13b, T-15..T-17).

The PIN is never part of a command (a command stays in the chat list and in Telegram's
cloud): the bot asks for it, and the member's next plain text is taken as the PIN by
``PinText`` (group -2, before the gatekeeper and the menus), deleted at once and never
logged. Every reply about PINs goes through ``send_sensitive`` so it disappears too (M-10).

Other features do not call anything here: a command declares its PIN rule next to its roles
(``handlers.access.requires``). After a correct PIN, the command named by the prompt's
``Resume`` runs by itself: ``PinText`` is handed the table of those commands at start-up
(``handlers.pin_continuations``) and refuses to start unless it covers every ``Resume``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from gettext import NullTranslations
from html import escape
from types import MappingProxyType

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.domain.errors import NotAllowed, NotFound, Unavailable
from bot.domain.models import Member, Role
from bot.domain.pin import (
    PinNotSet,
    PinPass,
    PinPurpose,
    PinRequired,
    PinRule,
    PinStep,
    Resume,
    normalise_pin,
)
from bot.services.pin import PinOutcome, PinResult
from handlers.access import ALL_ROLES, Guarded, not_available, pin_lapsed, requires
from handlers.context import BotContext
from handlers.eraser import TelegramEraser
from handlers.menus import action_for_text
from handlers.render import render_pin_locked
from handlers.transport import send

_LOGGER = logging.getLogger(__name__)


async def _say(context: BotContext, member: Member, chat_id: int, text: str) -> None:
    await send.send_sensitive(context, member, chat_id, text)


def _new_pin_text(t: NullTranslations) -> str:
    # Translators: [seguridad] pide el PIN nuevo; el mensaje del miembro se borra.
    return t.gettext(
        "Escribe tu nuevo PIN: de 6 a 12 cifras, sin fechas ni números fáciles. "
        "El bot borrará tu mensaje."
    )


def duress_text(t: NullTranslations) -> str:
    """What ``/pin_duress`` explains; it quotes the empty claim list the duress PIN shows."""
    # Translators: [seguridad] explica el PIN de emergencia. Corto y tranquilo.
    return t.gettext(
        "Escribe un PIN de emergencia, distinto de tu PIN. Si alguien te obliga a abrir "
        "el bot, escribe ese PIN: el bot dirá «Todavía no tienes trámites.» y avisará a tu "
        "coordinador sin que se note."
    )


# ---------------------------------------------------------------------- commands


@requires(*ALL_ROLES)
async def pin_command(update: Update, context: BotContext, member: Member) -> None:
    """``/pin``: create the PIN, or change it after the current one (asked every time)."""
    chat = update.effective_chat
    if chat is None:
        return
    t = context.catalogs.for_lang(member.lang)
    purpose = await context.services.pin.start_change(member)
    if purpose is PinPurpose.NEW:
        await _say(context, member, chat.id, _new_pin_text(t))
    else:
        await _say(
            context,
            member,
            chat.id,
            # Translators: [seguridad] pide el PIN actual antes de cambiarlo.
            t.gettext("Escribe tu PIN actual. El bot borrará tu mensaje."),
        )


@requires(Role.INFORMANT)
async def duress_command(update: Update, context: BotContext, member: Member) -> None:
    """``/pin_duress``: an informant sets the emergency PIN (M-13b)."""
    chat = update.effective_chat
    if chat is None:
        return
    t = context.catalogs.for_lang(member.lang)
    try:
        await context.services.pin.start_duress(member)  # the current PIN first, always
    except NotAllowed:
        await not_available(context, member, chat.id)
        return
    except PinNotSet:
        await _say(context, member, chat.id, t.gettext("Primero crea tu PIN con /pin."))
        return
    await _say(
        context,
        member,
        chat.id,
        # Translators: [seguridad] pide el PIN actual antes de cambiarlo.
        t.gettext("Escribe tu PIN actual. El bot borrará tu mensaje."),
    )


@requires(Role.COORDINATOR, Role.ADMIN, pin=PinRule.ACTION)
async def pin_reset_command(
    update: Update, context: BotContext, member: Member, _pin: PinPass
) -> None:
    """``/pin_reset <codename>``: clear a member's PIN and lock (their region; audited)."""
    chat = update.effective_chat
    if chat is None:
        return
    t = context.catalogs.for_lang(member.lang)
    codename = " ".join(context.args or [])
    if not codename:
        await _say(context, member, chat.id, t.gettext("Escribe /pin_reset y el nombre clave."))
        return
    try:
        target = await context.services.pin.reset(member, codename)
    except PinRequired:  # the session ran out since the gate: ask again
        await pin_lapsed(update, context, member)
        return
    except NotFound:
        await _say(context, member, chat.id, t.gettext("No encontramos a ese miembro."))
        return
    # Translators: {codename} es el seudónimo de un miembro.
    text = t.gettext(
        "Listo: el PIN de {codename} fue borrado. Puede crear uno nuevo con /pin."
    ).format(codename=escape(target.codename))
    await _say(context, member, chat.id, text)


# ---------------------------------------------------------------------- the typed PIN


class PinText:
    """The typed PIN (group -2), holding the closed table of PIN continuations.

    Made once at start-up (``handlers.register``) from ``handlers.pin_continuations``: a
    ``Resume`` without its command, or a command declared for another ``Resume``, stops the
    start with ``ValueError``, so a continuation can never be unknown at run time.
    """

    def __init__(self, continuations: Mapping[Resume, Guarded]) -> None:
        """Check that the table covers every ``Resume`` with the command declared for it.

        Raises:
            ValueError: a continuation is missing, or handed to a command declared for
                another one.
        """
        missing = sorted(str(resume) for resume in set(Resume) - set(continuations))
        if missing:
            raise ValueError(f"PIN continuations without a command: {', '.join(missing)}")
        for resume, command in continuations.items():
            if command.requirement.resume is not resume:
                raise ValueError(f"PIN continuation {resume} handed to another command")
        self.continuations: Mapping[Resume, Guarded] = MappingProxyType(dict(continuations))

    async def __call__(self, update: Update, context: BotContext) -> None:
        """A member's plain text while a PIN prompt is armed is the PIN; any other member
        text that looks like a PIN is deleted too.

        The message is deleted before anything else and its text is never logged. A menu
        button pressed instead cancels the prompt and goes on to the menus.

        A PIN typed after the prompt expired (or while the bot was down) or forwarded is
        deleted whatever the prompt's state, never consumed as anything, and answered with
        "the time ran out" (issue #11.3): members never need to send free text, and a PIN
        must not stay in the chat. Only new, non-forwarded messages answer a prompt (T-09).
        "Looks like a PIN" is the PIN rule itself (``normalise_pin``: 6 to 12 digits after
        NFKC, spaces ignored). A member's message edited into a PIN (``edited_message``,
        M-18) is deleted the same way and never consumed (T-09), with its own line saying
        why. An edit that does not look like a PIN costs no lookup; neither it nor a
        stranger's edit gets any answer (the gatekeeper drops both, M-02).

        Raises:
            ApplicationHandlerStop: the text was (or looked like) a PIN; no other handler
                may see it.
        """
        message, user = update.effective_message, update.effective_user
        chat = update.effective_chat
        if message is None or message.text is None or user is None or chat is None:
            return
        services = context.services
        fresh = update.message is not None and message.forward_origin is None
        looks_like_pin = normalise_pin(message.text) is not None
        if not looks_like_pin and not fresh:
            return
        armed = fresh and await services.pin.prompt_armed_for(user.id)
        if not armed and not looks_like_pin:
            return  # an ordinary text (a menu button): one cheap lookup, as before
        member = await services.registration.identify(user.id)
        if member is None:
            return
        if not armed and fresh and await services.claims_admin.awaits_typed_amount(member.id):
            # An administrator asked for an operation's total within the last minutes: the
            # digits are the amount (the operations step deletes the message at once, T-54).
            return
        if not armed:
            await send.delete_now(context, chat.id, message.message_id)
            t = context.catalogs.for_lang(member.lang)
            edited = update.edited_message is not None
            await _say(
                context,
                member,
                chat.id,
                _edited_text(t) if edited else _texts(t)[PinOutcome.NO_PROMPT],
            )
            raise ApplicationHandlerStop
        if action_for_text(context.catalogs, message.text) is not None:
            await services.pin.disarm(member)
            return
        await send.delete_now(context, chat.id, message.message_id)
        result = await services.pin.submit(member, message.text)
        await self._answer(update, context, member, chat.id, result)
        if result.outcome is PinOutcome.OK:
            # A duress PIN wipes the chat now, after the decoy went out with a real empty
            # state's timing: the claim list shown earlier must not sit above it (issue
            # #11.2). A real PIN changes nothing here (one read). A busy database must not
            # answer with the error message (a tell); the unlink that follows wipes the rest.
            try:
                await services.safety.erase_after_duress(
                    member, message.message_id, TelegramEraser(context)
                )
            except Unavailable:
                _LOGGER.warning("Could not check for or run a duress wipe (database busy)")
        raise ApplicationHandlerStop

    async def _answer(
        self, update: Update, context: BotContext, member: Member, chat_id: int, result: PinResult
    ) -> None:
        t = context.catalogs.for_lang(member.lang)
        if result.outcome is PinOutcome.OK:
            await self._after_success(update, context, member, chat_id, result.then)
            return
        if result.outcome is PinOutcome.LOCKED:
            text = render_pin_locked(t, result.locked_until, context.services.clock.now())
        elif result.outcome is PinOutcome.WRONG:
            left = result.attempts_left or 1
            # Translators: [seguridad] PIN equivocado; {n} es el número de intentos que quedan.
            text = t.ngettext(
                "PIN incorrecto. Te queda {n} intento.",
                "PIN incorrecto. Te quedan {n} intentos.",
                left,
            ).format(n=left)
        else:
            text = _texts(t)[result.outcome]
        await _say(context, member, chat_id, text)

    async def _after_success(
        self,
        update: Update,
        context: BotContext,
        member: Member,
        chat_id: int,
        then: Resume | PinStep | None,
    ) -> None:
        t = context.catalogs.for_lang(member.lang)
        if then is PinStep.CHANGE:
            await _say(context, member, chat_id, _new_pin_text(t))
        elif then is PinStep.DURESS:
            await _say(context, member, chat_id, duress_text(t))
        elif isinstance(then, Resume):
            # The command runs through its own gate: roles, then the PIN service's decision
            # (a session opened by the duress PIN gets its decoy there, M-13b).
            await self.continuations[then].run(update, context, member)
        else:
            # Translators: [seguridad]
            await _say(context, member, chat_id, t.gettext("PIN correcto. Ya puedes continuar."))


def _edited_text(t: NullTranslations) -> str:
    """Why a message edited into a PIN vanished: an edit never answers a prompt (T-09), so
    the member learns how to give the PIN instead (a prompt may still be waiting)."""
    # Translators: [seguridad] el miembro editó un mensaje y puso un PIN; el bot lo borró.
    return t.gettext(
        "El bot borró tu mensaje editado porque parecía un PIN. Si el bot te pidió tu PIN,"
        " escríbelo en un mensaje nuevo."
    )


def _texts(t: NullTranslations) -> dict[PinOutcome, str]:
    return {
        # Translators: [seguridad]
        PinOutcome.NO_PROMPT: t.gettext(
            "El tiempo para escribir el PIN terminó. Vuelve a intentarlo."
        ),
        # Translators: [seguridad]
        PinOutcome.INVALID: t.gettext(
            "Ese PIN no sirve: usa de 6 a 12 cifras. Escríbelo otra vez."
        ),
        # Translators: [seguridad]
        PinOutcome.WEAK: t.gettext("Ese PIN es muy fácil de adivinar. Escribe otro."),
        # Translators: [seguridad]
        PinOutcome.CLASH: t.gettext("Ese PIN no se puede usar. Escribe otro."),
        # Translators: [seguridad]
        PinOutcome.CONFIRM: t.gettext("Escríbelo otra vez para confirmarlo."),
        # Translators: [seguridad]
        PinOutcome.MISMATCH: t.gettext("Los PIN no coinciden. Escribe tu nuevo PIN otra vez."),
        # Translators: [seguridad]
        PinOutcome.SET: t.gettext(
            "Listo: tu PIN quedó guardado. Si lo olvidas, tu coordinador puede borrarlo."
        ),
        # Translators: [seguridad]
        PinOutcome.DURESS_SET: t.gettext("Listo: tu PIN de emergencia quedó guardado."),
    }
