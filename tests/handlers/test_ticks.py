"""The one table of periodic ticks (issue #10.8): what it schedules is what runs."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from handlers import ticks
from handlers.transport.polling import PollingRequest
from tests.conftest import RunningBot


async def test_every_tick_of_the_table_is_on_the_job_queue_once(running_bot: RunningBot) -> None:
    job_queue = running_bot.app.job_queue
    assert job_queue is not None
    scheduled = sorted(str(job.name) for job in job_queue.jobs())
    assert scheduled == sorted(tick.name for tick in ticks.table(PollingRequest()))
    assert ticks.HEARTBEAT_JOB in scheduled


async def test_scheduling_again_replaces_rather_than_doubles(running_bot: RunningBot) -> None:
    job_queue = running_bot.app.job_queue
    assert job_queue is not None
    table = ticks.table()
    ticks.schedule(running_bot.app, table)
    live = [str(job.name) for job in job_queue.jobs() if not job.removed]
    assert sorted(live) == sorted({*live})
    assert {tick.name for tick in table} <= set(live)


def test_without_the_poll_there_is_no_heartbeat() -> None:
    assert ticks.HEARTBEAT_JOB not in {tick.name for tick in ticks.table()}


async def _noop(context: object) -> None:
    return None


@pytest.mark.parametrize(
    ("every", "daily_at"), [(None, None), (timedelta(seconds=5), time(3, 30))]
)
def test_a_tick_has_exactly_one_rhythm(every: timedelta | None, daily_at: time | None) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ticks.Tick("x", _noop, every=every, daily_at=daily_at)
