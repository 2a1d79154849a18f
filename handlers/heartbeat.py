"""Notice each answered ``getUpdates`` and write the heartbeat ``chaski status`` reads.

``PollingRequest`` is the transport of the long poll only (``bot.app`` gives PTB a separate
request object for ``getUpdates``), so "Telegram answered" means "the bot receives its
updates". It keeps a monotonic moment in memory, nothing else; the heartbeat job turns it
into a time on the services' clock and writes one row every ``BEAT_EVERY_S`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from http import HTTPStatus

from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from bot.domain.health import BEAT_EVERY_S
from handlers.context import BotApplication, BotContext
from handlers.http import AiohttpRequest

_LOGGER = logging.getLogger(__name__)

HEARTBEAT_JOB = "heartbeat"


#: ``getUpdates`` answers PTB turns into ``InvalidToken``: a revoked token or a wrong URL.
_REJECTED = frozenset({HTTPStatus.UNAUTHORIZED, HTTPStatus.NOT_FOUND})
#: What ``getUpdates`` returns instead once the token was rejected (nothing, see below).
_NO_UPDATES = b'{"ok":true,"result":[]}'


class PollingRequest(AiohttpRequest):
    """``AiohttpRequest`` for ``getUpdates`` that remembers when Telegram last answered.

    It also stops a bot whose token Telegram rejects (#11.6). PTB ends its polling task on
    ``InvalidToken`` but leaves the process running, deaf, so systemd never restarts or
    reports it; and the failed task then breaks PTB's own shutdown (awaiting it raises
    again), leaving the database threads open. So a 401/404 answer to ``getUpdates`` is
    recorded in ``rejected``, ``on_rejected`` is called (``bot.app.run`` stops the bot and
    exits non-zero with one line), and PTB is handed an empty batch instead of the error:
    nothing is lost, since Telegram gave nothing.
    """

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
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make the call; a 200 answer (updates or an empty poll) is noted."""
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
        return status, body

    def answered(self, now: datetime) -> datetime | None:
        """When the last poll was answered, on the clock that says ``now``."""
        if self.answered_at is None:
            return None
        return now - timedelta(seconds=max(0.0, time.monotonic() - self.answered_at))


def start_heartbeat(application: BotApplication, polling: PollingRequest) -> None:
    """Write the heartbeat now and every ``BEAT_EVERY_S`` seconds."""

    async def beat(context: BotContext) -> None:
        services = context.services
        await services.heartbeat.beat(polling.answered(services.clock.now()))

    job_queue = application.job_queue
    if job_queue is None:  # pragma: no cover - the application is always built with one
        raise RuntimeError("the heartbeat needs a JobQueue")
    for job in job_queue.get_jobs_by_name(HEARTBEAT_JOB):
        job.schedule_removal()
    job_queue.run_repeating(
        beat,
        interval=BEAT_EVERY_S,
        first=0,
        name=HEARTBEAT_JOB,
        job_kwargs={"coalesce": True, "misfire_grace_time": BEAT_EVERY_S, "max_instances": 1},
    )
