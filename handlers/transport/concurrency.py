"""Process different chats concurrently while each chat's updates stay in order.

With real Telegram latency a sequential bot manages about one update per round trip; 32 chats
at once (the default) multiply that (docs/performance.md, Findings). One chat's updates must still
run in order (a language choice before the status request that follows it), so each chat
gets a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

#: PTB's own semaphore only bounds waiting tasks; the real bound is ``max_in_flight``.
_QUEUE_BOUND = 4096


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """At most ``max_in_flight`` updates run at once, never two of the same chat."""

    __slots__ = ("_in_flight", "_locks", "_waiting")

    def __init__(self, max_in_flight: int) -> None:
        """Bound the number of updates being handled at the same moment."""
        super().__init__(_QUEUE_BOUND)
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Take the chat's lock first (FIFO), then a slot, so one busy chat cannot hog slots."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            async with self._in_flight:
                await coroutine
            return
        key = chat.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._in_flight:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to release."""
