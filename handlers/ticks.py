"""Every periodic tick of the bot, in one table (issue #10.8).

The JobQueue is only a clock (architecture.md §4, R-08): what a tick acts on lives in SQLite,
so a tick that was missed (the bot was down, the loop was busy) is coalesced into the next
one and nothing is lost. Each row names the job, how often it runs and the one function it
calls; that function asks one service method (the feature's own module keeps it, beside the
feature's other handlers). Adding a periodic tick is one row here and one service method.

Scheduling is the same for every row: remove a job of the same name (a restart of the
application in one process), then ``run_repeating`` or ``run_daily`` with the coalescing
options, at most one instance at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from bot.domain.health import BEAT_EVERY_S
from handlers import alerts, jobs, panic, schedules
from handlers.context import BotApplication, BotContext
from handlers.heartbeat import heartbeat_tick
from handlers.transport.polling import PollingRequest

HOUSEKEEPING_JOB = "outbox-housekeeping"
RETENTION_JOB = "retention"
TALLY_JOB = "alert-tallies"
APPROVAL_JOB = "alert-approvals"
SAFETY_JOB = "safety-tick"
HEARTBEAT_JOB = "heartbeat"
SCHEDULES_JOB = "schedules"

#: The nightly purge runs at this local time (quiet hours, little traffic).
RETENTION_AT = time(3, 30)


@dataclass(frozen=True, slots=True)
class Tick:
    """One periodic job: every ``every``, or daily at ``daily_at`` in the programme's zone."""

    name: str
    run: Callable[[BotContext], Coroutine[Any, Any, None]]
    every: timedelta | None = None
    daily_at: time | None = None
    #: Delay of the first run; one interval when None (start-up has enough to do).
    first: timedelta | None = None
    #: A run later than this is skipped, coalesced into the next: it would only repeat work.
    misfire_grace: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        """Exactly one of ``every`` and ``daily_at``: a tick has one rhythm."""
        if (self.every is None) == (self.daily_at is None):
            raise ValueError(f"tick {self.name!r} needs exactly one of every and daily_at")


def table(polling: PollingRequest | None = None) -> tuple[Tick, ...]:
    """The bot's ticks; the heartbeat only when the long poll's transport is known."""
    ticks = [
        # Recover expired leases, expire old rows, wake the sender for due rows.
        Tick(HOUSEKEEPING_JOB, jobs.outbox_housekeeping, every=timedelta(seconds=30)),
        # Delete what is past its retention (M-15); a missed night is caught up next run.
        Tick(
            RETENTION_JOB,
            jobs.retention_purge,
            daily_at=RETENTION_AT,
            misfire_grace=timedelta(hours=6),
        ),
        # Coalesced edits of each alert author's live summary: often enough to feel live.
        Tick(
            TALLY_JOB,
            alerts.refresh_tallies,
            every=timedelta(seconds=5),
            misfire_grace=timedelta(seconds=30),
        ),
        # Urgent alerts waiting too long for approval reach the administrators (#12.4).
        Tick(APPROVAL_JOB, alerts.escalate_approvals, every=timedelta(seconds=60)),
        # Unlinks due after a duress PIN (at most this late), old ids purged (M-13b, R-09).
        Tick(
            SAFETY_JOB,
            panic.safety_tick,
            every=timedelta(seconds=60),
            misfire_grace=timedelta(seconds=120),
        ),
        # Due reminders and check-ins to the outbox, missed ones caught up once; check-in
        # windows that closed reported to the coordinators (issue #15).
        Tick(
            SCHEDULES_JOB,
            schedules.schedules_tick,
            every=timedelta(seconds=30),
            first=timedelta(seconds=1),
            misfire_grace=timedelta(seconds=60),
        ),
    ]
    if polling is not None:
        beat = timedelta(seconds=BEAT_EVERY_S)
        # What `chaski status` reads: is the bot alive and receiving updates.
        ticks.append(
            Tick(
                HEARTBEAT_JOB,
                heartbeat_tick(polling),
                every=beat,
                first=timedelta(0),
                misfire_grace=beat,
            )
        )
    return tuple(ticks)


def schedule(application: BotApplication, ticks: tuple[Tick, ...]) -> None:
    """Put every tick on the application's JobQueue, replacing jobs of the same name."""
    job_queue = application.job_queue
    if job_queue is None:  # pragma: no cover - the application is always built with one
        raise RuntimeError("the bot's ticks need a JobQueue")
    for tick in ticks:
        for job in job_queue.get_jobs_by_name(tick.name):
            job.schedule_removal()
        options = {
            "coalesce": True,
            "misfire_grace_time": int(tick.misfire_grace.total_seconds()),
            "max_instances": 1,
        }
        if tick.every is not None:
            job_queue.run_repeating(
                tick.run,
                interval=tick.every,
                first=tick.every if tick.first is None else tick.first,
                name=tick.name,
                job_kwargs=options,
            )
        else:
            assert tick.daily_at is not None  # noqa: S101 - __post_init__ guarantees it
            tz = application.bot_data.services.clock.tz
            job_queue.run_daily(
                tick.run, time=tick.daily_at.replace(tzinfo=tz), name=tick.name, job_kwargs=options
            )
