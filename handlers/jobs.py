"""Start and stop the outbox sender; the outbox and retention ticks (R-08, R-12, M-15).

The JobQueue is only a clock (architecture.md §4): SQLite rows are the truth. The sender runs as
its own asyncio task (not a job), woken by every enqueue; the ``outbox-housekeeping`` tick
(scheduled with the others in ``handlers.ticks``) recovers leases that ran out, expires rows
that are too old to send, warns about a growing backlog and wakes the sender for rows whose
``not_before`` or retry time has come.
"""

from __future__ import annotations

import logging

from handlers.context import BotApplication, BotContext
from handlers.notices import renderer_table
from handlers.notifier import TelegramNotifier
from handlers.transport.pacing import SendPacer, pacer_of

_LOGGER = logging.getLogger(__name__)

#: Seconds ``on_shutdown`` waits for in-flight sends before giving up on them.
STOP_TIMEOUT = 10.0


async def outbox_housekeeping(context: BotContext) -> None:
    """The periodic tick: recover expired leases, expire old rows, wake the sender."""
    await context.services.sending.housekeeping()


async def start_outbox(application: BotApplication) -> None:
    """Recover crashed leases and start the sender (R-12)."""
    services = application.bot_data.services
    sender = services.sending
    # The renderer table is handed over here: a kind without a renderer stops the start.
    catalogs = application.bot_data.catalogs
    notifier = TelegramNotifier(application.bot, catalogs, renderer_table())
    # The pacer the bot's replies and edits go through: one authority for every send.
    pacer = pacer_of(application.bot) or SendPacer(sender.config.rate)
    await sender.start(notifier, pacer)


async def retention_purge(context: BotContext) -> None:
    """The nightly tick: delete what is past its retention (M-15); idempotent."""
    await context.services.retention.purge()


async def stop_outbox(application: BotApplication) -> None:
    """Stop the sender; in-flight sends get ``STOP_TIMEOUT`` seconds to finish."""
    await application.bot_data.services.sending.stop(STOP_TIMEOUT)
    _LOGGER.info("Outbox sender stopped")
