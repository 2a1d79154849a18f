"""Write the heartbeat ``chaski status`` reads, from what the long poll noticed.

``handlers.polling.PollingRequest`` keeps the monotonic moment of the last answered
``getUpdates`` in memory, nothing else; the heartbeat job turns it into a time on the
services' clock and writes one row every ``BEAT_EVERY_S`` seconds.
"""

from __future__ import annotations

from bot.domain.health import BEAT_EVERY_S
from handlers.context import BotApplication, BotContext
from handlers.polling import PollingRequest

HEARTBEAT_JOB = "heartbeat"


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
