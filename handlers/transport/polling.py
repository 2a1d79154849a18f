"""The long poll's transport: notes each answer and keeps one bad update from stopping intake.

``PollingRequest`` is the transport of ``getUpdates`` only (``bot.root.app`` gives PTB a separate
request object for the long poll), so "Telegram answered" means "the bot receives its
updates"; the heartbeat (``handlers.heartbeat``) reads that moment.

It stops a bot whose token Telegram rejects (#11.6). PTB ends its polling task on
``InvalidToken`` but leaves the process running, deaf, so systemd never restarts or reports
it; and the failed task then breaks PTB's own shutdown (awaiting it raises again), leaving
the database threads open. So a 401/404 answer to ``getUpdates`` is recorded in
``rejected``, ``on_rejected`` is called (``bot.root.app.run`` stops the bot and exits non-zero
with one line), and PTB is handed an empty batch instead of the error: nothing is lost,
since Telegram gave nothing.

It also quarantines updates PTB cannot parse (#11.5, T-30). PTB parses a whole batch at
once: one update it cannot read makes ``Bot.get_updates`` log the raw batch at CRITICAL
(other people's names and texts; the log filter now redacts it) and raise, and the updater
asks for the same batch again, for ever, so intake stops for everyone. Here, at PTB's
documented transport extension point, a batch that does not parse is checked update by
update and each unreadable one is replaced by its bare ``{"update_id": n}``: PTB then
confirms it like any other, no handler matches it, and the rest of the batch is served.
Only its ``update_id`` is logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from handlers.transport.http import AiohttpRequest, TimeoutArg

_LOGGER = logging.getLogger(__name__)

#: ``getUpdates`` answers PTB turns into ``InvalidToken``: a revoked token or a wrong URL.
_REJECTED = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND})
#: What ``getUpdates`` returns instead once the token was rejected (nothing, see above).
_NO_UPDATES = b'{"ok":true,"result":[]}'


def _parses(update: object) -> bool:
    """Whether PTB can build an ``Update`` from this raw item (as ``get_updates`` would)."""
    try:
        Update.de_json(update, None)  # type: ignore[arg-type]
    except Exception:  # any failure here is what PTB's own parse would raise
        return False
    return True


def quarantine(body: bytes) -> bytes:
    """``body`` with every update PTB cannot parse reduced to its ``update_id``.

    The usual batch parses as a whole and is returned untouched. A body that is not a
    successful JSON answer is left for PTB to report as it always does; an unreadable item
    without a usable ``update_id`` is left out (Telegram always sends one).
    """
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return body
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, list):
        return body
    if all(_parses(item) for item in result):
        return body
    kept: list[object] = []
    for item in result:
        if _parses(item):
            kept.append(item)
            continue
        update_id = item.get("update_id") if isinstance(item, dict) else None
        if isinstance(update_id, int) and not isinstance(update_id, bool):
            kept.append({"update_id": update_id})
            _LOGGER.warning("Skipped an update that could not be read: update_id=%d", update_id)
        else:
            _LOGGER.warning("Skipped an update that could not be read and had no update_id")
    payload["result"] = kept
    return json.dumps(payload).encode()


class PollingRequest(AiohttpRequest):
    """``AiohttpRequest`` for ``getUpdates``: notes answers, quarantines, stops on rejection."""

    __slots__ = ("answered_at", "on_rejected", "rejected")

    def __init__(self, *, connection_pool_size: int = 1) -> None:
        """One connection is all a long poll needs; no poll answered yet."""
        super().__init__(connection_pool_size=connection_pool_size)
        #: ``time.monotonic()`` of the last 200 answer, None before the first.
        self.answered_at: float | None = None
        #: The HTTP status of a rejected ``getUpdates`` (401, 404), None while accepted.
        self.rejected: int | None = None
        #: Called at each rejection; without it the error goes to PTB unchanged.
        self.on_rejected: Callable[[], None] | None = None

    async def do_request(  # noqa: PLR0917 - the signature is BaseRequest's
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        write_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        connect_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
        pool_timeout: TimeoutArg = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make the call; a 200 answer is noted and its unreadable updates quarantined."""
        status, body = await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        if status in _REJECTED and self.on_rejected is not None:
            if self.rejected is None:
                _LOGGER.critical(
                    "Telegram rejected the bot token on getUpdates (HTTP %d); stopping", status
                )
            self.rejected = status
            self.on_rejected()
            return HTTPStatus.OK, _NO_UPDATES
        if status == HTTPStatus.OK:
            self.answered_at = time.monotonic()
            body = quarantine(body)
        return status, body

    def answered(self, now: datetime) -> datetime | None:
        """When the last poll was answered, on the clock that says ``now``."""
        if self.answered_at is None:
            return None
        return now - timedelta(seconds=max(0.0, time.monotonic() - self.answered_at))
