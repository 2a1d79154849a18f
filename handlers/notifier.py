"""The outbox's Telegram side: notices rendered per recipient, errors mapped to outcomes.

``TelegramNotifier`` implements ``bot.domain.outbox.Notifier`` (docs/architecture.md §5): Telegram
exceptions stop here and become an :class:`~bot.domain.outbox.Outcome` the sender's state
machine understands. Every send is HTML with ``protect_content=True`` (M-11).

How each notice type (``bot.domain.notices``) looks is a :class:`RendererTable`, built
explicitly in ``handlers.notices`` and handed to the notifier at start-up, which refuses a
table that misses a kind (so a forgotten renderer stops the start, not a send). A renderer
gets the recipient's translator, language and the typed notice and returns a
:class:`Rendered`; it must ``html.escape`` every value it interpolates (M-09). An
``edit_message_id`` edits that message instead of sending a new one (live tallies).

The sender takes each row's slot from the bot's one :class:`~handlers.transport.pacing.SendPacer`
before calling ``send``, so the calls made here are marked ``{"paced": True}`` and the bot's
rate limiter lets them through without a second wait (docs/telegram-limits.md §4).
"""

from __future__ import annotations

import gettext
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, TypeVar, cast

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ExtBot

from bot.domain.models import Lang
from bot.domain.notices import PERFORMED_TYPES, RENDERED_TYPES, ChatMenu, Notice
from bot.domain.outbox import Outcome, SendResult
from bot.i18n import Catalogs
from handlers.menus import chat_commands
from handlers.transport.pacing import paced_args
from handlers.transport.send import post_chat_commands, post_message

_LOGGER = logging.getLogger(__name__)

N = TypeVar("N", bound=Notice)


@dataclass(frozen=True, slots=True)
class Rendered:
    """One outbox message as Telegram will show it (already in the recipient's language)."""

    text: str
    reply_markup: InlineKeyboardMarkup | None = None
    edit_message_id: int | None = None
    disable_notification: bool = False


#: ``render(t, lang, notice) -> Rendered`` for one notice type.
Renderer = Callable[[gettext.NullTranslations, Lang, N], Rendered]
#: A renderer with its notice type erased, as the table keeps it (looked up by type).
_AnyRenderer = Callable[[gettext.NullTranslations, Lang, Any], Rendered]


def renders(kind: type[N], render: Renderer[N]) -> tuple[type[Notice], _AnyRenderer]:
    """One row of a :class:`RendererTable`; mypy checks that ``render`` takes ``kind``."""
    return kind, cast("_AnyRenderer", render)


class RendererTable:
    """Notice type → renderer, one row per kind, fixed once built.

    Raises (at construction):
        ValueError: a type listed twice, or a performed one (a deletion, a command menu).
    """

    __slots__ = ("_renderers",)

    def __init__(self, rows: Iterable[tuple[type[Notice], _AnyRenderer]]) -> None:
        """Keep the rows; see the class docstring for what is refused."""
        table: dict[type[Notice], _AnyRenderer] = {}
        for kind, render in rows:
            if kind in PERFORMED_TYPES:
                raise ValueError("deletions and command menus are performed, not rendered")
            if kind in table:
                raise ValueError(f"two renderers for {kind.__name__}")
            table[kind] = render
        self._renderers: Mapping[type[Notice], _AnyRenderer] = MappingProxyType(table)

    def kinds(self) -> frozenset[type[Notice]]:
        """The notice types this table renders."""
        return frozenset(self._renderers)

    def missing(self, kinds: Iterable[type[Notice]] = RENDERED_TYPES) -> list[str]:
        """Names of the types among ``kinds`` without a renderer (every kind by default)."""
        return [kind.__name__ for kind in kinds if kind not in self._renderers]

    def render(self, catalogs: Catalogs, lang: Lang, notice: Notice) -> Rendered:
        """Render ``notice`` for one recipient.

        Raises:
            KeyError: the table has no renderer for the notice's type.
        """
        return self._renderers[type(notice)](catalogs.for_lang(lang), lang, notice)


# ---------------------------------------------------------------------- error mapping


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: TelegramError, *, deleting: bool = False) -> SendResult:
    """Map a Telegram exception to an outcome (docs/architecture.md §5, R-04).

    Order matters: ``BadRequest`` and ``TimedOut`` subclass ``NetworkError``.
    """
    if isinstance(exc, RetryAfter):  # PTB_TIMEDELTA=1: a timedelta
        return SendResult(
            Outcome.RATE_LIMITED, retry_after_s=_seconds(exc.retry_after), error_code="429"
        )
    if isinstance(exc, Forbidden):  # blocked by the user, deactivated account
        return SendResult(Outcome.BLOCKED, error_code="403")
    if isinstance(exc, InvalidToken | Conflict):  # revoked token or a second instance
        return SendResult(Outcome.STOP_ALL, error_code=type(exc).__name__)
    if isinstance(exc, ChatMigrated):  # groups are unsupported (T-45)
        return SendResult(Outcome.PERMANENT, error_code="ChatMigrated")
    if isinstance(exc, BadRequest):
        text = exc.message.lower()
        if deleting and "not found" in text:  # the user cleared the chat (T-20)
            return SendResult(Outcome.GONE, error_code="gone")
        if deleting and "can't be deleted" in text:  # past Telegram's 48 h window (T-19)
            return SendResult(Outcome.TOO_OLD, error_code="missed_window")
        return SendResult(Outcome.PERMANENT, error_code=_bad_request_code(text))
    if isinstance(exc, NetworkError):  # TimedOut, 5xx, resets
        return SendResult(Outcome.TRANSIENT, error_code=type(exc).__name__)
    return SendResult(Outcome.TRANSIENT, error_code=type(exc).__name__)


