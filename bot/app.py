"""Composition root of the running bot: build the PTB Application and run it.

I/O happens in ``post_init`` (keys, database, catalogs), in the order R-12 asks
for: secrets, database, then jobs and the sender (``handlers.on_startup``), and only then
does polling start receiving updates.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import Application, ContextTypes, Defaults, JobQueue

import handlers
from bot.config import Settings
from bot.domain.ports import Clock
from bot.i18n import Catalogs
from bot.wiring import open_wiring
from handlers.concurrency import PerChatUpdateProcessor
from handlers.context import BotApplication, BotContext, BotData
from handlers.heartbeat import PollingRequest, start_heartbeat
from handlers.http import AiohttpRequest
from handlers.pacing import PacingRateLimiter, SendPacer

_LOGGER = logging.getLogger(__name__)

#: Only what the bot handles (M-18): no channel posts, inline queries, edited messages.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]


def build_application(settings: Settings, *, clock: Clock | None = None) -> BotApplication:
    """Build the Application; resources are opened in post_init, closed in post_shutdown.

    ``clock`` replaces the system clock (tests, benchmarks).
    """
    if settings.bot_token is None:
        raise ValueError("a bot token is required to build the application")
    resources = AsyncExitStack()
    # The long poll's own transport notes each answer for the heartbeat (chaski status).
    polling = PollingRequest(connection_pool_size=1)

    async def post_init(application: BotApplication) -> None:
        wiring = await open_wiring(settings, clock=clock)
        resources.push_async_callback(wiring.close)
        catalogs = Catalogs.load(drafts=settings.quechua_drafts)
        log_quechua_release(catalogs)
        application.bot_data.attach(wiring.services, catalogs)
        await handlers.on_startup(application)
        start_heartbeat(application, polling)

    async def post_shutdown(application: BotApplication) -> None:
        try:
            await handlers.on_shutdown(application)
        finally:
            await resources.aclose()

    application: BotApplication = (
        Application.builder()
        .token(settings.bot_token)
        .base_url(settings.base_url)
        # aiohttp instead of PTB's httpx: about a quarter of the CPU per Bot API call
        # (docs/performance.md). Bot calls and the long poll get separate pools, as in PTB.
        .request(AiohttpRequest())
        .get_updates_request(polling)
        # One pacer for every message, replies and edits as much as outbox rows; the
        # outbox sender takes the same one in ``handlers.jobs.start_outbox``.
        .rate_limiter(
            PacingRateLimiter(
                SendPacer(settings.send_rate, per_chat_interval=settings.per_chat_interval)
            )
        )
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        .job_queue(JobQueue[BotContext]())
        .defaults(
            Defaults(parse_mode=ParseMode.HTML, tzinfo=settings.timezone, protect_content=True)
        )
        .concurrent_updates(PerChatUpdateProcessor(settings.concurrent_updates))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    handlers.register(application)
    return application


def log_quechua_release(catalogs: Catalogs) -> None:
    """Say at start what Quechua members will see: serving drafts must never go unnoticed."""
    release = catalogs.quechua
    if release.drafts and release.unreviewed:
        _LOGGER.warning("%s", release.describe())
    else:
        _LOGGER.info("%s", release.describe())


def use_fast_event_loop() -> bool:
    """Make a uvloop loop this thread's event loop, where uvloop is installed; True if so.

    The bot's work is many short steps (a Bot API call, a database trip), each an event
    loop turn and, for the database thread, a wake-up; asyncio's own loop spent a large share
    of ``/estado``'s CPU on that, and uvloop does the same turns for less
    (``docs/performance.md``, Third pass). ``run_polling`` takes the thread's current loop. Without
    uvloop (Windows has no build) asyncio's loop does the same work, only slower.
    """
    try:
        import uvloop  # noqa: PLC0415 - optional by platform
    except ImportError:  # pragma: no cover - installed wherever the lock file applies
        return False
    asyncio.set_event_loop(uvloop.new_event_loop())
    return True


def run(settings: Settings) -> None:
    """Long-poll until SIGINT/SIGTERM (no listening port, M-18)."""
    application = build_application(settings)
    use_fast_event_loop()
    _LOGGER.info("Starting Chaski (long polling)")
    application.run_polling(
        allowed_updates=ALLOWED_UPDATES,
        timeout=settings.poll_timeout,
        drop_pending_updates=False,
    )
