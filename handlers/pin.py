"""``/pin``, ``/pin_duress``, ``/pin_reset`` and the PIN prompt (M-05, M-13b, T-15..T-17).

The PIN is never part of a command (a command stays in the chat list and in Telegram's
cloud): the bot asks for it, and the member's next plain text is taken as the PIN by
``on_text`` (group -2, before the gatekeeper and the menus), deleted at once and never
logged. Every reply about PINs goes through ``send_sensitive`` so it disappears too (M-10).

For other features:

* ``gate(update, context, member, then=...)`` before showing an informant's data: OPEN or
  NOT_NEEDED → show; DECOY → show the real *empty* state; CLOSED → the PIN was asked, stop.
* ``require_pin(update, context, member, then=...)`` before any privileged action (alerts,
  approvals, unlink, reset): True → go on; False → the member was asked for the PIN (or told
  to create one) and the handler must stop; after the PIN the continuation named ``then``
  runs (the command resumes), or without one the member repeats the command.
* ``register_continuation(name, callback)``: what ``then=name`` runs after a correct PIN.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine
from datetime import datetime
from gettext import NullTranslations
from html import escape
from typing import Any

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.domain.errors import NotAllowed, NotFound, Unavailable
from bot.domain.models import Member, Role
from bot.domain.pin import PinNotSet, PinPurpose, PinRequired, SessionState, normalise_pin
from bot.services.pin import THEN_CHANGE, THEN_DURESS, PinOutcome, PinResult
from handlers.access import ALL_ROLES, not_available, requires
from handlers.context import BotContext
from handlers.eraser import TelegramEraser
from handlers.menus import action_for_text
from handlers.transport import send

_LOGGER = logging.getLogger(__name__)

Continuation = Callable[[Update, BotContext, Member], Coroutine[Any, Any, None]]

#: ``then`` of the claim list (``/estado`` and the *Mis trámites* button).
THEN_STATUS = "estado"
_CONTINUATIONS: dict[str, Continuation] = {}


def register_continuation(name: str, callback: Continuation) -> None:
    """Run ``callback`` after a correct PIN asked with ``then=name`` (once, at import)."""
    known = _CONTINUATIONS.get(name)
    if known is not None and known is not callback:
        raise ValueError(f"PIN continuation {name!r} is registered already")
    _CONTINUATIONS[name] = callback


async def _say(context: BotContext, member: Member, chat_id: int, text: str) -> None:
    await send.send_sensitive(context, member, chat_id, text)


def _locked_text(t: NullTranslations, until: datetime | None, now: datetime) -> str:
    if until is None:
        # Translators: [seguridad] el PIN quedó bloqueado hasta que el coordinador lo borre.
        return t.gettext("Tu PIN está bloqueado. Pide a tu coordinador que lo restablezca.")
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    # Translators: [seguridad] el PIN está bloqueado por {n} minutos más.
    return t.ngettext(
        "Demasiados intentos fallidos. Inténtalo de nuevo en {n} minuto.",
        "Demasiados intentos fallidos. Inténtalo de nuevo en {n} minutos.",
        minutes,
    ).format(n=minutes)


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


async def ask_pin(
    context: BotContext, member: Member, chat_id: int, then: str | None = None
) -> None:
    """Arm the prompt and ask for the PIN (or say it is locked, or that none exists)."""
    t = context.catalogs.for_lang(member.lang)
    services = context.services
    try:
        record = await services.pin.ask(member, then)
    except PinNotSet:
        await _say(context, member, chat_id, t.gettext("Primero crea tu PIN con /pin."))
        return
    now = services.clock.now()
    lock = record.locked(now)
    if lock is not None:
        await _say(context, member, chat_id, _locked_text(t, lock.until, now))
        return
    # Translators: [seguridad] pide el PIN; el mensaje del miembro se borra enseguida.
    await _say(context, member, chat_id, t.gettext("Escribe tu PIN. El bot borrará tu mensaje."))


async def gate(
    update: Update, context: BotContext, member: Member, *, then: str | None = None
) -> SessionState:
    """The session state for showing PIN-protected data; asks for the PIN when CLOSED."""
    state = await context.services.pin.session(member)
    chat = update.effective_chat
    if state is SessionState.CLOSED and chat is not None:
        await ask_pin(context, member, chat.id, then)
    return state


async def require_pin(
    update: Update, context: BotContext, member: Member, *, then: str | None = None
) -> bool:
    """Whether a privileged action may go on now; if not, the PIN has been asked for (and
    ``then``, a registered continuation, runs once it is given)."""
    chat = update.effective_chat
    try:
        await context.services.pin.require_session(member)
    except PinRequired as exc:
        if chat is not None:
            await _pin_needed(context, member, chat.id, exc, then)
        return False
    return True


async def _pin_needed(
    context: BotContext, member: Member, chat_id: int, exc: PinRequired, then: str | None
) -> None:
    if isinstance(exc, PinNotSet):
        t = context.catalogs.for_lang(member.lang)
        await _say(context, member, chat_id, t.gettext("Primero crea tu PIN con /pin."))
    else:
        await ask_pin(context, member, chat_id, then)


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


@requires(Role.COORDINATOR, Role.ADMIN)
async def pin_reset_command(update: Update, context: BotContext, member: Member) -> None:
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
    except PinRequired as exc:
        await _pin_needed(context, member, chat.id, exc, None)
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


async def on_text(update: Update, context: BotContext) -> None:
    """Group -2: a member's plain text while a PIN prompt is armed is the PIN; any other
    member text that looks like a PIN is deleted too.

    The message is deleted before anything else and its text is never logged. A menu
    button pressed instead cancels the prompt and goes on to the menus.

    A PIN typed after the prompt expired (or while the bot was down) or forwarded is deleted
    whatever the prompt's state, never consumed as anything, and answered with "the time
    ran out" (issue #11.3): members never need to send free text, and a PIN must not stay in
    the chat. Only new, non-forwarded messages answer a prompt (T-09). "Looks like a PIN"
    is the PIN rule itself (``normalise_pin``: 6 to 12 digits after NFKC, spaces ignored).
    Edited messages never arrive (``ALLOWED_UPDATES``, M-18).

    Raises:
        ApplicationHandlerStop: the text was (or looked like) a PIN; no other handler may see
            it.
    """
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
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
    if not armed:
        await send.delete_now(context, chat.id, message.message_id)
        t = context.catalogs.for_lang(member.lang)
        await _say(context, member, chat.id, _texts(t)[PinOutcome.NO_PROMPT])
        raise ApplicationHandlerStop
    if action_for_text(context.catalogs, message.text) is not None:
        await services.pin.disarm(member)
        return
    await send.delete_now(context, chat.id, message.message_id)
    result = await services.pin.submit(member, message.text)
    await _answer(update, context, member, chat.id, result)
    if result.outcome is PinOutcome.OK:
        # A duress PIN wipes the chat now, after the decoy went out with a real empty
        # state's timing: the claim list shown earlier must not sit above it (issue #11.2).
        # A real PIN changes nothing here (one read). A busy database must not answer with
        # the error message (a tell); the unlink that follows wipes what is left.
        try:
            await services.safety.erase_after_duress(
                member, message.message_id, TelegramEraser(context)
            )
        except Unavailable:
            _LOGGER.warning("Could not check for or run a duress wipe (database busy)")
    raise ApplicationHandlerStop


async def _answer(
    update: Update, context: BotContext, member: Member, chat_id: int, result: PinResult
) -> None:
    t = context.catalogs.for_lang(member.lang)
    if result.outcome is PinOutcome.OK:
        await _after_success(update, context, member, chat_id, result.then)
        return
    if result.outcome is PinOutcome.LOCKED:
        text = _locked_text(t, result.locked_until, context.services.clock.now())
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


async def _after_success(
    update: Update, context: BotContext, member: Member, chat_id: int, then: str | None
) -> None:
    t = context.catalogs.for_lang(member.lang)
    if then == THEN_CHANGE:
        await _say(context, member, chat_id, _new_pin_text(t))
    elif then == THEN_DURESS:
        await _say(context, member, chat_id, duress_text(t))
    elif then is not None and then in _CONTINUATIONS:
        await _CONTINUATIONS[then](update, context, member)
    else:
        # Translators: [seguridad]
        await _say(context, member, chat_id, t.gettext("PIN correcto. Ya puedes continuar."))
