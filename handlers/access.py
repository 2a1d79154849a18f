"""Who may reach which handler: the ``requires`` gate (the gatekeeper is ``handlers.inbound``).

Every update is judged afresh: the member is looked up from the database on each update (no
cache, M-04, T-12), so a suspended, unlinked or demoted member loses access at once. Strangers
all get one identical Spanish reply at most once a day, whatever they sent (M-02).

A command declares who may run it once, where it is defined: its roles and, when it needs
one, its PIN rule (M-05) and what runs by itself after the PIN
(``@requires(Role.INFORMANT, pin=PinRule.DATA, resume=Resume.CLAIMS)``). The PIN decision is
the PIN service's (``PinService.admit``); the gate only renders a refusal, so no feature
repeats the check and no body runs without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast, overload

from telegram import Update
from telegram.ext import filters

from bot.domain.models import Lang, Member, Role
from bot.domain.pin import PinPass, PinRule, PinStop, Resume
from handlers.context import BotContext
from handlers.render import render_pin_stop
from handlers.transport import send

#: Commands and texts are taken only from new, non-forwarded messages in private chats
#: (T-08, T-09: PTB's CommandHandler also matches edited messages by default).
PRIVATE = filters.ChatType.PRIVATE & ~filters.FORWARDED & ~filters.UpdateType.EDITED

ALL_ROLES: tuple[Role, ...] = tuple(Role)

PtbCallback = Callable[[Update, BotContext], Coroutine[Any, Any, None]]
MemberCallback = Callable[[Update, BotContext, Member], Coroutine[Any, Any, None]]
#: The body of a command declared with a PIN rule: it gets the PIN decision's pass.
PinCallback = Callable[[Update, BotContext, Member, PinPass], Coroutine[Any, Any, None]]


async def answer_stranger(update: Update, context: BotContext) -> None:
    """The one neutral reply (M-02): the same Spanish text for every reason, once a day.

    Button presses are always answered so the client stops its spinner (T-10), but beyond the
    daily reply nothing else is sent: a flood of updates gets nothing back (M-06).
    """
    user, chat = update.effective_user, update.effective_chat
    if update.callback_query is not None:
        await send.answer_callback(context, update.callback_query.id)
    if user is None or chat is None:
        return
    if await context.services.registration.may_answer_stranger(user.id):
        t = context.catalogs.for_lang(Lang.ES)
        await send.send_text(context, chat.id, t.gettext("Este servicio no está disponible."))


async def not_available(context: BotContext, member: Member, chat_id: int) -> None:
    """ "Not available" for commands outside the member's role or unknown (T-13).

    The same text whether the command exists for other roles or not at all, so nobody learns
    that administrator commands exist.
    """
    t = context.catalogs.for_lang(member.lang)
    await send.send_text(
        context, chat_id, t.gettext("Este comando no está disponible. Escribe /menu.")
    )


async def menu_expired(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """Neutral answer to a stale, forged or foreign button (T-10); nothing is changed."""
    if update.callback_query is not None:
        await send.answer_callback(context, update.callback_query.id)
    t = context.catalogs.for_lang(member.lang)
    await send.send_text(
        context, chat_id, t.gettext("Este menú ya no está disponible. Escribe /menu.")
    )


async def pin_stopped(update: Update, context: BotContext, member: Member, stop: PinStop) -> None:
    """Tell the member why a PIN-declared command did not run (PIN asked, locked, or create
    one first); a pressed button is answered too, so its spinner stops."""
    chat = update.effective_chat
    if update.callback_query is not None:
        await send.answer_callback(context, update.callback_query.id)
    if chat is None:
        return
    t = context.catalogs.for_lang(member.lang)
    text = render_pin_stop(t, stop, context.services.clock.now())
    await send.send_sensitive(context, member, chat.id, text)


async def pin_lapsed(update: Update, context: BotContext, member: Member) -> None:
    """A privileged service refused after the gate let the update in (the session ran out
    in between): ask for the PIN again, without a continuation (the member repeats)."""
    decision = await context.services.pin.admit(member, PinRule.ACTION)
    if not isinstance(decision, PinPass):
        await pin_stopped(update, context, member, decision)


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a command declares: the roles that may run it and, if any, its PIN rule and the
    continuation that runs it by itself once the PIN it asked for is given."""

    roles: frozenset[Role]
    pin: PinRule | None = None
    resume: Resume | None = None


class Guarded:
    """A handler behind its declared ``Requirement``; PTB calls it like a callback.

    ``run`` is the same gate for a member already resolved in this update (a menu button
    dispatching to a command), and what a PIN continuation calls after a correct PIN.
    """

    def __init__(self, requirement: Requirement, body: MemberCallback | PinCallback) -> None:
        """Keep the declaration and the body (named like it, for PTB's ``repr``).

        ``body`` takes the PIN decision's pass exactly when the requirement has a PIN rule
        (``requires`` pairs them); handlers never make a pass themselves.
        """
        self.requirement = requirement
        self._body = body
        functools.update_wrapper(self, body)

    async def __call__(self, update: Update, context: BotContext) -> None:
        """Resolve the member once for this update, then ``run``.

        Whatever they sent shows they have not blocked the bot (``registration.seen``).
        Strangers get ``answer_stranger``.
        """
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        registration = context.services.registration
        member = await registration.identify(user.id)
        if member is not None:
            member = await registration.seen(member)  # clears a stale "blocked" flag
        if member is None:
            await answer_stranger(update, context)
            return
        await self.run(update, context, member)

    async def run(self, update: Update, context: BotContext, member: Member) -> None:
        """Members of another role get "not available" for messages and "menu expired" for
        buttons; with a PIN rule, the PIN service decides, and a refusal is rendered here."""
        chat = update.effective_chat
        if chat is None:
            return
        requirement = self.requirement
        if member.role not in requirement.roles:
            if update.callback_query is not None:
                await menu_expired(update, context, member, chat.id)
            else:
                await not_available(context, member, chat.id)
            return
        if requirement.pin is None:
            await cast("MemberCallback", self._body)(update, context, member)
            return
        decision = await context.services.pin.admit(member, requirement.pin, requirement.resume)
        if not isinstance(decision, PinPass):
            await pin_stopped(update, context, member, decision)
            return
        await cast("PinCallback", self._body)(update, context, member, decision)


@overload
def requires(*roles: Role) -> Callable[[MemberCallback], Guarded]: ...


@overload
def requires(
    *roles: Role, pin: PinRule, resume: Resume | None = None
) -> Callable[[PinCallback], Guarded]: ...


def requires(
    *roles: Role, pin: PinRule | None = None, resume: Resume | None = None
) -> Callable[[MemberCallback], Guarded] | Callable[[PinCallback], Guarded]:
    """Declare a handler's roles and, if it needs one, its PIN rule (M-04, M-05).

    The member is resolved once per update and passed to the handler, which must not look
    it up again. Without ``pin`` the handler is ``(update, context, member)``; with it,
    ``(update, context, member, pin_pass)``, run only when the PIN service let the update
    through, with the pass that the use cases reading protected data take. ``resume``
    names this command in the closed set of PIN continuations (it must be a command that
    asks nothing more of the member than its name).
    """
    if resume is not None and pin is None:
        raise ValueError("a PIN continuation needs a PIN rule")
    requirement = Requirement(frozenset(roles), pin, resume)

    def decorate(callback: MemberCallback | PinCallback) -> Guarded:
        return Guarded(requirement, callback)

    return decorate
