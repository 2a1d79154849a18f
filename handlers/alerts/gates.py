"""The staff gates of the alert commands and buttons: role, then an open PIN session.

Every staff command and button first needs an open PIN session (M-05: mandatory for
coordinators and administrators, ``PinRule.ACTION`` with the roles); without one nothing is
read or changed and the PIN is asked for. Commands without arguments resume by themselves once
the PIN is given (issue #12.6). Button data is ``feature:action:<id>``; anything else is forged or
stale (T-10, T-27).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NamedTuple

from telegram import CallbackQuery, Update

from bot.domain.models import Member, Role
from bot.domain.pin import PinPass, PinRule, Resume
from handlers.access import Guarded, requires
from handlers.context import BotContext

SENDERS = (Role.COORDINATOR, Role.ADMIN)


StaffCommand = Callable[[Update, BotContext, Member, int], Coroutine[Any, Any, None]]


def staff_command(callback: StaffCommand, *, resume: Resume | None = None) -> Guarded:
    """A coordinator/admin command: declared with the roles and an open PIN session (M-05),
    then run with the chat id; without a session the PIN is asked for and nothing is read.

    With ``resume`` (commands without arguments), the command runs by itself once the PIN
    is given (issue #12.6); the others are repeated by the member.
    """

    @functools.wraps(callback)
    async def body(update: Update, context: BotContext, member: Member, _pin: PinPass) -> None:
        chat = update.effective_chat
        if chat is not None:
            await callback(update, context, member, chat.id)

    return requires(*SENDERS, pin=PinRule.ACTION, resume=resume)(body)


def resumable(name: Resume) -> Callable[[StaffCommand], Guarded]:
    """``staff_command`` that resumes after the PIN as the continuation ``name``."""
    return functools.partial(staff_command, resume=name)


def callback_parts(update: Update) -> tuple[list[str], int, int] | None:
    """``(data parts, chat id, message id)`` of a button press, or None."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or query.data is None or query.message is None:
        return None
    return query.data.split(":"), chat.id, query.message.message_id


class Button(NamedTuple):
    """A staff button press: the query, its split data and the message it sits on."""

    query: CallbackQuery
    parts: list[str]
    chat_id: int
    message_id: int


StaffButton = Callable[[Update, BotContext, Member, Button], Coroutine[Any, Any, None]]


def staff_button(callback: StaffButton) -> Guarded:
    """A coordinator/admin button: declared with the roles and an open PIN session (M-05),
    then the press.

    Without a session the press is answered (so the spinner stops) and changes nothing; the
    PIN prompt (or "create your PIN first") arrives as a message and the member presses the
    button again after it.
    """

    @functools.wraps(callback)
    async def body(update: Update, context: BotContext, member: Member, _pin: PinPass) -> None:
        parsed = callback_parts(update)
        query = update.callback_query
        if parsed is None or query is None:
            return
        parts, chat_id, message_id = parsed
        await callback(update, context, member, Button(query, parts, chat_id, message_id))

    return requires(*SENDERS, pin=PinRule.ACTION)(body)


def parse_id(parts: Sequence[str], actions: frozenset[str]) -> tuple[str, int]:
    """``feature:action:<number>`` → ``(action, number)``.

    Raises:
        ValueError: anything else (forged or malformed data, T-10, T-27).
    """
    if len(parts) != 3 or parts[1] not in actions or not parts[2].isdecimal():
        raise ValueError("callback data")
    return parts[1], int(parts[2])