def _bad_request_code(text: str) -> str:
    """A short code for a 400, so dead letters say why without quoting content (T-42)."""
    for needle, code in (
        ("too long", "too_long"),
        ("can't parse entities", "parse_entities"),
        ("chat not found", "chat_not_found"),
        ("message to edit not found", "edit_target_gone"),
        ("text is empty", "empty_text"),
    ):
        if needle in text:
            return code
    return "bad_request"


# ---------------------------------------------------------------------- the notifier


class TelegramNotifier:
    """Implements ``bot.domain.outbox.Notifier`` over a PTB ``Bot``."""

    __slots__ = ("_bot", "_catalogs", "_paced", "_renderers")

    def __init__(self, bot: Bot, catalogs: Catalogs, renderers: RendererTable) -> None:
        """Keep the bot, the catalogs and the renderers.

        Raises:
            ValueError: ``renderers`` misses a notice kind (found at start-up, not at send).
        """
        missing = renderers.missing()
        if missing:
            raise ValueError(f"no renderer for notice type(s): {', '.join(missing)}")
        self._bot = bot
        self._catalogs = catalogs
        self._renderers = renderers
        # The sender took the slot already: the bot's rate limiter must not wait again.
        self._paced = paced_args(bot)

    async def send(self, chat_id: int, lang: Lang, notice: Notice) -> SendResult:
        """Render ``notice`` in ``lang`` and send it (or edit the message it names)."""
        try:
            rendered = self._renderers.render(self._catalogs, lang, notice)
        except Exception as exc:
            _LOGGER.error(  # noqa: TRY400 - the traceback may quote parameters
                "Outbox notice %s failed to render: %s", notice.TEMPLATE, type(exc).__name__
            )
            return SendResult(Outcome.PERMANENT, error_code="render_failed")
        if rendered.edit_message_id is not None:
            return await self._edit(chat_id, rendered)
        try:
            message_id = await post_message(
                self._bot,
                chat_id,
                rendered.text,
                rendered.reply_markup,
                disable_notification=rendered.disable_notification,
                rate_limit_args=self._paced,
            )
        except TelegramError as exc:
            return classify(exc)
        return SendResult(Outcome.SENT, message_id=message_id)

    async def _edit(self, chat_id: int, rendered: Rendered) -> SendResult:
        message_id = rendered.edit_message_id
        try:
            if isinstance(self._bot, ExtBot) and self._paced is not None:
                await self._bot.edit_message_text(
                    rendered.text,
                    chat_id=chat_id,
                    message_id=message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=rendered.reply_markup,
                    rate_limit_args=self._paced,
                )
            else:
                await self._bot.edit_message_text(
                    rendered.text,
                    chat_id=chat_id,
                    message_id=message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=rendered.reply_markup,
                )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():  # same tally as before: nothing to do
                return SendResult(Outcome.SENT, message_id=message_id)
            return classify(exc)
        except TelegramError as exc:
            return classify(exc)
        return SendResult(Outcome.SENT, message_id=message_id)

    async def delete(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        """Delete messages (see :func:`delete_messages`)."""
        return await delete_messages(self._bot, chat_id, message_ids)

    async def set_menu(self, chat_id: int, lang: Lang, menu: ChatMenu) -> SendResult:
        """Give the chat the command menu of ``menu.role`` in ``lang`` (the same list the
        language choice and the chat's role change set), or remove it when None."""
        commands = None
        if menu.role is not None:
            commands = chat_commands(self._catalogs.for_lang(lang), menu.role)
        try:
            await post_chat_commands(self._bot, chat_id, commands, rate_limit_args=self._paced)
        except TelegramError as exc:
            return classify(exc)
        return SendResult(Outcome.SENT)


async def delete_messages(bot: Bot, chat_id: int, message_ids: Sequence[int]) -> SendResult:
    """Delete messages; one id uses ``deleteMessage`` so "not found" / "too old" show.

    Shared by the outbox's deletions and a wipe's first attempt (``handlers.eraser``), so
    both judge Telegram's answers alike (issue #11.1).
    """
    try:
        if len(message_ids) == 1:
            await bot.delete_message(chat_id, message_ids[0])
        else:
            await bot.delete_messages(chat_id, list(message_ids))
    except TelegramError as exc:
        return classify(exc, deleting=True)
    return SendResult(Outcome.SENT)
