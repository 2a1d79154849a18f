"""Start and stop the outbox sender, and the JobQueue tick that keeps it honest (R-08, R-12).

The JobQueue is only a clock (architecture.md §4): SQLite rows are the truth. The sender runs as
its own asyncio task (not a job), woken by every enqueue; the ``outbox-housekeeping`` tick
recovers leases that ran out, expires rows that are too old to send, warns about a growing
backlog and wakes the sender for rows whose ``not_before`` or retry time has come.
"""

from __future__ import annotations

import logging
from datetime import time

from handlers.context import BotApplication, BotContext
from handlers.notifier import TelegramNotifier
from handlers.pacing import SendPacer, pacer_of

_LOGGER = logging.getLogger(__name__)

HOUSEKEEPING_JOB = "outbox-housekeeping"
RETENTION_JOB = "retention"
#: The nightly purge runs at this local time (quiet hours, little traffic).
RETENTION_AT = time(3, 30)
#: Seconds between housekeeping ticks.
HOUSEKEEPING_INTERVAL = 30.0
#: A tick later than this is skipped (coalesced into the next one): it only repeats work.
HOUSEKEEPING_MISFIRE_GRACE = 60
#: Seconds ``on_shutdown`` waits for in-flight sends before giving up on them.
STOP_TIMEOUT = 10.0


async def outbox_housekeeping(context: BotContext) -> None:
    """The periodic tick: recover expired leases, expire old rows, wake the sender."""
    await context.services.outbox_sender.housekeeping()


async def start_outbox(application: BotApplication) -> None:
    """Recover crashed leases, start the sender, schedule the housekeeping tick (R-12)."""
    services = application.bot_data.services
    sender = services.outbox_sender
    notifier = TelegramNotifier(application.bot, application.bot_data.catalogs)
    # The pacer the bot's replies and edits go through: one authority for every send.
    pacer = pacer_of(application.bot) or SendPacer(sender.config.rate)
    await sender.start(notifier, pacer)
    job_queue = application.job_queue
    if job_queue is None:  # pragma: no cover - the application is always built with one
        raise RuntimeError("the outbox needs a JobQueue")
    for job in job_queue.get_jobs_by_name(HOUSEKEEPING_JOB):
        job.schedule_removal()
    job_queue.run_repeating(
        outbox_housekeeping,
        interval=HOUSEKEEPING_INTERVAL,
        first=HOUSEKEEPING_INTERVAL,
        name=HOUSEKEEPING_JOB,
        job_kwargs={
            "coalesce": True,
            "misfire_grace_time": HOUSEKEEPING_MISFIRE_GRACE,
            "max_instances": 1,
        },
    )


async def retention_purge(context: BotContext) -> None:
    """The nightly tick: delete what is past its retention (M-15); idempotent."""
    await context.services.retention.purge()


def start_retention(application: BotApplication) -> None:
    """Schedule the nightly purge in the programme's time zone (a missed night is caught up
    by the next run, since the purge deletes everything past its cut-off)."""
    job_queue = application.job_queue
    if job_queue is None:  # pragma: no cover - the application is always built with one
        raise RuntimeError("the purge needs a JobQueue")
    for job in job_queue.get_jobs_by_name(RETENTION_JOB):
        job.schedule_removal()
    tz = application.bot_data.services.clock.tz
    job_queue.run_daily(
        retention_purge,
        time=RETENTION_AT.replace(tzinfo=tz),
        name=RETENTION_JOB,
        job_kwargs={"coalesce": True, "misfire_grace_time": 6 * 3600, "max_instances": 1},
    )


async def stop_outbox(application: BotApplication) -> None:
    """Stop the sender; in-flight sends get ``STOP_TIMEOUT`` seconds to finish."""
    await application.bot_data.services.outbox_sender.stop(STOP_TIMEOUT)
    _LOGGER.info("Outbox sender stopped")
