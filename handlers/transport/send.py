"""The one send path for interactive replies: HTML, ``protect_content`` and auto-deletion.

Every Telegram call a handler makes goes through here, so ``protect_content=True`` (M-11) is
set in one place (on top of ``Defaults``) and sensitive replies get a persisted deletion
(M-10). Proactive messages do not come here: they are outbox rows (R-01).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram._utils.types import JSONDict
from telegram.constants import ParseMode
from telegram.error import BadRequest, EndPointNotFound, InvalidToken, TelegramError
from telegram.ext import ExtBot

from bot.domain.errors import Unavailable
from bot.domain.models import Member
from handlers.context import BotContext, BotData
from handlers.transport.pacing import RateLimitArgs, SendPriority, paced_args, pacer_of

_LOGGER = logging.getLogger(__name__)


class CallbackKeyboard:
    """An inline keyboard of plain callback buttons, kept as ``(text, callback_data)`` pairs.

    Building PTB's ``InlineKeyboardButton`` objects (a frozen object, a dozen checked
    attribute writes each) and serialising them through the generic ``TelegramObject.to_dict``
    cost the ten history buttons under a claim list several percent of an ``/estado``'s CPU
    (``docs/performance.md``). ``post_message`` posts ``to_dict()`` as it is; ``markup()`` gives
    PTB's own object to anyone who needs one. The wire form is exactly PTB's
    (tests/handlers/test_send.py compares the two).
    """

    __slots__ = ("rows",)

    def __init__(self, rows: Sequence[Sequence[tuple[str, str]]]) -> None:
        """One button per ``(text, callback_data)``, one keyboard row per inner sequence."""
        self.rows = tuple(tuple(row) for row in rows)

    def to_dict(self) -> JSONDict:
        """The Bot API's JSON object, as ``InlineKeyboardMarkup.to_dict`` would build it."""
        return {
            "inline_keyboard": [
                [{"callback_data": data, "text": text} for text, data in row] for row in self.rows
            ]
        }

    def markup(self) -> InlineKeyboardMarkup:
        """The same keyboard as PTB's object."""
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(text, callback_data=data) for text, data in row]
                for row in self.rows
            ]
        )


Markup = CallbackKeyboard | InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


#: ``sendMessage`` spelled as the Bot API also accepts it (method names are case-insensitive,
#: core.telegram.org/bots/api#making-requests). ``Bot.do_api_request`` warns when given the
#: name of a method PTB wraps, pointing to the typed method; we call it on purpose to get the
#: raw result (see ``post_message``), so the spelling PTB does not wrap is used.
_SEND_MESSAGE = "sendmessage"


async def post_message(
    bot: Bot,
    chat_id: int,
    text: str,
    reply_markup: Markup | None,
    *,
    disable_notification: bool = False,
    rate_limit_args: RateLimitArgs | None = None,
) -> int:
    """The one ``sendMessage`` call of the bot: HTML, ``protect_content`` (M-11).

    Used by the replies below and by the outbox's notifier alike; nothing is recorded here.
    Returns only the sent message's id, the one thing any caller uses. ``Bot.send_message``
    would parse the returned message (for ``/estado``: its text, entities and ten buttons)
    into PTB objects nobody reads, about a tenth of an ``/estado``'s CPU
    (``docs/performance.md``); ``do_api_request`` without a ``return_type`` hands back the
    JSON result as it came. It applies no ``Defaults``, so every parameter is explicit
    here, and serialises ``reply_markup`` with its ``to_dict`` exactly as ``send_message``.
    Errors are PTB's usual ``TelegramError`` subclasses (same request path). The bot's rate
    limiter paces the call (``handlers.transport.pacing``); ``rate_limit_args`` goes to it.
    """
    params: dict[str, object] = {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": ParseMode.HTML,
        "protect_content": True,
    }
    if disable_notification:
        params["disable_notification"] = True
    if isinstance(reply_markup, CallbackKeyboard):
        params["reply_markup"] = reply_markup.to_dict()  # posted as JSON, like PTB's own
    elif reply_markup is not None:
        params["reply_markup"] = reply_markup
    try:
        if rate_limit_args is not None and isinstance(bot, ExtBot):
            result = await bot.do_api_request(
                _SEND_MESSAGE, api_kwargs=params, rate_limit_args=rate_limit_args
            )
        else:
            result = await bot.do_api_request(_SEND_MESSAGE, api_kwargs=params)
    except EndPointNotFound as exc:
        # ``do_api_request`` reports Telegram's 401/404 as "endpoint not found" once the bot
        # is initialised; sendMessage exists, so it means the token was rejected (A7): the
        # outbox must see ``InvalidToken`` to stop all sending and page an admin.
        raise InvalidToken("the bot token was rejected by Telegram") from exc
    return int(result["message_id"])


async def send_text(
    context: BotContext, chat_id: int, text: str, *, reply_markup: Markup | None = None
) -> int:
    """Send one HTML message that cannot be forwarded or saved; returns its message id.

    Its id is recorded for the member's panic wipe (``/borrar``, M-13a); nothing is recorded
    for a chat not linked to a member, and a busy database never fails the send.
    """
    message_id = await post_message(context.bot, chat_id, text, reply_markup)
    try:
        await context.services.safety.record_sent(chat_id, message_id)
    except Unavailable:
        _LOGGER.warning("Could not record a sent message id for the wipe")
    return message_id


