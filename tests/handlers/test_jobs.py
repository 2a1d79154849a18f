"""The JobQueue ticks the application schedules: the nightly retention purge (M-15)."""

from __future__ import annotations

import logging

import pytest

from handlers.ticks import RETENTION_JOB
from tests.conftest import RunningBot


async def test_the_nightly_purge_is_scheduled_in_lima_time_and_runs(
    running_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    job_queue = running_bot.app.job_queue
    assert job_queue is not None
    [job] = job_queue.get_jobs_by_name(RETENTION_JOB)
    trigger = job.job.trigger
    assert str(trigger.timezone) == "America/Lima"
    fields = {field.name: str(field) for field in trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("3", "30")
    with caplog.at_level(logging.INFO, logger="bot.services.retention"):
        await job.run(running_bot.app)
    assert any("Retention purge deleted" in record.getMessage() for record in caplog.records)
