"""Subprocess for the crash test (T-35): run the real outbox sender until every row is final.

Usage: ``python -m tests.handlers.outbox_crash_worker DB KEY_DIR BASE_URL BATCH``. It wires the
same storage, sender, notifier and pacer as the bot (pacing lifted so the test is fast) and
exits 0 once no row is waiting or sending. The test SIGKILLs the first run mid-broadcast.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

from zoneinfo import ZoneInfo

from telegram.ext import ExtBot

from bot.domain.outbox import FINAL_STATUSES
from bot.i18n import Catalogs
from bot.services.clock import SystemClock
from bot.services.outbox import OutboxSender, SenderConfig
from handlers.notices import renderer_table
from handlers.notifier import TelegramNotifier
from handlers.transport.pacing import SendPacer
from handlers.transport.send import bot_defaults
from storage.database import Database
from storage.keys import load_keys
from storage.outbox import SqliteRecipientDirectory
from storage.unit_of_work import SqliteUnitOfWork

TOKEN = "123456:TEST-TOKEN-abcdefghijklmnop"


async def main(db_path: Path, key_dir: Path, base_url: str, batch: int) -> int:
    keys = load_keys(key_dir)
    db = await Database.open(db_path)
    zone = ZoneInfo("America/Lima")
    clock = SystemClock(zone)
    wakeup = asyncio.Event()
    uow = SqliteUnitOfWork.over(db, keys, None, clock, on_enqueue=wakeup.set)
    sender = OutboxSender(
        store=uow.outbox,
        uow=uow,
        recipients=SqliteRecipientDirectory(db, keys),
        clock=clock,
        config=SenderConfig(rate=None, batch_size=batch, max_in_flight=batch, idle_poll=0.05),
        wakeup=wakeup,
    )
    async with ExtBot(TOKEN, base_url=base_url, defaults=bot_defaults(zone)) as bot:
        await sender.start(
            TelegramNotifier(bot, Catalogs.load(drafts=True), renderer_table()),
            SendPacer(None, per_chat_interval=0),
        )
        while True:
            pulse = sender.progress_event()
            counts = await uow.outbox.counts()
            if all(status in FINAL_STATUSES for status, _ in counts.by_status_kind):
                break
            try:
                async with asyncio.timeout(0.5):
                    await pulse.wait()
            except TimeoutError:
                pass
        await sender.stop(5.0)
    await db.close()
    return 0


if __name__ == "__main__":
    sys.exit(
        asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
    )