async def send_sensitive(
    context: BotContext,
    member: Member,
    chat_id: int,
    text: str,
    *,
    reply_markup: Markup | None = None,
) -> int:
    """Send a message with claim data and persist its deletion after ``delete_after``.

    The id for ``/borrar`` and the deletion row are written in one transaction (one commit
    instead of two on the reply path of every ``/estado``): both are kept or neither is,
    and a busy database raises ``Unavailable`` as a lost deletion always did (M-10).
    """
    message_id = await post_message(context.bot, chat_id, text, reply_markup)
    services = context.services
    async with services.uow.transaction():
        await services.safety.record_sent(chat_id, message_id)
        await services.deletions.schedule_deletion(
            member.id, [message_id], services.clock.now() + services.delete_after
        )
    return message_id


async def edit_text(
    context: BotContext,
    chat_id: int,
    message_id: int,
    text: str,
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Replace a message's text (HTML); "not modified" is not an error for us."""
    try:
        await context.bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=reply_markup,
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


#: Seconds a follow-up edit may wait for a send slot before it is dropped: the person was
#: answered at once already, and a restatement minutes later would only confuse.
FOLLOW_UP_WITHIN = 30.0


def edit_later(
    context: BotContext,
    chat_id: int,
    message_id: int,
    text: str,
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Edit a message once a send slot is free, without holding up the handler.

    For an edit that restates what the callback answer already told the person (an alert's
    *Estoy bien*): it waits behind replies and outbox rows (``SendPriority.FOLLOW_UP``), so a
    storm of answers neither keeps the handlers from answering the next presses at once nor
    delays help escalations and the coordinator's tally (R-07); one that finds no slot within
    ``FOLLOW_UP_WITHIN`` s is dropped. "Not modified" and other failures are logged only.
    """
    tasks = context.bot_data.follow_ups
    task = asyncio.create_task(
        _follow_up_edit(context.bot, chat_id, message_id, text, reply_markup)
    )
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _follow_up_edit(
    bot: Bot,
    chat_id: int,
    message_id: int,
    text: str,
    reply_markup: InlineKeyboardMarkup | None,
) -> None:
    pacer = pacer_of(bot)
    if pacer is not None and not await pacer.try_acquire(
        chat_id, SendPriority.FOLLOW_UP, FOLLOW_UP_WITHIN
    ):
        _LOGGER.info("Follow-up edit dropped: no send slot within %.0f s", FOLLOW_UP_WITHIN)
        return
    paced = paced_args(bot)
    try:
        if paced is not None and isinstance(bot, ExtBot):
            await bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=reply_markup,
                rate_limit_args=paced,
            )
        else:
            await bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=reply_markup,
            )
    except TelegramError as exc:
        if "not modified" not in str(exc).lower():
            _LOGGER.info("Follow-up edit failed: %s", type(exc).__name__)


async def follow_ups_done(bot_data: BotData, *, cancel: bool = False) -> None:
    """Wait until every pending follow-up edit finished (``cancel``: stop them first)."""
    tasks = list(bot_data.follow_ups)
    if cancel:
        for task in tasks:
            task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


async def delete_now(context: BotContext, chat_id: int, message_id: int) -> None:
    """Delete a message at once (invite payloads, PINs); failure is logged, not raised."""
    try:
        await context.bot.delete_message(chat_id, message_id)
    except TelegramError as exc:
        _LOGGER.info("Immediate deletion failed: %s", type(exc).__name__)


async def answer_callback(
    context: BotContext, query_id: str, text: str | None = None, *, alert: bool = False
) -> None:
    """Always answer a callback query so the client stops its spinner (T-10).

    ``alert`` shows ``text`` in a box the person must close instead of a passing toast:
    for what they must not miss (a wipe that did not finish, issue #11.1).
    """
    try:
        await context.bot.answer_callback_query(query_id, text=text, show_alert=alert or None)
    except TelegramError as exc:
        _LOGGER.info("answerCallbackQuery failed: %s", type(exc).__name__)


async def leave_chat(context: BotContext, chat_id: int) -> None:
    """Leave a group or channel: the bot serves private chats only (T-08, M-09)."""
    try:
        await context.bot.leave_chat(chat_id)
    except TelegramError as exc:
        _LOGGER.info("leaveChat failed: %s", type(exc).__name__)


async def set_chat_commands(
    context: BotContext, chat_id: int, commands: Sequence[tuple[str, str]]
) -> None:
    """Show ``(command, description)`` pairs as this chat's command menu (telegram-limits.md §2).

    Chat scope, no ``language_code``: the member's client reports ``es`` anyway, and this is
    the only way to show Quechua descriptions and a role's commands to that member alone.
    A failure leaves the previous menu; it is logged, not raised.
    """
    try:
        await context.bot.set_my_commands(
            [BotCommand(command, description) for command, description in commands],
            scope=BotCommandScopeChat(chat_id),
        )
    except TelegramError as exc:
        _LOGGER.info("setMyCommands failed: %s", type(exc).__name__)


async def delete_default_commands(bot: Bot) -> None:
    """Empty the default-scope command menu so strangers learn nothing from it (M-02)."""
    try:
        await bot.delete_my_commands()
    except TelegramError as exc:
        _LOGGER.warning("deleteMyCommands failed: %s", type(exc).__name__)


async def delete_chat_commands(context: BotContext, chat_id: int) -> None:
    """Remove a chat's own command menu (unlink, panic): a seized phone shows no role menu."""
    try:
        await context.bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:
        _LOGGER.info("deleteMyCommands failed: %s", type(exc).__name__)
