"""Composition root of the running bot: build the PTB Application and run it.

I/O happens in ``post_init`` (keys, database, catalogs), in the order R-12 asks
for: secrets, database, then jobs and the sender (``handlers.on_startup``), and only then
does polling start receiving updates.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from telegram import Update
from telegram.error import InvalidToken
from telegram.ext import Application, ContextTypes, JobQueue

import handlers
from bot.config import ConfigError, Settings
from bot.domain.ports import Clock
from bot.i18n import Catalogs
from bot.root.wiring import open_wiring
from bot.services.charts import ChartProcess
from handlers.context import BotApplication, BotContext, BotData
from handlers.transport.concurrency import PerChatUpdateProcessor
from handlers.transport.http import AiohttpRequest
from handlers.transport.pacing import PacingRateLimiter, SendPacer
from handlers.transport.polling import PollingRequest
from handlers.transport.send import bot_defaults

_LOGGER = logging.getLogger(__name__)

#: Only what the bot handles (M-18): no channel posts, inline queries. Edited messages come
#: only so that a message edited into a PIN is deleted (T-09, ``handlers.pin.PinText``);
#: the gatekeeper drops every edit before the features, so an edited command never runs.
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
]


def build_application(
    settings: Settings, *, clock: Clock | None = None, polling: PollingRequest | None = None
) -> BotApplication:
    """Build the Application; resources are opened in post_init, closed in post_shutdown.

    ``clock`` replaces the system clock (tests, benchmarks); ``polling`` is the long poll's
    transport when the caller needs to watch it (``run``).
    """
    if settings.bot_token is None:
        raise ValueError("a bot token is required to build the application")
    resources = AsyncExitStack()
    # The long poll's own transport notes each answer for the heartbeat (chaski status).
    polling = polling or PollingRequest(connection_pool_size=1)

    started = False

    async def post_init(application: BotApplication) -> None:
        nonlocal started
        wiring = await open_wiring(settings, clock=clock, create=True)  # first run
        resources.push_async_callback(wiring.close)
        catalogs = Catalogs.load(drafts=settings.quechua_drafts)
        log_quechua_release(catalogs)
        application.bot_data.attach(wiring.services, catalogs)
        await handlers.on_startup(application, polling)
        started = True

    async def post_shutdown(application: BotApplication) -> None:
        # After a failed start (keys, database) there is nothing to stop: the error that
        # stopped post_init is the one line the operator must see, not a second traceback.
        try:
            if started:
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
        # HTML and protect_content on every call (M-11), declared by the one send path.
        .defaults(bot_defaults(settings.timezone))
        .concurrent_updates(PerChatUpdateProcessor(settings.concurrent_updates))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    # /informe's chart: the operator's time limit, the bot's own interpreter (issue #16.6).
    application.bot_data.charts = ChartProcess(settings.chart_timeout, settings.chart_python)
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


class _TokenErrorsWithoutTraceback(logging.Filter):
    """Drop the traceback PTB logs with a rejected token: ``run`` says it in one line.

    PTB's retry loop logs ``InvalidToken`` with its whole traceback (twice chained) before
    re-raising it; the operator needs the one line ``run`` turns it into (#11.6), and the
    record's own message stays.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record; strip the traceback of an ``InvalidToken``."""
        if record.exc_info and isinstance(record.exc_info[1], InvalidToken):
            record.exc_info = None
            record.exc_text = None
        return True


class _Stopper:
    """Stops ``run_polling`` once: at SIGINT/SIGTERM/SIGABRT or a rejected token.

    It stops the bot as PTB's own signal handler does (``SystemExit`` raised from a loop
    callback), but only the first time. PTB raises at every signal, so a second SIGTERM a
    few milliseconds after the first (GNU ``timeout``, some supervisors) landed inside the
    shutdown itself and skipped ``post_shutdown``: the database threads stayed open and the
    process hung until SIGKILL (#11.6). Later requests are logged and ignored.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)

    def __init__(self) -> None:
        """Nothing asked to stop yet."""
        self.stopping = False

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Handle the stop signals on ``loop`` (the loop ``run_polling`` will run)."""
        for sig in self.SIGNALS:
            loop.add_signal_handler(sig, self.request)

    def request(self) -> None:
        """Stop now (from a loop callback); a repeat while stopping does nothing."""
        if self.stopping:
            _LOGGER.info("Already stopping")
            return
        self.stopping = True
        raise SystemExit


def run(settings: Settings) -> None:
    """Long-poll until SIGINT/SIGTERM (no listening port, M-18).

    Raises:
        ConfigError: Telegram rejected the token (at start or later, on ``getUpdates``): the
            bot must exit non-zero with one line rather than run deaf (#11.6).
    """
    polling = PollingRequest(connection_pool_size=1)
    application = build_application(settings, polling=polling)
    fast = use_fast_event_loop()
    if not fast:  # pragma: no cover - uvloop is installed wherever the lock applies
        asyncio.set_event_loop(asyncio.new_event_loop())
    loop = asyncio.get_event_loop()  # the one run_polling takes; set just above
    stopper = _Stopper()
    stopper.install(loop)

    # A rejected token stops the bot like a signal does: from a loop callback, so PTB's
    # shutdown (and post_shutdown, which closes the database) runs in full.
    def stop_soon() -> None:
        loop.call_soon(stopper.request)

    polling.on_rejected = stop_soon
    # Logger filters apply to the records of that very logger: PTB's retry loop logs here.
    logging.getLogger("telegram.ext").addFilter(_TokenErrorsWithoutTraceback())
    _LOGGER.info("Starting Chaski (long polling)")
    try:
        application.run_polling(
            allowed_updates=ALLOWED_UPDATES,
            timeout=settings.poll_timeout,
            drop_pending_updates=False,
            stop_signals=None,  # the stopper's instead
            close_loop=False,
        )
    except InvalidToken:  # getMe at start: PTB never initialised, so it closes nothing
        loop.run_until_complete(_close_transports(application, polling))
        raise _token_rejected("getMe") from None
    finally:
        loop.close()
    if polling.rejected is not None:
        raise _token_rejected("getUpdates", polling.rejected)


async def _close_transports(application: BotApplication, polling: PollingRequest) -> None:
    """Close both HTTP sessions (PTB's shutdown skips a bot that never initialised)."""
    await asyncio.gather(application.bot.request.shutdown(), polling.shutdown())


def _token_rejected(method: str, status: int | None = None) -> ConfigError:
    answer = f" (HTTP {status})" if status is not None else ""
    return ConfigError(
        f"TELEGRAM_BOT_TOKEN was rejected by Telegram on {method}{answer}: the token was"
        " revoked or mistyped, or TELEGRAM_BASE_URL is wrong; get the current token from"
        " @BotFather"
    )
