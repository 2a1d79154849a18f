"""The running bot's heartbeat: written by a job, read by ``chaski status`` (#14.4)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Bot
from telegram.error import Conflict

from bot.domain.health import BEAT_EVERY_S
from bot.root.cli import main
from handlers.ticks import HEARTBEAT_JOB
from handlers.transport.polling import PollingRequest
from storage.health import probe
from tests.conftest import RunningBot, ServedFake
from tests.fakes.bot_api import FakeBotApi

TOKEN = "123456:TEST-token-not-real-0123456789"  # fake server only


@pytest.mark.polling  # what polling itself does
async def test_the_bot_writes_a_heartbeat_that_status_reads_as_running_and_polling(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    job_queue = bot.app.job_queue
    assert job_queue is not None
    [job] = job_queue.get_jobs_by_name(HEARTBEAT_JOB)
    assert job.job.trigger.interval == timedelta(seconds=BEAT_EVERY_S)
    bot.fake.push_message(9_001, "hola")  # any update: a poll is answered
    await bot.settle()
    now = datetime.now(UTC).replace(microsecond=0)
    bot.clock.set(now)

    await job.run(bot.app)

    database = tmp_path / "db" / "chaski.sqlite3"
    facts = probe(database, tmp_path / "keys", now)
    beat = facts.heartbeat
    assert beat is not None
    assert (beat.pid, beat.beat_at, beat.poll_timeout_s) == (os.getpid(), now, 30)
    assert beat.polled_at is not None
    assert now - timedelta(seconds=5) <= beat.polled_at <= now
    assert facts.integrity == "ok"
    # The second beat keeps the start time and moves the beat.
    bot.clock.advance(timedelta(seconds=BEAT_EVERY_S))
    await job.run(bot.app)
    later = probe(database, tmp_path / "keys", now)
    assert later.heartbeat is not None
    assert later.heartbeat.started_at == beat.started_at
    assert later.heartbeat.beat_at == now + timedelta(seconds=BEAT_EVERY_S)


@pytest.fixture
async def polling(fake_api_server: ServedFake) -> AsyncIterator[tuple[Bot, PollingRequest]]:
    """A PTB ``Bot`` whose ``getUpdates`` goes through a ``PollingRequest``."""
    request = PollingRequest()
    bot = Bot(TOKEN, base_url=fake_api_server.base_url, get_updates_request=request)
    async with bot:
        yield bot, request


async def test_only_an_answered_poll_counts(
    polling: tuple[Bot, PollingRequest], fake_api: FakeBotApi
) -> None:
    bot, request = polling
    now = datetime.now(UTC)
    assert request.answered(now) is None
    fake_api.fail("getUpdates", status=409, description="Conflict: terminated by other getUpdates")
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)
    assert request.answered_at is None  # another poller took the updates: not an answer
    await bot.get_updates(timeout=0)
    answered = request.answered(datetime.now(UTC))
    assert answered is not None
    assert now <= answered <= datetime.now(UTC)
    # Other calls of the bot do not go through the poll's transport.
    first = request.answered_at
    await bot.send_message(4242, "hola", protect_content=True)
    assert request.answered_at == first


async def test_a_bot_whose_heartbeat_stopped_is_critical_in_status(
    running_bot: RunningBot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bot = running_bot
    job_queue = bot.app.job_queue
    assert job_queue is not None
    [job] = job_queue.get_jobs_by_name(HEARTBEAT_JOB)
    await bot.settle()
    bot.clock.set(datetime.now(UTC) - timedelta(minutes=10))  # the last beat, ten minutes ago
    await job.run(bot.app)
    monkeypatch.setenv("CHASKI_DB", str(tmp_path / "db" / "chaski.sqlite3"))
    monkeypatch.setenv("CHASKI_KEY_DIR", str(tmp_path / "keys"))

    code = await asyncio.to_thread(main, ["status"])

    out = capsys.readouterr().out.splitlines()
    assert code == 2
    assert out[0].startswith("CRITICAL: Chaski ")
    assert out[0].endswith("(bot)")
    # This very process wrote the beat and still exists: alive, but its beat stopped.
    assert f"pid {os.getpid()} on " in out[1]
    assert "is alive but stuck: last heartbeat 10 min ago" in out[1]
