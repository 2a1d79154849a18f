"""The one send path for interactive replies: HTML, ``protect_content`` and auto-deletion.

Every Telegram call a handler makes goes through here, through PTB's typed methods with the
bot's ``Defaults`` from :func:`bot_defaults` (HTML, ``protect_content=True``, M-11), and
sensitive replies get a persisted deletion (M-10). Proactive messages do not come here:
they are outbox rows (R-01).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import tzinfo

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import Defaults, ExtBot

from bot.domain.errors import Unavailable
from bot.domain.models import Member
from handlers.context import BotContext, BotData
from handlers.transport.pacing import RateLimitArgs, SendPriority, paced_args, pacer_of

_LOGGER = logging.getLogger(__name__)


def callback_keyboard(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """PTB's inline keyboard of plain callback buttons: one ``(text, callback_data)`` per
    button, one keyboard row per inner sequence."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def bot_defaults(timezone: tzinfo) -> Defaults:
    """The ``Defaults`` of the bot's every call: HTML and ``protect_content`` (M-11).

    The composition root hands them to PTB's ``ApplicationBuilder``; PTB's typed methods
    (``send_message``, ``edit_message_text`` …) then fill them into every request, so no call
    site repeats them. ``tests/conftest.py`` checks each send of the suite on the wire (T-21).
    """
    return Defaults(parse_mode=ParseMode.HTML, tzinfo=timezone, protect_content=True)


async def post_message(
    bot: Bot,
    chat_id: int,
    text: str,
    reply_markup: Markup | None,
    *,
    disable_notification: bool = False,
    rate_limit_args: RateLimitArgs | None = None,
) -> int:
    """The one ``sendMessage`` call of the bot; returns the sent message's id.

    Used by the replies below and by the outbox's notifier alike; nothing is recorded here.
    ``parse_mode`` and ``protect_content`` come from the bot's ``Defaults``
    (:func:`bot_defaults`). Errors are PTB's usual ``TelegramError`` subclasses, a rejected
    token ``InvalidToken`` (the outbox stops all sending on it, A7). The bot's rate limiter
    paces the call (``handlers.transport.pacing``); ``rate_limit_args`` goes to it.

    Raises:
        RuntimeError: ``bot`` lacks the ``protect_content`` default, so the message would be
            forwardable (M-11); nothing is sent. Only a bot built outside the composition
            root can lack it.
    """
    if not _protects_content(bot):
        raise RuntimeError("a bot without bot_defaults would send forwardable messages (M-11)")
    if rate_limit_args is not None and isinstance(bot, ExtBot):
        message = await bot.send_message(
            chat_id,
            text,
            reply_markup=reply_markup,
            disable_notification=disable_notification,
            rate_limit_args=rate_limit_args,
        )
    else:
        message = await bot.send_message(
            chat_id, text, reply_markup=reply_markup, disable_notification=disable_notification
        )
    return message.message_id


def _protects_content(bot: Bot) -> bool:
    """Whether PTB adds ``protect_content=True`` to this bot's sends (its ``Defaults``)."""
    defaults = bot.defaults if isinstance(bot, ExtBot) else None
    return defaults is not None and defaults.protect_content is True


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

    ``SafetyService.sensitive_sent`` writes the id for ``/borrar`` and the deletion row in
    one transaction of its own; a busy database raises ``Unavailable`` as a lost deletion
    always did (M-10).
    """
    message_id = await post_message(context.bot, chat_id, text, reply_markup)
    await context.services.safety.sensitive_sent(member, chat_id, message_id)
    return message_id


async def send_photo_sensitive(
    context: BotContext,
    member: Member,
    chat_id: int,
    photo: bytes,
    *,
    filename: str,
    caption: str | None = None,
) -> int:
    """Upload an image with claim data (a chart) and treat it as :func:`send_sensitive` does.

    Recorded for ``/borrar`` and deleted after ``delete_after`` with the messages it goes
    with (M-10), in one transaction. A chart names operations and sums of money, so it is
    never sent any other way. It comes silently: the text it goes with already notified,
    and a second notification would put its caption on the lock screen.
    """
    message_id = await post_photo(
        context.bot, chat_id, photo, filename=filename, caption=caption, silent=True
    )
    await context.services.safety.sensitive_sent(member, chat_id, message_id)
    return message_id


async def post_photo(
    bot: Bot,
    chat_id: int,
    photo: bytes,
    *,
    filename: str,
    caption: str | None = None,
    silent: bool = False,
) -> int:
    """The one ``sendPhoto`` call of the bot (an upload); returns the sent message's id.

    Protected from forwarding and saving by the bot's ``Defaults`` like every text (M-11);
    ``caption`` is HTML (``parse_mode`` from the same defaults); ``silent`` sends it without
    a notification.

    Raises:
        RuntimeError: ``bot`` lacks the ``protect_content`` default; nothing is sent.
    """
    if not _protects_content(bot):
        raise RuntimeError("a bot without bot_defaults would send forwardable photos (M-11)")
    message = await bot.send_photo(
        chat_id, photo, caption=caption, filename=filename, disable_notification=silent
    )
    return message.message_id


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
                reply_markup=reply_markup,
                rate_limit_args=paced,
            )
        else:
            await bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
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


async def post_chat_commands(
    bot: Bot,
    chat_id: int,
    commands: Sequence[tuple[str, str]] | None,
    *,
    rate_limit_args: RateLimitArgs | None = None,
) -> None:
    """The one ``setMyCommands``/``deleteMyCommands`` call for a chat's own menu.

    ``commands`` None removes the menu. Used by the replies below and by the outbox's
    notifier for a menu changed from the server (issue #16.3); errors are PTB's usual
    ``TelegramError`` subclasses, raised.
    """
    scope = BotCommandScopeChat(chat_id)
    if commands is None:
        if rate_limit_args is not None and isinstance(bot, ExtBot):
            await bot.delete_my_commands(scope=scope, rate_limit_args=rate_limit_args)
        else:
            await bot.delete_my_commands(scope=scope)
        return
    listed = [BotCommand(command, description) for command, description in commands]
    if rate_limit_args is not None and isinstance(bot, ExtBot):
        await bot.set_my_commands(listed, scope=scope, rate_limit_args=rate_limit_args)
    else:
        await bot.set_my_commands(listed, scope=scope)


async def set_chat_commands(
    context: BotContext, chat_id: int, commands: Sequence[tuple[str, str]]
) -> None:
    """Show ``(command, description)`` pairs as this chat's command menu (telegram-limits.md §2).

    Chat scope, no ``language_code``: the member's client reports ``es`` anyway, and this is
    the only way to show Quechua descriptions and a role's commands to that member alone.
    A failure leaves the previous menu; it is logged, not raised.
    """
    try:
        await post_chat_commands(context.bot, chat_id, commands)
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
        await post_chat_commands(context.bot, chat_id, None)
    except TelegramError as exc:
        _LOGGER.info("deleteMyCommands failed: %s", type(exc).__name__)
