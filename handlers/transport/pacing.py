"""One pacing authority for every message the bot sends (R-04, R-07, telegram-limits.md §1).

Telegram answers 429 past about 30 messages a second overall and about one a second to one
chat, and it counts replies, edits and broadcasts alike. Two pacers that do not know about
each other (the outbox's and none at all for replies) let a reply and an outbox edit of the
same message arrive a quarter of a second apart. So every ``send*``/``editMessage*`` call of
the bot takes a slot from one :class:`SendPacer`:

* a slot is granted for the global rate **and** the chat at the same instant, just before the
  request leaves, so the per-chat interval holds between actual send times (taking the chat's
  slot first and then queueing for the global one let two sends to one chat go out 80 ms
  apart once the global queue drained);
* waiting sends are served by priority, then in arrival order: a reply to a person's own
  action (:attr:`SendPriority.REPLY`) before the outbox's proactive rows
  (:attr:`SendPriority.PROACTIVE`), and those before follow-up edits that only restate what
  the person was already told (:attr:`SendPriority.FOLLOW_UP`); a send whose chat is still
  inside its interval does not hold up sends to other chats;
* a 429 from any call pauses every grant for ``retry_after`` (R-04); the outbox keeps its own
  pause on top (jitter, requeue without spending an attempt).

:class:`PacingRateLimiter` is PTB's ``BaseRateLimiter`` hook (``ExtBot`` passes every request
through it), so replies and edits made anywhere in ``handlers`` are paced without each call
site knowing. The outbox takes its slot before rendering the row (so it can still drop the
row after a 429 that arrived while it waited) and marks the call ``{"paced": True}``.
Callback answers, deletions and command menus are not messages and pass straight through.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum
from typing import Any, Protocol

from telegram import Bot
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter, ExtBot

_LOGGER = logging.getLogger(__name__)

#: ``rate_limit_args`` of the bot's ``ExtBot`` calls: ``{"paced": True}`` or ``{"priority": n}``.
RateLimitArgs = dict[str, Any]

#: Seconds between two messages to one chat: a little over Telegram's one a second, so network
#: jitter cannot squeeze two of them into one of its windows.
PER_CHAT_INTERVAL = 1.1
#: Global slots are spaced ``(1 + this) / rate`` s apart, so ``rate`` sends leave over at least
#: 1.03 s and a one-second window at Telegram sees at most ``rate`` of them even when their
#: arrival jitters by up to 30 ms (at 25 a second: 24.3 sent a second).
WINDOW_MARGIN = 0.03
#: Methods Telegram counts against its flood limits when they carry a ``chat_id``, as PTB's
#: typed methods name their endpoints.
_LIMITED_PREFIXES = ("send", "editMessage", "copyMessage", "forwardMessage")


class PacerClock(Protocol):
    """The time a :class:`SendPacer` reads and the timer it arms: the running event loop.

    A test hands in a clock of its own so that grants follow virtual time, not a loaded
    machine's scheduling.
    """

    def time(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def call_at(self, when: float, callback: Callable[[], object]) -> asyncio.Handle:
        """Run ``callback`` at ``when`` (on :meth:`time`'s scale)."""
        ...


class SendPriority(IntEnum):
    """Who goes first when several sends wait for a slot (lower first)."""

    #: A reply or edit answering what a person just did (a command, a compose button).
    REPLY = 0
    #: An outbox row: alerts, help escalations, tallies, notifications (R-07 orders them).
    PROACTIVE = 1
    #: An edit restating what the person was already told at once (a callback answer).
    FOLLOW_UP = 2


@dataclass(order=True, slots=True)
class _Waiter:
    priority: int
    rank: int
    seq: int
    chat_id: int | None = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class SendPacer:
    """Grants send slots: at most ``rate`` a second overall, one per chat per interval.

    Implements ``bot.services.outbox.Pacer``. Global slots are evenly spaced (no burst: a
    one-second window never holds more than ``rate`` grants, with :data:`WINDOW_MARGIN` to
    spare for arrival jitter); a chat's next slot is ``per_chat_interval`` s after its last
    grant. Within a priority, ``rank`` orders further (the outbox passes its row priority,
    R-07: a help escalation before a tally edit to the same coordinator), then arrival.
    Chats whose interval has passed are forgotten once more than ``max_chats`` are
    remembered, so memory stays bounded.
    """

    __slots__ = (
        "_chat_free",
        "_clock",
        "_interval",
        "_max_chats",
        "_next_global",
        "_paused_until",
        "_seq",
        "_timer",
        "_waiters",
        "per_chat_interval",
        "rate",
    )

    def __init__(
        self,
        rate: float | None,
        *,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        max_chats: int = 4096,
        clock: PacerClock | None = None,
    ) -> None:
        """``rate`` None or 0 lifts the global limit; ``per_chat_interval`` 0 the per-chat one.

        ``clock`` defaults to the running event loop.
        """
        self.rate = rate or None
        self.per_chat_interval = per_chat_interval
        self._interval = (1.0 + WINDOW_MARGIN) / rate if rate else 0.0
        self._next_global = 0.0
        self._paused_until = 0.0
        self._chat_free: dict[int, float] = {}
        self._max_chats = max_chats
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._timer: asyncio.Handle | None = None
        self._clock = clock

    def _time(self) -> PacerClock:
        return self._clock or asyncio.get_running_loop()

    @property
    def waiting(self) -> int:
        """Sends waiting for a slot now (for benchmarks and logs)."""
        return sum(not waiter.future.done() for waiter in self._waiters)

    async def acquire(
        self, chat_id: int | None, rank: int = 0, *, priority: int = SendPriority.PROACTIVE
    ) -> None:
        """Wait for a slot for ``chat_id`` (None: the global rate only)."""
        await self._wait(chat_id, priority, rank, None)

    async def try_acquire(self, chat_id: int | None, priority: int, within: float) -> bool:
        """Like :meth:`acquire`, but give up (False) if no slot came within ``within`` s."""
        return await self._wait(chat_id, priority, 0, within)

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` (Telegram answered 429, R-04)."""
        until = self._time().time() + max(seconds, 0.0)
        if until > self._paused_until:
            self._paused_until = until
            self._dispatch()

    async def _wait(
        self, chat_id: int | None, priority: int, rank: int, within: float | None
    ) -> bool:
        loop = asyncio.get_running_loop()
        if not self._waiters:  # nobody queued: no future, no timer
            now = self._time().time()
            free = chat_id is None or self._chat_free.get(chat_id, 0.0) <= now
            if free and now >= max(self._paused_until, self._next_global):
                self._grant(chat_id, now)
                return True
        waiter = _Waiter(int(priority), rank, next(self._seq), chat_id, loop.create_future())
        bisect.insort(self._waiters, waiter)
        self._dispatch()
        if waiter.future.done():
            return True
        try:
            if within is None:
                await waiter.future
                return True
            await asyncio.wait((waiter.future,), timeout=within)
        finally:
            # Gave up or cancelled: the grant loop drops it when it reaches it (removing it
            # here would cost a pass over thousands of waiting follow-ups each time).
            waiter.future.cancel()
        return waiter.future.done() and not waiter.future.cancelled()

    def _dispatch(self) -> None:
        """Grant every slot that is free now; arm a timer for the next one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        clock = self._time()
        now = clock.time()
        wake_at: float | None = None
        while self._waiters:
            blocked_until = max(self._paused_until, self._next_global)
            if now < blocked_until:
                wake_at = blocked_until
                break
            index = self._first_free(now)
            if index is None:  # every waiter's chat is inside its interval
                wake_at = min(
                    self._chat_free[w.chat_id] for w in self._waiters if w.chat_id is not None
                )
                break
            waiter = self._waiters.pop(index)
            if waiter.future.done():  # cancelled while waiting; its task removes nothing
                continue
            self._grant(waiter.chat_id, now)
            waiter.future.set_result(None)
        if wake_at is not None:
            self._timer = clock.call_at(wake_at, self._dispatch)

    def _first_free(self, now: float) -> int | None:
        """Index of the first waiter (priority, then arrival) whose chat may receive now."""
        free = self._chat_free
        for index, waiter in enumerate(self._waiters):
            if waiter.chat_id is None or free.get(waiter.chat_id, 0.0) <= now:
                return index
        return None

    def _grant(self, chat_id: int | None, now: float) -> None:
        if self._interval:
            self._next_global = now + self._interval
        if chat_id is not None and self.per_chat_interval > 0:
            self._chat_free[chat_id] = now + self.per_chat_interval
            if len(self._chat_free) > self._max_chats:
                self._chat_free = {c: t for c, t in self._chat_free.items() if t > now}


def retry_seconds(value: int | float | timedelta) -> float:
    """``RetryAfter.retry_after`` in seconds (a ``timedelta`` with ``PTB_TIMEDELTA=1``)."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PacingRateLimiter(BaseRateLimiter[RateLimitArgs]):
    """PTB's rate-limiter hook over one :class:`SendPacer`: every message the bot sends.

    ``rate_limit_args``: ``{"paced": True}`` for a call whose slot was taken already (the
    outbox), ``{"priority": SendPriority.…}`` to change the default :attr:`SendPriority.REPLY`.
    """

    __slots__ = ("pacer",)

    def __init__(self, pacer: SendPacer) -> None:
        """Pace through ``pacer`` (shared with the outbox sender)."""
        self.pacer = pacer

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(  # noqa: PLR0917 - PTB's abstract signature
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: RateLimitArgs | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for a slot if this call is a message to a chat, then make it; 429 pauses all."""
        extra = rate_limit_args or {}
        chat_id = data.get("chat_id")
        if (
            isinstance(chat_id, int)
            and endpoint.startswith(_LIMITED_PREFIXES)
            and not extra.get("paced")
        ):
            priority = int(extra.get("priority", SendPriority.REPLY))
            await self.pacer.acquire(chat_id, priority=priority)
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            seconds = retry_seconds(exc.retry_after)
            _LOGGER.warning("Telegram asked to slow down: no message for %.1f s", seconds)
            self.pacer.pause(seconds)
            raise


def pacer_of(bot: Bot) -> SendPacer | None:
    """The pacer behind ``bot``'s rate limiter, or None for a bot without one."""
    if isinstance(bot, ExtBot) and isinstance(bot.rate_limiter, PacingRateLimiter):
        return bot.rate_limiter.pacer
    return None


def paced_args(bot: Bot) -> RateLimitArgs | None:
    """``rate_limit_args`` for a call whose slot was already taken (None: bot not paced)."""
    return {"paced": True} if pacer_of(bot) is not None else None
