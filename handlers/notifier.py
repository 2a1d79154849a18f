"""The outbox's Telegram side: templates rendered per recipient, errors mapped to outcomes.

``TelegramNotifier`` implements ``bot.domain.outbox.Notifier`` (docs/architecture.md §5): Telegram
exceptions stop here and become an :class:`~bot.domain.outbox.Outcome` the sender's state
machine understands. Every send is HTML with ``protect_content=True`` (M-11).

Features register how their rows look with :func:`register_template`; a renderer gets the
recipient's translator, language and the row's (decrypted) parameters and returns a
:class:`Rendered`. A renderer must ``html.escape`` every parameter it interpolates (M-09).
An ``edit_message_id`` edits that message instead of sending a new one (live tallies).

The sender takes each row's slot from the bot's one :class:`~handlers.transport.pacing.SendPacer`
before calling ``send``, so the calls made here are marked ``{"paced": True}`` and the bot's
rate limiter lets them through without a second wait (docs/telegram-limits.md §4).
"""

from __future__ import annotations

import gettext
import html
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

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
from bot.domain.outbox import DELETE_TEMPLATE, MEMBER_BLOCKED_TEMPLATE, Outcome, SendResult
from bot.i18n import Catalogs
from handlers.transport.pacing import paced_args
from handlers.transport.send import post_message

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rendered:
    """One outbox message as Telegram will show it (already in the recipient's language)."""

    text: str
    reply_markup: InlineKeyboardMarkup | None = None
    edit_message_id: int | None = None
    disable_notification: bool = False


Renderer = Callable[[gettext.NullTranslations, Lang, Mapping[str, str]], Rendered]
"""``render(t, lang, params) -> Rendered``; ``params`` are the row's named values."""

_TEMPLATES: dict[str, Renderer] = {}


def register_template(name: str, render: Renderer) -> None:
    """Make ``name`` sendable by the outbox; call once at import of the feature module.

    Raises:
        ValueError: the name is reserved (``delete``) or taken by another renderer.
    """
    if name == DELETE_TEMPLATE:
        raise ValueError("the 'delete' template is built in")
    known = _TEMPLATES.get(name)
    if known is not None and known is not render:
        raise ValueError(f"outbox template {name!r} is registered already")
    _TEMPLATES[name] = render


def template_names() -> frozenset[str]:
    """Every registered template name (tests check features registered theirs)."""
    return frozenset(_TEMPLATES)


def render(catalogs: Catalogs, lang: Lang, template: str, params: Mapping[str, str]) -> Rendered:
    """Render ``template`` for one recipient.

    Raises:
        KeyError: no renderer is registered under ``template``.
    """
    return _TEMPLATES[template](catalogs.for_lang(lang), lang, params)


# ---------------------------------------------------------------------- built-in templates


def _render_news(t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]) -> Rendered:
    """A content-free nudge: safe on a lock screen or a seized phone (M-02, T-22)."""
    del lang, params
    # Translators: aviso que se ve en la pantalla bloqueada: nada que delate recompensas,
    # policía ni montos.
    return Rendered(t.gettext("Tienes una novedad. Escribe /menu."))


def _render_member_blocked(
    t: gettext.NullTranslations, lang: Lang, params: Mapping[str, str]
) -> Rendered:
    """Tell a coordinator that one of their members blocked the bot (R-06, T-41)."""
    del lang
    # Translators: se envía a un coordinador. {codename} es el seudónimo de un miembro.
    text = t.gettext("{codename} bloqueó el bot o desactivó su cuenta.")
    return Rendered(text.format(codename=html.escape(params.get("codename", "?"))))


register_template("news", _render_news)
register_template(MEMBER_BLOCKED_TEMPLATE, _render_member_blocked)


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

    __slots__ = ("_bot", "_catalogs", "_paced")

    def __init__(self, bot: Bot, catalogs: Catalogs) -> None:
        """Keep the bot and the catalogs; templates are looked up per call."""
        self._bot = bot
        self._catalogs = catalogs
        # The sender took the slot already: the bot's rate limiter must not wait again.
        self._paced = paced_args(bot)

    async def send(
        self, chat_id: int, lang: Lang, template: str, params: Mapping[str, str]
    ) -> SendResult:
        """Render ``template`` in ``lang`` and send it (or edit the message it names)."""
        try:
            rendered = render(self._catalogs, lang, template, params)
        except KeyError:
            _LOGGER.error("Outbox template %r is not registered", template)  # noqa: TRY400
            return SendResult(Outcome.PERMANENT, error_code="unknown_template")
        except Exception as exc:
            _LOGGER.error(  # noqa: TRY400 - the traceback may quote parameters
                "Outbox template %r failed to render: %s", template, type(exc).__name__
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
        """Delete messages; one id uses ``deleteMessage`` so "not found" / "too old" show."""
        try:
            if len(message_ids) == 1:
                await self._bot.delete_message(chat_id, message_ids[0])
            else:
                await self._bot.delete_messages(chat_id, list(message_ids))
        except TelegramError as exc:
            return classify(exc, deleting=True)
        return SendResult(Outcome.SENT)
